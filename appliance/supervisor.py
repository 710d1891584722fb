"""The supervisor process: starts and watches the workers, adds their counters up, serves control.

It implements :class:`~appliance.control.provider.StatusProvider` for the control
plane. Health is real: ``serving`` only while every worker is alive and its loop
has turned within :data:`STALE_AFTER` seconds; a dead or stuck worker is replaced
(and counted) and health says ``degraded`` until its replacement runs. Counters
survive worker restarts: a worker's last snapshot is folded into retired totals.
"""

from __future__ import annotations

import collections
import itertools
import logging
import multiprocessing
import multiprocessing.connection
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from appliance import __version__
from appliance.config import Config
from appliance.control.provider import FlowQuery
from appliance.control.query import format_endpoint_id
from appliance.dataplane.hooks import HookRunner, TunnelHooks
from appliance.dataplane.worker import WorkerSettings, worker_main
from appliance.errors import ApplianceError
from appliance.flowlog import FlowLogWriter
from appliance.flows.table import TableLimits
from appliance.policy.manager import PolicyManager
from appliance.policy.matcher import CompiledPolicy
from appliance.policy.static import FailClosedPolicy, StaticPolicy
from appliance.policy.verdict import Action, Policy
from appliance.recipes import hook_commands
from appliance.wire.drops import DropReason

log = logging.getLogger(__name__)

STALE_AFTER = 3.0
"""A worker whose loop has not turned for this long is not healthy."""
KILL_AFTER = 10.0
"""A worker stuck this long is killed and replaced."""
QUERY_TIMEOUT = 2.0
"""How long a flow query waits for the workers' answers."""
_COUNTERS = ("packets_in", "bytes_in", "packets_out", "bytes_out")
_FLOW_COUNTERS = ("flows_created", "flows_expired", "flows_evicted")


@dataclass
class WorkerHandle:
    """The supervisor's view of one worker slot."""

    index: int
    process: Any = None
    conn: Any = None
    send_lock: threading.Lock = field(default_factory=threading.Lock)
    started_at: float = 0.0
    restarts: int = 0
    snapshot: dict[str, Any] | None = None
    fatal: str | None = None

    def alive(self) -> bool:
        """Whether the process runs."""
        return self.process is not None and self.process.is_alive()

    def send(self, message: tuple[Any, ...]) -> bool:
        """Send to the worker; False if it is gone."""
        if self.conn is None:
            return False
        try:
            with self.send_lock:
                self.conn.send(message)
        except (BrokenPipeError, OSError):
            return False
        return True


@dataclass
class PolicyState:
    """The policy in force and where it came from."""

    policy: Policy
    source: str
    loaded_at: float
    default_action: str
    last_error: dict[str, Any] | None = None


