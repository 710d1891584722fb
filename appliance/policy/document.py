"""Read a policy document (YAML or JSON) into a validated :class:`PolicyDocument`.

The format is described in ``docs/policy.md``. Validation collects every problem
(up to :data:`MAX_PROBLEMS`) instead of stopping at the first, each naming the
field path and, through :mod:`appliance.policy.text`, its line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from appliance.policy.errors import PolicyError
from appliance.policy.model import (
    API_VERSION,
    DOMAIN_PROTOCOLS,
    ICMP_PROTOCOLS,
    PORT_PROTOCOLS,
    Cidr,
    Match,
    MidFlow,
    PolicyDocument,
    Rule,
    Settings,
)
from appliance.policy.text import line_map, load_text, with_line
from appliance.policy.values import (
    check_name,
    parse_cidr,
    parse_domain,
    parse_hex_id,
    parse_icmp_type,
    parse_port_range,
    parse_protocol,
)
from appliance.policy.verdict import Action

MAX_DOCUMENT_CHARS = 32 * 1024 * 1024
"""Largest document text accepted (characters)."""
MAX_RULES = 50_000
MAX_ADDRESS_SETS = 1_000
MAX_SET_ENTRIES = 1_000_000
"""Largest single address set."""
MAX_TOTAL_CIDRS = 2_000_000
"""All address sets and literal CIDRs together."""
MAX_MATCH_VALUES = 10_000
"""Largest list in one ``match`` field."""
MAX_PROBLEMS = 50
RESERVED_RULE_IDS = frozenset(("default", "no-policy", "mid-flow", "pending-domain"))
"""Rule ids the engine itself reports; a document may not use them."""

_TOP_KEYS = frozenset(("apiVersion", "version", "settings", "addressSets", "rules"))
_SETTING_KEYS = frozenset(
    ("defaultAction", "defaultLog", "midFlow", "reevaluateOnChange", "domainWaitPackets")
)
_RULE_KEYS = frozenset(("id", "description", "action", "log", "match"))
_MATCH_KEYS = frozenset(
    (
        "src",
        "dst",
        "protocol",
        "srcPort",
        "dstPort",
        "icmpType",
        "endpoint",
        "attachment",
        "domain",
    )
)
_ACTIONS = {"allow": Action.ALLOW, "drop": Action.DROP, "reject": Action.REJECT}
T = TypeVar("T")


def parse_document(text: str, *, source: str = "<policy>") -> PolicyDocument:
    """Parse and validate a policy document.

    Args:
        text: YAML or JSON text.
        source: where it came from, kept on the document and used in messages.

    Raises:
        PolicyError: with one problem per line: ``path (line N): message``.
    """
    if len(text) > MAX_DOCUMENT_CHARS:
        raise PolicyError(
            f"{source}: document is {len(text)} characters, over the limit of {MAX_DOCUMENT_CHARS}"
        )
    data = load_text(text, source)
    checker = _Checker(source)
    doc = checker.document(data)
    if checker.problems or doc is None:
        lines = line_map(text)
        raise PolicyError(with_line(path, msg, lines) for path, msg in checker.problems)
    return doc


class _Checker:
    """Walks loaded YAML/JSON data, collecting ``(path, message)`` problems."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[tuple[str, str]] = []
        self.total_cidrs = 0

    def fail(self, path: str, message: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append((path, message))
        elif len(self.problems) == MAX_PROBLEMS:
            self.problems.append(("", "too many problems; stopped reporting"))

    def mapping(self, value: object, path: str, keys: frozenset[str]) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.fail(path or self.source, f"expected a mapping, got {_kind(value)}")
            return None
        for key in value:
            if key not in keys:
                allowed = ", ".join(sorted(keys))
                self.fail(_join(path, str(key)), f"unknown field (expected one of: {allowed})")
        return value

    def scalar(self, value: object, path: str, parse: Callable[[object], T]) -> T | None:
        try:
            return parse(value)
        except ValueError as exc:
            self.fail(path, str(exc))
            return None

    def values(
        self, value: object, path: str, parse: Callable[[object], T], limit: int
    ) -> tuple[T, ...]:
        """A list of values (a single scalar counts as a list of one)."""
        if not isinstance(value, list):
            if isinstance(value, dict) or value is None:
                self.fail(path, f"expected a value or a list, got {_kind(value)}")
                return ()
            parsed = self.scalar(value, path, parse)
            return () if parsed is None else (parsed,)
        if not value:
            self.fail(path, "empty list (leave the field out to match anything)")
            return ()
        if len(value) > limit:
            self.fail(path, f"{len(value)} entries, over the limit of {limit}")
            return ()
        out: list[T] = []
        for index, item in enumerate(value):
            parsed = self.scalar(item, f"{path}[{index}]", parse)
            if parsed is not None:
                out.append(parsed)
        return tuple(out)

    def document(self, data: object) -> PolicyDocument | None:
        top = self.mapping(data, "", _TOP_KEYS)
        if top is None:
            return None
        api = top.get("apiVersion")
        if api != API_VERSION:
            self.fail("apiVersion", f"must be {API_VERSION!r}, got {api!r}")
        version = top.get("version")
        if (
            isinstance(version, bool)
            or not isinstance(version, str | int | float)
            or not str(version).strip()
        ):
            self.fail("version", "a non-empty version label (string) is required")
            version = ""
        settings = self.settings(top.get("settings", {}))
        sets = self.address_sets(top.get("addressSets", {}))
        rules = self.rules(top.get("rules", []), sets)
        if self.problems:
            return None
        return PolicyDocument(
            version=str(version).strip(),
            settings=settings,
            address_sets=sets,
            rules=rules,
            source=self.source,
        )

    def settings(self, value: object) -> Settings:
        block = self.mapping(value, "settings", _SETTING_KEYS)
        if block is None:
            return Settings()
        default = Settings()
        action = block.get("defaultAction", "allow")
        if action not in ("allow", "drop"):
            self.fail("settings.defaultAction", f"must be 'allow' or 'drop', got {action!r}")
            action = "allow"
        mid = block.get("midFlow", default.mid_flow.value)
        if mid not in {m.value for m in MidFlow}:
            self.fail("settings.midFlow", f"must be allow, drop or evaluate, got {mid!r}")
            mid = default.mid_flow.value
        wait = block.get("domainWaitPackets", default.domain_wait_packets)
        if isinstance(wait, bool) or not isinstance(wait, int) or not 1 <= wait <= 64:
            self.fail("settings.domainWaitPackets", f"must be an integer 1-64, got {wait!r}")
            wait = default.domain_wait_packets
        return Settings(
            default_action=_ACTIONS[action],
            default_log=self.flag(block, "defaultLog", "settings.defaultLog", default.default_log),
            mid_flow=MidFlow(mid),
            reevaluate_on_change=self.flag(
                block,
                "reevaluateOnChange",
                "settings.reevaluateOnChange",
                default.reevaluate_on_change,
            ),
            domain_wait_packets=wait,
        )

    def flag(self, block: dict[str, Any], key: str, path: str, default: bool) -> bool:
        value = block.get(key, default)
        if not isinstance(value, bool):
            self.fail(path, f"must be true or false, got {value!r}")
            return default
        return value

    def address_sets(self, value: object) -> dict[str, tuple[Cidr, ...]]:
        if not isinstance(value, dict):
            self.fail("addressSets", f"expected a mapping of name to CIDR list, got {_kind(value)}")
            return {}
        if len(value) > MAX_ADDRESS_SETS:
            self.fail("addressSets", f"{len(value)} sets, over the limit of {MAX_ADDRESS_SETS}")
            return {}
        sets: dict[str, tuple[Cidr, ...]] = {}
        for name, entries in value.items():
            path = f"addressSets.{name}"
            if self.scalar(name, path, lambda v: check_name(v, "address set name")) is None:
                continue
            if not isinstance(entries, list):
                self.fail(path, f"expected a list of CIDRs, got {_kind(entries)}")
                continue
            self.total_cidrs += len(entries)
            if self.total_cidrs > MAX_TOTAL_CIDRS:
                self.fail(path, f"address sets hold over {MAX_TOTAL_CIDRS} CIDRs in total")
                return sets
            if not entries:
                sets[str(name)] = ()
                continue
            sets[str(name)] = self.values(entries, path, parse_cidr, MAX_SET_ENTRIES)
        return sets

    def rules(self, value: object, sets: dict[str, tuple[Cidr, ...]]) -> tuple[Rule, ...]:
        if not isinstance(value, list):
            self.fail("rules", f"expected a list of rules, got {_kind(value)}")
            return ()
        if len(value) > MAX_RULES:
            self.fail("rules", f"{len(value)} rules, over the limit of {MAX_RULES}")
            return ()
        rules: list[Rule] = []
        seen: dict[str, int] = {}
        for index, item in enumerate(value):
            path = f"rules[{index}]"
            block = self.mapping(item, path, _RULE_KEYS)
            if block is None:
                continue
            rule_id = self.scalar(block.get("id"), f"{path}.id", lambda v: check_name(v, "rule id"))
            if rule_id in RESERVED_RULE_IDS:
                self.fail(f"{path}.id", f"{rule_id!r} is reserved for the engine's own decisions")
            elif rule_id is not None and rule_id in seen:
                self.fail(f"{path}.id", f"{rule_id!r} is already used by rules[{seen[rule_id]}]")
            elif rule_id is not None:
                seen[rule_id] = index
            action = block.get("action")
            if action not in _ACTIONS:
                self.fail(f"{path}.action", f"must be allow, drop or reject, got {action!r}")
            description = block.get("description", "")
            if not isinstance(description, str):
                self.fail(f"{path}.description", "must be a string")
                description = ""
            log = self.flag(block, "log", f"{path}.log", False)
            match = self.match(block.get("match", {}), f"{path}.match", sets)
            if rule_id is not None and action in _ACTIONS and match is not None:
                rules.append(Rule(rule_id, _ACTIONS[action], log, match, description))
        return tuple(rules)

    def match(self, value: object, path: str, sets: dict[str, tuple[Cidr, ...]]) -> Match | None:
        if value is None:
            return Match()
        block = self.mapping(value, path, _MATCH_KEYS)
        if block is None:
            return None
        src, src_sets = self.addresses(block, "src", path, sets)
        dst, dst_sets = self.addresses(block, "dst", path, sets)
        field_values: dict[str, Any] = {}
        for key, parse in (
            ("protocol", parse_protocol),
            ("srcPort", parse_port_range),
            ("dstPort", parse_port_range),
            ("icmpType", parse_icmp_type),
            ("endpoint", parse_hex_id),
            ("attachment", parse_hex_id),
            ("domain", parse_domain),
        ):
            if key in block:
                field_values[key] = tuple(
                    dict.fromkeys(self.values(block[key], f"{path}.{key}", parse, MAX_MATCH_VALUES))
                )
        protocols: tuple[int, ...] = field_values.get("protocol", ())
        for key in ("srcPort", "dstPort"):
            odd = [p for p in protocols if p not in PORT_PROTOCOLS]
            if key in field_values and odd:
                self.fail(f"{path}.{key}", f"protocol {odd[0]} has no ports")
        odd_domain = [p for p in protocols if p not in DOMAIN_PROTOCOLS]
        if "domain" in field_values and odd_domain:
            self.fail(f"{path}.domain", f"protocol {odd_domain[0]} carries no domain names")
        odd_icmp = [p for p in protocols if p not in ICMP_PROTOCOLS]
        if "icmpType" in field_values and odd_icmp:
            self.fail(f"{path}.icmpType", f"protocol {odd_icmp[0]} is not icmp or icmpv6")
        return Match(
            src=src,
            src_sets=src_sets,
            dst=dst,
            dst_sets=dst_sets,
            protocols=protocols,
            src_ports=field_values.get("srcPort", ()),
            dst_ports=field_values.get("dstPort", ()),
            icmp_types=field_values.get("icmpType", ()),
            endpoints=field_values.get("endpoint", ()),
            attachments=field_values.get("attachment", ()),
            domains=field_values.get("domain", ()),
        )

    def addresses(
        self, block: dict[str, Any], key: str, path: str, sets: dict[str, tuple[Cidr, ...]]
    ) -> tuple[tuple[Cidr, ...], tuple[str, ...]]:
        if key not in block:
            return (), ()
        where = f"{path}.{key}"
        names: list[str] = []

        def parse(item: object) -> Cidr | None:
            if isinstance(item, str) and item.startswith("@"):
                if item[1:] not in sets:
                    raise ValueError(f"address set {item[1:]!r} is not defined in addressSets")
                names.append(item[1:])
                return None
            return parse_cidr(item)

        parsed = self.values(block[key], where, parse, MAX_MATCH_VALUES)
        cidrs = tuple(c for c in parsed if c is not None)
        self.total_cidrs += len(cidrs)
        return tuple(dict.fromkeys(cidrs)), tuple(dict.fromkeys(names))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )
