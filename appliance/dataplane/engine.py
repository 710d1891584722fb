"""The inline packet path of one worker: GENEVE in, verdict, the same GENEVE back out.

For every datagram of a batch: check the sender is an allowed GWLB address, parse
GENEVE and the inner packet, find or create the flow (a new flow asks the policy
once and caches the decision), count, and if allowed write the reply's outer IPv4/UDP
header in front of the untouched payload (see :mod:`appliance.dataplane.batch`).

Two paths decide the same things:

- the fast path handles the shape nearly all GWLB traffic has (the 40-byte GWLB
  header, inner IPv4 without options or fragmentation, TCP/UDP/SCTP) with one
  ``struct`` unpack and one dict lookup for a known flow: the flow table's header
  index (:attr:`~appliance.flows.table.FlowTable.by_header`) is keyed by the GENEVE
  header byte for byte plus the inner protocol, addresses and ports, so a hit also
  proves the header is one already validated. A flow not in the index yet is
  checked field by field, found by its flow key and indexed;
- everything else, and every new flow, goes through :mod:`appliance.wire`'s full
  parser. A property test checks both paths agree on every packet.

The engine never raises out of a batch and never logs per packet: malformed input
is a counted drop. It does no I/O itself; the worker hands it a filled batch.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable, Iterable

from appliance.dataplane.batch import (
    MAX_DATAGRAM,
    Batch,
)
from appliance.errors import WireError
from appliance.flows.table import Flow, FlowHalf, FlowTable, ReverseHalf, TableLimits
from appliance.flows.tunnels import UNDECIDED, Tunnel, TunnelRegistry
from appliance.policy.verdict import Action, Decision, FlowFacts, Policy
from appliance.wire.domains import extract_domain
from appliance.wire.drops import DropReason
from appliance.wire.flowkey import flow_key, reverse_key
from appliance.wire.geneve import (
    AWS_OPTION_CLASS,
    ETHERTYPE_IPV4,
    GENEVE_PORT,
    GWLB_HEADER_LENGTH,
    GeneveHeader,
    parse_geneve,
)
from appliance.wire.inner import InnerPacket, parse_inner
from appliance.wire.reject import build_reject

PENDING = 3
"""Flow action while domain rules wait for a name: forward, and inspect the payload."""
_DROP = int(Action.DROP)
_REJECT = int(Action.REJECT)
assert _REJECT < PENDING, "the fast path sends actions >= REJECT to the full path"

DomainExtractor = Callable[[memoryview, int, int], "str | None"]
"""(L4 payload, protocol, destination port) -> a domain name found in it, or None."""

_DROP_REASONS = tuple(DropReason)
_DROP_INDEX = {reason: i for i, reason in enumerate(_DROP_REASONS)}
_SOURCE = _DROP_INDEX[DropReason.SOURCE_NOT_ALLOWED]
_POLICY = _DROP_INDEX[DropReason.POLICY]

# Fast path: from the start of the datagram, the GWLB header with the inner version/IHL
# byte (41 bytes, kept whole: with protocol, addresses and ports it is the header
# index's key), (tos), total length, (id), flags/fragment, (ttl), protocol,
# (checksum), src + dst + sport + dport, the UDP length (TCP: sequence number, high
# half), (6 bytes), the TCP data offset byte (UDP, SCTP: payload).
_FAST = struct.Struct(">41sxH2xHxc2x12sH6xB")
_FAST_MIN = _FAST.size
"""Datagrams shorter than this (UDP with under 13 payload bytes) take the full path."""
_INNER_AT = GWLB_HEADER_LENGTH + 20
"""Offset of the inner L4 header behind the GWLB header and an option-less IPv4 header."""
_UDP_BYTE = b"\x11"
_SCTP_BYTE = b"\x84"
# The same datagram's fields checked before a flow enters the header index: ver/flags +
# protocol type, (vni), option 1 header, (endpoint id), option 2 header, (attachment),
# option 3 header, (cookie), inner ver/IHL.
_GWLB = struct.Struct(">I4xI8xI8xI4xB")
_FAST_HEAD = 0x0800 << 16 | ETHERTYPE_IPV4
"""Ver 0, OptLen 8 words, no O/C bit, reserved bits 0, protocol type IPv4."""
_OPT1 = AWS_OPTION_CLASS << 16 | 1 << 8 | 2
_OPT2 = AWS_OPTION_CLASS << 16 | 2 << 8 | 2
_OPT3 = AWS_OPTION_CLASS << 16 | 3 << 8 | 1
_FAST_PROTOCOLS = frozenset((6, 17, 132))
_ENDPOINT = slice(12, 20)
"""The endpoint id in a header index key; ``key[41:]`` is protocol, addresses, ports."""
_SENDER = struct.Struct(">H4s")
_LOCAL = struct.Struct("4s")
_REPLY = struct.Struct(">4s4sHHH")
_UDP_REPLY = struct.Struct(">HHH")
"""The reply's UDP source port, destination port and length (the checksum stays 0)."""
_TCP = 6
_SYN, _ACK = 0x02, 0x10


