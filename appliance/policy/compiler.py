"""Compile a :class:`PolicyDocument` into a :class:`CompiledPolicy` (see :mod:`.matcher`).

Compilation is done once per policy version, in the supervisor (or a Lambda
validating a document); the result is pickled to the workers. Address sets are
turned into spans once per family and reused for the source and destination
dimensions; every rule bitset a lookup can return is shared between the
intervals that produce it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from appliance.policy.intervals import IntervalTable, Span, build_table
from appliance.policy.matcher import AddressTables, CompiledPolicy, KeyedBits, RuleSummary
from appliance.policy.model import Cidr, Match, PolicyDocument, PortRange

_WIDTH = {4: 32, 6: 128}


def compile_policy(doc: PolicyDocument) -> CompiledPolicy:
    """Build the matcher for ``doc``.

    The document is already validated, so compilation does not fail on content.
    """
    rules = doc.rules
    matches = [rule.match for rule in rules]
    set_spans: dict[tuple[str, int], list[tuple[int, int]]] = {}
    v4 = AddressTables(
        src=_address_table(matches, 4, "src", doc.address_sets, set_spans),
        dst=_address_table(matches, 4, "dst", doc.address_sets, set_spans),
    )
    v6 = AddressTables(
        src=_address_table(matches, 6, "src", doc.address_sets, set_spans),
        dst=_address_table(matches, 6, "dst", doc.address_sets, set_spans),
    )
    domain_exact: dict[str, int] = {}
    domain_suffix: dict[str, int] = {}
    domain_rules = 0
    for index, match in enumerate(matches):
        if not match.domains:
            continue
        domain_rules |= 1 << index
        for name in match.domains:
            target, key = (
                (domain_suffix, name[2:]) if name.startswith("*.") else (domain_exact, name)
            )
            target[key] = target.get(key, 0) | 1 << index
    cidr_count = sum(len(cidrs) for cidrs in doc.address_sets.values()) + sum(
        len(m.src) + len(m.dst) for m in matches
    )
    return CompiledPolicy(
        version=doc.version,
        source=doc.source,
        settings=doc.settings,
        rules=tuple(RuleSummary(r.id, r.action, r.log, r.description) for r in rules),
        v4=v4,
        v6=v6,
        protocol=_keyed(matches, lambda m: m.protocols),
        sport=_port_table(matches, lambda m: m.src_ports),
        dport=_port_table(matches, lambda m: m.dst_ports),
        icmp=_keyed(matches, lambda m: m.icmp_types),
        endpoint=_keyed(matches, lambda m: m.endpoints),
        attachment=_keyed(matches, lambda m: m.attachments),
        domain_exact=domain_exact,
        domain_suffix=domain_suffix,
        domain_rules=domain_rules,
        cidr_count=cidr_count,
    )


def _keyed(matches: list[Match], values: Callable[[Match], Iterable[int]]) -> KeyedBits:
    """Dict lookup: key -> rules listing it, plus the rules with no condition."""
    unconstrained = 0
    listed: dict[int, int] = {}
    for index, match in enumerate(matches):
        keys = tuple(values(match))
        if not keys:
            unconstrained |= 1 << index
        for key in keys:
            listed[key] = listed.get(key, 0) | 1 << index
    return KeyedBits({key: bits | unconstrained for key, bits in listed.items()}, unconstrained)


def _port_table(
    matches: list[Match], ranges_of: Callable[[Match], tuple[PortRange, ...]]
) -> IntervalTable:
    base = 0
    spans: list[Span] = []
    group_bits: list[int] = []
    groups: dict[tuple[PortRange, ...], int] = {}
    for index, match in enumerate(matches):
        ranges = ranges_of(match)
        if not ranges:
            base |= 1 << index
            continue
        group = groups.get(ranges)
        if group is None:
            group = groups[ranges] = len(group_bits)
            group_bits.append(0)
            spans.extend((low, high + 1, group) for low, high in ranges)
        group_bits[group] |= 1 << index
    return build_table(spans, group_bits, base)


def _address_table(
    matches: list[Match],
    family: int,
    side: str,
    address_sets: Mapping[str, tuple[Cidr, ...]],
    set_spans: dict[tuple[str, int], list[tuple[int, int]]],
) -> IntervalTable:
    """Table for one side (``src``/``dst``) and family; groups are sets and rule literals."""
    base = 0
    spans: list[Span] = []
    group_bits: list[int] = []
    set_groups: dict[str, int] = {}
    for index, match in enumerate(matches):
        literals, names = (
            (match.src, match.src_sets) if side == "src" else (match.dst, match.dst_sets)
        )
        if not literals and not names:
            base |= 1 << index
            continue
        bit = 1 << index
        for name in names:
            group = set_groups.get(name)
            if group is None:
                group = set_groups[name] = len(group_bits)
                group_bits.append(0)
                intervals = set_spans.get((name, family))
                if intervals is None:
                    intervals = set_spans[(name, family)] = _intervals(address_sets[name], family)
                spans.extend((start, end, group) for start, end in intervals)
            group_bits[group] |= bit
        own = _intervals(literals, family)
        if own:
            group = len(group_bits)
            group_bits.append(bit)
            spans.extend((start, end, group) for start, end in own)
    return build_table(spans, group_bits, base)


def _intervals(cidrs: Iterable[Cidr], family: int) -> list[tuple[int, int]]:
    """``[start, end)`` of each CIDR of ``family``."""
    width = _WIDTH[family]
    return [
        (network, network + (1 << (width - prefixlen)))
        for fam, network, prefixlen in cidrs
        if fam == family
    ]
