"""The simulator's flows and return checks, driven without sockets."""

from __future__ import annotations

import random
import socket

from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6ND_RS, IPv6

from appliance.lab.gwlb import GwlbSimulator, Violation
from appliance.lab.packets import build_ipv4_udp, parse_ipv4_udp
from appliance.lab.reflector import Fault, reflect
from appliance.wire.geneve import ETHERTYPE_IPV4, GENEVE_PORT, parse_geneve

from .conftest import APPLIANCE, CLIENT, SERVER, SIM, udp_packet


def bounce(datagram: bytes, fault: Fault = Fault.NONE, source: bytes = APPLIANCE) -> bytes:
    """What a (possibly faulty) appliance sends back for ``datagram``."""
    outer = parse_ipv4_udp(datagram)
    payload = datagram[outer.payload_offset : outer.payload_end]
    return reflect(payload, local=source, peer=outer.src, peer_port=outer.sport, fault=fault)


def test_outbound_datagram_is_geneve_to_the_appliance(sim: GwlbSimulator) -> None:
    inner = udp_packet(CLIENT, SERVER, 5000, 53, b"query")
    out = sim.encapsulate(inner)
    assert out is not None
    outer = parse_ipv4_udp(out.datagram)
    assert (outer.src, outer.dst, outer.dport) == (SIM, APPLIANCE, GENEVE_PORT)
    assert outer.sport == out.flow.sport
    header = parse_geneve(out.datagram, outer.payload_offset, outer.payload_end)
    assert header.length == 40
    assert header.endpoint_id == 0x0123456789ABCDEF
    assert header.attachment_id == 0x42
    assert header.cookie == out.flow.cookie
    assert header.protocol_type == ETHERTYPE_IPV4
    assert out.datagram[outer.payload_offset + 40 :] == inner


def test_both_directions_share_one_flow_cookie_and_port(sim: GwlbSimulator) -> None:
    there = sim.encapsulate(udp_packet(CLIENT, SERVER, 5000, 53))
    back = sim.encapsulate(udp_packet(SERVER, CLIENT, 53, 5000))
    other = sim.encapsulate(udp_packet(CLIENT, SERVER, 5001, 53))
    assert there is not None
    assert back is not None
    assert other is not None
    assert back.flow is there.flow
    assert other.flow is not there.flow
    assert other.flow.cookie != there.flow.cookie
    assert len(sim.flows) == 2


def test_icmp_echo_request_and_reply_are_one_flow(sim: GwlbSimulator) -> None:
    request = bytes(IP(src="198.18.1.10", dst="198.19.1.10") / ICMP(type=8, id=77, seq=1))
    reply = bytes(IP(src="198.19.1.10", dst="198.18.1.10") / ICMP(type=0, id=77, seq=1))
    first, second = sim.encapsulate(request), sim.encapsulate(reply)
    assert first is not None
    assert second is not None
    assert first.flow is second.flow


def test_a_correct_return_is_verified_and_forwarded(sim: GwlbSimulator) -> None:
    inner = bytes(IP(src="198.18.1.10", dst="198.19.1.10") / TCP(sport=40000, dport=80, flags="S"))
    out = sim.encapsulate(inner)
    assert out is not None
    assert sim.unreturned == 1
    violations, forwarded = sim.check_return(bounce(out.datagram))
    assert violations == []
    assert forwarded == inner
    assert sim.counters.verified == 1
    assert sim.unreturned == 0
    (target,) = sim.status()["targets"]
    assert (target["address"], target["sent"], target["verified"], target["flows"]) == (
        "198.18.0.10",
        1,
        1,
        1,
    )
    assert out.flow.returned == 1


def test_ports_swapped_like_a_plain_udp_socket_is_a_violation(sim: GwlbSimulator) -> None:
    out = sim.encapsulate(udp_packet(CLIENT, SERVER, 5000, 53))
    assert out is not None
    violations, forwarded = sim.check_return(bounce(out.datagram, Fault.SWAP_PORTS))
    assert set(violations) == {Violation.SOURCE_PORT, Violation.DESTINATION_PORT}
    assert forwarded is None
    assert sim.counters.violations["source_port"] == 1
    assert sim.counters.rejected == 1
    assert sim.recent_violations


