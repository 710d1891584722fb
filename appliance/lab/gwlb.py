"""The GWLB simulator's logic, without I/O: flows, encapsulation and checks of returns.

What it plays (PROTOCOL.md, "What GWLB sends" and "What the appliance must send back"):

- every inner packet belongs to a flow keyed direction-agnostically by its 5-tuple
  (and the GWLB endpoint), so both directions share one flow;
- a flow gets a random 32-bit cookie and a random outer UDP source port, fixed for its
  life, which ends after GWLB's idle timeout (TCP 350 s, everything else 120 s; see
  :meth:`GwlbSimulator.expire_idle`), and a target chosen by the target group
  (:mod:`appliance.lab.targets`: stickiness, health, draining, zones); target failover
  may move it to another target mid-flow;
- the packet goes out as IPv4/UDP to port 6081 with a 40-byte GENEVE header carrying the
  endpoint id, attachment id and the flow's cookie;
- what an appliance returns must come from the appliance the flow was sent to, to the
  simulator's address, from the flow's source port to port 6081, with the GENEVE header
  byte-identical and an inner packet that was sent on that flow. Anything else is a
  counted :class:`Violation` and is not forwarded.

:class:`GwlbSimulator` is driven by ``appliance.lab.simulator`` (sockets and the TUN
device) and by the unit tests directly.
"""

from __future__ import annotations

import enum
import ipaddress
import random
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from appliance.errors import WireError
from appliance.lab.packets import PacketError, build_ipv4_udp, parse_ipv4_udp
from appliance.lab.targets import TargetGroup, stickiness_key
from appliance.wire.flowkey import flow_key, reverse_key
from appliance.wire.geneve import (
    ETHERTYPE_IPV4,
    ETHERTYPE_IPV6,
    GENEVE_PORT,
    build_geneve,
    parse_geneve,
)
from appliance.wire.inner import parse_inner

STATUS_SCHEMA = "gwlbd.labsim/v1"
SOURCE_PORTS = (1024, 65535)
"""Range the outer UDP source port of a flow is drawn from (inclusive)."""
TCP_IDLE_TIMEOUT = 350.0
"""GWLB's default idle timeout of TCP flows, seconds (PROTOCOL.md)."""
IDLE_TIMEOUT = 120.0
"""GWLB's idle timeout of every other flow, seconds."""
_TCP = 6


class Violation(enum.Enum):
    """Ways a datagram returned by an appliance can break the GWLB contract."""

    MALFORMED = "malformed"
    """Not an IPv4/UDP datagram with a parseable GENEVE header and GWLB options."""
    DESTINATION_PORT = "destination_port"
    """UDP destination port is not 6081."""
    DESTINATION_ADDRESS = "destination_address"
    """Not sent to the simulator's address."""
    UNKNOWN_COOKIE = "unknown_cookie"
    """The flow cookie names no flow the simulator sent."""
    SOURCE_ADDRESS = "source_address"
    """Not sent by the appliance the flow was sent to."""
    SOURCE_PORT = "source_port"
    """UDP source port differs from the one the simulator used for the flow."""
    HEADER_CHANGED = "header_changed"
    """GENEVE header (with options) not byte-identical to the one sent for the flow."""
    PAYLOAD_CHANGED = "payload_changed"
    """The inner packet is not one the simulator sent on that flow (or came back twice)."""


@dataclass(slots=True)
class SimFlow:
    """One flow as the simulator sees it (both directions)."""

    key: bytes
    """Direction-agnostic key: the smaller of the flow key and its reverse."""
    cookie: int
    sport: int
    """Outer UDP source port used for every packet of the flow."""
    target: bytes
    """Packed address of the appliance the flow is sent to now."""
    header: bytes
    """The GENEVE header sent with every packet of the flow."""
    last_seen: float = 0.0
    """Clock time of the flow's last packet, either direction."""
    sent: int = 0
    returned: int = 0
    outstanding: dict[int, int] = field(default_factory=dict)
    """Hashes of inner packets sent and not yet returned, with their multiplicity."""
    zone: str = "a"
    """Zone of the GWLB endpoint the flow entered through."""
    sticky: bytes = b""
    """The stickiness key the target group placed the flow by."""
    used: set[bytes] = field(default_factory=set)
    """Every target the flow was sent to (returns from any of them are accepted)."""
    moves: int = 0
    """Times target failover moved the flow to another target."""


