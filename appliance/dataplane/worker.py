"""A data-plane worker process: its own socket, flow table and engine, and a loop that never waits.

Workers share UDP 6081 with SO_REUSEPORT; the kernel keeps each flow (GWLB varies
the outer source port per flow) on one worker, so each worker owns its flows and
shares nothing on the packet path. The supervisor talks to a worker over a pipe
checked between batches: a new policy snapshot is swapped in whole, counters go up
in periodic snapshots, flow queries are answered from the worker's own table. The
worker writes a heartbeat (the time of its last loop turn) into shared memory so
the supervisor can tell a live loop from a stuck one.
"""

from __future__ import annotations

import gc
import heapq
import ipaddress
import logging
import os
import select
import signal
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from appliance.control.provider import FlowQuery
from appliance.control.query import format_endpoint_id
from appliance.dataplane.batch import Batch
from appliance.dataplane.engine import Engine, action_name
from appliance.dataplane.flowrecords import FlowRecorder
from appliance.dataplane.packetio import MmsgIO, PacketIO, PlainIO, batched_io_available
from appliance.dataplane.sockets import open_receiver, open_sender, open_udp_sender
from appliance.dataplane.tunpath import TunPath, open_tun_path
from appliance.flows.table import Flow, TableLimits
from appliance.policy.verdict import Policy
from appliance.wire.flowkey import describe_key

log = logging.getLogger(__name__)

STATS_INTERVAL = 0.5
"""Seconds between counter snapshots sent to the supervisor."""
MAINTAIN_INTERVAL = 0.1
"""Seconds between expiry sweeps."""
SWEEP_CYCLE = 10.0
"""A full expiry pass over the table takes about this long, whatever its size."""
PIPE_INTERVAL = 0.01
"""Seconds between looks at the supervisor pipe when the loop does not wait in epoll."""
FREEZE_INTERVAL = 1.0
"""Seconds between ``gc.freeze()`` calls in the worker loop."""
BATCHES_PER_TURN = 64
"""Batches drained before the loop looks at its pipe and clocks again."""


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """Everything a worker needs to start (picklable: workers are spawned)."""

    index: int
    listen: str
    port: int
    gwlb_cidrs: tuple[str, ...]
    limits: TableLimits
    batch_size: int
    io: str
    """``auto``, ``mmsg`` or ``plain``."""
    mode: str = "inline"
    """``inline``, or ``tun`` (allowed packets go to the kernel through gwi-/gwo- devices)."""
    tun_idle_timeout: float = 0.0
    """tun mode: seconds an endpoint may be idle before its devices go (0: never)."""
    flow_log_scope: str | None = None
    """``all`` or ``flagged`` to collect EVE flow records; None when flow logging is off."""
    flow_log_limit: int = 2000
    """Flow records shipped per snapshot at most (the rest are counted)."""
    priority: int = 0
    """SCHED_FIFO priority of the worker process (0: normal scheduling)."""


def flow_row(flow: Flow, worker: int) -> dict[str, Any]:
    """One flow as a ``gwlbd.flows/v1`` row."""
    parts = describe_key(flow.key)
    rev = flow.reverse
    return {
        "worker": worker,
        "endpoint_id": format_endpoint_id(parts.endpoint_id),
        "attachment_id": format_endpoint_id(flow.attachment_id),
        "cookie": f"0x{flow.cookie:08x}",
        "family": parts.family,
        "protocol": parts.protocol,
        "src": parts.src,
        "sport": parts.sport,
        "dst": parts.dst,
        "dport": parts.dport,
        "verdict": action_name(flow.action),
        "rule": flow.decision.rule_id,
        "domain": flow.domain,
        "packets": flow.packets + (rev.packets if rev else 0),
        "bytes": flow.bytes + (rev.bytes if rev else 0),
        "packets_toserver": flow.packets,
        "packets_toclient": rev.packets if rev else 0,
        "bytes_toserver": flow.bytes,
        "bytes_toclient": rev.bytes if rev else 0,
        "first_seen": flow.first_seen,
        "last_seen": flow.idle_since,
    }