def test_a_changed_cookie_is_an_unknown_cookie(sim: GwlbSimulator) -> None:
    out = sim.encapsulate(udp_packet(CLIENT, SERVER, 5000, 53))
    assert out is not None
    violations, _ = sim.check_return(bounce(out.datagram, Fault.CHANGE_COOKIE))
    assert violations == [Violation.UNKNOWN_COOKIE]


def test_a_changed_header_byte_is_noticed(sim: GwlbSimulator) -> None:
    out = sim.encapsulate(udp_packet(CLIENT, SERVER, 5000, 53))
    assert out is not None
    reply = bytearray(bounce(out.datagram))
    reply[28 + 4] ^= 0x01  # first VNI byte
    violations, _ = sim.check_return(bytes(reply))
    assert violations == [Violation.HEADER_CHANGED]


def test_a_changed_inner_packet_and_a_duplicate_are_noticed(sim: GwlbSimulator) -> None:
    out = sim.encapsulate(udp_packet(CLIENT, SERVER, 5000, 53, b"abc"))
    assert out is not None
    violations, _ = sim.check_return(bounce(out.datagram, Fault.CHANGE_PAYLOAD))
    assert violations == [Violation.PAYLOAD_CHANGED]
    assert sim.check_return(bounce(out.datagram))[0] == []
    assert sim.check_return(bounce(out.datagram))[0] == [Violation.PAYLOAD_CHANGED]


def test_a_return_from_another_address_or_to_another_is_noticed(sim: GwlbSimulator) -> None:
    out = sim.encapsulate(udp_packet(CLIENT, SERVER, 5000, 53))
    assert out is not None
    stranger = socket.inet_aton("198.18.0.99")
    violations, _ = sim.check_return(bounce(out.datagram, source=stranger))
    assert violations == [Violation.SOURCE_ADDRESS]
    outer = parse_ipv4_udp(out.datagram)
    payload = out.datagram[outer.payload_offset :]
    misdirected = build_ipv4_udp(APPLIANCE, stranger, outer.sport, GENEVE_PORT, payload)
    assert sim.check_return(misdirected)[0] == [Violation.DESTINATION_ADDRESS]


def test_garbage_and_unparseable_inner_packets_are_counted(sim: GwlbSimulator) -> None:
    assert sim.check_return(b"\x45junk")[0] == [Violation.MALFORMED]
    not_geneve = build_ipv4_udp(APPLIANCE, SIM, 1234, GENEVE_PORT, b"\x40" * 12)
    assert sim.check_return(not_geneve)[0] == [Violation.MALFORMED]
    assert sim.encapsulate(b"\x45\x00") is None
    assert sim.counters.unparseable == 1
    assert sim.counters.captured == 1
    status = sim.status()
    assert status["violations"]["malformed"] == 2
    assert status["schema"] == "gwlbd.labsim/v1"


def test_flows_spread_over_several_appliances_and_stick() -> None:
    targets = [socket.inet_aton(f"198.18.0.{10 + i}") for i in range(3)]
    sim = GwlbSimulator(address=SIM, targets=targets, endpoint_id=1, rng=random.Random(1))
    chosen = {}
    for port in range(1000, 1060):
        out = sim.encapsulate(udp_packet(CLIENT, SERVER, port, 53))
        back = sim.encapsulate(udp_packet(SERVER, CLIENT, 53, port))
        assert out is not None
        assert back is not None
        assert out.target == back.target
        chosen[port] = out.target
    assert set(chosen.values()) == set(targets)
    per_target = {t["address"]: t["sent"] for t in sim.status()["targets"]}
    assert sum(per_target.values()) == 120
    assert all(per_target[f"198.18.0.{10 + i}"] > 0 for i in range(3))