@dataclass(slots=True)
class SimCounters:
    """Counters of a simulator run; the I/O layer adds what only it can see."""

    captured: int = 0
    """Inner packets taken from the client/server side."""
    unparseable: int = 0
    """Captured packets that could not be parsed, or link-local/multicast (not sent)."""
    sent: int = 0
    """GENEVE datagrams handed to the socket."""
    send_errors: int = 0
    received: int = 0
    """Datagrams received from appliances on the raw UDP socket."""
    verified: int = 0
    """Returns that passed every check."""
    rejected: int = 0
    """Returns with at least one violation (not forwarded)."""
    forwarded: int = 0
    """Verified inner packets passed on towards their destination."""
    expired: int = 0
    """Sent packets forgotten unreturned because a flow's memory was full or evicted."""
    flows_evicted: int = 0
    flows_expired: int = 0
    """Flows forgotten after their idle timeout (a later packet starts a new flow)."""
    no_target: int = 0
    """Packets dropped because no target was registered."""
    flows_moved: int = 0
    """Flow moves by target failover (rebalance)."""
    violations: dict[str, int] = field(default_factory=lambda: {v.value: 0 for v in Violation})


@dataclass(frozen=True, slots=True)
class Outbound:
    """A datagram to send: the outer IPv4/UDP packet and the appliance it goes to."""

    target: bytes
    datagram: bytes
    flow: SimFlow


def is_routed(src: bytes, dst: bytes) -> bool:
    """False for traffic a router never forwards: link-local or multicast addresses."""
    for packed in (src, dst):
        addr = ipaddress.ip_address(packed)
        if addr.is_link_local or addr.is_multicast or addr.is_unspecified:
            return False
    return dst != b"\xff\xff\xff\xff"


def canonical_key(key: bytes) -> bytes:
    """The same key for both directions of a flow."""
    return min(key, reverse_key(key))