def _matches(flow: Flow, query: FlowQuery) -> bool:
    if query.endpoint is None and query.addr is None and query.port is None:
        return True
    parts = describe_key(flow.key)
    if query.endpoint is not None and parts.endpoint_id != query.endpoint:
        return False
    if query.addr is not None:
        want = str(ipaddress.ip_address(query.addr))
        if want not in (parts.src, parts.dst):
            return False
    return query.port is None or query.port in (parts.sport, parts.dport)


def query_flows(engine: Engine, query: FlowQuery, worker: int) -> tuple[int, list[dict[str, Any]]]:
    """(matching count, top ``query.limit`` rows by the query's sort) of one worker."""
    matching = [f for f in engine.table.flows() if _matches(f, query)]
    if query.sort == "recent":
        top = heapq.nlargest(query.limit, matching, key=lambda f: f.idle_since)
    elif query.sort == "packets":
        top = heapq.nlargest(
            query.limit, matching, key=lambda f: f.packets + (f.reverse.packets if f.reverse else 0)
        )
    else:
        top = heapq.nlargest(
            query.limit, matching, key=lambda f: f.bytes + (f.reverse.bytes if f.reverse else 0)
        )
    return len(matching), [flow_row(f, worker) for f in top]


def snapshot(engine: Engine, index: int) -> dict[str, Any]:
    """The worker's counters, for the supervisor to add up."""
    tunnels = []
    bytes_in = 0
    for t in engine.tunnels:
        rules = {rule: [x.packets, x.bytes, x.drops] for rule, x in t.tallies.items()}
        p, b = t.packets_in, t.bytes_in
        bytes_in += b
        tunnels.append(
            {
                "endpoint_id": t.endpoint_id,
                "attachment_ids": sorted(t.attachments),
                "packets_in": p,
                "bytes_in": b,
                "drops": t.drops,
                "dropped_bytes": t.dropped_bytes,
                "flows_active": t.flows_active,
                "last_packet_at": t.last_packet,
                "rules": rules,
            }
        )
    table = engine.table
    return {
        "index": index,
        "pid": os.getpid(),
        "packets_in": engine.packets_received,
        "bytes_in": bytes_in + engine.unattributed_bytes,
        "packets_out": engine.packets_out,
        "bytes_out": engine.bytes_out,
        "drops": engine.drop_counts(),
        "flows_active": len(table),
        "flows_created": table.created,
        "flows_expired": table.expired,
        "flows_evicted": table.evicted,
        "tunnels": tunnels,
        "rule_flows": dict(engine.rule_flows),
        "policy_version": engine.policy.version,
    }


def reply_source(listen: str) -> bytes | None:
    """The fixed source address of replies when listening on one address, else None.

    On 0.0.0.0 each reply leaves from the address its datagram was sent to (IP_PKTINFO).
    """
    address = ipaddress.IPv4Address(listen)
    return None if address.is_unspecified else address.packed


def apply_priority(priority: int) -> str | None:
    """Run this process under SCHED_FIFO at ``priority`` (0: leave it alone).

    A worker that sleeps in the kernel until a datagram arrives is then woken ahead
    of every normal task on its CPU: the latency tail shrinks (the supervisor, which
    stays at normal priority, still gets the kernel's real-time remainder of a CPU
    when a worker is busy all the time). Returns why it could not be done, or None.
    """
    if priority <= 0:
        return None
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except OSError as exc:
        return f"cannot set SCHED_FIFO priority {priority} (needs CAP_SYS_NICE): {exc.strerror}"
    return None


