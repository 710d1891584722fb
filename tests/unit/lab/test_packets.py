"""Outer IPv4/UDP headers of the lab: built right, parsed right, bad ones refused."""

from __future__ import annotations

import socket
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.inet import IP, UDP

from appliance.lab.packets import PacketError, build_ipv4_udp, ipv4_checksum, parse_ipv4_udp

A = socket.inet_aton("198.18.0.1")
B = socket.inet_aton("198.18.0.10")


def test_built_datagram_is_what_scapy_reads() -> None:
    datagram = build_ipv4_udp(A, B, 40000, 6081, b"hello", ttl=9, ident=5)
    pkt = IP(datagram)
    assert pkt.src == "198.18.0.1"
    assert pkt.dst == "198.18.0.10"
    assert pkt.ttl == 9
    assert pkt.len == len(datagram)
    assert pkt[UDP].sport == 40000
    assert pkt[UDP].dport == 6081
    assert bytes(pkt[UDP].payload) == b"hello"
    # the header checksum scapy computes from scratch matches ours
    assert IP(bytes(IP(datagram[:20]))).chksum == pkt.chksum
    assert ipv4_checksum(datagram[:20]) == 0


@given(
    sport=st.integers(0, 65535),
    dport=st.integers(0, 65535),
    payload=st.binary(max_size=2000),
)
def test_parse_reads_back_what_build_wrote(sport: int, dport: int, payload: bytes) -> None:
    datagram = build_ipv4_udp(A, B, sport, dport, payload)
    outer = parse_ipv4_udp(datagram)
    assert (outer.src, outer.dst, outer.sport, outer.dport) == (A, B, sport, dport)
    assert datagram[outer.payload_offset : outer.payload_end] == payload


@given(st.binary(max_size=200))
def test_parse_raises_only_packet_error_on_garbage(data: bytes) -> None:
    try:
        outer = parse_ipv4_udp(data)
    except PacketError:
        return
    assert outer.payload_end <= len(data)


def test_parse_refuses_non_udp_fragments_and_bad_lengths() -> None:
    good = bytearray(build_ipv4_udp(A, B, 1, 2, b"abcd"))
    tcp = bytearray(good)
    tcp[9] = 6
    with pytest.raises(PacketError, match="not UDP"):
        parse_ipv4_udp(tcp)
    fragment = bytearray(good)
    struct.pack_into(">H", fragment, 6, 0x2001)
    with pytest.raises(PacketError, match="fragment"):
        parse_ipv4_udp(fragment)
    with pytest.raises(PacketError, match="lengths"):
        parse_ipv4_udp(good[:-1])
    long_udp = bytearray(good)
    struct.pack_into(">H", long_udp, 24, 100)
    with pytest.raises(PacketError, match="UDP length"):
        parse_ipv4_udp(long_udp)
    with pytest.raises(PacketError, match="version"):
        parse_ipv4_udp(b"\x65" + bytes(good[1:]))


def test_build_refuses_bad_addresses() -> None:
    with pytest.raises(PacketError):
        build_ipv4_udp(b"\x01\x02", B, 1, 2, b"")
