"""The inline engine through the in-memory packet I/O: replies, drops, flows, both paths agree."""

from __future__ import annotations

import socket
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.packet import Packet, Raw

from appliance.dataplane.batch import HEADROOM, Batch
from appliance.dataplane.engine import Engine
from appliance.dataplane.packetio import MemoryIO
from appliance.flows.table import FlowTable, TableLimits
from appliance.policy.static import StaticPolicy
from appliance.policy.verdict import Action, Decision, FlowFacts
from appliance.wire.geneve import ETHERTYPE_IPV6, build_geneve

GWLB = "198.18.0.1"
LOCAL = "198.18.0.2"
EP = 0x0123456789ABCDEF


def geneve(inner: Packet, *, cookie: int = 7, endpoint: int = EP) -> bytes:
    proto = ETHERTYPE_IPV6 if isinstance(inner, IPv6) else 0x0800
    return build_geneve(
        endpoint_id=endpoint, attachment_id=0, cookie=cookie, protocol_type=proto
    ) + bytes(inner)


def udp(n: int = 1, payload: bytes = b"x" * 72) -> Packet:
    return IP(src=f"198.18.1.{n}", dst="198.19.1.1") / UDP(sport=1000 + n, dport=53) / payload


def run(engine: Engine, io: MemoryIO, now: float = 1000.0) -> None:
    while io.pending:
        n = io.receive()
        runs = engine.process(io.batch, n, now)
        engine.count_sent(*io.send(runs))


def make(deny: tuple[str, ...] = (), **kwargs: object) -> tuple[Engine, MemoryIO]:
    engine = Engine(StaticPolicy(deny), gwlb_cidrs=["198.18.0.0/24"], **kwargs)  # type: ignore[arg-type]
    return engine, MemoryIO(Batch(8))


def test_reply_is_the_payload_untouched_behind_a_swapped_outer_header() -> None:
    engine, io = make()
    payload = geneve(udp())
    io.push(payload, GWLB, 41234, LOCAL)
    run(engine, io)
    [(reply, dst)] = io.sent
    outer = IP(reply)
    # THEN addresses are swapped, the GWLB's port is the source port, 6081 the destination
    assert socket.inet_ntoa(dst) == GWLB
    assert (outer.src, outer.dst, outer.proto, outer.ttl) == (LOCAL, GWLB, 17, 64)
    assert outer.flags == "DF"
    sport, dport, length, checksum = struct.unpack("!HHHH", reply[20:28])
    assert (sport, dport, length, checksum) == (41234, 6081, 8 + len(payload), 0)
    # AND the GENEVE payload is byte for byte what the GWLB sent
    assert reply[28:] == payload
    assert engine.packets_out == 1
    assert engine.bytes_out == len(payload)


def test_each_packet_is_answered_to_the_node_that_sent_it() -> None:
    engine, io = make()
    io.push(geneve(udp()), "198.18.0.1", 5000, LOCAL)
    io.push(geneve(udp()), "198.18.0.9", 5001, "198.18.0.3")
    run(engine, io)
    replies = [(IP(r).src, IP(r).dst, socket.inet_ntoa(d)) for r, d in io.sent]
    assert replies == [
        (LOCAL, "198.18.0.1", "198.18.0.1"),
        ("198.18.0.3", "198.18.0.9", "198.18.0.9"),
    ]


def test_sources_outside_the_gwlb_cidrs_are_dropped_and_counted() -> None:
    engine, io = make()
    io.push(geneve(udp()), "198.19.200.1", 5000, LOCAL)
    run(engine, io)
    assert io.sent == []
    assert engine.drop_counts()["source_not_allowed"] == 1


def test_a_foreign_source_between_gwlb_datagrams_of_one_batch_is_still_dropped() -> None:
    engine, io = make()
    io.push(geneve(udp()), GWLB, 5000, LOCAL)
    io.push(geneve(udp()), "198.19.200.1", 5000, LOCAL)
    io.push(geneve(udp()), GWLB, 5000, LOCAL)
    io.push(geneve(udp()), "198.19.200.2", 5000, LOCAL)
    run(engine, io)
    assert [socket.inet_ntoa(d) for _, d in io.sent] == [GWLB, GWLB]
    assert engine.drop_counts()["source_not_allowed"] == 2


