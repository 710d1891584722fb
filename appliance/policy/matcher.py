"""The compiled policy: per-dimension candidate bitsets, ANDed, lowest bit wins.

Design. Rule *i* of the document is bit *i* of a Python int. For each dimension
of a flow (source address, destination address, protocol, source port,
destination port, ICMP type, endpoint id, attachment id) the compiler built a
lookup that returns the bitset of rules whose condition on that dimension
accepts the flow's value (rules without a condition on it are in every answer):

* addresses and ports: an :class:`~appliance.policy.intervals.IntervalTable`
  (sorted disjoint intervals, one ``bisect``), per address family;
* protocol, ICMP type, endpoint and attachment ids: a dict with a default.

The AND of those bitsets is the set of rules that match; because rules are
ordered, the first match is the lowest set bit (``m & -m``). A decision costs
eight lookups and eight big-int ANDs whatever the number of rules or prefixes,
so there is no per-packet scan of rules. Decisions are prebuilt objects.

Domain rules are not filtered by the first eight dimensions' answer alone: when
the lowest matching rule has a domain condition, the flow is *pending* (allowed
meanwhile) until :meth:`CompiledPolicy.decide_domain` intersects the candidates
with the rules whose names match (an exact dict plus a dict of wildcard
suffixes, walked label by label) or :meth:`CompiledPolicy.decide_without_domain`
drops the domain rules from them.

Everything here is plain lists, dicts and ints, so a snapshot pickles quickly
and a worker swaps it in one assignment.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from appliance.policy.intervals import IntervalTable, SparseBits, decode_bits, encode_bits
from appliance.policy.model import (
    ICMP_PROTOCOLS,
    PORT_PROTOCOLS,
    MidFlow,
    Settings,
)
from appliance.policy.verdict import Action, Decision, FlowFacts

PENDING_DOMAIN = Decision(Action.ALLOW, "pending-domain", pending_domain=True)
"""Returned while a domain rule could still decide the flow: allow until the name is seen."""

DIMENSIONS = (
    "src",
    "dst",
    "protocol",
    "srcPort",
    "dstPort",
    "icmpType",
    "endpoint",
    "attachment",
)
"""Names of the non-domain dimensions, as in the document's ``match`` block."""


@dataclass(frozen=True, slots=True)
class RuleSummary:
    """What status and explain need to know of a rule, without its match data."""

    id: str
    action: Action
    log: bool
    description: str = ""


@dataclass(frozen=True, slots=True)
class AddressTables:
    """Source and destination tables of one address family."""

    src: IntervalTable
    dst: IntervalTable


@dataclass(frozen=True, slots=True)
class KeyedBits:
    """A dict lookup with a default: the rules with no condition on that dimension."""

    table: dict[int, int]
    default: int

    def lookup(self, key: int) -> int:
        """Bitset of the rules that accept ``key``."""
        return self.table.get(key, self.default)

    def __getstate__(self) -> tuple[dict[int, SparseBits], int]:
        return {k: encode_bits(v, self.default) for k, v in self.table.items()}, self.default

    def __setstate__(self, state: tuple[dict[int, SparseBits], int]) -> None:
        table, default = state
        object.__setattr__(self, "table", {k: decode_bits(v, default) for k, v in table.items()})
        object.__setattr__(self, "default", default)