class GwlbSimulator:
    """Flows, encapsulation and return checks of one simulated GWLB endpoint.

    Args:
        address: packed IPv4 address the simulator sends from (the GWLB node).
        targets: packed IPv4 addresses of the appliances registered at the start (zone
            ``a``); ``group`` changes them later.
        endpoint_id: GENEVE option type 1 (the GWLB endpoint id).
        attachment_id: GENEVE option type 2.
        vni: GENEVE VNI.
        rng: source of cookies and ports (seed it in tests).
        max_flows: flows remembered; the least recently created is evicted beyond it.
        max_outstanding: unreturned packets remembered per flow.
        tcp_idle_timeout: seconds a TCP flow lives without packets.
        idle_timeout: seconds any other flow lives without packets.
        clock: monotonic seconds (injectable for tests).
        group: the target group (one with ``targets`` registered when None).
        zones: (network, zone) pairs: a flow whose either address is in the network
            enters through that zone's endpoint (zone ``a`` otherwise).
        watch_ports: TCP ports whose flows are listed in the status (long-lived
            connections the lab follows across failover).
    """

    def __init__(
        self,
        *,
        address: bytes,
        targets: Sequence[bytes],
        endpoint_id: int,
        attachment_id: int = 0,
        vni: int = 0,
        rng: random.Random | None = None,
        max_flows: int = 100_000,
        max_outstanding: int = 4096,
        tcp_idle_timeout: float = TCP_IDLE_TIMEOUT,
        idle_timeout: float = IDLE_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
        group: TargetGroup | None = None,
        zones: Sequence[tuple[str, str]] = (),
        watch_ports: Sequence[int] = (),
    ) -> None:
        if group is None:
            group = TargetGroup()
            for target in targets:
                group.register(str(ipaddress.ip_address(target)))
        self.group = group
        self.zones = [(ipaddress.ip_network(net), zone) for net, zone in zones]
        self.watch_ports = frozenset(watch_ports)
        self.address = address
        self.endpoint_id = endpoint_id
        self.attachment_id = attachment_id
        self.vni = vni
        self.counters = SimCounters()
        self.flows: dict[bytes, SimFlow] = {}
        self.by_cookie: dict[int, SimFlow] = {}
        self.recent_violations: list[str] = []
        self.per_target: dict[bytes, dict[str, int]] = {
            socket.inet_aton(a): {"sent": 0, "verified": 0, "flows_new": 0} for a in group.targets
        }
        """Packets encapsulated for, and verified returns from, each appliance."""
        self._rng = rng if rng is not None else random.SystemRandom()
        self._max_flows = max_flows
        self._max_outstanding = max_outstanding
        self._tcp_idle_timeout = tcp_idle_timeout
        self._idle_timeout = idle_timeout
        self._clock = clock

    def flow_for(self, inner: bytes) -> SimFlow | None:
        """The flow of an inner IP packet, created on first sight.

        Returns:
            None if the packet cannot be parsed, or is link-local or multicast (such as
            the router solicitations the TUN device's own IPv6 stack sends): GWLB only
            ever carries routed traffic; also None (counted as ``no_target``) when the
            target group has no target for a new flow.
        """
        protocol_type = ETHERTYPE_IPV6 if inner and inner[0] >> 4 == 6 else ETHERTYPE_IPV4
        try:
            parsed = parse_inner(inner, 0, len(inner), protocol_type)
        except WireError:
            return None
        if not is_routed(parsed.src, parsed.dst):
            return None
        key = canonical_key(flow_key(self.endpoint_id, parsed))
        flow = self.flows.get(key)
        if flow is None:
            zone = self.zone_of(parsed.src, parsed.dst)
            sticky = stickiness_key(key, self.group.settings.stickiness)
            chosen = self.group.choose(sticky, zone)
            if chosen is None:
                self.counters.no_target += 1
                return None
            flow = self._new_flow(key, protocol_type, socket.inet_aton(chosen), zone, sticky)
        else:
            current = socket.inet_ntoa(flow.target)
            routed = self.group.route(current, flow.sticky, flow.zone)
            if routed != current:
                flow.target = socket.inet_aton(routed)
                flow.used.add(flow.target)
                flow.moves += 1
                self.counters.flows_moved += 1
        flow.last_seen = self._clock()
        return flow

    def zone_of(self, src: bytes, dst: bytes) -> str:
        """The zone whose endpoint a new flow between ``src`` and ``dst`` enters through."""
        for packed in (src, dst):
            addr = ipaddress.ip_address(packed)
            for network, zone in self.zones:
                if addr.version == network.version and addr in network:
                    return zone
        return "a"

    def expire_idle(self) -> int:
        """Forget flows idle longer than their timeout, as GWLB does; returns how many.

        Their unreturned packets count as ``expired``; a later packet of the same
        5-tuple starts a new flow with a new cookie.
        """
        now = self._clock()
        idle = [
            flow
            for flow in self.flows.values()
            if now - flow.last_seen
            > (self._tcp_idle_timeout if flow.key[8] == _TCP else self._idle_timeout)
        ]
        for flow in idle:
            self._forget(flow)
        self.counters.flows_expired += len(idle)
        return len(idle)

    def _forget(self, flow: SimFlow) -> None:
        del self.flows[flow.key]
        del self.by_cookie[flow.cookie]
        self.counters.expired += sum(flow.outstanding.values())

    def _new_flow(
        self, key: bytes, protocol_type: int, target: bytes, zone: str, sticky: bytes
    ) -> SimFlow:
        cookie = self._rng.getrandbits(32)
        while cookie in self.by_cookie:
            cookie = self._rng.getrandbits(32)
        flow = SimFlow(
            key=key,
            cookie=cookie,
            sport=self._rng.randint(*SOURCE_PORTS),
            target=target,
            zone=zone,
            sticky=sticky,
            used={target},
            header=build_geneve(
                endpoint_id=self.endpoint_id,
                attachment_id=self.attachment_id,
                cookie=cookie,
                protocol_type=protocol_type,
                vni=self.vni,
            ),
        )
        self._per_target(target)["flows_new"] += 1
        if len(self.flows) >= self._max_flows:
            self._forget(next(iter(self.flows.values())))
            self.counters.flows_evicted += 1
        self.flows[key] = flow
        self.by_cookie[cookie] = flow
        return flow

    def encapsulate(self, inner: bytes) -> Outbound | None:
        """Wrap a captured inner packet for its flow's appliance; None if unparseable."""
        self.counters.captured += 1
        no_target = self.counters.no_target
        flow = self.flow_for(inner)
        if flow is None:
            if self.counters.no_target == no_target:
                self.counters.unparseable += 1
            return None
        digest = hash(inner)
        if digest not in flow.outstanding and len(flow.outstanding) >= self._max_outstanding:
            oldest = next(iter(flow.outstanding))
            self.counters.expired += flow.outstanding.pop(oldest)
        flow.outstanding[digest] = flow.outstanding.get(digest, 0) + 1
        flow.sent += 1
        self._per_target(flow.target)["sent"] += 1
        datagram = build_ipv4_udp(
            self.address, flow.target, flow.sport, GENEVE_PORT, flow.header + inner
        )
        return Outbound(target=flow.target, datagram=datagram, flow=flow)

    def check_return(self, datagram: bytes) -> tuple[list[Violation], bytes | None]:
        """Check a datagram an appliance returned; count it.

        Args:
            datagram: the whole outer IPv4 packet as received.

        Returns:
            The violations found, and the inner packet to forward when there are none.
        """
        self.counters.received += 1
        violations: list[Violation] = []
        inner: bytes | None = None
        try:
            outer = parse_ipv4_udp(datagram)
            header = parse_geneve(datagram, outer.payload_offset, outer.payload_end)
        except (PacketError, WireError) as exc:
            self._record([Violation.MALFORMED], str(exc))
            return [Violation.MALFORMED], None
        if outer.dport != GENEVE_PORT:
            violations.append(Violation.DESTINATION_PORT)
        if outer.dst != self.address:
            violations.append(Violation.DESTINATION_ADDRESS)
        flow = self.by_cookie.get(header.cookie)
        inner_start = outer.payload_offset + header.length
        if flow is None:
            violations.append(Violation.UNKNOWN_COOKIE)
        else:
            if outer.src not in flow.used:
                violations.append(Violation.SOURCE_ADDRESS)
            if outer.sport != flow.sport:
                violations.append(Violation.SOURCE_PORT)
            if datagram[outer.payload_offset : inner_start] != flow.header:
                violations.append(Violation.HEADER_CHANGED)
            inner = datagram[inner_start : outer.payload_end]
            digest = hash(inner)
            if flow.outstanding.get(digest, 0) <= 0:
                violations.append(Violation.PAYLOAD_CHANGED)
            elif not violations:
                remaining = flow.outstanding[digest] - 1
                if remaining:
                    flow.outstanding[digest] = remaining
                else:
                    del flow.outstanding[digest]
                flow.returned += 1
        if violations:
            self._record(
                violations,
                f"cookie {header.cookie:#010x} sport {outer.sport} dport {outer.dport}",
            )
            return violations, None
        self.counters.verified += 1
        self._per_target(outer.src)["verified"] += 1
        return [], inner

    def _per_target(self, target: bytes) -> dict[str, int]:
        counts = self.per_target.get(target)
        if counts is None:
            counts = self.per_target[target] = {"sent": 0, "verified": 0, "flows_new": 0}
        return counts

    def _record(self, violations: list[Violation], detail: str) -> None:
        self.counters.rejected += 1
        for violation in violations:
            self.counters.violations[violation.value] += 1
        kinds = ",".join(v.value for v in violations)
        self.recent_violations = [*self.recent_violations[-9:], f"{kinds}: {detail}"]

    @property
    def unreturned(self) -> int:
        """Packets sent that have not come back (in flight, dropped by policy, or lost)."""
        return sum(sum(flow.outstanding.values()) for flow in self.flows.values())

    def status(self) -> dict[str, Any]:
        """A JSON-ready snapshot of the counters."""
        counters = self.counters
        return {
            "schema": STATUS_SCHEMA,
            "endpoint_id": f"0x{self.endpoint_id:016x}",
            "attachment_id": f"0x{self.attachment_id:016x}",
            "flows": len(self.flows),
            "captured": counters.captured,
            "unparseable": counters.unparseable,
            "sent": counters.sent,
            "send_errors": counters.send_errors,
            "received": counters.received,
            "verified": counters.verified,
            "rejected": counters.rejected,
            "forwarded": counters.forwarded,
            "unreturned": self.unreturned,
            "expired": counters.expired,
            "flows_evicted": counters.flows_evicted,
            "flows_expired": counters.flows_expired,
            "violations": dict(counters.violations),
            "recent_violations": list(self.recent_violations),
            "no_target": counters.no_target,
            "flows_moved": counters.flows_moved,
            "group": self.group.settings.as_json(),
            "targets": self.targets_status(),
            "watched": self.watched_flows(),
            "stickiness": self.stickiness_status(),
        }

    def targets_status(self) -> list[dict[str, Any]]:
        """Every target ever used or registered: group state, packets and current flows."""
        flows: dict[bytes, int] = {}
        for flow in self.flows.values():
            flows[flow.target] = flows.get(flow.target, 0) + 1
        group = {socket.inet_aton(t.address): t.as_json() for t in self.group.targets.values()}
        out = []
        for packed in dict.fromkeys([*self.per_target, *group]):
            address = socket.inet_ntoa(packed)
            entry = group.get(packed) or {"address": address, "state": "unused", "healthy": None}
            out.append({**entry, **self._per_target(packed), "flows": flows.get(packed, 0)})
        return out

    def watched_flows(self) -> list[dict[str, Any]]:
        """TCP flows to a watched port: the client end, target now and moves."""
        out = []
        for flow in self.flows.values():
            if flow.key[8] != _TCP or len(flow.key) != 21:
                continue
            src, dst = socket.inet_ntoa(flow.key[9:13]), socket.inet_ntoa(flow.key[13:17])
            sport, dport = int.from_bytes(flow.key[17:19]), int.from_bytes(flow.key[19:21])
            if dport in self.watch_ports:
                client, server_port = f"{src}:{sport}", dport
            elif sport in self.watch_ports:
                client, server_port = f"{dst}:{dport}", sport
            else:
                continue
            out.append(
                {
                    "client": client,
                    "port": server_port,
                    "target": socket.inet_ntoa(flow.target),
                    "moves": flow.moves,
                    "zone": flow.zone,
                }
            )
        return out

    def stickiness_status(self) -> dict[str, int]:
        """How flows group by stickiness key: keys, most flows and most targets per key.

        With 3- or 2-tuple stickiness many flows share a key, and all of them must be
        on one target (``max_targets`` 1) unless failover moved some.
        """
        targets: dict[bytes, set[bytes]] = {}
        flows: dict[bytes, int] = {}
        for flow in self.flows.values():
            targets.setdefault(flow.sticky, set()).add(flow.target)
            flows[flow.sticky] = flows.get(flow.sticky, 0) + 1
        return {
            "keys": len(flows),
            "max_flows": max(flows.values(), default=0),
            "max_targets": max((len(t) for t in targets.values()), default=0),
        }
