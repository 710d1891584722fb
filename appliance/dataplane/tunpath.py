"""The tun-mode packet path: GENEVE in → policy → ``gwi-X``; kernel out → GENEVE back to GWLB.

From the GWLB: the worker's engine decides every datagram of a batch exactly as in
inline mode (same flow table, same policy, same drop counters); for each allowed
datagram :meth:`TunPath.deliver` records the flow's *return route* (its GENEVE header
byte for byte, the GWLB node that sent it, its UDP source port and the local address
it was sent to; refreshed on every packet) and writes the inner packet to ``gwi-X``
of its endpoint, creating the endpoint's devices on its first packet. The kernel never
sees a packet the policy did not allow.

From the kernel: :meth:`TunPath.drain` reads what the kernel routes out of ``gwo-X``
(or back out of ``gwi-X``), reads it straight into a batch slot behind room for the
GENEVE and outer headers (the layout of :mod:`appliance.dataplane.batch`), finds the
flow by the packet's directional key or the reverse one (a NATed reply travels the
opposite way), puts the cached GENEVE header and an outer IPv4/UDP header in front
(source = the address the GWLB sent to, destination = that GWLB node, source port =
the GWLB's, destination port 6081) and sends the batch on the raw socket. A packet of
no known flow is dropped and counted (``no_flow``), one of a flow the policy now
refuses is counted as ``policy``.

Why one worker: the kernel hands a ``gwo`` packet to whoever reads the device, not to
the worker whose SO_REUSEPORT socket received the flow, so with several workers the
return route would live in another process. tun mode therefore runs one data-plane
worker that owns every flow and every device (see docs/tun-mode.md).

No logging per packet; device failures are logged once per endpoint and retried.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from appliance.dataplane.batch import (
    CTRL_SIZE,
    HEADER_AT,
    HEADROOM,
    MAX_DATAGRAM,
    MSG_LEN_INDEX,
    NAME_SIZE,
    PKTINFO_ADDR_AT,
    SLOT,
    Batch,
)
from appliance.dataplane.engine import PENDING, Engine
from appliance.dataplane.sockets import open_sender
from appliance.dataplane.tun import (
    DeviceFactory,
    KernelDevices,
    SysctlGuard,
    TunDevice,
    interface_names,
)
from appliance.dataplane.tunsend import RawSender, ReplySender
from appliance.errors import DataplaneError, WireError
from appliance.policy.verdict import Action
from appliance.wire.drops import DropReason
from appliance.wire.flowkey import flow_key, reverse_key
from appliance.wire.geneve import (
    ETHERTYPE_IPV4,
    ETHERTYPE_IPV6,
    GENEVE_PORT,
    GWLB_HEADER_LENGTH,
    parse_geneve,
)
from appliance.wire.inner import parse_inner

log = logging.getLogger(__name__)

RETRY_AFTER = 5.0
"""Seconds before creating an endpoint's devices is tried again after a failure."""
SYSCTL_CHECK_INTERVAL = 5.0
"""Seconds between checks that nobody changed the devices' sysctls."""
BATCHES_PER_DRAIN = 64
"""Batches read from the devices per call of :meth:`TunPath.drain`."""

_DROPS = tuple(DropReason)
_NO_FLOW = _DROPS.index(DropReason.NO_FLOW)
_POLICY = _DROPS.index(DropReason.POLICY)
_SEND_FAILED = _DROPS.index(DropReason.SEND_FAILED)
_MALFORMED = _DROPS.index(DropReason.INNER_MALFORMED)
_REJECT = int(Action.REJECT)
_GWLB_OPT1 = bytes.fromhex("01080102")
"""Class 0x0108, type 1 (endpoint id), length 2 words: the first option GWLB sends."""
_FAST_PROTOCOLS = frozenset((b"\x06", b"\x11", b"\x84"))
"""TCP, UDP, SCTP: the protocols whose IPv4 key is ``protocol + bytes 12..24``."""
# From the start of the datagram: the GWLB header (kept whole: a flow's return route
# holds it), then of the inner IPv4 header ver/IHL, flags/fragment, protocol,
# addresses and ports (the layout of appliance.wire.flowkey).
_DELIVER = struct.Struct(">40sB5xHxc2x12s")
# The same fields of an IPv4 packet the kernel sent out.
_KERNEL = struct.Struct(">B5xHxc2x12s")
_SENDER = struct.Struct(">H4s")
_LOCAL = struct.Struct("4s")
_REPLY = struct.Struct(">4s4sHHH")
_REPLY_GWLB = struct.Struct(">4s4sHHH2x40s")
"""Outer source and destination, UDP header (checksum 0) and a 40-byte GWLB header."""
_NAME = struct.Struct("=H2s4s")
"""sockaddr_in: family in host order, port 0 (raw sockets ignore it), address."""
_READ_AT = HEADROOM + GWLB_HEADER_LENGTH
"""Where a kernel packet is read in its slot: behind a 40-byte GENEVE header's room."""
_READ_MAX = MAX_DATAGRAM - GWLB_HEADER_LENGTH
_ROOM = _READ_MAX - 252
"""Kernel packets shorter than this fit behind any GENEVE header (options: 252 bytes at most)."""