def open_io(settings: WorkerSettings) -> PacketIO:
    """The worker's sockets behind the configured I/O implementation.

    Inline mode with batched I/O replies on a raw UDP socket and lets the kernel write
    the IPv4 header (cheaper per packet); tun mode and the plain fallback use the
    IP_HDRINCL socket, as the tun path's own sender does.
    """
    receiver = open_receiver(settings.listen, settings.port)
    batch = Batch(settings.batch_size)
    try:
        if settings.io == "plain" or (settings.io == "auto" and not batched_io_available()):
            return PlainIO(receiver, open_sender(), batch)
        if settings.mode != "inline":
            return MmsgIO(receiver, open_sender(), batch)
        sender = open_udp_sender(settings.listen)
    except Exception:
        receiver.close()
        raise
    batch.kernel_ip_header(source_from_pktinfo=reply_source(settings.listen) is None)
    return MmsgIO(receiver, sender, batch)


class Worker:
    """The loop of one worker process."""

    def __init__(
        self,
        settings: WorkerSettings,
        conn: Connection,
        heartbeats: Any,
        policy: Policy,
        io: PacketIO,
    ) -> None:
        self.settings = settings
        self.conn = conn
        self.heartbeats = heartbeats
        self.io = io
        self.recorder: FlowRecorder | None = None
        if settings.flow_log_scope is not None:
            self.recorder = FlowRecorder(
                settings.flow_log_scope, settings.flow_log_limit, self._policy_version
            )
        recorder = self.recorder
        self.engine: Engine = Engine(
            policy,
            gwlb_cidrs=settings.gwlb_cidrs,
            limits=settings.limits,
            on_flow_end=(lambda f, why: recorder.ended(f, why, time.time())) if recorder else None,
            on_denied=(lambda f: recorder.denied(f, time.time())) if recorder else None,
            reply_source=reply_source(settings.listen),
        )
        self.running = True
        self.tun: TunPath | None = None
        """The tun-mode path (None in inline mode)."""

    def _policy_version(self) -> str:
        return self.engine.policy.version

    def _handle(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "stop":
            self.running = False
        elif kind == "policy":
            _, policy, reevaluate = message
            changed = self.engine.set_policy(policy, reevaluate=reevaluate)
            self.conn.send(("policy-applied", policy.version, changed))
        elif kind == "sources":
            self.engine.set_sources(message[1])
        elif kind == "flows":
            _, request, query = message
            total, rows = query_flows(self.engine, query, self.settings.index)
            self.conn.send(("flows", request, total, rows))
        elif kind == "clear":
            _, request, query = message
            count = self.engine.table.clear(lambda f: _matches(f, query))
            self.conn.send(("cleared", request, count))
        else:  # pragma: no cover - a supervisor bug, never a packet
            log.error("unknown message %r", kind)

    def run(self) -> None:
        """Receive, decide, reply; between batches: pipe, heartbeat, stats, expiry."""
        io = self.io
        engine = self.engine
        batch = io.batch
        conn = self.conn
        index = self.settings.index
        tun = self.tun
        # Inline mode with batched I/O sleeps in recvmmsg itself; tun mode and the plain
        # fallback wait in epoll (tun mode has its devices to watch as well).
        waiting = io if tun is None and isinstance(io, MmsgIO) else None
        poller = select.epoll()
        poller.register(io.fileno(), select.EPOLLIN)
        poller.register(conn.fileno(), select.EPOLLIN)
        if tun is not None:
            tun.attach(poller)
        next_stats = next_maintain = next_freeze = next_pipe = 0.0
        conn_fd = conn.fileno()
        full = batch.size
        events: list[tuple[int, int]] = []
        busy = False
        """Whether the last turn found work: then epoll is skipped (the receive and the
        device reads below do not block, and there is surely more)."""
        try:
            while self.running:
                if waiting is not None:
                    n = waiting.receive_wait()
                else:
                    events = [] if busy else poller.poll(0.05)
                    n = io.receive()
                for turn in range(BATCHES_PER_TURN):
                    if turn:
                        n = io.receive()
                    if n == 0:
                        break
                    now = time.time()
                    runs = engine.process(batch, n, now)
                    if tun is not None:
                        tun.deliver(batch, runs, now)
                        # Read back what the kernel forwarded before writing more: a device's
                        # queue (txqueuelen, 500 by default) must not overflow while we
                        # are busy writing, or packets are lost after nearly all the work.
                        tun.drain(now)
                    elif runs:
                        sent, failed = io.send(runs)
                        engine.count_sent(sent, failed)
                    if n < full:
                        break  # the socket is drained: skip the empty receive, back to epoll
                busy = n == full  # a full batch: more is surely waiting
                if tun is not None:
                    busy = tun.drain(time.time()) >= tun.batch.size or busy
                mono = time.monotonic()
                self.heartbeats[index] = mono
                if mono >= next_pipe or any(fd == conn_fd for fd, _ in events):
                    while conn.poll():
                        self._handle(conn.recv())
                    next_pipe = mono + PIPE_INTERVAL
                if mono >= next_freeze:
                    # Objects that survived this long (flows, tallies) are long-lived:
                    # move them out of the cyclic collector's sight, so a collection
                    # never walks a million flows (a pause of a large fraction of a
                    # second). Flow cycles are broken explicitly when flows end.
                    gc.freeze()
                    next_freeze = mono + FREEZE_INTERVAL
                if mono >= next_maintain:
                    budget = max(
                        1000, int(len(engine.table.entries) * MAINTAIN_INTERVAL / SWEEP_CYCLE)
                    )
                    engine.maintain(time.time(), budget)
                    if tun is not None:
                        tun.maintain(time.time(), budget)
                    next_maintain = mono + MAINTAIN_INTERVAL
                if mono >= next_stats:
                    conn.send(("stats", self.snapshot()))
                    next_stats = mono + STATS_INTERVAL
            if self.recorder is not None:
                now = time.time()
                for flow in engine.table.flows():
                    self.recorder.ended(flow, "shutdown", now)
            conn.send(("stats", self.snapshot()))
        except (BrokenPipeError, EOFError):
            pass  # the supervisor is gone: nothing left to serve
        finally:
            poller.close()
            io.close()
            if tun is not None:
                tun.close()

    def snapshot(self) -> dict[str, Any]:
        """Counters for the supervisor (with the tun devices' in tun mode)."""
        snap = snapshot(self.engine, self.settings.index)
        if self.recorder is not None:
            snap["flow_records"], snap["flow_records_overflow"] = self.recorder.take()
        if self.tun is not None:
            self.tun.annotate(snap)
        return snap


def worker_main(
    settings: WorkerSettings, conn: Connection, heartbeats: Any, policy: Policy
) -> None:
    """Entry point of a spawned worker process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor decides when we stop
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    worker: Worker | None = None

    def stop(_signum: int, _frame: Any) -> None:
        if worker is not None:
            worker.running = False

    signal.signal(signal.SIGTERM, stop)
    try:
        io = open_io(settings)
    except Exception as exc:
        conn.send(("fatal", str(exc)))
        raise SystemExit(3) from exc
    refused = apply_priority(settings.priority)
    if refused is not None:  # the supervisor logs it (workers have no log handlers)
        conn.send(("warning", f"worker {settings.index}: {refused}; normal priority"))
    worker = Worker(settings, conn, heartbeats, policy, io)
    if settings.mode == "tun":
        try:
            worker.tun = open_tun_path(
                worker.engine,
                lambda action, eid, gwi, gwo: conn.send(("tunnel", action, eid, gwi, gwo)),
                batch_size=settings.batch_size,
                idle_timeout=settings.tun_idle_timeout,
            )
        except Exception as exc:
            io.close()
            conn.send(("fatal", str(exc)))
            raise SystemExit(3) from exc
    worker.run()
