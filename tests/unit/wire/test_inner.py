"""Inner IPv4/IPv6 packets built with scapy, parsed and compared; every malformed case."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_Router_Alert
from scapy.layers.inet6 import (
    ICMPv6DestUnreach,
    ICMPv6EchoReply,
    ICMPv6EchoRequest,
    ICMPv6ND_NS,
    ICMPv6PacketTooBig,
    ICMPv6ParamProblem,
    ICMPv6TimeExceeded,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
)
from scapy.layers.ipsec import AH
from scapy.layers.sctp import SCTP
from scapy.packet import Packet, Raw

from appliance.errors import WireError
from appliance.wire.drops import DropReason
from appliance.wire.geneve import ETHERTYPE_IPV4, ETHERTYPE_IPV6
from appliance.wire.inner import InnerPacket, parse_inner

A4, B4, R4 = "198.18.1.10", "198.19.1.10", "198.18.0.254"
A6, B6, R6 = "2001:2::a", "2001:2:0:1::b", "2001:2::fe"


def pk(address: str) -> bytes:
    return ipaddress.ip_address(address).packed


def parse(packet: Packet | bytes, *, lead: int = 0, trail: bytes = b"") -> InnerPacket:
    raw = bytes(packet)
    buf = bytes(lead) + raw + trail
    proto = ETHERTYPE_IPV4 if raw[0] >> 4 == 4 else ETHERTYPE_IPV6
    return parse_inner(buf, lead, len(buf), proto)


def expect_malformed(raw: bytes, proto: int | None = None) -> None:
    if proto is None:
        proto = ETHERTYPE_IPV6 if raw and raw[0] >> 4 == 6 else ETHERTYPE_IPV4
    with pytest.raises(WireError) as info:
        parse_inner(raw, 0, len(raw), proto)
    assert info.value.reason is DropReason.INNER_MALFORMED


# --- IPv4 ---------------------------------------------------------------------------


def test_ipv4_tcp() -> None:
    packet = IP(src=A4, dst=B4) / TCP(sport=40000, dport=443, flags="SA") / Raw(b"hello")
    raw = bytes(packet)
    # The packet sits at offset 7 of the buffer: offsets reported are absolute.
    parsed = parse(packet, lead=7)
    assert parsed == InnerPacket(
        family=4, src=pk(A4), dst=pk(B4), protocol=6, sport=40000, dport=443, icmp_type=None,
        tcp_flags=0x12, fragment=False, icmp_error=False, l4_payload_offset=7 + 40,
        length=len(raw),
    )  # fmt: skip
    assert (bytes(7) + raw)[parsed.l4_payload_offset :] == b"hello"


def test_ipv4_tcp_with_options_honours_data_offset() -> None:
    packet = IP(src=A4, dst=B4) / TCP(options=[("MSS", 1460), ("SAckOK", b"")]) / Raw(b"x")
    parsed = parse(packet)
    assert bytes(packet)[parsed.l4_payload_offset :] == b"x"
    assert parsed.l4_payload_offset == 20 + 28


def test_ipv4_udp_with_trailing_padding() -> None:
    packet = IP(src=A4, dst=B4) / UDP(sport=5353, dport=53) / Raw(b"q")
    parsed = parse(packet, trail=bytes(20))
    assert (parsed.protocol, parsed.sport, parsed.dport, parsed.length) == (17, 5353, 53, 29)
    assert parsed.l4_payload_offset == 28


def test_ipv4_sctp() -> None:
    parsed = parse(IP(src=A4, dst=B4) / SCTP(sport=3868, dport=3869))
    assert (parsed.protocol, parsed.sport, parsed.dport, parsed.l4_payload_offset) == (
        132, 3868, 3869, 32,
    )  # fmt: skip


def test_ipv4_header_options_are_skipped() -> None:
    packet = IP(src=A4, dst=B4, options=[IPOption_Router_Alert()]) / UDP(sport=1, dport=2)
    assert bytes(packet)[0] & 0x0F == 6
    parsed = parse(packet)
    assert (parsed.src, parsed.sport, parsed.dport, parsed.l4_payload_offset) == (
        pk(A4), 1, 2, 32,
    )  # fmt: skip


def test_other_ipv4_protocol_has_no_ports() -> None:
    parsed = parse(IP(src=A4, dst=B4, proto=47) / Raw(bytes(8)))
    assert (parsed.protocol, parsed.sport, parsed.dport, parsed.l4_payload_offset) == (47, 0, 0, -1)


@pytest.mark.parametrize(("icmp_type", "ident"), [(8, 0x1234), (0, 0x1234)])
def test_icmp_echo_uses_identifier_as_both_ports(icmp_type: int, ident: int) -> None:
    parsed = parse(IP(src=A4, dst=B4) / ICMP(type=icmp_type, id=ident, seq=9) / Raw(b"ping"))
    assert (parsed.protocol, parsed.sport, parsed.dport, parsed.icmp_type) == (
        1, ident, ident, icmp_type,
    )  # fmt: skip
    assert not parsed.icmp_error


def test_icmp_informational_has_type_and_no_ports() -> None:
    parsed = parse(IP(src=A4, dst=B4) / ICMP(type=13, id=5) / Raw(bytes(12)))  # timestamp
    assert (parsed.sport, parsed.dport, parsed.icmp_type, parsed.icmp_error) == (0, 0, 13, False)


@pytest.mark.parametrize("icmp_type", [3, 4, 5, 11, 12])
def test_icmp_error_reports_quoted_udp_tuple(icmp_type: int) -> None:
    # GIVEN a router's error about a datagram A -> B
    quoted = IP(src=A4, dst=B4) / UDP(sport=40000, dport=53) / Raw(b"question")
    parsed = parse(IP(src=R4, dst=A4) / ICMP(type=icmp_type, code=0) / quoted)
    # THEN the tuple is the quoted one
    assert parsed == InnerPacket(
        family=4, src=pk(A4), dst=pk(B4), protocol=17, sport=40000, dport=53, icmp_type=None,
        tcp_flags=0, fragment=False, icmp_error=True, l4_payload_offset=-1,
        length=20 + 8 + len(bytes(quoted)),
    )  # fmt: skip


def test_icmp_error_with_truncated_quote_of_tcp() -> None:
    # Only the IP header + 4 bytes of ports survive: that is enough.
    quote = bytes(IP(src=A4, dst=B4) / TCP(sport=1111, dport=22))[:24]
    parsed = parse(IP(src=R4, dst=A4) / ICMP(type=3, code=4) / Raw(quote))
    assert (parsed.src, parsed.dst, parsed.protocol, parsed.sport, parsed.dport) == (
        pk(A4), pk(B4), 6, 1111, 22,
    )  # fmt: skip
    assert parsed.icmp_error


def test_icmp_error_quoting_echo_and_ipv4_options() -> None:
    quote = IP(src=A4, dst=B4, options=[IPOption_Router_Alert()]) / ICMP(type=8, id=77)
    parsed = parse(IP(src=R4, dst=A4) / ICMP(type=11) / quote)
    assert (parsed.protocol, parsed.sport, parsed.dport, parsed.icmp_type) == (1, 77, 77, None)


def test_icmp_error_quoting_non_first_fragment_has_no_ports() -> None:
    quote = IP(src=A4, dst=B4, proto=17, frag=100) / Raw(bytes(8))
    parsed = parse(IP(src=R4, dst=A4) / ICMP(type=3) / quote)
    assert (parsed.protocol, parsed.sport, parsed.dport, parsed.icmp_error) == (17, 0, 0, True)


@pytest.mark.parametrize(
    "quote",
    [
        IP(src=A4, dst=B4, proto=47) / Raw(bytes(8)),  # GRE: no ports
        IP(src=A4, dst=B4) / ICMP(type=13),  # quoted non-echo ICMP
    ],
)
def test_icmp_error_quoting_portless_packet(quote: Packet) -> None:
    parsed = parse(IP(src=R4, dst=A4) / ICMP(type=3) / quote)
    assert (parsed.src, parsed.sport, parsed.dport, parsed.icmp_error) == (pk(A4), 0, 0, True)


def test_ipv4_first_fragment_has_ports() -> None:
    # GIVEN the first fragment of a 1000-byte UDP datagram: its UDP length exceeds the packet
    udp = UDP(sport=7, dport=8, len=1000, chksum=0) / Raw(bytes(32))
    parsed = parse(IP(src=A4, dst=B4, flags="MF", frag=0) / udp)
    # THEN it still has its ports
    assert (parsed.sport, parsed.dport, parsed.fragment, parsed.l4_payload_offset) == (
        7, 8, False, 28,
    )  # fmt: skip


def test_udp_length_beyond_packet_is_malformed_when_not_a_fragment() -> None:
    expect_malformed(bytes(IP(src=A4, dst=B4) / UDP(len=1000) / Raw(bytes(32))))
    expect_malformed(bytes(IPv6(src=A6, dst=B6) / UDP(len=1000) / Raw(bytes(32))))


def test_ipv6_first_fragment_has_ports() -> None:
    packet = (
        IPv6(src=A6, dst=B6)
        / IPv6ExtHdrFragment(offset=0, m=1, id=7)
        / UDP(sport=11, dport=12, len=3000)
        / Raw(bytes(64))
    )
    parsed = parse(packet)
    assert (parsed.protocol, parsed.sport, parsed.dport, parsed.fragment) == (17, 11, 12, False)


def test_tiny_first_fragment_without_full_tcp_header_is_malformed() -> None:
    tcp = bytes(TCP(sport=1, dport=2))[:8]
    expect_malformed(bytes(IP(src=A4, dst=B4, proto=6, flags="MF") / Raw(tcp)))


@pytest.mark.parametrize("more", [True, False])
def test_ipv4_non_first_fragment_has_no_ports(more: bool) -> None:
    packet = IP(src=A4, dst=B4, proto=6, flags="MF" if more else 0, frag=185) / Raw(bytes(40))
    parsed = parse(packet)
    assert parsed == InnerPacket(
        family=4, src=pk(A4), dst=pk(B4), protocol=6, sport=0, dport=0, icmp_type=None,
        tcp_flags=0, fragment=True, icmp_error=False, l4_payload_offset=-1, length=60,
    )  # fmt: skip


# --- IPv6 ---------------------------------------------------------------------------


def test_ipv6_udp() -> None:
    packet = IPv6(src=A6, dst=B6) / UDP(sport=443, dport=50000) / Raw(b"quic")
    parsed = parse(packet, lead=3)
    assert parsed == InnerPacket(
        family=6, src=pk(A6), dst=pk(B6), protocol=17, sport=443, dport=50000, icmp_type=None,
        tcp_flags=0, fragment=False, icmp_error=False, l4_payload_offset=3 + 48, length=52,
    )  # fmt: skip


def test_ipv6_walks_every_extension_header_to_tcp() -> None:
    packet = (
        IPv6(src=A6, dst=B6)
        / IPv6ExtHdrHopByHop()
        / IPv6ExtHdrDestOpt()
        / IPv6ExtHdrRouting(addresses=[B6])
        / IPv6ExtHdrFragment(offset=0, m=1, id=42)
        / AH(nh=60, spi=1, payloadlen=4, icv=bytes(12))
        / IPv6ExtHdrDestOpt()
        / TCP(sport=1234, dport=80, flags="PA")
        / Raw(b"GET")
    )
    raw = bytes(packet)
    parsed = parse(packet)
    assert (parsed.protocol, parsed.sport, parsed.dport, parsed.tcp_flags) == (6, 1234, 80, 0x18)
    assert not parsed.fragment
    assert raw[parsed.l4_payload_offset :] == b"GET"


@pytest.mark.parametrize("more", [0, 1])
def test_ipv6_non_first_fragment_has_no_ports(more: int) -> None:
    packet = (
        IPv6(src=A6, dst=B6)
        / IPv6ExtHdrDestOpt()
        / IPv6ExtHdrFragment(offset=100, m=more, nh=17)
        / Raw(bytes(24))
    )
    parsed = parse(packet)
    assert (parsed.protocol, parsed.sport, parsed.dport, parsed.fragment) == (17, 0, 0, True)
    assert parsed.l4_payload_offset == -1


@pytest.mark.parametrize(("nh", "proto"), [(50, 50), (59, 59)])
def test_ipv6_esp_and_no_next_header_end_the_walk(nh: int, proto: int) -> None:
    packet = IPv6(src=A6, dst=B6) / IPv6ExtHdrHopByHop(nh=nh) / Raw(bytes(16 if nh == 50 else 0))
    parsed = parse(packet)
    assert (parsed.protocol, parsed.sport, parsed.dport, parsed.l4_payload_offset) == (
        proto, 0, 0, -1,
    )  # fmt: skip


@pytest.mark.parametrize("layer", [ICMPv6EchoRequest, ICMPv6EchoReply])
def test_icmpv6_echo_uses_identifier(layer: type[Packet]) -> None:
    parsed = parse(IPv6(src=A6, dst=B6) / layer(id=0xBEEF, seq=1))
    assert (parsed.protocol, parsed.sport, parsed.dport) == (58, 0xBEEF, 0xBEEF)
    assert parsed.icmp_type == (128 if layer is ICMPv6EchoRequest else 129)


def test_icmpv6_informational_has_type_and_no_ports() -> None:
    parsed = parse(IPv6(src=A6, dst=B6) / ICMPv6ND_NS(tgt=B6))
    assert (parsed.sport, parsed.dport, parsed.icmp_type, parsed.icmp_error) == (0, 0, 135, False)


@pytest.mark.parametrize(
    "error", [ICMPv6DestUnreach(), ICMPv6PacketTooBig(mtu=1280), ICMPv6TimeExceeded(),
              ICMPv6ParamProblem(ptr=6)],
)  # fmt: skip
def test_icmpv6_errors_report_quoted_tuple(error: Packet) -> None:
    quoted = IPv6(src=A6, dst=B6) / IPv6ExtHdrDestOpt() / TCP(sport=5555, dport=443)
    parsed = parse(IPv6(src=R6, dst=A6) / error / quoted)
    assert (parsed.src, parsed.dst, parsed.protocol, parsed.sport, parsed.dport) == (
        pk(A6), pk(B6), 6, 5555, 443,
    )  # fmt: skip
    assert (parsed.icmp_error, parsed.icmp_type, parsed.tcp_flags) == (True, None, 0)


def test_icmpv6_error_with_truncated_quote_and_quoted_echo() -> None:
    quote = bytes(IPv6(src=A6, dst=B6) / UDP(sport=9, dport=10) / Raw(bytes(100)))[:44]
    parsed = parse(IPv6(src=R6, dst=A6) / ICMPv6DestUnreach() / Raw(quote))
    assert (parsed.sport, parsed.dport) == (9, 10)
    echo = IPv6(src=A6, dst=B6) / ICMPv6EchoRequest(id=3)
    parsed = parse(IPv6(src=R6, dst=A6) / ICMPv6TimeExceeded() / echo)
    assert (parsed.protocol, parsed.sport, parsed.dport) == (58, 3, 3)


# --- malformed ----------------------------------------------------------------------

TCP4 = bytes(IP(src=A4, dst=B4) / TCP(sport=1, dport=2))
UDP6 = bytes(IPv6(src=A6, dst=B6) / UDP(sport=1, dport=2))


def test_unknown_protocol_type_is_bad_protocol_type() -> None:
    with pytest.raises(WireError) as info:
        parse_inner(TCP4, 0, len(TCP4), 0x6558)
    assert info.value.reason is DropReason.BAD_PROTOCOL_TYPE


def test_bounds_outside_buffer_are_caller_bugs() -> None:
    with pytest.raises(ValueError, match="outside buffer"):
        parse_inner(TCP4, 0, len(TCP4) + 1, ETHERTYPE_IPV4)


def test_version_must_match_protocol_type() -> None:
    expect_malformed(TCP4, ETHERTYPE_IPV6)
    expect_malformed(UDP6, ETHERTYPE_IPV4)


@pytest.mark.parametrize("size", [0, 1, 19, 39])
def test_truncated_headers(size: int) -> None:
    expect_malformed(TCP4[:size], ETHERTYPE_IPV4)
    expect_malformed(UDP6[:size], ETHERTYPE_IPV6)


def test_ipv4_length_rules() -> None:
    expect_malformed(bytes(IP(src=A4, dst=B4, ihl=4) / UDP()))
    expect_malformed(bytes(IP(src=A4, dst=B4, len=19, proto=47)))
    expect_malformed(bytes(IP(src=A4, dst=B4, ihl=6, len=20, proto=47)) + bytes(4))
    expect_malformed(TCP4[:-1])  # total length 40, 39 bytes available


def test_l4_rules() -> None:
    expect_malformed(bytes(IP(src=A4, dst=B4, proto=6) / Raw(bytes(19))))
    expect_malformed(bytes(IP(src=A4, dst=B4) / TCP(dataofs=4)))
    expect_malformed(bytes(IP(src=A4, dst=B4) / TCP(dataofs=6)))
    expect_malformed(bytes(IP(src=A4, dst=B4, proto=17) / Raw(bytes(7))))
    expect_malformed(bytes(IP(src=A4, dst=B4) / UDP(len=7)))
    expect_malformed(bytes(IP(src=A4, dst=B4) / UDP(len=9)))
    expect_malformed(bytes(IP(src=A4, dst=B4, proto=132) / Raw(bytes(11))))
    expect_malformed(bytes(IP(src=A4, dst=B4, proto=1) / Raw(bytes([8]) + bytes(6))))
    expect_malformed(bytes(IPv6(src=A6, dst=B6, nh=58) / Raw(bytes([128]) + bytes(6))))


def test_icmp_error_quote_rules() -> None:
    error = IP(src=R4, dst=A4) / ICMP(type=3)
    expect_malformed(bytes(error))  # nothing quoted
    expect_malformed(bytes(error / Raw(TCP4[:23])))  # IP header but not 4 bytes of ports
    expect_malformed(bytes(error / Raw(UDP6[:48])))  # IPv6 quoted inside ICMPv4
    expect_malformed(bytes(error / IP(src=A4, dst=B4, ihl=4) / UDP()))  # quoted IHL < 5
    expect_malformed(bytes(error / Raw(bytes(IP(src=A4, dst=B4, ihl=15) / UDP()))))
    expect_malformed(bytes(error / Raw(bytes(IP(src=A4, dst=B4) / ICMP(type=8))[:27])))
    error6 = IPv6(src=R6, dst=A6) / ICMPv6DestUnreach()
    expect_malformed(bytes(error6 / Raw(TCP4)))  # IPv4 quoted inside ICMPv6
    expect_malformed(bytes(error6 / Raw(UDP6[:42])))
    quote = bytes(IPv6(src=A6, dst=B6) / IPv6ExtHdrDestOpt() / UDP())[:44]
    expect_malformed(bytes(error6 / Raw(quote)))  # extension header cut short


def test_ipv6_length_and_extension_rules() -> None:
    expect_malformed(UDP6[:-1])  # payload length 8, 7 bytes available
    expect_malformed(bytes(IPv6(src=A6, dst=B6, nh=0)))  # hop-by-hop header absent
    expect_malformed(bytes(IPv6(src=A6, dst=B6) / IPv6ExtHdrDestOpt() / IPv6ExtHdrHopByHop()))
    long_ext = bytearray(bytes(IPv6(src=A6, dst=B6) / IPv6ExtHdrDestOpt(nh=59)))
    long_ext[41] = 1  # claims 16 bytes, 8 present
    expect_malformed(bytes(long_ext))
    expect_malformed(bytes(IPv6(src=A6, dst=B6, nh=44) / Raw(bytes(7))))
    expect_malformed(bytes(IPv6(src=A6, dst=B6, nh=51) / Raw(bytes(7))))
    long_ah = bytearray(bytes(IPv6(src=A6, dst=B6) / AH(nh=59, payloadlen=2, icv=bytes(4))))
    long_ah[41] = 4  # claims 24 bytes, 16 present
    expect_malformed(bytes(long_ah))


# --- hypothesis -------------------------------------------------------------------


@given(st.binary(max_size=200), st.sampled_from([ETHERTYPE_IPV4, ETHERTYPE_IPV6, 0x1234]))
def test_arbitrary_bytes_raise_only_wire_error(data: bytes, proto: int) -> None:
    try:
        parsed = parse_inner(data, 0, len(data), proto)
    except WireError:
        return
    assert parsed.length <= len(data)
    assert parsed.l4_payload_offset <= len(data)


SAMPLES = [
    TCP4,
    UDP6,
    bytes(IP(src=R4, dst=A4) / ICMP(type=3) / IP(src=A4, dst=B4) / UDP(sport=1, dport=2)),
    bytes(IPv6(src=R6, dst=A6) / ICMPv6DestUnreach() / IPv6(src=A6, dst=B6)
          / IPv6ExtHdrFragment(offset=0) / TCP()),
    bytes(IPv6(src=A6, dst=B6) / IPv6ExtHdrHopByHop() / IPv6ExtHdrRouting()
          / AH(nh=17, payloadlen=2, icv=bytes(4)) / UDP()),
]  # fmt: skip


@pytest.mark.parametrize("sample", SAMPLES)
def test_fuzz_samples_are_valid_before_mutation(sample: bytes) -> None:
    parsed = parse(sample)
    assert parsed.protocol in (6, 17)
    assert parsed.sport != 0
    assert parsed.dport != 0


@given(
    st.sampled_from(SAMPLES),
    st.lists(st.tuples(st.integers(0, 199), st.integers(0, 255)), max_size=6),
    st.integers(0, 200),
)
def test_mutated_packets_raise_only_wire_error(
    sample: bytes, flips: list[tuple[int, int]], cut: int
) -> None:
    raw = bytearray(sample)
    for where, value in flips:
        if where < len(raw):
            raw[where] = value
    data = bytes(raw[:cut])
    proto = ETHERTYPE_IPV4 if sample[0] >> 4 == 4 else ETHERTYPE_IPV6
    try:
        parsed = parse_inner(memoryview(data), 0, len(data), proto)
    except WireError:
        return
    assert parsed.family in (4, 6)
    assert len(parsed.src) == len(parsed.dst) == (4 if parsed.family == 4 else 16)
