"""The engine with a compiled policy: reject answers, domain rules, flow records."""

from __future__ import annotations

import time

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6

from appliance.dataplane.batch import Batch
from appliance.dataplane.engine import PENDING, Engine
from appliance.dataplane.flowrecords import FlowRecorder
from appliance.dataplane.packetio import MemoryIO
from appliance.policy.compiler import compile_policy
from appliance.policy.document import parse_document
from appliance.wire.geneve import (
    ETHERTYPE_IPV4,
    ETHERTYPE_IPV6,
    GWLB_HEADER_LENGTH,
    build_geneve,
)

GWLB, LOCAL = "198.18.0.1", "198.18.0.2"
POLICY = """
apiVersion: gwlbd.policy/v1
version: test-1
settings: {defaultAction: allow, domainWaitPackets: 3}
rules:
  - {id: no-telnet, action: reject, match: {protocol: [tcp], dstPort: [23]}}
  - {id: no-dns-tunnel, action: drop, log: true, match: {protocol: [udp], dstPort: [5353]}}
  - {id: blocked-site, action: drop, match: {domain: ["blocked.example", "*.blocked.example"]}}
"""


def engine_with_policy(recorder: FlowRecorder | None = None) -> tuple[Engine, MemoryIO]:
    policy = compile_policy(parse_document(POLICY))
    engine = Engine(
        policy,
        gwlb_cidrs=["198.18.0.0/24"],
        on_flow_end=(lambda f, why: recorder.ended(f, why, time.time())) if recorder else None,
        on_denied=(lambda f: recorder.denied(f, time.time())) if recorder else None,
    )
    return engine, MemoryIO(Batch(8))


def geneve(inner: IP | IPv6, cookie: int = 9) -> bytes:
    proto = ETHERTYPE_IPV6 if isinstance(inner, IPv6) else ETHERTYPE_IPV4
    header = build_geneve(endpoint_id=0xE1, attachment_id=0, cookie=cookie, protocol_type=proto)
    return header + bytes(inner)


def run(engine: Engine, io: MemoryIO, now: float = 100.0) -> None:
    while io.pending:
        n = io.receive()
        engine.count_sent(*io.send(engine.process(io.batch, n, now)))


def test_reject_answers_the_sender_through_the_tunnel_with_the_flows_header() -> None:
    engine, io = engine_with_policy()
    syn = IP(src="198.18.1.1", dst="198.19.1.1") / TCP(sport=40000, dport=23, flags="S", seq=1000)
    datagram = geneve(syn)
    io.push(datagram, GWLB, 5000, LOCAL)
    run(engine, io)
    [(reply, _)] = io.sent
    payload = reply[28:]
    # THEN the GENEVE header is the flow's, byte for byte, and the inner packet a RST back
    assert payload[:GWLB_HEADER_LENGTH] == datagram[:GWLB_HEADER_LENGTH]
    rst = IP(payload[GWLB_HEADER_LENGTH:])
    assert (rst.src, rst.dst) == ("198.19.1.1", "198.18.1.1")
    assert (rst[TCP].sport, rst[TCP].dport) == (23, 40000)
    assert "R" in str(rst[TCP].flags)
    assert engine.rejects_sent == 1
    assert engine.drop_counts()["policy"] == 1


def test_udp_reject_is_an_icmp_unreachable() -> None:
    policy = compile_policy(
        parse_document(
            "apiVersion: gwlbd.policy/v1\nversion: r1\nrules:\n"
            "  - {id: r, action: reject, match: {protocol: [udp]}}\n"
        )
    )
    engine = Engine(policy, gwlb_cidrs=["198.18.0.0/24"])
    io = MemoryIO(Batch(4))
    io.push(geneve(IPv6(src="2001:2::1", dst="2001:2::2") / UDP(dport=9) / b"x"), GWLB, 1, LOCAL)
    run(engine, io)
    [(reply, _)] = io.sent
    answer = IPv6(reply[28 + GWLB_HEADER_LENGTH :])
    assert answer.nh == 58  # ICMPv6
    assert answer.dst == "2001:2::1"