def test_replies_leave_from_the_listen_address_when_one_is_set() -> None:
    engine, io = make(reply_source=socket.inet_aton("198.18.0.7"))
    io.push(geneve(udp()), GWLB, 5000, LOCAL)
    io.push(geneve(udp()), GWLB, 5000, LOCAL)
    run(engine, io)
    assert [IP(r).src for r, _ in io.sent] == ["198.18.0.7", "198.18.0.7"]


def test_with_a_kernel_ipv4_header_the_reply_is_the_udp_header_and_the_payload() -> None:
    engine = Engine(StaticPolicy(()), gwlb_cidrs=["198.18.0.0/24"])
    batch = Batch(4)
    batch.kernel_ip_header(source_from_pktinfo=True)
    payload = geneve(udp())
    batch.fill(0, payload, socket.inet_aton(GWLB), 41234, socket.inet_aton(LOCAL))
    assert engine.process(batch, 1, 1000.0) == [(0, 1)]
    # THEN the send vector covers the UDP header (GWLB's port, 6081, length, checksum 0)
    # and the untouched payload behind it
    assert batch.tx_lens[1] == 8 + len(payload)
    start = HEADROOM - 8
    assert struct.unpack_from("!HHHH", batch.data, start) == (41234, 6081, 8 + len(payload), 0)
    assert bytes(batch.data[HEADROOM : HEADROOM + len(payload)]) == payload


def test_busy_flows_are_found_by_their_exact_header_and_forgotten_with_the_flow() -> None:
    engine, io = make()
    for _ in range(3):
        io.push(geneve(udp()), GWLB, 5000, LOCAL)
    run(engine, io)
    [flow] = engine.table.flows()
    assert list(engine.table.by_header.values()) == [flow]
    assert flow.packets == 3
    # WHEN the flow leaves the table
    engine.table.remove(flow, "cleared")
    # THEN the index forgets it, and the next packet starts a new flow
    assert engine.table.by_header == {}
    io.push(geneve(udp()), GWLB, 5000, LOCAL)
    run(engine, io)
    [again] = engine.table.flows()
    assert again is not flow
    assert again.packets == 1
    assert engine.table.created == 2
    assert len(io.sent) == 4


def test_a_new_header_on_a_known_flow_replaces_its_index_entry() -> None:
    engine, io = make()
    for cookie in (7, 7, 8, 8, 9):
        io.push(geneve(udp(), cookie=cookie), GWLB, 5000, LOCAL)
    run(engine, io)
    [flow] = engine.table.flows()
    assert flow.packets == 5
    [(key, half)] = engine.table.by_header.items()
    assert half is flow
    assert key[36:40] == (9).to_bytes(4, "big")


