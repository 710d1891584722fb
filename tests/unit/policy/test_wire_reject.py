"""appliance.wire.reject: answers built to the RFCs, checksums verified by scapy."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPerror
from scapy.layers.inet6 import (
    ICMPv6DestUnreach,
    ICMPv6EchoRequest,
    IPerror6,
    IPv6,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
)
from scapy.packet import Packet, Raw

from appliance.wire.reject import build_reject, checksum

A4, B4 = "198.18.0.10", "198.19.0.20"
A6, B6 = "2001:2::10", "2001:2::20"


def _checksum_field(layer: type[Packet]) -> str:
    fields = [field.name for field in layer.fields_desc]
    return "chksum" if "chksum" in fields else "cksum"


def same_checksums(answer: bytes, layers: tuple[type[Packet], ...]) -> Packet:
    """Parse ``answer`` and check that scapy computes the same checksums it carries."""
    parsed: Packet = (IP if answer[0] >> 4 == 4 else IPv6)(answer)
    rebuilt = parsed.copy()
    names = {layer: _checksum_field(layer) for layer in layers}
    for layer, name in names.items():
        delattr(rebuilt[layer], name)
    rebuilt = (IP if answer[0] >> 4 == 4 else IPv6)(bytes(rebuilt))
    for layer, name in names.items():
        assert getattr(parsed[layer], name) == getattr(rebuilt[layer], name), layer.__name__
    assert bytes(rebuilt) == answer
    return parsed


def test_rst_answers_syn_with_ack_of_seq_plus_one() -> None:
    syn = IP(src=A4, dst=B4, ttl=9) / TCP(sport=40000, dport=23, flags="S", seq=1000)
    answer = build_reject(bytes(syn))
    assert answer is not None
    rst = same_checksums(answer, (IP, TCP))
    assert (rst[IP].src, rst[IP].dst, rst[IP].ttl) == (B4, A4, 64)
    assert (rst[TCP].sport, rst[TCP].dport) == (23, 40000)
    assert rst[TCP].flags == "RA"
    assert (rst[TCP].seq, rst[TCP].ack) == (0, 1001)


def test_rst_answers_segment_with_ack_using_its_ack_number() -> None:
    data = (
        IP(src=A4, dst=B4)
        / TCP(sport=40000, dport=443, flags="PA", seq=5, ack=777)
        / Raw(b"x" * 10)
    )
    answer = build_reject(bytes(data))
    assert answer is not None
    rst = same_checksums(answer, (IP, TCP))
    assert rst[TCP].flags == "R"
    assert (rst[TCP].seq, rst[TCP].ack) == (777, 0)


def test_rst_counts_payload_and_fin_and_wraps() -> None:
    segment = IP(src=A4, dst=B4) / TCP(flags="F", seq=0xFFFFFFFF) / Raw(b"abc")
    answer = build_reject(bytes(segment))
    assert answer is not None
    assert IP(answer)[TCP].ack == 3  # 0xFFFFFFFF + 3 bytes + FIN, modulo 2**32


def test_rst_over_ipv6_with_extension_header() -> None:
    syn = IPv6(src=A6, dst=B6) / IPv6ExtHdrHopByHop() / TCP(sport=1234, dport=80, flags="S", seq=41)
    answer = build_reject(bytes(syn))
    assert answer is not None
    rst = same_checksums(answer, (TCP,))
    assert (rst[IPv6].src, rst[IPv6].dst, rst[IPv6].hlim) == (B6, A6, 64)
    assert (rst[TCP].sport, rst[TCP].dport, rst[TCP].ack, rst[TCP].flags) == (80, 1234, 42, "RA")


def test_udp_gets_icmp_admin_prohibited_quoting_the_datagram() -> None:
    datagram = IP(src=A4, dst=B4) / UDP(sport=5000, dport=53) / Raw(b"q" * 40)
    answer = build_reject(bytes(datagram))
    assert answer is not None
    icmp = same_checksums(answer, (IP, ICMP))
    assert (icmp[IP].src, icmp[IP].dst) == (B4, A4)
    assert (icmp[ICMP].type, icmp[ICMP].code) == (3, 13)
    assert icmp[IPerror].src == A4
    assert bytes(icmp[ICMP].payload) == bytes(datagram)


def test_icmp_quote_is_limited_to_576_bytes_and_code_can_be_chosen() -> None:
    datagram = IP(src=A4, dst=B4) / UDP() / Raw(b"z" * 2000)
    answer = build_reject(bytes(datagram), icmp_code=3)
    assert answer is not None
    assert len(answer) == 576
    icmp = same_checksums(answer, (IP, ICMP))
    assert icmp[ICMP].code == 3


def test_icmpv6_unreachable_for_echo_request() -> None:
    ping = IPv6(src=A6, dst=B6) / ICMPv6EchoRequest(id=7, data=b"p" * 2000)
    answer = build_reject(bytes(ping))
    assert answer is not None
    assert len(answer) == 1280
    reply = same_checksums(answer, (ICMPv6DestUnreach,))
    assert (reply[ICMPv6DestUnreach].type, reply[ICMPv6DestUnreach].code) == (1, 1)
    assert reply[IPerror6].src == A6


def test_icmp_echo_over_ipv4_gets_unreachable() -> None:
    answer = build_reject(bytes(IP(src=A4, dst=B4) / ICMP(type=8)))
    assert answer is not None
    assert same_checksums(answer, (IP, ICMP))[ICMP].type == 3


@pytest.mark.parametrize(
    "packet",
    [
        IP(src=A4, dst=B4) / TCP(flags="R"),
        IP(src=A4, dst=B4) / ICMP(type=3, code=1) / IP(src=B4, dst=A4) / UDP(),
        IP(src=A4, dst=B4, frag=10) / Raw(b"x" * 16),
        IP(src="224.0.0.1", dst=B4) / UDP(),
        IP(src="255.255.255.255", dst=B4) / UDP(),
        IPv6(src=A6, dst=B6) / ICMPv6DestUnreach() / IPv6(src=B6, dst=A6) / UDP(),
        IPv6(src="ff02::1", dst=B6) / UDP(),
        IPv6(src=A6, dst=B6) / IPv6ExtHdrFragment(offset=3) / Raw(b"y" * 16),
    ],
)
def test_no_answer_due(packet: Packet) -> None:
    assert build_reject(bytes(packet)) is None


@settings(max_examples=500)
@given(st.binary(max_size=120))
def test_random_bytes_never_raise(data: bytes) -> None:
    answer = build_reject(data)
    assert answer is None or answer[0] >> 4 in (4, 6)


@given(st.binary(max_size=64))
def test_checksum_of_data_with_its_checksum_is_zero(data: bytes) -> None:
    if len(data) % 2:
        data += b"\0"
    assert checksum(data + checksum(data).to_bytes(2, "big")) == 0