class SourceFilter:
    """Which outer source addresses are GWLB nodes (``--gwlb-cidr``), with a bounded cache."""

    CACHE_LIMIT = 4096

    def __init__(self, cidrs: Iterable[str]) -> None:
        self.networks = [ipaddress.IPv4Network(c, strict=False) for c in cidrs]
        self.cache: dict[bytes, bool] = {}

    def allowed(self, address: bytes) -> bool:
        """Whether a packed IPv4 address lies in a configured CIDR (cached)."""
        verdict = self.cache.get(address)
        if verdict is None:
            ip = ipaddress.IPv4Address(address)
            verdict = any(ip in net for net in self.networks)
            if len(self.cache) >= self.CACHE_LIMIT:
                self.cache.clear()
            self.cache[address] = verdict
        return verdict


def facts_of(flow: Flow) -> FlowFacts:
    """Rebuild what the policy saw when ``flow`` started, from its key and fields."""
    key = flow.key
    width = 4 if len(key) == 21 else 16
    d = 9 + width
    p = d + width
    return FlowFacts(
        family=4 if width == 4 else 6,
        src=int.from_bytes(key[9:d], "big"),
        dst=int.from_bytes(key[d:p], "big"),
        protocol=key[8],
        sport=int.from_bytes(key[p : p + 2], "big"),
        dport=int.from_bytes(key[p + 2 : p + 4], "big"),
        icmp_type=flow.icmp_type,
        endpoint_id=int.from_bytes(key[:8], "big"),
        attachment_id=flow.attachment_id,
        mid_flow=flow.mid_flow,
    )


def _facts(endpoint_id: int, attachment_id: int, inner: InnerPacket) -> FlowFacts:
    return FlowFacts(
        family=inner.family,
        src=int.from_bytes(inner.src, "big"),
        dst=int.from_bytes(inner.dst, "big"),
        protocol=inner.protocol,
        sport=inner.sport,
        dport=inner.dport,
        icmp_type=inner.icmp_type,
        endpoint_id=endpoint_id,
        attachment_id=attachment_id,
        mid_flow=inner.icmp_error
        or (inner.protocol == _TCP and (inner.tcp_flags & (_SYN | _ACK)) != _SYN),
    )


