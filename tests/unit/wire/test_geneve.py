"""GENEVE header with GWLB options: golden bytes, every drop rule, scapy, hypothesis."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scapy.contrib.geneve import GENEVE, GeneveOptions
from scapy.layers.inet import IP, TCP, UDP

from appliance.errors import WireError
from appliance.wire.drops import DropReason
from appliance.wire.geneve import (
    AWS_OPTION_CLASS,
    ETHERTYPE_IPV4,
    ETHERTYPE_IPV6,
    GENEVE_PORT,
    GWLB_HEADER_LENGTH,
    MAX_DATAGRAM,
    OPT_ATTACHMENT,
    OPT_COOKIE,
    OPT_ENDPOINT,
    GeneveHeader,
    build_geneve,
    parse_geneve,
)
from appliance.wire.inner import parse_inner

# A GWLB header as it arrives: Ver 0, OptLen 8 words, Protocol Type IPv4, VNI 0,
# then class 0x0108 type 1 (endpoint, 2 words), type 2 (attachment, 2 words),
# type 3 (cookie, 1 word).
GOLDEN = bytes.fromhex(
    "08000800 0000000001080102 0123456789abcdef01080202 000000000000000001080301 1a2b3c4d"
)
GOLDEN_HEADER = GeneveHeader(
    length=40,
    protocol_type=0x0800,
    vni=0,
    endpoint_id=0x0123456789ABCDEF,
    attachment_id=0,
    cookie=0x1A2B3C4D,
    critical=False,
)

u64 = st.integers(0, 2**64 - 1)
u32 = st.integers(0, 2**32 - 1)


def option(opt_class: int, opt_type: int, data: bytes, reserved: int = 0) -> bytes:
    """One raw option: class, type, R bits + length in words, data."""
    return struct.pack(">HBB", opt_class, opt_type, (reserved << 5) | len(data) // 4) + data


def header(
    options: bytes, *, first: int | None = None, flags: int = 0, proto: int = 0x0800
) -> bytes:
    """A base header in front of raw options; ``first`` overrides Ver/OptLen."""
    if first is None:
        first = len(options) // 4
    return struct.pack(">BBHI", first, flags, proto, 0) + options


AWS_OPTIONS = (
    option(AWS_OPTION_CLASS, OPT_ENDPOINT, bytes.fromhex("0123456789abcdef")),
    option(AWS_OPTION_CLASS, OPT_ATTACHMENT, bytes(8)),
    option(AWS_OPTION_CLASS, OPT_COOKIE, bytes.fromhex("1a2b3c4d")),
)


def expect_drop(buf: bytes, reason: DropReason) -> None:
    with pytest.raises(WireError) as info:
        parse_geneve(buf)
    assert info.value.reason is reason


def test_constants() -> None:
    assert (GENEVE_PORT, AWS_OPTION_CLASS, GWLB_HEADER_LENGTH, MAX_DATAGRAM) == (
        6081, 0x0108, 40, 8568,
    )  # fmt: skip
    assert (ETHERTYPE_IPV4, ETHERTYPE_IPV6) == (0x0800, 0x86DD)
    # 20 outer IPv4 + 8 UDP + 40 GENEVE + 8500 inner
    assert MAX_DATAGRAM == 20 + 8 + GWLB_HEADER_LENGTH + 8500


def test_golden_header_parses() -> None:
    assert parse_geneve(GOLDEN) == GOLDEN_HEADER


def test_build_produces_golden_bytes() -> None:
    built = build_geneve(endpoint_id=0x0123456789ABCDEF, attachment_id=0, cookie=0x1A2B3C4D)
    assert built == GOLDEN
    assert len(built) == GWLB_HEADER_LENGTH


def test_golden_header_inside_larger_buffer_and_views() -> None:
    # GIVEN the header at offset 14 of a buffer with bytes after the datagram's end
    buf = bytes(14) + GOLDEN + bytes(100)
    # THEN bytes, bytearray and memoryview all parse and end limits are honoured
    for view in (buf, bytearray(buf), memoryview(buf)):
        assert parse_geneve(view, 14, 14 + 40) == GOLDEN_HEADER
    with pytest.raises(WireError) as info:
        parse_geneve(buf, 14, 14 + 39)
    assert info.value.reason is DropReason.TOO_SHORT


def test_same_header_through_slow_path() -> None:
    # Options reordered: the 40-byte fast layout does not match, the walk must agree.
    reordered = header(AWS_OPTIONS[2] + AWS_OPTIONS[0] + AWS_OPTIONS[1])
    assert len(reordered) == 40
    assert parse_geneve(reordered) == GOLDEN_HEADER


def test_ipv6_protocol_type_and_vni() -> None:
    built = build_geneve(
        endpoint_id=1, attachment_id=2, cookie=3, protocol_type=ETHERTYPE_IPV6, vni=0xABCDEF
    )
    parsed = parse_geneve(built)
    assert (parsed.protocol_type, parsed.vni) == (ETHERTYPE_IPV6, 0xABCDEF)
    assert (parsed.endpoint_id, parsed.attachment_id, parsed.cookie) == (1, 2, 3)


@pytest.mark.parametrize("size", range(8))
def test_shorter_than_base_header_is_too_short(size: int) -> None:
    expect_drop(GOLDEN[:size], DropReason.TOO_SHORT)


@pytest.mark.parametrize("size", [8, 12, 20, 39])
def test_optlen_past_end_is_too_short(size: int) -> None:
    expect_drop(GOLDEN[:size], DropReason.TOO_SHORT)


def test_optlen_maximum_past_end_is_too_short() -> None:
    expect_drop(header(b"".join(AWS_OPTIONS), first=0x3F), DropReason.TOO_SHORT)


@pytest.mark.parametrize("version", [1, 2, 3])
def test_nonzero_version_is_dropped(version: int) -> None:
    expect_drop(bytes([GOLDEN[0] | version << 6]) + GOLDEN[1:], DropReason.BAD_VERSION)


def test_oam_packet_is_dropped() -> None:
    expect_drop(GOLDEN[:1] + bytes([0x80]) + GOLDEN[2:], DropReason.OAM)


@pytest.mark.parametrize("fast_layout", [True, False])
def test_reserved_bits_are_ignored(fast_layout: bool) -> None:
    # GIVEN every reserved bit set: 6 after C, the byte after the VNI, each option's R bits
    options = [
        option(AWS_OPTION_CLASS, OPT_ENDPOINT, bytes.fromhex("0123456789abcdef"), reserved=7),
        option(AWS_OPTION_CLASS, OPT_ATTACHMENT, bytes(8), reserved=5),
        option(AWS_OPTION_CLASS, OPT_COOKIE, bytes.fromhex("1a2b3c4d"), reserved=2),
    ]
    if not fast_layout:
        options.reverse()
    raw = bytearray(header(b"".join(options), flags=0x3F))
    raw[7] = 0xFF
    # THEN the header parses as if they were clear
    assert parse_geneve(bytes(raw)) == GOLDEN_HEADER


def test_c_bit_is_reported() -> None:
    parsed = parse_geneve(GOLDEN[:1] + bytes([0x40]) + GOLDEN[2:])
    assert parsed.critical
    assert parsed.endpoint_id == GOLDEN_HEADER.endpoint_id


def test_option_running_past_optlen_is_bad_option_length() -> None:
    # The cookie option claims 2 words where only 1 is left.
    raw = bytearray(GOLDEN)
    raw[35] = 0x02
    expect_drop(bytes(raw), DropReason.BAD_OPTION_LENGTH)


def test_option_claiming_31_words_is_bad_option_length() -> None:
    expect_drop(header(b"".join(AWS_OPTIONS) + option(0x0200, 1, b"")[:3] + b"\x1f"),
                DropReason.BAD_OPTION_LENGTH)  # fmt: skip


@pytest.mark.parametrize(
    ("opt_class", "opt_type"),
    [(0x0108, 0x80), (0x0108, 0x81), (0x0108, 0x83), (0x1234, 0x80), (0xFFFF, 0xFF)],
)
@pytest.mark.parametrize("c_bit", [0x40, 0x00])
def test_unknown_critical_option_is_dropped(opt_class: int, opt_type: int, c_bit: int) -> None:
    raw = header(b"".join(AWS_OPTIONS) + option(opt_class, opt_type, bytes(4)), flags=c_bit)
    expect_drop(raw, DropReason.UNKNOWN_CRITICAL_OPTION)


def test_unknown_non_critical_options_are_skipped() -> None:
    raw = header(
        option(0x0108, 4, bytes(8))
        + AWS_OPTIONS[0]
        + option(0x0200, 0x7F, b"")
        + AWS_OPTIONS[1]
        + AWS_OPTIONS[2]
        + option(0xFFFF, 0x01, bytes(range(124)))
    )
    parsed = parse_geneve(raw)
    assert parsed.length == len(raw)
    assert (parsed.endpoint_id, parsed.attachment_id, parsed.cookie) == (
        GOLDEN_HEADER.endpoint_id, 0, GOLDEN_HEADER.cookie,
    )  # fmt: skip


@pytest.mark.parametrize("missing", [0, 1, 2])
def test_absent_aws_option_is_dropped(missing: int) -> None:
    options = [o for i, o in enumerate(AWS_OPTIONS) if i != missing]
    expect_drop(header(b"".join(options)), DropReason.MISSING_GWLB_OPTION)


def test_no_options_at_all_is_missing_gwlb_option() -> None:
    expect_drop(header(b""), DropReason.MISSING_GWLB_OPTION)


@pytest.mark.parametrize("repeated", [0, 1, 2])
def test_duplicated_aws_option_is_dropped(repeated: int) -> None:
    raw = header(b"".join(AWS_OPTIONS) + AWS_OPTIONS[repeated])
    expect_drop(raw, DropReason.MISSING_GWLB_OPTION)


@pytest.mark.parametrize(
    ("opt_type", "data_length"),
    [(OPT_ENDPOINT, 4), (OPT_ENDPOINT, 12), (OPT_ATTACHMENT, 0), (OPT_COOKIE, 8), (OPT_COOKIE, 0)],
)
def test_aws_option_of_wrong_length_is_dropped(opt_type: int, data_length: int) -> None:
    options = [o for o in AWS_OPTIONS if o[2] != opt_type]
    options.append(option(AWS_OPTION_CLASS, opt_type, bytes(data_length)))
    expect_drop(header(b"".join(options)), DropReason.MISSING_GWLB_OPTION)


@pytest.mark.parametrize("proto", [0x0000, 0x6558, 0x0806, 0x86DC, 0xFFFF])
def test_other_protocol_types_are_dropped(proto: int) -> None:
    expect_drop(GOLDEN[:2] + proto.to_bytes(2, "big") + GOLDEN[4:], DropReason.BAD_PROTOCOL_TYPE)


@pytest.mark.parametrize(("offset", "end"), [(-1, None), (0, 41), (10, 5), (41, None)])
def test_bounds_outside_buffer_are_caller_bugs(offset: int, end: int | None) -> None:
    with pytest.raises(ValueError, match="outside buffer"):
        parse_geneve(GOLDEN, offset, end)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"endpoint_id": -1},
        {"endpoint_id": 2**64},
        {"attachment_id": 2**64},
        {"cookie": 2**32},
        {"vni": 2**24},
        {"protocol_type": 0x10000},
        {"extra_options": [(0x0200, 1, b"abc")]},
        {"extra_options": [(0x0200, 1, bytes(128))]},
        {"extra_options": [(0x10000, 1, b"")]},
        {"extra_options": [(0x0200, 256, b"")]},
        {"extra_options": [(0x0200, 1, bytes(124))] * 2},  # 32 + 256 bytes of options
    ],
)
def test_build_rejects_values_that_do_not_fit(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"endpoint_id": 1, "attachment_id": 0, "cookie": 1}
    args.update(kwargs)
    with pytest.raises(ValueError, match=r"fit|multiple"):
        build_geneve(**args)  # type: ignore[arg-type]


def test_build_sets_c_bit_for_critical_extra_option() -> None:
    built = build_geneve(
        endpoint_id=1, attachment_id=0, cookie=1, extra_options=[(0x0108, 0x80, b"")]
    )
    assert built[1] == 0x40
    expect_drop(built, DropReason.UNKNOWN_CRITICAL_OPTION)


def test_build_keeps_extra_options_after_aws_ones() -> None:
    built = build_geneve(
        endpoint_id=1, attachment_id=0, cookie=1, extra_options=[(0x0200, 9, b"wxyz")]
    )
    assert built[1] == 0
    assert built[40:] == bytes.fromhex("02000901") + b"wxyz"
    assert parse_geneve(built).length == 48


# --- scapy: the reference encoder of the test suite -------------------------------


def scapy_geneve(endpoint: int, attachment: int, cookie: int, proto: int = 0x0800) -> GENEVE:
    return GENEVE(
        proto=proto,
        options=[
            GeneveOptions(classid=0x0108, type=1, data=endpoint.to_bytes(8, "big")),
            GeneveOptions(classid=0x0108, type=2, data=attachment.to_bytes(8, "big")),
            GeneveOptions(classid=0x0108, type=3, data=cookie.to_bytes(4, "big")),
        ],
    )


@given(endpoint=u64, attachment=u64, cookie=u32)
def test_scapy_and_build_geneve_agree(endpoint: int, attachment: int, cookie: int) -> None:
    raw = bytes(scapy_geneve(endpoint, attachment, cookie))
    assert raw == build_geneve(endpoint_id=endpoint, attachment_id=attachment, cookie=cookie)
    parsed = parse_geneve(raw)
    assert (parsed.endpoint_id, parsed.attachment_id, parsed.cookie) == (
        endpoint,
        attachment,
        cookie,
    )


def test_full_gwlb_datagram_from_scapy() -> None:
    # GIVEN an outer IPv4/UDP datagram as GWLB sends it, wrapping a TCP SYN
    inner = IP(src="198.18.1.10", dst="198.19.1.10") / TCP(sport=40000, dport=443, flags="S")
    outer = (
        IP(src="198.18.0.1", dst="198.18.0.2")
        / UDP(sport=55555, dport=GENEVE_PORT, chksum=0)
        / scapy_geneve(0x0123456789ABCDEF, 0, 0x1A2B3C4D)
        / inner
    )
    raw = bytes(outer)
    # WHEN the UDP payload is parsed in place
    parsed = parse_geneve(memoryview(raw), 28, len(raw))
    packet = parse_inner(raw, 28 + parsed.length, len(raw), parsed.protocol_type)
    # THEN the header and the inner packet come out
    assert parsed == GOLDEN_HEADER
    assert raw[28 + parsed.length :] == bytes(inner)
    assert (packet.sport, packet.dport, packet.tcp_flags) == (40000, 443, 0x02)
    assert len(raw) == 68 + len(bytes(inner))


# --- hypothesis -------------------------------------------------------------------


@given(st.binary(max_size=300), st.integers(0, 20))
def test_arbitrary_bytes_raise_only_wire_error(data: bytes, offset: int) -> None:
    offset = min(offset, len(data))
    try:
        parsed = parse_geneve(data, offset)
    except WireError:
        return
    assert offset + parsed.length <= len(data)


@given(
    st.binary(min_size=40, max_size=120).map(lambda tail: GOLDEN + tail),
    st.lists(st.tuples(st.integers(0, 159), st.integers(0, 255)), max_size=4),
    st.integers(0, 160),
)
def test_mutated_headers_raise_only_wire_error(
    data: bytes, flips: list[tuple[int, int]], cut: int
) -> None:
    raw = bytearray(data)
    for where, value in flips:
        if where < len(raw):
            raw[where] = value
    with contextlib.suppress(WireError):
        parse_geneve(bytes(raw[:cut]))


extra_option = st.tuples(
    st.integers(0, 0xFFFF),
    st.integers(0, 0x7F),
    st.integers(0, 31).map(lambda words: bytes(range(4 * words))),
).filter(lambda o: not (o[0] == AWS_OPTION_CLASS and o[1] in (1, 2, 3)))


@given(
    endpoint=u64,
    attachment=u64,
    cookie=u32,
    protocol_type=st.sampled_from([ETHERTYPE_IPV4, ETHERTYPE_IPV6]),
    vni=st.integers(0, 2**24 - 1),
    extras=st.lists(extra_option, max_size=4),
)
def test_build_parse_round_trip(
    endpoint: int,
    attachment: int,
    cookie: int,
    protocol_type: int,
    vni: int,
    extras: list[tuple[int, int, bytes]],
) -> None:
    if sum(4 + len(d) for _, _, d in extras) > 252 - 32:
        extras = []
    built = build_geneve(
        endpoint_id=endpoint,
        attachment_id=attachment,
        cookie=cookie,
        protocol_type=protocol_type,
        vni=vni,
        extra_options=extras,
    )
    assert parse_geneve(built + b"payload") == GeneveHeader(
        length=len(built),
        protocol_type=protocol_type,
        vni=vni,
        endpoint_id=endpoint,
        attachment_id=attachment,
        cookie=cookie,
        critical=False,
    )


@given(
    endpoint=u64,
    attachment=u64,
    cookie=u32,
    extras=st.lists(extra_option, max_size=5),
    reserved=st.integers(0, 7),
    data=st.data(),
)
def test_options_in_any_order_with_unknown_ones_parse(
    endpoint: int,
    attachment: int,
    cookie: int,
    extras: list[tuple[int, int, bytes]],
    reserved: int,
    data: st.DataObject,
) -> None:
    options = [
        option(AWS_OPTION_CLASS, OPT_ENDPOINT, endpoint.to_bytes(8, "big"), reserved),
        option(AWS_OPTION_CLASS, OPT_ATTACHMENT, attachment.to_bytes(8, "big"), reserved),
        option(AWS_OPTION_CLASS, OPT_COOKIE, cookie.to_bytes(4, "big"), reserved),
    ] + [option(c, t, d) for c, t, d in extras]
    while sum(map(len, options)) > 252:
        options.pop()
    shuffled = data.draw(st.permutations(options))
    parsed = parse_geneve(header(b"".join(shuffled)))
    assert (parsed.endpoint_id, parsed.attachment_id, parsed.cookie) == (
        endpoint,
        attachment,
        cookie,
    )
    assert parsed.length == 8 + sum(map(len, options))