class Supervisor:
    """Owns the worker processes and everything the control plane reports."""

    def __init__(
        self,
        config: Config,
        *,
        manager: PolicyManager | None = None,
        flow_log: FlowLogWriter | None = None,
    ) -> None:
        self.config = config
        self.manager = manager
        """Where policy documents come from; None: the built-in policy only."""
        self.flow_log = flow_log
        self.flow_log_overflow = 0
        """Flow records the workers could not ship (beyond their per-snapshot bound)."""
        self._ctx = multiprocessing.get_context("spawn")
        # tun mode: one worker owns every flow and device, because the kernel hands a
        # packet leaving gwo-X to whoever reads the device, not to the flow's worker.
        count = 1 if config.mode == "tun" else config.workers
        self._heartbeats = self._ctx.Array("d", count, lock=False)
        self.workers = [WorkerHandle(i) for i in range(count)]
        self._lock = threading.RLock()
        self._retired: collections.Counter[str] = collections.Counter()
        self._retired_drops: collections.Counter[str] = collections.Counter()
        self._retired_tunnels: dict[int, collections.Counter[str]] = {}
        self._retired_rules: dict[str, collections.Counter[str]] = {}
        self.started_at = time.time()
        self._state = "starting"
        self.draining = False
        self.leaving = False
        """Shutting down: health says ``stopping`` while workers still forward (the grace)."""
        self.stopping = False
        self.events: collections.deque[dict[str, Any]] = collections.deque(maxlen=100)
        self._requests = itertools.count(1)
        self._answers: dict[int, list[tuple[Any, ...]]] = {}
        self._answered = threading.Condition(self._lock)
        self._collector: threading.Thread | None = None
        self.policy = builtin_policy(config, self.started_at)
        self.instance_id = os.environ.get("GWLBD_INSTANCE_ID")
        self.tunnel_hooks: TunnelHooks | None = None
        if config.mode == "tun":
            create, destroy = hook_commands(
                config.tun_recipe, config.tun_create_hook, config.tun_destroy_hook
            )
            runner = HookRunner(create, destroy, config.tun_hook_timeout, self.event)
            self.tunnel_hooks = TunnelHooks(runner, self.event)

    # -- lifecycle -----------------------------------------------------------------------

    def event(self, kind: str, message: str, **extra: Any) -> None:
        """Record a daemon event (shown in /status and logged)."""
        self.events.append({"at": time.time(), "kind": kind, "message": message})
        log.info(message, extra={"event": kind, **extra})

    def _settings(self, index: int) -> WorkerSettings:
        c = self.config
        return WorkerSettings(
            index=index,
            listen=c.listen,
            port=c.port,
            gwlb_cidrs=c.gwlb_cidrs,
            limits=TableLimits(c.tcp_timeout, c.other_timeout, c.max_flows),
            batch_size=c.batch_size,
            io=c.io,
            mode=c.mode,
            tun_idle_timeout=c.tun_idle_timeout,
            flow_log_scope=c.flow_log_scope if self.flow_log is not None else None,
            priority=c.worker_priority,
        )

    def _spawn(self, handle: WorkerHandle) -> None:
        parent, child = self._ctx.Pipe(duplex=True)
        self._heartbeats[handle.index] = 0.0
        process = self._ctx.Process(
            target=worker_main,
            args=(self._settings(handle.index), child, self._heartbeats, self.policy.policy),
            name=f"gwlbd-worker-{handle.index}",
            daemon=True,
        )
        process.start()
        child.close()
        with self._lock:
            if handle.snapshot is not None:
                self._retire(handle.snapshot)
            handle.process, handle.conn = process, parent
            handle.snapshot = None
            handle.fatal = None
            handle.started_at = time.monotonic()

    def start(self) -> None:
        """Spawn every worker and the thread that collects their messages."""
        for handle in self.workers:
            self._spawn(handle)
        self._collector = threading.Thread(target=self._collect, name="collector", daemon=True)
        self._collector.start()
        self.event("started", f"gwlbd {__version__} starting {len(self.workers)} workers")
        if self.config.mode == "tun" and self.config.workers != len(self.workers):
            self.event(
                "tun-workers",
                f"tun mode runs one data-plane worker ({self.config.workers} configured): "
                "the kernel cannot hand a gwo packet to the worker that owns its flow",
            )

    def _retire(self, snap: dict[str, Any]) -> None:
        for name in (*_COUNTERS, *_FLOW_COUNTERS):
            self._retired[name] += snap.get(name, 0)
        self._retired_drops.update(snap.get("drops", {}))
        for tunnel in snap.get("tunnels", []):
            acc = self._retired_tunnels.setdefault(tunnel["endpoint_id"], collections.Counter())
            acc["packets_in"] += tunnel["packets_in"]
            acc["bytes_in"] += tunnel["bytes_in"]
            acc["drops"] += tunnel["drops"]
            acc["dropped_bytes"] += tunnel.get("dropped_bytes", 0)
            for rule, (packets, octets, drops) in tunnel["rules"].items():
                racc = self._retired_rules.setdefault(rule, collections.Counter())
                racc["packets"] += packets
                racc["bytes"] += octets
                racc["drops"] += drops

    def _collect(self) -> None:
        while not self.stopping or any(h.alive() for h in self.workers):
            conns = {h.conn: h for h in self.workers if h.conn is not None}
            if not conns:
                time.sleep(0.1)
                continue
            for ready in multiprocessing.connection.wait(list(conns), timeout=0.2):
                handle = conns[ready]
                conn: Connection = handle.conn
                try:
                    message: tuple[Any, ...] = conn.recv()
                except (EOFError, OSError):
                    with self._lock:
                        if handle.conn is conn:
                            handle.conn = None
                    continue
                self._dispatch(handle, message)

    def _dispatch(self, handle: WorkerHandle, message: tuple[Any, ...]) -> None:
        kind = message[0]
        with self._lock:
            if kind == "stats":
                snap = message[1]
                records = snap.pop("flow_records", None)
                self.flow_log_overflow += snap.pop("flow_records_overflow", 0)
                if records and self.flow_log is not None:
                    for record in records:
                        self.flow_log.write(record)
                handle.snapshot = snap
            elif kind in ("flows", "cleared"):
                self._answers.setdefault(message[1], []).append(message)
                self._answered.notify_all()
            elif kind == "fatal":
                handle.fatal = message[1]
            elif kind == "warning":
                log.warning("%s", message[1])
            elif kind == "policy-applied":
                pass
            elif kind == "tunnel" and self.tunnel_hooks is not None:
                _, action, endpoint_id, gwi, gwo = message
                self.tunnel_hooks.on_message(handle.index, action, endpoint_id, gwi, gwo)

    def supervise_once(self) -> None:
        """Replace dead or stuck workers and update the state; called about every 0.5 s."""
        now = time.monotonic()
        for handle in self.workers:
            if self.stopping:
                break
            beat = self._heartbeats[handle.index]
            if handle.alive() and beat and now - beat > KILL_AFTER:
                self.event("worker-stuck", f"worker {handle.index} stuck; killing it")
                handle.process.kill()
                handle.process.join(2)
            if not handle.alive() and handle.process is not None:
                code = handle.process.exitcode
                why = f": {handle.fatal}" if handle.fatal else ""
                handle.restarts += 1
                self.event(
                    "worker-restart",
                    f"worker {handle.index} exited with {code}{why}; restarting",
                )
                if handle.restarts > 3:
                    time.sleep(min(5.0, 0.2 * handle.restarts))  # do not spin on a crash loop
                if self.tunnel_hooks is not None:
                    self.tunnel_hooks.worker_gone(handle.index)
                self._spawn(handle)
        previous = self._state
        self._state = self._compute_state()
        if self._state != previous:
            self.event("state", f"state {previous} -> {self._state}")

    def _compute_state(self) -> str:
        if self.stopping or self.leaving:
            return "stopping"
        now = time.monotonic()
        ready = all(
            h.alive()
            and self._heartbeats[h.index]
            and now - self._heartbeats[h.index] < STALE_AFTER
            for h in self.workers
        )
        if not ready:
            never_ran = all(h.restarts == 0 for h in self.workers)
            return "starting" if never_ran and self._state == "starting" else "degraded"
        return "draining" if self.draining else "serving"

    def stop(self, timeout: float = 5.0) -> None:
        """Stop every worker (politely, then by force) within ``timeout`` seconds."""
        self.stopping = True
        self._state = "stopping"
        for handle in self.workers:
            handle.send(("stop",))
        deadline = time.monotonic() + timeout
        for handle in self.workers:
            if handle.process is not None:
                handle.process.join(max(0.0, deadline - time.monotonic()))
                if handle.process.is_alive():
                    handle.process.kill()
                    handle.process.join(1)
        if self._collector is not None:
            self._collector.join(1)
        if self.tunnel_hooks is not None:
            self.tunnel_hooks.shutdown(self.config.tun_hook_timeout + 1.0)
        self.event("stopped", "all workers stopped")

    # -- policy --------------------------------------------------------------------------

    def set_policy(self, policy: Policy, source: str, *, reevaluate: bool, default: str) -> None:
        """Make ``policy`` the one in force in every worker (swapped between batches)."""
        with self._lock:
            self.policy = PolicyState(policy, source, time.time(), default)
        for handle in self.workers:
            handle.send(("policy", policy, reevaluate))
        self.event("policy-loaded", f"policy {policy.version} from {source} in force")

    def set_sources(self, cidrs: tuple[str, ...]) -> None:
        """Replace the allowed GWLB source networks in every worker."""
        for handle in self.workers:
            handle.send(("sources", cidrs))

    # -- StatusProvider ------------------------------------------------------------------

    def health(self) -> tuple[bool, str]:
        state = self._state
        return (state == "serving", "ok" if state == "serving" else state)

    def drain(self) -> str:
        self.draining = True
        self._state = self._compute_state()
        self.event("drain", "draining: health answers 503, traffic still flows")
        return self._state

    def undrain(self) -> str:
        self.draining = False
        self._state = self._compute_state()
        self.event("undrain", "drain ended")
        return self._state

    def install(self, compiled: CompiledPolicy, origin: str) -> None:
        """Put a compiled document in force (re-deciding flows if its settings say so)."""
        self.set_policy(
            compiled,
            origin,
            reevaluate=compiled.settings.reevaluate_on_change,
            default=compiled.default_action.name.lower(),
        )

    def apply_policy(self, text: str) -> str:
        if self.manager is None:  # pragma: no cover - the daemon always builds a manager
            raise ApplianceError("this daemon takes no policy documents")
        compiled = self.manager.apply_text(text, "admin push")
        self.install(compiled, "admin push")
        return f"policy {compiled.version} in force"

    def reload_policy(self) -> str:
        if self.manager is None:  # pragma: no cover - the daemon always builds a manager
            raise ApplianceError("this daemon takes no policy documents")
        compiled = self.manager.reload(time.time())
        if compiled is None:
            current = self.manager.current()
            return f"policy {current.version if current else '(none)'} unchanged"
        self.install(compiled, self.manager.source.name if self.manager.source else "source")
        return f"policy {compiled.version} in force"

    def _ask(self, message: Callable[[int], tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        request = next(self._requests)
        asked = sum(1 for h in self.workers if h.alive() and h.send(message(request)))
        deadline = time.monotonic() + QUERY_TIMEOUT
        with self._lock:
            while len(self._answers.get(request, [])) < asked:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._answered.wait(left)
            return self._answers.pop(request, [])

    def flows(self, query: FlowQuery) -> dict[str, Any]:
        answers = self._ask(lambda r: ("flows", r, query))
        total = sum(a[2] for a in answers)
        rows = [row for a in answers for row in a[3]]
        if query.sort == "recent":
            rows.sort(key=lambda f: f["last_seen"], reverse=True)
        else:
            rows.sort(key=lambda f: f[query.sort], reverse=True)
        return {
            "schema": "gwlbd.flows/v1",
            "now": time.time(),
            "total": total,
            "flows": rows[: query.limit],
        }

    def clear_flows(self, query: FlowQuery) -> str:
        answers = self._ask(lambda r: ("clear", r, query))
        count = sum(a[2] for a in answers)
        self.event("flows-cleared", f"cleared {count} flows")
        return f"cleared {count} flows"

    def status(self) -> dict[str, Any]:
        now = time.time()
        mono = time.monotonic()
        with self._lock:
            snaps = [h.snapshot for h in self.workers if h.snapshot is not None]
            counters = collections.Counter(self._retired)
            drops = collections.Counter({r.value: 0 for r in DropReason})
            drops.update(self._retired_drops)
            tunnels: dict[int, dict[str, Any]] = {}
            rules: dict[str, collections.Counter[str]] = {
                k: collections.Counter(v) for k, v in self._retired_rules.items()
            }
            for eid, acc in self._retired_tunnels.items():
                tunnels[eid] = _tunnel_doc(eid, acc)
            flows_active = 0
            for snap in snaps:
                for name in (*_COUNTERS, *_FLOW_COUNTERS):
                    counters[name] += snap[name]
                drops.update(snap["drops"])
                flows_active += snap["flows_active"]
                for t in snap["tunnels"]:
                    doc = tunnels.setdefault(
                        t["endpoint_id"], _tunnel_doc(t["endpoint_id"], collections.Counter())
                    )
                    doc["packets_in"] += t["packets_in"]
                    doc["bytes_in"] += t["bytes_in"]
                    doc["drops"] += t["drops"]
                    doc["_dropped_bytes"] += t.get("dropped_bytes", 0)
                    doc["flows_active"] += t["flows_active"]
                    doc["last_packet_at"] = max(doc["last_packet_at"] or 0.0, t["last_packet_at"])
                    doc["_attachments"].update(t["attachment_ids"])
                    if t.get("interfaces") is not None:
                        doc["interfaces"] = t["interfaces"]
                    for rule, (packets, octets, rdrops) in t["rules"].items():
                        acc = rules.setdefault(rule, collections.Counter())
                        acc["packets"] += packets
                        acc["bytes"] += octets
                        acc["drops"] += rdrops
                for rule, count in snap["rule_flows"].items():
                    rules.setdefault(rule, collections.Counter())["flows"] += count
            workers = [
                {
                    "index": h.index,
                    "pid": h.process.pid if h.process is not None else None,
                    "alive": h.alive(),
                    "restarts": h.restarts,
                    "heartbeat_age_s": round(mono - self._heartbeats[h.index], 3)
                    if self._heartbeats[h.index]
                    else None,
                    "packets_in": h.snapshot["packets_in"] if h.snapshot else 0,
                    "packets_out": h.snapshot["packets_out"] if h.snapshot else 0,
                    "flows_active": h.snapshot["flows_active"] if h.snapshot else 0,
                }
                for h in self.workers
            ]
            policy = self.policy
        tunnel_docs = []
        for doc in tunnels.values():
            attachments = doc.pop("_attachments")
            doc["attachment_ids"] = [format_endpoint_id(a) for a in sorted(attachments)]
            doc["packets_out"] = max(0, doc["packets_in"] - doc["drops"])
            if doc["interfaces"] is not None:  # tun mode: what the kernel sent back
                doc["packets_out"] = doc["interfaces"]["out_packets"]
            doc["bytes_out"] = max(0, doc["bytes_in"] - doc.pop("_dropped_bytes"))
            last = doc["last_packet_at"]
            doc["last_packet_age_s"] = round(now - last, 3) if last else None
            tunnel_docs.append(doc)
        tunnel_docs.sort(key=lambda d: d["endpoint_id"])
        healthy, _ = self.health()
        c = self.config
        return {
            "schema": "gwlbd.status/v1",
            "version": __version__,
            "hostname": socket.gethostname(),
            "instance_id": self.instance_id,
            "mode": c.mode,
            "state": self._state,
            "healthy": healthy,
            "started_at": self.started_at,
            "uptime_s": round(now - self.started_at, 3),
            "now": now,
            "config": {
                "workers": c.workers,
                "gwlb_cidrs": list(c.gwlb_cidrs),
                "health_port": c.health_port,
                "listen": c.listen,
                "tcp_timeout": c.tcp_timeout,
                "other_timeout": c.other_timeout,
                "max_flows": c.max_flows,
            },
            "workers": workers,
            "counters": {
                **{name: counters[name] for name in (*_COUNTERS, *_FLOW_COUNTERS)},
                "flows_active": flows_active,
                "worker_restarts": sum(h.restarts for h in self.workers),
            },
            "drops": dict(drops),
            "tunnels": tunnel_docs,
            "policy": self._policy_section(policy, rules),
            "flow_log": self._flow_log_section(),
            "events": list(self.events),
        }

    def _policy_section(
        self, policy: PolicyState, rules: dict[str, collections.Counter[str]]
    ) -> dict[str, Any]:
        hits = {r: (a["flows"], a["packets"], a["bytes"]) for r, a in rules.items() if r}
        if self.manager is not None and self.manager.current() is not None:
            section = self.manager.status(hits)
            if self.manager.current() is not policy.policy:
                section["note"] = "a new version is being distributed to the workers"
            return section
        section = {
            "version": policy.policy.version,
            "source": policy.source,
            "loaded_at": policy.loaded_at,
            "default_action": policy.default_action,
            "rules": [
                {
                    "id": rule,
                    "action": _rule_action(rule),
                    "flows": flows,
                    "packets": packets,
                    "bytes": octets,
                }
                for rule, (flows, packets, octets) in sorted(hits.items())
            ],
            "last_error": policy.last_error,
        }
        if self.manager is not None:  # refusals and the configured source, before any load
            manager = self.manager.status({})
            section["last_error"] = manager["last_error"]
            section["refused"] = manager["refused"]
            section["configured_source"] = manager["configured_source"]
        return section

    def _flow_log_section(self) -> dict[str, Any] | None:
        if self.flow_log is None:
            return None
        return {**self.flow_log.counters(), "overflow": self.flow_log_overflow}


def builtin_policy(config: Config, now: float) -> PolicyState:
    """The policy in force before any document is loaded (``no_policy`` setting)."""
    if config.no_policy == "fail-closed":
        return PolicyState(FailClosedPolicy(), "builtin (fail-closed)", now, "drop")
    return PolicyState(
        StaticPolicy(config.deny_cidrs, version="static"),
        "builtin (deny list)" if config.deny_cidrs else "builtin",
        now,
        "allow",
    )


def _tunnel_doc(endpoint_id: int, acc: collections.Counter[str]) -> dict[str, Any]:
    return {
        "endpoint_id": format_endpoint_id(endpoint_id),
        "attachment_ids": [],
        "_attachments": set(),
        "packets_in": acc["packets_in"],
        "bytes_in": acc["bytes_in"],
        "packets_out": 0,
        "bytes_out": 0,
        "_dropped_bytes": acc["dropped_bytes"],
        "drops": acc["drops"],
        "flows_active": 0,
        "last_packet_at": None,
        "last_packet_age_s": None,
        "interfaces": None,
    }


def _rule_action(rule: str) -> str:
    if rule in ("static-deny", "no-policy"):
        return Action.DROP.name.lower()
    return Action.ALLOW.name.lower()