class Engine:
    """Flow table, tunnels, counters and the per-batch packet path of one worker."""

    def __init__(
        self,
        policy: Policy,
        *,
        gwlb_cidrs: Iterable[str],
        limits: TableLimits | None = None,
        domain_extractor: DomainExtractor | None = extract_domain,
        on_flow_end: Callable[[Flow, str], None] | None = None,
        on_denied: Callable[[Flow], None] | None = None,
        fast_path: bool = True,
        reply_source: bytes | None = None,
    ) -> None:
        self.policy = policy
        self.sources = SourceFilter(gwlb_cidrs)
        self.table = FlowTable(limits or TableLimits(), on_end=on_flow_end)
        self.tunnels = TunnelRegistry()
        self.drops = [0] * len(_DROP_REASONS)
        self.packets_received = 0
        self.unattributed_bytes = 0
        """Bytes of datagrams dropped before they could be tied to a tunnel."""
        self.packets_out = 0
        self.bytes_out = 0
        """GENEVE bytes of the replies prepared (the outer header not counted, as for input)."""
        self.rule_flows: dict[str, int] = {}
        """rule id -> flows it decided (packets and bytes are in the tunnels' tallies)."""
        self._fast_min = _FAST_MIN if fast_path else 1 << 30
        """Datagrams shorter than this skip the fast path (all of them when it is off)."""
        self.reply_source = reply_source
        """Source address of every reply (the listen address), or None to reply from
        the address each datagram was sent to (IP_PKTINFO, when listening on 0.0.0.0)."""
        self._extract_domain = domain_extractor
        self._domain_wait = _domain_wait_of(policy)
        self._on_denied = on_denied
        self.rejects_sent = 0

    # -- the packet path -------------------------------------------------------------

    def process(self, batch: Batch, n: int, now: float) -> list[tuple[int, int]]:
        """Handle slots ``0..n-1``; return the runs of slots whose replies are ready to send."""
        data = batch.data
        names = batch.names
        ctrl = batch.ctrl
        lens = batch.rx_lens
        txl = batch.tx_lens
        index = self.table.by_header
        drops = self.drops
        fast = _FAST.unpack_from
        sender = _SENDER.unpack_from
        local = _LOCAL.unpack_from
        reply = _REPLY.pack_into
        fast_min = self._fast_min
        dst = self.reply_source
        overhead = batch.reply_overhead
        ip_header = overhead == 28  # else the kernel writes it: only the UDP header is ours
        per_datagram = dst is None
        udp = _UDP_REPLY.pack_into
        runs: list[tuple[int, int]] = []
        start = 0
        out_bytes = 0
        source_ok = b""
        self.packets_received += n
        for i, at_len, b, at_name, at_ctrl, at_header, at_tx in batch.offsets[:n]:
            size = lens[at_len]
            gport, gaddr = sender(names, at_name)
            if gaddr != source_ok:
                if not self.sources.allowed(gaddr):
                    drops[_SOURCE] += 1
                    self.unattributed_bytes += size
                    if i > start:
                        runs.append((start, i - start))
                    start = i + 1
                    continue
                source_ok = gaddr
            half: FlowHalf | None = None
            if size >= fast_min:
                header, total, frag, protocol, ports, word, byte = fast(data, b)
                l4 = total - 20
                # What the full parser demands of an IPv4 packet without options: the
                # whole packet present, not a fragment, and a sound L4 header: a UDP
                # length equal to the payload's (shorter ones: full path), 12 bytes of
                # SCTP, a TCP data offset of 20 bytes or more that fits.
                if (
                    8 <= l4 <= size - _INNER_AT
                    and not frag & 0x3FFF
                    and (
                        word == l4
                        if protocol == _UDP_BYTE
                        else l4 >= 12
                        if protocol == _SCTP_BYTE
                        else byte >= 0x50 and byte >> 2 & 0x3C <= l4
                    )
                ):
                    key = header + protocol + ports
                    half = index.get(key)
                    if half is None:
                        half = self._index(data, b, key)
            if half is None or half.action >= _REJECT:
                size = self._slow(data, b, size, now, half)
                if size < 0:
                    if i > start:
                        runs.append((start, i - start))
                    start = i + 1
                    continue
            else:
                half.packets += 1
                half.bytes += size
                half.last_seen = now
                tally = half.tally
                tally.packets += 1
                tally.bytes += size
                tally.last_packet = now
                if half.action:
                    tally.drops += 1
                    tally.dropped_bytes += size
                    drops[_POLICY] += 1
                    if i > start:
                        runs.append((start, i - start))
                    start = i + 1
                    continue
            if ip_header:
                if per_datagram:
                    (dst,) = local(ctrl, at_ctrl)
                reply(data, at_header, dst, gaddr, gport, GENEVE_PORT, size + 8)
            else:
                udp(data, at_header + 8, gport, GENEVE_PORT, size + 8)
            txl[at_tx] = size + overhead
            out_bytes += size
        if n > start:
            runs.append((start, n - start))
        self.bytes_out += out_bytes
        return runs

    def _index(self, data: memoryview, b: int, key: bytes) -> FlowHalf | None:
        """The half of a fast-path datagram the header index does not hold yet (then indexed).

        The GWLB header must be exactly the three AWS options and the inner packet
        IPv4 without options carrying TCP, UDP or SCTP; anything else (and a flow not
        in the table) is left to the full parser.
        """
        head, o1, o2, o3, vihl = _GWLB.unpack_from(data, b)
        if (
            head != _FAST_HEAD
            or o1 != _OPT1
            or o2 != _OPT2
            or o3 != _OPT3
            or vihl != 0x45
            or key[41] not in _FAST_PROTOCOLS
        ):
            return None
        half = self.table.entries.get(key[_ENDPOINT] + key[41:])
        if half is not None:
            self.table.index_header(key, half)
        return half

    def _slow(self, data: memoryview, b: int, size: int, now: float, half: FlowHalf | None) -> int:
        """Full parse for anything the fast path did not settle.

        Returns the size of the datagram to return (a reject rewrites the inner
        packet in place behind the same GENEVE header), or -1 to drop it.
        """
        end = b + size
        try:
            header = parse_geneve(data, b, end)
        except WireError as exc:
            self.drops[_DROP_INDEX[exc.reason]] += 1
            self.unattributed_bytes += size
            return -1
        tunnel = self.tunnels.get(header.endpoint_id)
        try:
            inner = parse_inner(data, b + header.length, end, header.protocol_type)
        except WireError as exc:
            tally = tunnel.tally(UNDECIDED)
            tally.packets += 1
            tally.bytes += size
            tally.drops += 1
            tally.dropped_bytes += size
            tally.last_packet = now
            self.drops[_DROP_INDEX[exc.reason]] += 1
            return -1
        if half is None:
            key = flow_key(header.endpoint_id, inner)
            half = self.table.entries.get(key)
            if half is None:
                half = self._new_half(key, header, inner, tunnel, now)
        half.packets += 1
        half.bytes += size
        half.last_seen = now
        if half.action == PENDING:
            self._inspect(half, data, inner, end)
        tally = half.tally
        tally.packets += 1
        tally.bytes += size
        tally.last_packet = now
        action = half.action
        if action in (0, PENDING):
            return size
        tally.drops += 1
        tally.dropped_bytes += size
        self.drops[_POLICY] += 1
        if action == _REJECT:
            return self._reject(data, b, header.length, inner.length, end)
        return -1

    def _reject(self, data: memoryview, b: int, header_length: int, length: int, end: int) -> int:
        """Replace the inner packet by its TCP RST / ICMP unreachable answer; -1 if none."""
        start = b + header_length
        answer = build_reject(data[start : min(end, start + length)])
        if answer is None or header_length + len(answer) > MAX_DATAGRAM:
            return -1
        data[start : start + len(answer)] = answer
        self.rejects_sent += 1
        return header_length + len(answer)

    def _new_half(
        self, key: bytes, header: GeneveHeader, inner: InnerPacket, tunnel: Tunnel, now: float
    ) -> FlowHalf:
        other = self.table.entries.get(reverse_key(key))
        if type(other) is Flow and other.reverse is None:
            return self.table.add_reverse(other, key, now)
        tunnel.attachments.add(header.attachment_id)
        facts = _facts(header.endpoint_id, header.attachment_id, inner)
        decision = self.policy.decide(facts)
        flow = Flow(
            key,
            tunnel.tally(decision.rule_id),
            decision,
            attachment_id=header.attachment_id,
            cookie=header.cookie,
            icmp_type=inner.icmp_type,
            mid_flow=facts.mid_flow,
            now=now,
            timeout=self.table.timeout_for(inner.protocol),
            pending=self._domain_wait if decision.pending_domain else 0,
        )
        flow.action = _action_of(decision)
        self.table.add(flow, now)
        self._count_flow(decision.rule_id, 1)
        if flow.action in (_DROP, _REJECT) and self._on_denied is not None:
            self._on_denied(flow)
        return flow

    def _inspect(self, half: FlowHalf, data: memoryview, inner: InnerPacket, end: int) -> None:
        """Offer a pending flow's payload to the domain rules (bounded by ``pending``)."""
        flow = half.flow if isinstance(half, ReverseHalf) else half
        if not 0 <= inner.l4_payload_offset < end:
            return
        domain = None
        if self._extract_domain is not None:
            payload = data[inner.l4_payload_offset : end]
            domain = self._extract_domain(payload, inner.protocol, inner.dport)
        facts = facts_of(flow)
        if domain is not None:
            flow.domain = domain
            self._settle(flow, self.policy.decide_domain(facts, domain))
            return
        flow.pending -= 1
        if flow.pending <= 0:
            self._settle(flow, self.policy.decide_without_domain(facts))

    def _settle(self, flow: Flow, decision: Decision) -> None:
        """Give a flow a new decision (domain seen, wait over, or a new policy)."""
        self._count_flow(flow.decision.rule_id, -1)
        was_denied = flow.action in (_DROP, _REJECT)
        flow.set_decision(decision, _action_of(decision))
        flow.pending = self._domain_wait if decision.pending_domain else 0
        self._count_flow(decision.rule_id, 1)
        if not was_denied and flow.action in (_DROP, _REJECT) and self._on_denied is not None:
            self._on_denied(flow)

    def _count_flow(self, rule_id: str, delta: int) -> None:
        self.rule_flows[rule_id] = self.rule_flows.get(rule_id, 0) + delta

    # -- maintenance -------------------------------------------------------------------

    def set_sources(self, cidrs: Iterable[str]) -> None:
        """Replace the allowed GWLB source networks (takes effect with the next batch)."""
        self.sources = SourceFilter(cidrs)

    def count_sent(self, sent: int, failed: int) -> None:
        """Account for what the I/O layer did with the batch's replies."""
        self.packets_out += sent
        if failed:
            self.drops[_DROP_INDEX[DropReason.SEND_FAILED]] += failed

    def maintain(self, now: float, budget: int) -> int:
        """Expire idle flows (``budget`` keys per call) and idle tunnels; returns flows expired."""
        expired = self.table.sweep(now, budget)
        self.tunnels.expire(now)
        return expired

    def set_policy(self, policy: Policy, *, reevaluate: bool) -> int:
        """Swap the policy; optionally re-decide existing flows. Returns flows re-decided."""
        self.policy = policy
        self._domain_wait = _domain_wait_of(policy)
        if not reevaluate:
            return 0
        changed = 0
        for flow in list(self.table.flows()):
            decision = self._redecide(policy, flow)
            if decision != flow.decision:
                self._settle(flow, decision)
                changed += 1
        return changed

    def _redecide(self, policy: Policy, flow: Flow) -> Decision:
        """A running flow's decision under ``policy``, using what the flow already showed.

        A name seen earlier (SNI, Host, DNS) decides domain rules at once; a flow that
        already used up its wait for a name is decided without one. Going back to
        ``pending`` would forward packets of a flow a domain rule had stopped.
        """
        facts = facts_of(flow)
        decision = policy.decide(facts)
        if not decision.pending_domain:
            return decision
        if flow.domain is not None:
            return policy.decide_domain(facts, flow.domain)
        if flow.pending == 0 and flow.packets > 1:
            return policy.decide_without_domain(facts)
        return decision

    def drop_counts(self) -> dict[str, int]:
        """Drops by reason label, zeros included."""
        return {r.value: self.drops[i] for i, r in enumerate(_DROP_REASONS)}


def _domain_wait_of(policy: Policy) -> int:
    """Payload packets a pending flow may send before it is decided without a domain."""
    settings = getattr(policy, "settings", None)
    return int(getattr(settings, "domain_wait_packets", 8))


def _action_of(decision: Decision) -> int:
    return PENDING if decision.pending_domain else int(decision.action)


def action_name(action: int) -> str:
    """Text for a flow's cached action."""
    if action == PENDING:
        return "pending"
    return Action(action).name.lower()
