"""Property: the compiled matcher agrees with a deliberately naive linear evaluator."""

from __future__ import annotations

import pickle

from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.policy.compiler import compile_policy
from appliance.policy.intervals import decode_bits, encode_bits
from appliance.policy.model import (
    ICMP_PROTOCOLS,
    PORT_PROTOCOLS,
    Cidr,
    Match,
    MidFlow,
    PolicyDocument,
    Rule,
    Settings,
)
from appliance.policy.verdict import Action, Decision, FlowFacts

V4_BASE = 0xC6120000  # 198.18.0.0: a small corner of the space so rules and flows collide
V6_BASE = 0x20010002 << 96  # 2001:2::
PROTOCOLS = (1, 6, 17, 47, 58)
NAMES = ("a.com", "b.a.com", "x.b.a.com", "c.org", "d.org")
PATTERNS = ("a.com", "*.a.com", "b.a.com", "*.b.a.com", "c.org", "*.org")


@st.composite
def cidrs(draw: st.DrawFn) -> Cidr:
    family = draw(st.sampled_from((4, 4, 6)))
    width = 32 if family == 4 else 128
    prefixlen = draw(st.sampled_from((0, width - 8, width - 4, width - 2, width - 1, width)))
    base = V4_BASE if family == 4 else V6_BASE
    address = base | draw(st.integers(0, 255))
    mask = ((1 << width) - 1) ^ ((1 << (width - prefixlen)) - 1)
    return (family, address & mask, prefixlen)


port_ranges = st.tuples(st.integers(0, 12), st.integers(0, 6)).map(lambda t: (t[0], t[0] + t[1]))
small = st.integers(0, 3)


def maybe(
    strategy: st.SearchStrategy[object], size: int = 3
) -> st.SearchStrategy[tuple[object, ...]]:
    return st.one_of(st.just(()), st.lists(strategy, min_size=1, max_size=size).map(tuple))


@st.composite
def matches(draw: st.DrawFn, set_names: tuple[str, ...]) -> Match:
    refs = st.sampled_from(set_names) if set_names else st.nothing()
    return Match(
        src=draw(maybe(cidrs())),  # type: ignore[arg-type]
        src_sets=draw(maybe(refs, 2)) if set_names else (),  # type: ignore[arg-type]
        dst=draw(maybe(cidrs())),  # type: ignore[arg-type]
        dst_sets=draw(maybe(refs, 2)) if set_names else (),  # type: ignore[arg-type]
        protocols=draw(maybe(st.sampled_from(PROTOCOLS))),  # type: ignore[arg-type]
        src_ports=draw(maybe(port_ranges)),  # type: ignore[arg-type]
        dst_ports=draw(maybe(port_ranges)),  # type: ignore[arg-type]
        icmp_types=draw(maybe(small)),  # type: ignore[arg-type]
        endpoints=draw(maybe(small)),  # type: ignore[arg-type]
        attachments=draw(maybe(small)),  # type: ignore[arg-type]
        domains=draw(maybe(st.sampled_from(PATTERNS), 2)),  # type: ignore[arg-type]
    )


@st.composite
def documents(draw: st.DrawFn) -> PolicyDocument:
    names = tuple(draw(st.lists(st.sampled_from(("s1", "s2", "s3")), unique=True, max_size=3)))
    sets = {name: tuple(draw(st.lists(cidrs(), max_size=6))) for name in names}
    count = draw(st.integers(0, 12))
    rules = tuple(
        Rule(
            id=f"r{i}",
            action=draw(st.sampled_from(list(Action))),
            log=draw(st.booleans()),
            match=draw(matches(names)),
        )
        for i in range(count)
    )
    setting = Settings(
        default_action=draw(st.sampled_from((Action.ALLOW, Action.DROP))),
        default_log=draw(st.booleans()),
        mid_flow=draw(st.sampled_from(list(MidFlow))),
    )
    return PolicyDocument(version="p", settings=setting, address_sets=sets, rules=rules)


@st.composite
def flows(draw: st.DrawFn) -> FlowFacts:
    family = draw(st.sampled_from((4, 6)))
    base = V4_BASE if family == 4 else V6_BASE
    protocol = draw(st.sampled_from(PROTOCOLS))
    return FlowFacts(
        family=family,
        src=base | draw(st.integers(0, 300)),
        dst=base | draw(st.integers(0, 300)),
        protocol=protocol,
        sport=draw(st.integers(0, 20)),
        dport=draw(st.integers(0, 20)),
        icmp_type=draw(small) if protocol in ICMP_PROTOCOLS else None,
        endpoint_id=draw(small),
        attachment_id=draw(small),
        mid_flow=draw(st.booleans()),
    )