class CompiledPolicy:
    """An immutable, picklable policy snapshot implementing :class:`~verdict.Policy`.

    Built by :func:`appliance.policy.compiler.compile_policy`; do not construct directly.
    """

    __slots__ = (
        "_attachment",
        "_decisions",
        "_default",
        "_domain_exact",
        "_domain_rules",
        "_domain_suffix",
        "_dport",
        "_endpoint",
        "_icmp",
        "_icmp_any",
        "_mid_flow",
        "_nondomain",
        "_ports_any",
        "_protocol",
        "_sport",
        "_v4",
        "_v6",
        "cidr_count",
        "rules",
        "settings",
        "source",
        "version",
    )

    def __init__(
        self,
        *,
        version: str,
        source: str,
        settings: Settings,
        rules: tuple[RuleSummary, ...],
        v4: AddressTables,
        v6: AddressTables,
        protocol: KeyedBits,
        sport: IntervalTable,
        dport: IntervalTable,
        icmp: KeyedBits,
        endpoint: KeyedBits,
        attachment: KeyedBits,
        domain_exact: dict[str, int],
        domain_suffix: dict[str, int],
        domain_rules: int,
        cidr_count: int,
    ) -> None:
        self.version = version
        """Version label of the document."""
        self.source = source
        """Where the document came from."""
        self.settings = settings
        """The document's settings (mid-flow, re-evaluation, domain wait)."""
        self.rules = rules
        """The rules in order, without their match data."""
        self.cidr_count = cidr_count
        """CIDRs in address sets and rules (for status and benchmarks)."""
        self._v4 = v4
        self._v6 = v6
        self._protocol = protocol
        self._sport = sport
        self._dport = dport
        self._ports_any = sport.base & dport.base
        self._icmp = icmp
        self._icmp_any = icmp.default
        self._endpoint = endpoint
        self._attachment = attachment
        self._domain_exact = domain_exact
        self._domain_suffix = domain_suffix
        self._domain_rules = domain_rules
        self._nondomain = ((1 << len(rules)) - 1) & ~domain_rules
        self._decisions = tuple(Decision(r.action, r.id, r.log) for r in rules)
        self._default = Decision(settings.default_action, "default", settings.default_log)
        mid = settings.mid_flow
        self._mid_flow = (
            None
            if mid is MidFlow.EVALUATE
            else Decision(Action.ALLOW if mid is MidFlow.ALLOW else Action.DROP, "mid-flow")
        )

    @property
    def default_action(self) -> Action:
        """Action taken when no rule matches."""
        return self.settings.default_action

    @property
    def has_domain_rules(self) -> bool:
        """True when some rule matches on domain names (the data plane may skip extraction)."""
        return self._domain_rules != 0

    def candidates(self, facts: FlowFacts) -> int:
        """Bitset of the rules whose non-domain conditions all accept ``facts``.

        Domain rules are left out for flows other than TCP and UDP
        (:data:`~appliance.policy.model.DOMAIN_PROTOCOLS`), whose payloads name nothing.
        """
        tables = self._v4 if facts.family == 4 else self._v6
        table = tables.src
        bits = table.values[bisect_right(table.starts, facts.src) - 1]
        table = tables.dst
        bits &= table.values[bisect_right(table.starts, facts.dst) - 1]
        if not bits:
            return 0
        protocol = facts.protocol
        bits &= self._protocol.table.get(protocol, self._protocol.default)
        if protocol in PORT_PROTOCOLS:
            table = self._sport
            bits &= table.values[bisect_right(table.starts, facts.sport) - 1]
            table = self._dport
            bits &= table.values[bisect_right(table.starts, facts.dport) - 1]
        else:
            bits &= self._ports_any
        if protocol != 6 and protocol != 17:  # noqa: PLR1714 - faster than a set on this path
            bits &= self._nondomain  # no name can be seen: domain rules cannot match
        if facts.icmp_type is not None and protocol in ICMP_PROTOCOLS:
            bits &= self._icmp.table.get(facts.icmp_type, self._icmp_any)
        else:
            bits &= self._icmp_any
        bits &= self._endpoint.table.get(facts.endpoint_id, self._endpoint.default)
        bits &= self._attachment.table.get(facts.attachment_id, self._attachment.default)
        return bits

    def decide(self, facts: FlowFacts) -> Decision:
        """Decide a new flow from its first packet (may be :data:`PENDING_DOMAIN`)."""
        if facts.mid_flow and self._mid_flow is not None:
            return self._mid_flow
        bits = self.candidates(facts)
        if not bits:
            return self._default
        lowest = bits & -bits
        if lowest & self._domain_rules:
            return PENDING_DOMAIN
        return self._decisions[lowest.bit_length() - 1]

    def decide_domain(self, facts: FlowFacts, domain: str) -> Decision:
        """Decide a pending flow once its payload named ``domain`` (SNI, Host or DNS name)."""
        if facts.mid_flow and self._mid_flow is not None:
            return self._mid_flow
        bits = self.candidates(facts) & (self._nondomain | self.domain_bits(domain))
        return self._first(bits)

    def decide_without_domain(self, facts: FlowFacts) -> Decision:
        """Decide a pending flow whose payload named no domain within the wait bound."""
        if facts.mid_flow and self._mid_flow is not None:
            return self._mid_flow
        return self._first(self.candidates(facts) & self._nondomain)

    def _first(self, bits: int) -> Decision:
        if not bits:
            return self._default
        return self._decisions[(bits & -bits).bit_length() - 1]

    def domain_bits(self, domain: str) -> int:
        """Bitset of the domain rules whose names match ``domain`` (case-insensitive)."""
        name = domain.lower().rstrip(".")
        bits = self._domain_exact.get(name, 0)
        suffixes = self._domain_suffix
        if suffixes:
            dot = name.find(".")
            while dot >= 0:
                bits |= suffixes.get(name[dot + 1 :], 0)
                dot = name.find(".", dot + 1)
        return bits

    def dimension_bits(self, facts: FlowFacts) -> dict[str, int]:
        """Each dimension's accepting rules, for explanations (slow path, not for packets)."""
        tables = self._v4 if facts.family == 4 else self._v6
        with_ports = facts.protocol in PORT_PROTOCOLS
        icmp = facts.icmp_type is not None and facts.protocol in ICMP_PROTOCOLS
        return {
            "src": tables.src.lookup(facts.src),
            "dst": tables.dst.lookup(facts.dst),
            "protocol": self._protocol.lookup(facts.protocol),
            "srcPort": self._sport.lookup(facts.sport) if with_ports else self._sport.base,
            "dstPort": self._dport.lookup(facts.dport) if with_ports else self._dport.base,
            "icmpType": self._icmp.lookup(facts.icmp_type or 0) if icmp else self._icmp_any,
            "endpoint": self._endpoint.lookup(facts.endpoint_id),
            "attachment": self._attachment.lookup(facts.attachment_id),
        }

    def unconstrained_bits(self) -> dict[str, int]:
        """Per dimension, the rules without a condition on it (``domain`` included)."""
        return {
            "src": self._v4.src.base,
            "dst": self._v4.dst.base,
            "protocol": self._protocol.default,
            "srcPort": self._sport.base,
            "dstPort": self._dport.base,
            "icmpType": self._icmp_any,
            "endpoint": self._endpoint.default,
            "attachment": self._attachment.default,
            "domain": self._nondomain,
        }
