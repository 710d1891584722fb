"""An in-memory :class:`~appliance.control.provider.StatusProvider`, for tests and demos.

It holds a daemon's state as plain attributes (state, workers, counters, tunnels,
flow records, policy) that a test edits directly, builds the schema-v1 documents
from them, and records the admin actions it receives. Flow queries go through the
same :func:`~appliance.control.query.select_flows` a real daemon uses.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

from appliance.control.provider import FlowQuery
from appliance.control.query import flow_matches, select_flows
from appliance.errors import ApplianceError
from appliance.wire.drops import DropReason


class RefusedError(ApplianceError):
    """The fake refused an action, as a real daemon refuses a bad policy."""


def sample_flow(
    index: int,
    *,
    endpoint_id: str = "0x0123456789abcdef",
    src: str = "198.18.1.10",
    dst: str = "198.19.1.10",
    dport: int = 443,
    packets: int = 10,
    octets: int = 1500,
    last_seen: float = 1764433600.0,
    verdict: str = "allow",
) -> dict[str, Any]:
    """A ``gwlbd.flows/v1`` flow record, with ``sport`` 40000 + ``index``."""
    return {
        "worker": index % 2,
        "endpoint_id": endpoint_id,
        "attachment_id": "0x0000000000000000",
        "cookie": f"0x{0x1A2B3C00 + index:08x}",
        "family": 6 if ":" in src else 4,
        "protocol": 6,
        "src": src,
        "sport": 40000 + index,
        "dst": dst,
        "dport": dport,
        "verdict": verdict,
        "rule": "default" if verdict == "allow" else "static-deny",
        "domain": None,
        "packets": packets,
        "bytes": octets,
        "first_seen": last_seen - 100.0,
        "last_seen": last_seen,
    }


class FakeStatusProvider:
    """A StatusProvider whose state is whatever the test sets.

    Args:
        clock: returns "now" (Unix seconds); a fixed time by default so documents
            are reproducible.
    """

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self.clock = clock or (lambda: 1764433600.7)
        self.lock = threading.Lock()
        self.state = "serving"
        """``starting`` | ``serving`` | ``draining`` | ``degraded`` | ``stopping``."""
        self.started_at = 1764430000.5
        self.mode = "inline"
        self.workers: list[dict[str, Any]] = [
            {"index": i, "pid": 4242 + i, "alive": True, "restarts": 0, "heartbeat_age_s": 0.05,
             "packets_in": 1000, "packets_out": 990, "flows_active": 12}
            for i in range(2)
        ]  # fmt: skip
        self.counters: dict[str, int] = {
            "packets_in": 2000, "bytes_in": 300000, "packets_out": 1980, "bytes_out": 297000,
            "flows_active": 24, "flows_created": 40, "flows_expired": 16, "flows_evicted": 0,
            "worker_restarts": 0,
        }  # fmt: skip
        self.drops: dict[str, int] = {reason.value: 0 for reason in DropReason}
        self.tunnels: list[dict[str, Any]] = [
            {"endpoint_id": "0x0123456789abcdef", "attachment_ids": ["0x0000000000000000"],
             "packets_in": 1000, "bytes_in": 150000, "packets_out": 990, "bytes_out": 148500,
             "drops": 10, "flows_active": 12, "last_packet_at": 1764433600.1,
             "last_packet_age_s": 0.6, "interfaces": None}
        ]  # fmt: skip
        self.policy: dict[str, Any] = {
            "version": "static", "source": "builtin", "loaded_at": 1764430000.5,
            "default_action": "allow",
            "rules": [{"id": "static-deny", "action": "drop", "flows": 2, "packets": 20,
                       "bytes": 2000}],
            "last_error": None,
        }  # fmt: skip
        self.events: list[dict[str, Any]] = [
            {"at": 1764430000.5, "kind": "started", "message": "serving with 2 workers"}
        ]
        self.flow_records: list[dict[str, Any]] = []
        self.actions: list[str] = []
        """Admin actions received, in order (``drain``, ``policy``, ``flows_clear``, ...)."""
        self.pushed_policies: list[str] = []
        self.refuse_policy: str | None = None
        """When set, ``apply_policy`` and ``reload_policy`` refuse with this message."""

    def health(self) -> tuple[bool, str]:
        """Healthy when serving and every worker is alive."""
        with self.lock:
            if self.state != "serving":
                return False, self.state
            if not all(w.get("alive") for w in self.workers):
                return False, "degraded"
            return True, "ok"

    def status(self) -> dict[str, Any]:
        """The ``gwlbd.status/v1`` document of the current state."""
        healthy, _ = self.health()
        now = self.clock()
        with self.lock:
            return copy.deepcopy(
                {
                    "schema": "gwlbd.status/v1",
                    "version": "0.1.0",
                    "hostname": "fake-appliance",
                    "instance_id": "i-0123456789abcdef0",
                    "mode": self.mode,
                    "state": self.state,
                    "healthy": healthy,
                    "started_at": self.started_at,
                    "uptime_s": now - self.started_at,
                    "now": now,
                    "config": {"workers": len(self.workers), "gwlb_cidrs": ["198.18.0.0/24"],
                               "health_port": 80},
                    "workers": self.workers,
                    "counters": self.counters,
                    "drops": self.drops,
                    "tunnels": self.tunnels,
                    "policy": self.policy,
                    "events": self.events[-100:],
                }
            )  # fmt: skip

    def flows(self, query: FlowQuery) -> dict[str, Any]:
        """The ``gwlbd.flows/v1`` document for ``query``."""
        with self.lock:
            records = list(self.flow_records)
        return select_flows(records, query, now=self.clock())

    def _event(self, kind: str, message: str) -> None:
        self.actions.append(kind)
        self.events.append({"at": self.clock(), "kind": kind, "message": message})

    def drain(self) -> str:
        """Go to ``draining``."""
        with self.lock:
            self.state = "draining"
            self._event("drain", "draining: health answers 503")
        return "draining: health answers 503, traffic keeps flowing"

    def undrain(self) -> str:
        """Back to ``serving``."""
        with self.lock:
            self.state = "serving"
            self._event("undrain", "serving again")
        return "serving"

    def apply_policy(self, text: str) -> str:
        """Record the pushed document, or refuse it when ``refuse_policy`` is set."""
        with self.lock:
            if self.refuse_policy is not None:
                raise RefusedError(self.refuse_policy)
            self.pushed_policies.append(text)
            self._event("policy", f"policy pushed ({len(text)} bytes)")
        return f"policy applied ({len(text)} bytes)"

    def reload_policy(self) -> str:
        """Count a reload, or refuse it when ``refuse_policy`` is set."""
        with self.lock:
            if self.refuse_policy is not None:
                raise RefusedError(self.refuse_policy)
            self._event("policy_reload", "policy reloaded")
        return "policy reloaded"

    def clear_flows(self, query: FlowQuery) -> str:
        """Forget the flow records matching ``query``."""
        with self.lock:
            kept = [f for f in self.flow_records if not flow_matches(f, query)]
            cleared = len(self.flow_records) - len(kept)
            self.flow_records = kept
            self._event("flows_clear", f"cleared {cleared} flows")
        return f"cleared {cleared} flows"