# ---- the reference: one rule at a time, one condition at a time, no cleverness ----


def in_cidr(cidr: Cidr, family: int, address: int) -> bool:
    fam, network, prefixlen = cidr
    width = 32 if fam == 4 else 128
    return fam == family and address >> (width - prefixlen) == network >> (width - prefixlen)


def address_ok(
    cidrs_: tuple[Cidr, ...], names: tuple[str, ...], doc: PolicyDocument, family: int, address: int
) -> bool:
    if not cidrs_ and not names:
        return True
    pool = list(cidrs_) + [c for name in names for c in doc.address_sets[name]]
    return any(in_cidr(c, family, address) for c in pool)


def ports_ok(ranges: tuple[tuple[int, int], ...], protocol: int, port: int) -> bool:
    if not ranges:
        return True
    return protocol in PORT_PROTOCOLS and any(lo <= port <= hi for lo, hi in ranges)


def conditions_hold(rule: Rule, doc: PolicyDocument, f: FlowFacts) -> bool:
    m = rule.match
    return (
        address_ok(m.src, m.src_sets, doc, f.family, f.src)
        and address_ok(m.dst, m.dst_sets, doc, f.family, f.dst)
        and (not m.protocols or f.protocol in m.protocols)
        and ports_ok(m.src_ports, f.protocol, f.sport)
        and ports_ok(m.dst_ports, f.protocol, f.dport)
        and (not m.icmp_types or (f.protocol in ICMP_PROTOCOLS and f.icmp_type in m.icmp_types))
        and (not m.endpoints or f.endpoint_id in m.endpoints)
        and (not m.attachments or f.attachment_id in m.attachments)
    )


def name_matches(pattern: str, name: str) -> bool:
    name = name.lower().rstrip(".")
    if pattern.startswith("*."):
        return name.endswith(pattern[1:])
    return name == pattern


def mid_flow_answer(doc: PolicyDocument, f: FlowFacts) -> Decision | None:
    if not f.mid_flow or doc.settings.mid_flow is MidFlow.EVALUATE:
        return None
    action = Action.ALLOW if doc.settings.mid_flow is MidFlow.ALLOW else Action.DROP
    return Decision(action, "mid-flow")


def reference(doc: PolicyDocument, f: FlowFacts, domain: str | None, mode: str) -> Decision:
    """mode: "new" (decide), "name" (decide_domain) or "none" (decide_without_domain)."""
    mid = mid_flow_answer(doc, f)
    if mid is not None:
        return mid
    for rule in doc.rules:
        if not conditions_hold(rule, doc, f):
            continue
        if rule.match.domains:
            if f.protocol not in (6, 17):
                continue  # only TCP and UDP payloads name a domain
            if mode == "new":
                return Decision(Action.ALLOW, "pending-domain", pending_domain=True)
            if mode == "none" or domain is None:
                continue
            if not any(name_matches(p, domain) for p in rule.match.domains):
                continue
        return Decision(rule.action, rule.id, rule.log)
    return Decision(doc.settings.default_action, "default", doc.settings.default_log)


@settings(max_examples=300, deadline=None)
@given(
    doc=documents(), packets=st.lists(flows(), min_size=1, max_size=8), name=st.sampled_from(NAMES)
)
def test_compiled_matcher_agrees_with_reference(
    doc: PolicyDocument, packets: list[FlowFacts], name: str
) -> None:
    compiled = compile_policy(doc)
    shipped = pickle.loads(pickle.dumps(compiled))  # as a worker receives it
    for f in packets:
        for policy in (compiled, shipped):
            assert policy.decide(f) == reference(doc, f, None, "new")
            assert policy.decide_domain(f, name) == reference(doc, f, name, "name")
            assert policy.decide_without_domain(f) == reference(doc, f, None, "none")


@given(st.integers(0, 2**300), st.integers(0, 2**300))
def test_sparse_bit_encoding_round_trips(base: int, extra: int) -> None:
    value = base | extra
    assert decode_bits(encode_bits(value, base), base) == value