def test_the_header_index_starts_over_when_full_and_counting_stays_exact(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(FlowTable, "HEADER_INDEX_LIMIT", 4)
    engine, io = make(deny=("198.18.1.3/32",))
    for _ in range(4):
        for n in range(1, 11):
            io.push(geneve(udp(n)), GWLB, 5000, LOCAL)
    run(engine, io)
    assert len(engine.table.by_header) <= 4
    assert sorted(f.packets for f in engine.table.flows()) == [4] * 10
    assert len(io.sent) == 36
    assert engine.drop_counts()["policy"] == 4


def test_malformed_datagrams_are_dropped_by_reason_and_neighbours_still_answered() -> None:
    engine, io = make()
    good = geneve(udp())
    bad_version = bytes([0x40 | good[0]]) + good[1:]
    oam = good[:1] + bytes([0x80]) + good[2:]
    short = good[:6]
    missing = bytes([0x06]) + good[1:32] + good[40:]  # endpoint + attachment, no cookie
    truncated_inner = good[:50]
    for payload in (good, bad_version, oam, short, missing, truncated_inner, good):
        io.push(payload, GWLB, 5000, LOCAL)
    run(engine, io)
    drops = engine.drop_counts()
    assert len(io.sent) == 2
    assert drops["bad_version"] == 1
    assert drops["oam"] == 1
    assert drops["too_short"] == 1
    assert drops["missing_gwlb_option"] == 1
    assert drops["inner_malformed"] == 1
    assert engine.packets_received == 7


def test_policy_decides_once_per_flow_and_drops_are_counted_per_tunnel_and_rule() -> None:
    engine, io = make(deny=("198.19.9.0/24",))
    denied = IP(src="198.18.1.1", dst="198.19.9.9") / TCP(sport=5, dport=80, flags="S")
    for _ in range(3):
        io.push(geneve(denied), GWLB, 5000, LOCAL)
        io.push(geneve(udp()), GWLB, 5001, LOCAL)
    run(engine, io)
    assert len(io.sent) == 3
    assert engine.drop_counts()["policy"] == 3
    assert engine.rule_flows == {"static-deny": 1, "default": 1}
    [tunnel] = list(engine.tunnels)
    assert tunnel.packets_in == 6
    assert tunnel.drops == 3
    assert tunnel.tallies["static-deny"].packets == 3


def test_both_directions_are_one_flow_with_per_direction_counters() -> None:
    engine, io = make()
    there = IP(src="198.18.1.1", dst="198.19.1.1") / TCP(sport=40000, dport=443, flags="S")
    back = IP(src="198.19.1.1", dst="198.18.1.1") / TCP(sport=443, dport=40000, flags="SA")
    io.push(geneve(there), GWLB, 5000, LOCAL)
    io.push(geneve(back), GWLB, 5000, LOCAL)
    io.push(geneve(back), GWLB, 5000, LOCAL)
    run(engine, io)
    assert len(engine.table) == 1
    [flow] = list(engine.table.flows())
    assert flow.packets == 1
    assert flow.reverse is not None
    assert flow.reverse.packets == 2
    assert not flow.mid_flow


def test_flows_are_scoped_per_endpoint() -> None:
    engine, io = make()
    io.push(geneve(udp(), endpoint=1), GWLB, 5000, LOCAL)
    io.push(geneve(udp(), endpoint=2), GWLB, 5000, LOCAL)
    run(engine, io)
    assert len(engine.table) == 2
    assert len(engine.tunnels) == 2


def test_an_icmp_error_belongs_to_the_flow_it_quotes() -> None:
    engine, io = make()
    sent = IP(src="198.18.1.1", dst="198.19.1.1") / UDP(sport=1234, dport=53)
    error = IP(src="198.19.1.254", dst="198.18.1.1") / ICMP(type=3, code=3) / IP(bytes(sent))
    io.push(geneve(sent / b"q"), GWLB, 5000, LOCAL)
    io.push(geneve(error), GWLB, 5000, LOCAL)
    run(engine, io)
    assert len(engine.table) == 1
    assert len(io.sent) == 2
    [flow] = list(engine.table.flows())
    assert flow.packets == 2  # the error was counted on the quoted flow


def test_mid_flow_tcp_is_flagged_for_the_policy() -> None:
    seen: list[FlowFacts] = []

    class Recording(StaticPolicy):
        def decide(self, facts: FlowFacts) -> Decision:
            seen.append(facts)
            return Decision(Action.ALLOW, "default")

    engine = Engine(Recording(), gwlb_cidrs=["198.18.0.0/24"])
    io = MemoryIO(Batch(4))
    mid = IP(src="198.18.1.1", dst="198.19.1.1") / TCP(sport=4, dport=80, flags="A")
    syn = IP(src="198.18.1.2", dst="198.19.1.1") / TCP(sport=4, dport=80, flags="S")
    io.push(geneve(mid), GWLB, 5000, LOCAL)
    io.push(geneve(syn), GWLB, 5000, LOCAL)
    run(engine, io)
    assert [f.mid_flow for f in seen] == [True, False]
    assert seen[1].protocol == 6
    assert seen[1].dport == 80
    assert seen[1].endpoint_id == EP


def test_ipv6_inner_packets_take_the_full_path() -> None:
    engine, io = make()
    v6 = IPv6(src="2001:2::1", dst="2001:2::2") / UDP(sport=7, dport=9) / b"hello"
    io.push(geneve(v6), GWLB, 5000, LOCAL)
    run(engine, io)
    assert len(io.sent) == 1
    assert len(engine.table) == 1


def test_send_failures_are_counted() -> None:
    engine, io = make()
    io.fail_next_sends = 1
    io.push(geneve(udp()), GWLB, 5000, LOCAL)
    io.push(geneve(udp(2)), GWLB, 5000, LOCAL)
    run(engine, io)
    assert engine.drop_counts()["send_failed"] == 1
    assert engine.packets_out == 1


def test_new_policy_can_reevaluate_existing_flows() -> None:
    engine, io = make()
    io.push(geneve(udp()), GWLB, 5000, LOCAL)
    run(engine, io)
    assert engine.set_policy(StaticPolicy(["198.19.1.0/24"]), reevaluate=True) == 1
    io.push(geneve(udp()), GWLB, 5000, LOCAL)
    run(engine, io)
    assert len(io.sent) == 1
    assert engine.drop_counts()["policy"] == 1
    assert engine.rule_flows == {"default": 0, "static-deny": 1}


def test_table_bound_evicts() -> None:
    engine, io = make(limits=TableLimits(max_flows=1000))
    for n in range(1100):
        io.push(geneve(udp(n % 250 + 1) / Raw(b"")), GWLB, 5000 + n, LOCAL)
    for n in range(1100):
        src = f"198.18.{n // 250}.{n % 250 + 1}"
        pkt = IP(src=src, dst="198.19.1.1") / UDP(sport=n, dport=53)
        io.push(geneve(pkt), GWLB, 5000, LOCAL)
    run(engine, io)
    assert len(engine.table) == 1000
    assert engine.table.evicted > 0


# -- the fast path and the full parser agree ---------------------------------------------

_inner = st.builds(
    lambda proto, sport, dport, payload, df, ttl, n: bytes(
        IP(src=f"198.18.1.{n}", dst="198.19.1.1", flags="DF" if df else 0, ttl=ttl)
        / (
            TCP(sport=sport, dport=dport, flags="S")
            if proto == 6
            else UDP(sport=sport, dport=dport)
        )
        / payload
    ),
    st.sampled_from([6, 17]),
    st.integers(0, 65535),
    st.integers(0, 65535),
    st.binary(max_size=64),
    st.booleans(),
    st.integers(1, 255),
    st.integers(1, 4),
)


@st.composite
def datagrams(draw: st.DrawFn) -> list[bytes]:
    """A flow's datagram sent 1-3 times (so the flow reaches the header index), then
    sometimes a copy with one byte corrupted or cut short."""
    inner = draw(_inner)
    payload = geneve(IP(inner), cookie=draw(st.integers(0, 2**32 - 1)))
    sent = [payload] * draw(st.integers(1, 3))
    mutation = draw(st.sampled_from(["none", "flip", "cut"]))
    if mutation == "flip":
        at = draw(st.integers(0, len(payload) - 1))
        sent.append(
            payload[:at] + bytes([payload[at] ^ draw(st.integers(1, 255))]) + payload[at + 1 :]
        )
    elif mutation == "cut":
        sent.append(payload[: draw(st.integers(0, len(payload)))])
    return sent


@settings(max_examples=150, deadline=None)
@given(st.lists(datagrams(), min_size=1, max_size=12))
def test_fast_path_and_full_parser_agree(groups: list[list[bytes]]) -> None:
    fast, fast_io = make(deny=("198.18.1.3/32",))
    slow, slow_io = make(deny=("198.18.1.3/32",), fast_path=False)
    payloads = [p for group in groups for p in group]
    for p in payloads:
        fast_io.push(p, GWLB, 5000, LOCAL)
        slow_io.push(p, GWLB, 5000, LOCAL)
    run(fast, fast_io)
    run(slow, slow_io)
    assert fast_io.sent == slow_io.sent
    assert fast.drop_counts() == slow.drop_counts()
    assert set(fast.table.entries) == set(slow.table.entries)
    assert [(f.packets, f.bytes) for f in fast.table.flows()] == [
        (f.packets, f.bytes) for f in slow.table.flows()
    ]
