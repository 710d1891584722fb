"""Directional flow keys: exact layout, reversal, description, hypothesis properties."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_Router_Alert
from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6, IPv6ExtHdrDestOpt
from scapy.packet import Packet

from appliance.wire.flowkey import (
    IPV4_KEY_LENGTH,
    IPV6_KEY_LENGTH,
    KeyParts,
    describe_key,
    flow_key,
    reverse_key,
)
from appliance.wire.geneve import ETHERTYPE_IPV4, ETHERTYPE_IPV6
from appliance.wire.inner import InnerPacket, parse_inner

ENDPOINT = 0x0123456789ABCDEF


def parse(packet: Packet) -> InnerPacket:
    raw = bytes(packet)
    proto = ETHERTYPE_IPV4 if raw[0] >> 4 == 4 else ETHERTYPE_IPV6
    return parse_inner(raw, 0, len(raw), proto)


def key_of(packet: Packet, endpoint: int = ENDPOINT) -> bytes:
    return flow_key(endpoint, parse(packet))


def test_ipv4_key_layout_byte_for_byte() -> None:
    key = key_of(IP(src="198.18.1.10", dst="198.19.1.10") / TCP(sport=40000, dport=443))
    assert key == bytes.fromhex(
        "0123456789abcdef"  # endpoint id
        "06"  # protocol
        "c612010a"  # 198.18.1.10
        "c613010a"  # 198.19.1.10
        "9c40"  # 40000
        "01bb"  # 443
    )
    assert len(key) == IPV4_KEY_LENGTH


def test_ipv6_key_layout_byte_for_byte() -> None:
    key = key_of(IPv6(src="2001:2::a", dst="2001:2::b") / UDP(sport=53, dport=5353))
    assert key == bytes.fromhex(
        "0123456789abcdef"  # endpoint id
        "11"  # protocol
        "2001000200000000000000000000000a"  # 2001:2::a
        "2001000200000000000000000000000b"  # 2001:2::b
        "0035"  # 53
        "14e9"  # 5353
    )
    assert len(key) == IPV6_KEY_LENGTH


def test_reverse_key_swaps_addresses_and_ports() -> None:
    key = key_of(IP(src="198.18.1.10", dst="198.19.1.10") / TCP(sport=40000, dport=443))
    back = key_of(IP(src="198.19.1.10", dst="198.18.1.10") / TCP(sport=443, dport=40000))
    assert reverse_key(key) == back
    assert reverse_key(back) == key
    assert key != back


def test_icmp_echo_request_and_reply_have_mirror_keys() -> None:
    request = key_of(IP(src="198.18.1.10", dst="198.19.1.10") / ICMP(type=8, id=99))
    reply = key_of(IP(src="198.19.1.10", dst="198.18.1.10") / ICMP(type=0, id=99))
    assert reverse_key(request) == reply
    request6 = key_of(IPv6(src="2001:2::a", dst="2001:2::b") / ICMPv6EchoRequest(id=5))
    reply6 = key_of(IPv6(src="2001:2::b", dst="2001:2::a") / ICMPv6EchoReply(id=5))
    assert reverse_key(request6) == reply6


def test_icmp_error_key_is_the_quoted_flow() -> None:
    # GIVEN A -> B UDP, and a router's unreachable about it sent back toward A
    flow = IP(src="198.18.1.10", dst="198.19.1.10") / UDP(sport=40000, dport=53)
    error = IP(src="198.18.0.254", dst="198.18.1.10") / ICMP(type=3, code=3) / flow
    # THEN the error's key is the quoted flow's key (the caller looks up both directions)
    assert key_of(error) == key_of(flow)


def test_describe_key() -> None:
    key = key_of(IPv6(src="2001:2::a", dst="2001:2::b") / UDP(sport=53, dport=5353))
    assert describe_key(key) == KeyParts(
        endpoint_id=ENDPOINT, family=6, protocol=17, src="2001:2::a", dst="2001:2::b",
        sport=53, dport=5353,
    )  # fmt: skip
    key4 = key_of(IP(src="198.18.1.10", dst="198.19.1.10") / TCP(sport=1, dport=2))
    assert describe_key(key4) == KeyParts(ENDPOINT, 4, 6, "198.18.1.10", "198.19.1.10", 1, 2)


@pytest.mark.parametrize("size", [0, 20, 22, 44, 46])
def test_keys_of_other_lengths_are_rejected(size: int) -> None:
    with pytest.raises(ValueError, match="flow key"):
        reverse_key(bytes(size))
    with pytest.raises(ValueError, match="flow key"):
        describe_key(bytes(size))


# --- hypothesis -------------------------------------------------------------------

ipv4 = st.integers(0, 2**32 - 1).map(lambda n: str(ipaddress.IPv4Address(n)))
ipv6 = st.integers(0, 2**128 - 1).map(lambda n: str(ipaddress.IPv6Address(n)))
port = st.integers(0, 0xFFFF)
endpoint = st.integers(0, 2**64 - 1)


def l4(kind: str, sport: int, dport: int) -> Packet:
    if kind == "tcp":
        return TCP(sport=sport, dport=dport, flags="A")
    return UDP(sport=sport, dport=dport)


@given(
    family=st.sampled_from([4, 6]),
    data=st.data(),
    sport=port,
    dport=port,
    kind=st.sampled_from(["tcp", "udp", "echo"]),
    endpoint_id=endpoint,
    options=st.booleans(),
)
def test_reverse_direction_packet_has_reverse_key(
    family: int, data: st.DataObject, sport: int, dport: int, kind: str, endpoint_id: int,
    options: bool,
) -> None:  # fmt: skip
    address = ipv4 if family == 4 else ipv6
    a, b = data.draw(address), data.draw(address)

    def packet(src: str, dst: str, sp: int, dp: int, reply: bool) -> Packet:
        # options: IPv4 header options, or an IPv6 destination options header
        ip: Packet
        if family == 4:
            ip = IP(src=src, dst=dst, options=[IPOption_Router_Alert()] if options else [])
            if kind == "echo":
                return ip / ICMP(type=0 if reply else 8, id=sport)
        else:
            ip = IPv6(src=src, dst=dst)
            if options:
                ip = ip / IPv6ExtHdrDestOpt()
            if kind == "echo":
                return ip / (ICMPv6EchoReply if reply else ICMPv6EchoRequest)(id=sport)
        return ip / l4(kind, sp, dp)

    forward = flow_key(endpoint_id, parse(packet(a, b, sport, dport, reply=False)))
    backward = flow_key(endpoint_id, parse(packet(b, a, dport, sport, reply=True)))
    assert backward == reverse_key(forward)
    assert reverse_key(reverse_key(forward)) == forward
    parts = describe_key(forward)
    assert (parts.endpoint_id, parts.family) == (endpoint_id, family)
    assert ipaddress.ip_address(parts.src) == ipaddress.ip_address(a)


@given(src=ipv4, dst=ipv4, sport=port, dport=port, proto=st.sampled_from(["tcp", "udp"]),
       endpoint_id=endpoint)  # fmt: skip
def test_ipv4_key_is_a_slice_of_the_packet(
    src: str, dst: str, sport: int, dport: int, proto: str, endpoint_id: int
) -> None:
    raw = bytes(IP(src=src, dst=dst) / l4(proto, sport, dport))
    assert raw[0] == 0x45
    inner = parse_inner(raw, 0, len(raw), ETHERTYPE_IPV4)
    assert flow_key(endpoint_id, inner) == endpoint_id.to_bytes(8, "big") + raw[9:10] + raw[12:24]