def test_memory_is_bounded() -> None:
    sim = GwlbSimulator(
        address=SIM,
        targets=[APPLIANCE],
        endpoint_id=1,
        rng=random.Random(2),
        max_flows=4,
        max_outstanding=3,
    )
    for n in range(5):
        sim.encapsulate(udp_packet(CLIENT, SERVER, 5000, 53, bytes([n])))
    assert sim.counters.expired == 2
    for port in range(6000, 6004):
        sim.encapsulate(udp_packet(CLIENT, SERVER, port, 53))
    assert len(sim.flows) == 4
    assert len(sim.by_cookie) == 4
    assert sim.counters.flows_evicted == 1
    assert sim.counters.expired == 5


@given(
    sport=st.integers(0, 65535),
    dport=st.integers(0, 65535),
    payload=st.binary(max_size=600),
    reverse=st.booleans(),
)
def test_any_udp_packet_survives_a_correct_appliance(
    sport: int, dport: int, payload: bytes, reverse: bool
) -> None:
    sim = GwlbSimulator(address=SIM, targets=[APPLIANCE], endpoint_id=9, rng=random.Random(3))
    src, dst = (SERVER, CLIENT) if reverse else (CLIENT, SERVER)
    inner = udp_packet(src, dst, sport, dport, payload)
    out = sim.encapsulate(inner)
    assert out is not None
    assert sim.check_return(bounce(out.datagram)) == ([], inner)


@given(st.binary(max_size=300))
def test_check_return_never_raises(data: bytes) -> None:
    sim = GwlbSimulator(address=SIM, targets=[APPLIANCE], endpoint_id=9, rng=random.Random(3))
    violations, inner = sim.check_return(data)
    assert violations or inner is not None


def test_link_local_and_multicast_traffic_is_not_carried(sim: GwlbSimulator) -> None:
    solicitation = bytes(IPv6(src="fe80::1", dst="ff02::2") / ICMPv6ND_RS())
    igmp_like = udp_packet(CLIENT, socket.inet_aton("224.0.0.251"), 5353, 5353)
    broadcast = udp_packet(CLIENT, b"\xff\xff\xff\xff", 68, 67)
    for packet in (solicitation, igmp_like, broadcast):
        assert sim.encapsulate(packet) is None
    assert sim.counters.unparseable == 3
    assert not sim.flows
    v6 = bytes(IPv6(src="2001:2::10", dst="2001:2:0:1::10") / UDP(sport=1, dport=2))
    out = sim.encapsulate(v6)
    assert out is not None
    assert sim.check_return(bounce(out.datagram)) == ([], v6)


def test_idle_flows_expire_after_gwlb_timeouts() -> None:
    # GIVEN a UDP flow and a TCP flow at t=0
    now = [0.0]
    sim = GwlbSimulator(
        address=SIM,
        targets=[APPLIANCE],
        endpoint_id=1,
        rng=random.Random(4),
        clock=lambda: now[0],
    )
    udp = sim.encapsulate(udp_packet(CLIENT, SERVER, 5000, 53))
    tcp_inner = bytes(IP(src="198.18.1.10", dst="198.19.1.10") / TCP(sport=40000, dport=80))
    tcp = sim.encapsulate(tcp_inner)
    assert udp is not None
    assert tcp is not None
    # WHEN 120 s pass, THEN nothing expires yet; just after, the UDP flow does
    now[0] = 120.0
    assert sim.expire_idle() == 0
    now[0] = 120.5
    assert sim.expire_idle() == 1
    assert sim.counters.flows_expired == 1
    assert sim.counters.expired == 1  # its packet never came back
    assert len(sim.flows) == 1
    # a packet keeps the TCP flow alive; it expires 350 s after its last packet
    tcp_returned = sim.check_return(bounce(tcp.datagram))
    assert tcp_returned[0] == []
    now[0] = 300.0
    sim.encapsulate(tcp_inner)
    now[0] = 650.0
    assert sim.expire_idle() == 0
    now[0] = 650.5
    assert sim.expire_idle() == 1
    assert not sim.flows
    assert not sim.by_cookie
    # a packet of an expired 5-tuple starts a new flow with its own cookie
    again = sim.encapsulate(udp_packet(CLIENT, SERVER, 5000, 53))
    assert again is not None
    assert again.flow is not udp.flow
    # a return for the forgotten flow's cookie is now unknown
    assert sim.check_return(bounce(udp.datagram))[0] == [Violation.UNKNOWN_COOKIE]
