"""An in-memory data source: a deterministic simulated fleet for tests, screenshots and benchmarks.

The clock is simulated: every :meth:`FakeSource.fetch` advances it by ``tick``
seconds, and every counter grows by a fixed amount per tick, so two runs with the
same arguments see the same snapshots (what SVG snapshot tests need).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from appliance.wire.drops import DropReason
from tui.errors import ActionError
from tui.model import (
    AdminAction,
    FetchRequest,
    InstanceInfo,
    Json,
    LifecycleEvent,
    Member,
    Snapshot,
)

EPOCH = 1_764_433_600.0
"""Simulated start time (2025-11-29 16:26:40 UTC)."""

_DROP_REASONS = tuple(r.value for r in DropReason)
DEMO_POLICY = """\
apiVersion: gwlbd.policy/v1
version: "v7"
settings: {defaultAction: drop}
rules:
  - id: deny-ssh
    action: drop
    match: {protocol: tcp, dstPort: [22]}
  - id: allow-web
    action: allow
    match: {protocol: tcp, dstPort: [443]}
  - id: allow-http
    action: allow
    match: {protocol: tcp, dstPort: [80]}
  - id: allow-dns
    action: allow
    match: {protocol: udp, dstPort: [53]}
"""
"""The policy document the simulated fleet runs (its rule ids match the fake counters)."""

_AZS = ("us-east-1a", "us-east-1b", "us-east-1c")
_RULES = (
    ("allow-web", "allow", 443),
    ("allow-http", "allow", 80),
    ("allow-dns", "allow", 53),
    ("deny-ssh", "drop", 22),
)


@dataclass
class FakeInstance:
    """One simulated appliance."""

    instance_id: str
    index: int
    unreachable: bool = False
    """Its status API never answers (shown as unreachable)."""
    delay_s: float = 0.0
    """Real seconds its status API takes to answer (a slow instance)."""
    state: str = "serving"
    lifecycle_state: str = "InService"
    target_health: str = "healthy"
    policy_version: str = "v7"
    flow_count: int = 40
    mode: str = "inline"


@dataclass
class FakeSource:
    """A simulated fleet (or lone appliance) for tests and benchmarks.

    Args:
        instances: the simulated appliances.
        tick: simulated seconds per fetch.
        fleet: label as an ASG (True) or as a lone appliance (False).
        sleep: how to wait for a slow instance (injectable for tests).
    """

    instances: list[FakeInstance]
    tick: float = 1.0
    fleet: bool = True
    desired_policy: str = "v7"
    sleep: Any = time.sleep
    performed: list[AdminAction] = field(default_factory=list)
    """Every action carried out, in order."""
    fetches: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def fleet_of(
        cls,
        count: int = 4,
        *,
        flows: int = 40,
        unreachable: tuple[int, ...] = (),
        slow: tuple[int, ...] = (),
        delay_s: float = 0.5,
    ) -> FakeSource:
        """A fleet of ``count`` instances; indexes in ``unreachable``/``slow`` misbehave."""
        instances = [
            FakeInstance(
                instance_id=f"i-{0x0A000 + i:017x}",
                index=i,
                unreachable=i in unreachable,
                delay_s=delay_s if i in slow else 0.0,
                flow_count=flows,
                mode="tun" if i % 2 else "inline",
            )
            for i in range(count)
        ]
        if count > 2:
            instances[-1].lifecycle_state = "Pending:Wait"
            instances[-1].target_health = "initial"
            instances[-1].policy_version = "v6"
        return cls(instances)

    @classmethod
    def single(cls, flows: int = 40) -> FakeSource:
        """One appliance, as ``--appliance`` would show it."""
        return cls([FakeInstance("i-0123456789abcdef0", 0, flow_count=flows)], fleet=False)

    @property
    def label(self) -> str:
        """``fake asg`` or ``fake appliance``."""
        return "fake asg demo-gwlb" if self.fleet else "fake appliance"

    @property
    def now(self) -> float:
        """The simulated time of the latest fetch."""
        return EPOCH + self.fetches * self.tick

    def fetch(self, request: FetchRequest) -> Snapshot:
        """Produce the next simulated snapshot (advances the clock by one tick)."""
        with self._lock:
            self.fetches += 1
            now = self.now
        members: list[Member] = []
        for inst in self.instances:
            if inst.delay_s:
                self.sleep(inst.delay_s)
            info = InstanceInfo(
                instance_id=inst.instance_id,
                target=f"http://10.0.{inst.index // 250}.{inst.index % 250 + 10}:80",
                az=_AZS[inst.index % 3],
                private_ip=f"10.0.{inst.index // 250}.{inst.index % 250 + 10}",
                lifecycle_state=inst.lifecycle_state if self.fleet else None,
                managed_state="in_service" if self.fleet else None,
                last_action="complete_lifecycle CONTINUE" if self.fleet else None,
                target_health=inst.target_health if self.fleet else None,
                src_dst_check=False if self.fleet else None,
                desired_policy=self.desired_policy if self.fleet else None,
            )
            if inst.unreachable:
                members.append(Member(info, error="timeout"))
                continue
            flows = None
            if request.flows_of == inst.instance_id:
                flows = _flows_doc(inst, now, request.flows_limit)
            members.append(Member(info, _status_doc(inst, now), flows, None, inst.delay_s))
        events = tuple(
            LifecycleEvent(EPOCH - 600 + 30 * i + k, inst.instance_id, state, reason)
            for i, inst in enumerate(self.instances)
            for k, (state, reason) in enumerate(
                (("pending", "launch hook"), ("in_service", "target healthy"))
            )
        )
        policy_state = {
            "pk": "POLICY#/gwlbd/policy",
            "parameter": "/gwlbd/policy",
            "desired_version": "12",
            "desired_label": self.desired_policy,
            "live_version": self.desired_policy,
            "updated_at": "2025-11-29T16:20:00+00:00",
            "last_error": None,
        }
        return Snapshot(
            taken_at=now,
            source=self.label,
            members=tuple(members),
            lifecycle_events=events if self.fleet else (),
            policy_state=policy_state if self.fleet else None,
        )

    def perform(self, action: AdminAction) -> str:
        """Apply the action to the simulated instance and record it."""
        inst = next((i for i in self.instances if i.instance_id == action.instance_id), None)
        if inst is None or inst.unreachable:
            raise ActionError(f"{action.describe()}: unreachable")
        self.performed.append(action)
        if action.kind == "drain":
            inst.state = "draining"
            inst.target_health = "draining"
            return "draining"
        if action.kind == "undrain":
            inst.state = "serving"
            inst.target_health = "healthy"
            return "serving"
        if action.kind == "reload_policy":
            inst.policy_version = self.desired_policy
            return f"policy {self.desired_policy} loaded"
        return "cleared 1 flow"

    def close(self) -> None:
        """Nothing to release."""


def _status_doc(inst: FakeInstance, now: float) -> Json:
    t = round(now - EPOCH)
    i = inst.index
    pin = 100_000 * (i + 1) + t * (900 + 37 * i)
    drops = dict.fromkeys(_DROP_REASONS, 0)
    drops["policy"] = 50 * (i + 1) + t * (3 + i % 4)
    drops["mid_flow"] = 2 * i + t % 3
    pout = pin - sum(drops.values())
    endpoints = []
    for e in range(2):
        ep_in = pin // 2 + e * 10
        interfaces = None
        eid = f"0x{0x0E5E0000 + 0x100 * i + e:016x}"
        if inst.mode == "tun":
            interfaces = {
                "in": f"gwi-{eid[2:]}",
                "out": f"gwo-{eid[2:]}",
                "in_packets": ep_in,
                "out_packets": ep_in - 5,
            }
        endpoints.append(
            {
                "endpoint_id": eid,
                "attachment_ids": [f"0x{0xA7 + e:016x}"],
                "packets_in": ep_in,
                "bytes_in": ep_in * 640,
                "packets_out": ep_in - 5 * (e + 1),
                "bytes_out": (ep_in - 5 * (e + 1)) * 640,
                "drops": drops["policy"] // 2,
                "flows_active": inst.flow_count // 2,
                "last_packet_at": now - 0.2 * (e + 1),
                "last_packet_age_s": 0.2 * (e + 1),
                "interfaces": interfaces,
            }
        )
    rules = [
        {
            "id": rid,
            "action": action,
            "flows": inst.flow_count // 4,
            "packets": 1000 * (k + 1) + t * (10 + k),
            "bytes": 640_000 * (k + 1) + t * 6400,
        }
        for k, (rid, action, _) in enumerate(_RULES)
    ]
    events = [
        {"at": EPOCH - 3600, "kind": "started", "message": "serving with 2 workers"},
        {"at": EPOCH - 1800, "kind": "policy_loaded", "message": f"policy {inst.policy_version}"},
    ]
    if inst.state == "draining":
        events.append({"at": now, "kind": "drain", "message": "draining on admin request"})
    return {
        "schema": "gwlbd.status/v1",
        "version": "0.1.0",
        "hostname": f"ip-10-0-0-{i + 10}",
        "instance_id": inst.instance_id,
        "mode": inst.mode,
        "state": inst.state,
        "healthy": inst.state == "serving",
        "started_at": EPOCH - 3600,
        "uptime_s": now - EPOCH + 3600,
        "now": now,
        "config": {"workers": 2, "gwlb_cidrs": ["10.0.0.0/16"], "health_port": 80},
        "workers": [
            {
                "index": w,
                "pid": 4242 + w,
                "alive": True,
                "restarts": 0,
                "heartbeat_age_s": 0.05,
                "packets_in": pin // 2,
                "packets_out": pout // 2,
                "flows_active": inst.flow_count // 2,
            }
            for w in range(2)
        ],
        "counters": {
            "packets_in": pin,
            "bytes_in": pin * 640,
            "packets_out": pout,
            "bytes_out": pout * 640,
            "flows_active": inst.flow_count,
            "flows_created": inst.flow_count + t,
            "flows_expired": t,
            "flows_evicted": 0,
            "worker_restarts": 0,
        },
        "drops": drops,
        "tunnels": endpoints,
        "policy": {
            "version": inst.policy_version,
            "source": "ssm:/gwlbd/policy",
            "loaded_at": EPOCH - 1800,
            "default_action": "drop",
            "rules": rules,
            "last_error": None,
        },
        "events": events,
    }


def _flows_doc(inst: FakeInstance, now: float, limit: int) -> Json:
    t = round(now - EPOCH)
    flows = []
    for n in range(min(inst.flow_count, limit)):
        rid, action, dport = _RULES[n % 4]
        packets = 10 + n % 97 + t * (n % 5)
        flows.append(
            {
                "worker": n % 2,
                "endpoint_id": f"0x{0x0E5E0000 + 0x100 * inst.index + n % 2:016x}",
                "attachment_id": f"0x{0xA7 + n % 2:016x}",
                "cookie": f"0x{(n * 2654435761) & 0xFFFFFFFF:08x}",
                "family": 4,
                "protocol": 17 if dport == 53 else 6,
                "src": f"198.18.{n // 250 % 256}.{n % 250 + 1}",
                "sport": 10_000 + n % 50_000,
                "dst": f"198.19.0.{n % 7 + 1}",
                "dport": dport,
                "verdict": action,
                "rule": rid,
                "domain": "example.com" if dport == 443 and n % 3 == 0 else None,
                "packets": packets,
                "bytes": packets * (60 + n % 1400),
                "first_seen": now - 300 + n % 290,
                "last_seen": now - (n % 13) * 0.5,
            }
        )
    return {"schema": "gwlbd.flows/v1", "now": now, "total": inst.flow_count, "flows": flows}