def test_domain_rule_decides_when_the_name_is_seen() -> None:
    engine, io = engine_with_policy()
    syn = IP(src="198.18.1.1", dst="198.19.1.1") / TCP(sport=40001, dport=80, flags="S")
    get = (
        IP(src="198.18.1.1", dst="198.19.1.1")
        / TCP(sport=40001, dport=80, flags="PA")
        / b"GET / HTTP/1.1\r\nHost: www.blocked.example\r\n\r\n"
    )
    io.push(geneve(syn), GWLB, 5000, LOCAL)
    run(engine, io)
    [flow] = list(engine.table.flows())
    # the handshake passes while the name is unknown
    assert flow.action == PENDING
    assert len(io.sent) == 1
    io.push(geneve(get), GWLB, 5000, LOCAL)
    io.push(geneve(get), GWLB, 5000, LOCAL)
    run(engine, io)
    assert flow.domain == "www.blocked.example"
    assert flow.decision.rule_id == "blocked-site"
    assert len(io.sent) == 1  # both requests dropped
    assert engine.rule_flows["blocked-site"] == 1


def test_domain_wait_is_bounded() -> None:
    engine, io = engine_with_policy()
    for flags in ("S", "A", "PA", "PA", "PA"):
        pkt = IP(src="198.18.1.2", dst="198.19.1.1") / TCP(sport=4, dport=80, flags=flags)
        io.push(geneve(pkt / (b"no name here" if flags == "PA" else b"")), GWLB, 1, LOCAL)
    run(engine, io)
    [flow] = list(engine.table.flows())
    assert flow.action == 0
    assert flow.decision.rule_id == "default"
    assert len(io.sent) == 5


def test_flow_records_denied_at_once_and_allowed_at_the_end() -> None:
    recorder = FlowRecorder("flagged", limit=10, version=lambda: "test-1")
    engine, io = engine_with_policy(recorder)
    io.push(
        geneve(IP(src="198.18.1.3", dst="198.19.1.1") / UDP(sport=9, dport=5353)), GWLB, 1, LOCAL
    )
    io.push(geneve(IP(src="198.18.1.3", dst="198.19.1.1") / UDP(sport=9, dport=53)), GWLB, 1, LOCAL)
    run(engine, io, now=100.0)
    records, overflow = recorder.take()
    assert overflow == 0
    [denied] = records
    assert denied["event_type"] == "flow"
    assert denied["dest_port"] == 5353
    assert denied["gwlb"]["rule"] == "no-dns-tunnel"
    assert denied["gwlb"]["verdict"] == "drop"
    assert denied["gwlb"]["policy_version"] == "test-1"
    # the allowed flow's rule (default) is not flagged: nothing when it expires
    engine.maintain(100.0 + 121.0, budget=100)
    assert recorder.take() == ([], 0)
    # with scope "all" every flow is written when it ends
    recorder.scope = "all"
    io.push(geneve(IP(src="198.18.1.4", dst="198.19.1.1") / UDP(sport=9, dport=53)), GWLB, 1, LOCAL)
    run(engine, io, now=300.0)
    engine.maintain(300.0 + 121.0, budget=100)
    [ended] = recorder.take()[0]
    assert ended["flow"]["reason"] == "timeout"
    assert ended["flow"]["pkts_toserver"] == 1


def test_a_new_policy_keeps_a_domain_verdict_already_reached() -> None:
    # GIVEN a flow stopped by an SNI/Host rule
    engine, io = engine_with_policy()
    syn = IP(src="198.18.1.5", dst="198.19.1.1") / TCP(sport=40005, dport=80, flags="S")
    get = (
        IP(src="198.18.1.5", dst="198.19.1.1")
        / TCP(sport=40005, dport=80, flags="PA")
        / b"GET / HTTP/1.1\r\nHost: blocked.example\r\n\r\n"
    )
    io.push(geneve(syn), GWLB, 5000, LOCAL)
    io.push(geneve(get), GWLB, 5000, LOCAL)
    run(engine, io)
    [flow] = list(engine.table.flows())
    assert flow.decision.rule_id == "blocked-site"
    # WHEN a new version of the same policy arrives (re-evaluating flows)
    newer = compile_policy(parse_document(POLICY.replace("test-1", "test-2")))
    engine.set_policy(newer, reevaluate=True)
    # THEN the flow stays stopped: its name is known, it does not go back to pending
    assert flow.decision.rule_id == "blocked-site"
    assert flow.action != PENDING
    io.push(geneve(get), GWLB, 5000, LOCAL)
    sent_before = len(io.sent)
    run(engine, io)
    assert len(io.sent) == sent_before