Route = tuple[bytes, bytes, int, bytes]
"""A flow's return route: (GENEVE header, GWLB node address, GWLB UDP port, local address)."""


@dataclass(slots=True)
class Endpoint:
    """The two devices of one GWLB endpoint and their counters."""

    endpoint_id: int
    gwi: TunDevice
    gwo: TunDevice
    created_at: float
    last_packet: float
    in_packets: int = 0
    """Packets written to ``gwi`` (handed to the kernel)."""
    in_bytes: int = 0
    out_packets: int = 0
    """Packets read from ``gwo`` or ``gwi`` (the kernel sent them back out)."""
    out_bytes: int = 0
    write_failed: int = 0
    eid: bytes = b""
    """The endpoint id packed (8 bytes, big-endian), as flow keys start."""
    write: Callable[[memoryview], int | None] = field(init=False)
    """``gwi.write``, looked up once."""

    def __post_init__(self) -> None:
        self.eid = self.endpoint_id.to_bytes(8, "big")
        self.write = self.gwi.write


Notify = Callable[[str, int, str, str], None]
"""Called with ``("CREATE"|"DESTROY", endpoint id, gwi name, gwo name)``."""


class TunPath:
    """Devices, return routes and counters of tun mode in one worker.

    Args:
        engine: the worker's engine (flow table, policy, drop counters).
        devices: creates an endpoint's devices (the kernel's, or a fake).
        sender: sends re-encapsulated packets to the GWLB.
        notify: told when an endpoint's devices appear or go (the supervisor runs hooks).
        batch_size: slots of the kernel-side batch.
        idle_timeout: remove an endpoint's devices after this many idle seconds (0: never).
        guard: re-asserts the devices' sysctls (None: do not check, as with fakes).
    """

    def __init__(
        self,
        engine: Engine,
        devices: DeviceFactory,
        sender: ReplySender,
        notify: Notify,
        *,
        batch_size: int = 64,
        idle_timeout: float = 0.0,
        guard: SysctlGuard | None = None,
    ) -> None:
        self.engine = engine
        self.devices = devices
        self.sender = sender
        self.notify = notify
        self.batch = Batch(batch_size)
        self.idle_timeout = idle_timeout
        self.guard = guard
        self.endpoints: dict[bytes, Endpoint] = {}
        """Packed 8-byte endpoint id -> its devices."""
        self.routes: dict[bytes, Route] = {}
        """Directional flow key -> return route, for flows allowed by the policy."""
        self.bytes_out = 0
        self.create_failures = 0
        self._failed_at: dict[bytes, float] = {}
        self._poller: Any = None
        self._readers: list[tuple[TunDevice, Endpoint]] = []
        self._walk: list[bytes] = []
        self._cursor = 0
        self._next_guard = 0.0
        self._rejects_seen = engine.rejects_sent
        self._views = [
            self.batch.data[i * SLOT + _READ_AT : i * SLOT + _READ_AT + _READ_MAX]
            for i in range(batch_size)
        ]
        """Where the kernel's packet of slot ``i`` is read."""
        for i in range(batch_size):  # sockaddr_in of every reply: AF_INET, port 0
            _NAME.pack_into(self.batch.names, i * NAME_SIZE, socket.AF_INET, b"\0\0", b"\0" * 4)

    # -- from the GWLB ---------------------------------------------------------------

    def attach(self, poller: Any) -> None:
        """Register every device (now and later) with ``poller`` (a ``select.epoll``)."""
        self._poller = poller
        for ep in self.endpoints.values():
            for device in (ep.gwi, ep.gwo):
                if device.fileno() >= 0:
                    poller.register(device.fileno(), select.EPOLLIN)

    def deliver(self, batch: Batch, runs: list[tuple[int, int]], now: float) -> None:
        """Write the inner packets of the allowed slots ``runs`` to their ``gwi`` devices.

        Reject answers (TCP RST / ICMP unreachable the engine wrote in place of a
        packet of a ``reject`` flow) are among ``runs`` too: they go straight back to
        the GWLB, as in inline mode, and never to the kernel.
        """
        engine = self.engine
        if engine.rejects_sent != self._rejects_seen:
            self._rejects_seen = engine.rejects_sent
            runs, answers = self._split_rejects(batch, runs)
            if answers:
                engine.count_sent(*self.sender.send(batch, answers))
        data = batch.data
        names = batch.names
        ctrl = batch.ctrl
        lens = batch.rx_lens
        routes = self.routes
        endpoints = self.endpoints
        drops = self.engine.drops
        fast = _DELIVER.unpack_from
        sender = _SENDER.unpack_from
        local = _LOCAL.unpack_from
        fixed_local = engine.reply_source
        for first, count in runs:
            for i in range(first, first + count):
                b = i * SLOT + HEADROOM
                size = lens[i * 16 + MSG_LEN_INDEX]
                key: bytes | None = None
                hl = GWLB_HEADER_LENGTH
                eid = b""
                if size >= _DELIVER.size:
                    header, vihl, frag, proto, tup = fast(data, b)
                    if header[0] == 8 and header.startswith(_GWLB_OPT1, 8):
                        eid = header[12:20]
                        if vihl == 0x45 and proto in _FAST_PROTOCOLS and not frag & 0x3FFF:
                            key = eid + proto + tup
                        else:
                            key = _slow_key(data, b + hl, b + size, int.from_bytes(eid, "big"))
                if not eid:
                    try:
                        parsed = parse_geneve(data, b, b + size)
                    except WireError:  # the engine allowed it, so this cannot happen
                        drops[_MALFORMED] += 1
                        continue
                    hl = parsed.length
                    eid = parsed.endpoint_id.to_bytes(8, "big")
                    key = _slow_key(data, b + hl, b + size, parsed.endpoint_id)
                    header = data[b : b + hl].tobytes()
                ep = endpoints.get(eid)
                if ep is None:
                    ep = self._open(eid, now)
                    if ep is None:
                        drops[_SEND_FAILED] += 1
                        continue
                if key is not None:
                    gport, gaddr = sender(names, i * NAME_SIZE + 2)
                    routes[key] = (
                        header,
                        gaddr,
                        gport,
                        fixed_local or local(ctrl, i * CTRL_SIZE + PKTINFO_ADDR_AT)[0],
                    )
                try:
                    written = ep.write(data[b + hl : b + size])
                except OSError:
                    written = 0
                if not written:
                    ep.write_failed += 1
                    drops[_SEND_FAILED] += 1
                    continue
                ep.in_packets += 1
                ep.in_bytes += size - hl
                ep.last_packet = now

    def _split_rejects(
        self, batch: Batch, runs: list[tuple[int, int]]
    ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Separate the slots holding reject answers from those to hand to the kernel."""
        entries = self.engine.table.entries
        to_kernel: list[tuple[int, int]] = []
        answers: list[tuple[int, int]] = []
        for first, count in runs:
            for i in range(first, first + count):
                b = i * SLOT + HEADROOM
                # the engine's reply, maybe an answer
                size = batch.tx_lens[i * 2 + 1] - batch.reply_overhead
                try:
                    header = parse_geneve(batch.data, b, b + size)
                except WireError:
                    continue
                key = _slow_key(batch.data, b + header.length, b + size, header.endpoint_id)
                half = None
                if key is not None:
                    half = entries.get(key) or entries.get(reverse_key(key))
                rejected = half is not None and half.action == _REJECT
                (answers if rejected else to_kernel).append((i, 1))
        return to_kernel, answers

    def _open(self, eid: bytes, now: float) -> Endpoint | None:
        failed = self._failed_at.get(eid)
        if failed is not None and now - failed < RETRY_AFTER:
            return None
        endpoint_id = int.from_bytes(eid, "big")
        try:
            gwi, gwo = self.devices.create(endpoint_id)
        except DataplaneError as exc:
            self._failed_at[eid] = now
            self.create_failures += 1
            log.error("tun devices for endpoint 0x%016x: %s", endpoint_id, exc)
            return None
        self._failed_at.pop(eid, None)
        ep = Endpoint(endpoint_id, gwi, gwo, created_at=now, last_packet=now)
        self.endpoints[eid] = ep
        for device in (gwo, gwi):
            self._readers.append((device, ep))
            if self._poller is not None and device.fileno() >= 0:
                self._poller.register(device.fileno(), select.EPOLLIN)
        self.notify("CREATE", endpoint_id, gwi.name, gwo.name)
        return ep

    # -- from the kernel -----------------------------------------------------------------

    def drain(self, now: float) -> int:
        """Read what the kernel sent out of the devices and return it to the GWLB.

        Returns:
            Packets read.
        """
        total = 0
        batch = self.batch
        size = batch.size
        lens = batch.rx_lens
        views = self._views
        for _ in range(BATCHES_PER_DRAIN):
            n = 0
            owners: list[Endpoint] = []
            for device, ep in self._readers:
                read = device.read_into
                first = n
                octets = 0
                while n < size:
                    length = read(views[n])
                    if not length:
                        break
                    lens[n * 16 + MSG_LEN_INDEX] = length
                    octets += length
                    n += 1
                if n > first:
                    owners += [ep] * (n - first)
                    ep.out_packets += n - first
                    ep.out_bytes += octets
                    ep.last_packet = now
                if n == size:
                    break
            if n == 0:
                break
            total += n
            runs = self._encapsulate(owners, n)
            if runs:
                sent, failed = self.sender.send(batch, runs)
                self.engine.count_sent(sent, failed)
            if n < size:
                break
        return total

    def _encapsulate(self, owners: list[Endpoint], n: int) -> list[tuple[int, int]]:
        batch = self.batch
        data = batch.data
        names = batch.names
        lens = batch.rx_lens
        txl = batch.tx_lens
        entries = self.engine.table.entries
        routes = self.routes
        drops = self.engine.drops
        fast = _KERNEL.unpack_from
        pack = _REPLY.pack_into
        pack_gwlb = _REPLY_GWLB.pack_into
        address = _LOCAL.pack_into
        runs: list[tuple[int, int]] = []
        start = 0
        out_bytes = 0
        for i in range(n):
            ep = owners[i]
            length = lens[i * 16 + MSG_LEN_INDEX]
            p = i * SLOT + _READ_AT
            key: bytes | None = None
            if length >= _KERNEL.size:
                vihl, frag, proto, tup = fast(data, p)
                if vihl == 0x45 and proto in _FAST_PROTOCOLS and not frag & 0x3FFF:
                    key = ep.eid + proto + tup
            if key is None:
                key = _slow_key(data, p, p + length, ep.endpoint_id)
            half = route = None
            if key is not None:
                half = entries.get(key)
                route = routes.get(key)
            if half is None or route is None or half.action not in (0, PENDING):
                half, route, reason = _resolve(entries, routes, key, half, route)
            elif length < _ROOM:
                reason = -1
            else:
                reason = _SEND_FAILED if len(route[0]) + length > MAX_DATAGRAM else -1
            if reason >= 0 or route is None:
                drops[reason] += 1
                if i > start:
                    runs.append((start, i - start))
                start = i + 1
                continue
            header, gaddr, gport, local = route
            hl = len(header)
            size = hl + length
            at = i * SLOT + HEADER_AT + 12
            if hl == GWLB_HEADER_LENGTH:  # outer addresses, UDP header, GENEVE: one write
                pack_gwlb(data, at, local, gaddr, gport, GENEVE_PORT, size + 8, header)
            else:  # rare: move the packet to fit the header
                b = i * SLOT + HEADROOM
                data[b + hl : b + hl + length] = data[p : p + length].tobytes()
                data[b : b + hl] = header
                pack(data, at, local, gaddr, gport, GENEVE_PORT, size + 8)
            txl[i * 2 + 1] = size + 28
            address(names, i * NAME_SIZE + 4, gaddr)
            out_bytes += size
        if n > start:
            runs.append((start, n - start))
        self.bytes_out += out_bytes
        return runs

    # -- maintenance -------------------------------------------------------------------

    def maintain(self, now: float, budget: int = 2000) -> None:
        """Forget return routes of expired flows, remove idle endpoints, re-check sysctls."""
        if self._cursor >= len(self._walk):
            self._walk = list(self.routes)
            self._cursor = 0
        entries = self.engine.table.entries
        stop = min(len(self._walk), self._cursor + budget)
        for i in range(self._cursor, stop):
            key = self._walk[i]
            if key not in entries and reverse_key(key) not in entries:
                self.routes.pop(key, None)
        self._cursor = stop
        if self.idle_timeout > 0:
            for eid, ep in list(self.endpoints.items()):
                if now - ep.last_packet >= self.idle_timeout:
                    self._close(eid, ep)
        if self.guard is not None and now >= self._next_guard:
            self._next_guard = now + SYSCTL_CHECK_INTERVAL
            names = [d.name for ep in self.endpoints.values() for d in (ep.gwi, ep.gwo)]
            self.guard.check(names)

    def _close(self, eid: bytes, ep: Endpoint) -> None:
        del self.endpoints[eid]
        self._readers = [(d, e) for d, e in self._readers if e is not ep]
        for device in (ep.gwi, ep.gwo):
            if self._poller is not None and device.fileno() >= 0:
                with contextlib.suppress(OSError):
                    self._poller.unregister(device.fileno())
            device.close()
        self.notify("DESTROY", ep.endpoint_id, ep.gwi.name, ep.gwo.name)

    def close(self) -> None:
        """Remove every endpoint's devices (without notifying: the supervisor knows)."""
        for ep in self.endpoints.values():
            ep.gwi.close()
            ep.gwo.close()
        self.endpoints.clear()
        self._readers.clear()
        self.sender.close()

    def annotate(self, snap: dict[str, Any]) -> None:
        """Add the devices and their counters to a worker snapshot (in place)."""
        by_id = {ep.endpoint_id: ep for ep in self.endpoints.values()}
        for tunnel in snap["tunnels"]:
            ep = by_id.pop(tunnel["endpoint_id"], None)
            tunnel["interfaces"] = _interfaces(tunnel["endpoint_id"], ep)
        snap["bytes_out"] = self.bytes_out
        snap["tun"] = {
            "endpoints": len(self.endpoints),
            "routes": len(self.routes),
            "create_failures": self.create_failures,
            "sysctl_repairs": self.guard.repairs if self.guard is not None else 0,
        }


def _interfaces(endpoint_id: int, ep: Endpoint | None) -> dict[str, Any]:
    gwi, gwo = interface_names(endpoint_id)
    return {
        "in": gwi,
        "out": gwo,
        "present": ep is not None,
        "in_packets": ep.in_packets if ep else 0,
        "out_packets": ep.out_packets if ep else 0,
        "in_bytes": ep.in_bytes if ep else 0,
        "out_bytes": ep.out_bytes if ep else 0,
        "write_failed": ep.write_failed if ep else 0,
    }


def _resolve(
    entries: dict[bytes, Any],
    routes: dict[bytes, Route],
    key: bytes | None,
    half: Any,
    route: Route | None,
) -> tuple[Any, Route | None, int]:
    """The flow half, route and drop reason (-1: send) when the direct lookup fell short.

    The kernel's packet may travel the flow's opposite direction (a NATed reply), so
    the reverse key is tried for whatever the packet's own key did not find.
    """
    if key is None:
        return None, None, _MALFORMED
    if half is None or route is None:
        rkey = reverse_key(key)
        half = half or entries.get(rkey)
        route = route or routes.get(rkey)
    if half is not None and half.action not in (0, PENDING):
        return half, route, _POLICY
    if half is None or route is None:
        return half, route, _NO_FLOW
    return half, route, -1


def _slow_key(data: memoryview, start: int, end: int, endpoint_id: int) -> bytes | None:
    """Directional key of the inner packet at ``data[start:end]`` (None if unparseable)."""
    if start >= end:
        return None
    version = data[start] >> 4
    ethertype = ETHERTYPE_IPV4 if version == 4 else ETHERTYPE_IPV6
    try:
        return flow_key(endpoint_id, parse_inner(data, start, end, ethertype))
    except WireError:
        return None


def open_tun_path(
    engine: Engine, notify: Notify, *, batch_size: int, idle_timeout: float
) -> TunPath:
    """The tun path with the kernel's devices and a raw socket (the worker's choice)."""
    return TunPath(
        engine,
        KernelDevices(),
        RawSender(open_sender()),
        notify,
        batch_size=batch_size,
        idle_timeout=idle_timeout,
        guard=SysctlGuard(),
    )
