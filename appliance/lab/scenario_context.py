"""What the fleet scenarios share: the running lab, bounded waits and fleet chores.

:class:`Context` wraps the fleet lab for the scenarios in :mod:`appliance.lab.scenarios`:
launching and terminating through the lifecycle service, waiting for a serving fleet,
picking the appliance that carries the most long-lived connections.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from appliance.lab import observe
from appliance.lab.fleet import FleetLab
from appliance.lab.report import Check

MIN_FLEET = 3
PROBE_TIMEOUT = 3.0
"""Seconds the apps client gives one probe (its default)."""


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.25) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


@dataclass
class Context:
    """The running lab and what the scenarios know about it."""

    lab: FleetLab
    policy_version: str = "lab-1"
    """The policy version every appliance should run."""
    rollouts: int = 0
    """Policy versions published by scenarios so far."""

    def cloud(self) -> dict[str, Any]:
        """The cloud's status."""
        return self.lab.command("status")

    def healthy(self, address: str) -> bool:
        """The simulated target group sees ``address`` healthy."""
        return observe.target_state(self.lab.sim(), address) == "healthy"

    def policy_everywhere(self, version: str) -> bool:
        """Every running appliance reports policy ``version``."""
        for instance in self.lab.running():
            status = self.lab.daemon(instance.instance_id) or {}
            if (status.get("policy") or {}).get("version") != version:
                return False
        return True

    def launched(self, instance_id: str) -> bool:
        """The launch workflow of ``instance_id`` has ended."""
        flow = self.cloud()["workflows"].get(instance_id, {})
        return str(flow.get("status", "RUNNING")) != "RUNNING"

    def terminated(self, instance_id: str) -> bool:
        """The terminate workflow of ``instance_id`` has ended."""
        flow = self.cloud()["workflows"].get(instance_id, {})
        return bool(flow.get("kind") == "terminate" and flow.get("status") != "RUNNING")

    def launch(self, count: int, timeout: float = 45.0) -> list[str]:
        """Scale out by ``count`` and boot the new instances; waits for their workflows."""
        self.lab.command("launch", count=count)
        new = [i.instance_id for i in self.lab.start_instances()]
        wait_for(lambda: all(self.launched(i) for i in new), timeout, 0.5)
        return new

    def terminate(self, instance_id: str, timeout: float = 45.0) -> bool:
        """Scale in: remove ``instance_id`` through the terminate hook; stop it once
        Auto Scaling terminated it. Returns whether the workflow ended in time."""
        self.lab.command("terminate", instance_id=instance_id)
        ended = wait_for(lambda: self.terminated(instance_id), timeout, 0.5)
        if instance_id not in self.cloud()["group"]:
            self.lab.stop_instance(instance_id)
        return ended

    def ensure_fleet(self) -> list[Check]:
        """At least three healthy appliances running the current policy, apps running."""
        missing = MIN_FLEET - len(self.lab.running())
        if missing > 0:
            self.launch(missing)
        addresses = [i.address for i in self.lab.running()]
        ok = wait_for(
            lambda: all(self.launched(i.instance_id) for i in self.lab.running()), 45, 0.5
        )
        ok = ok and wait_for(lambda: all(self.healthy(a) for a in addresses), 30)
        ok = ok and wait_for(lambda: self.policy_everywhere(self.policy_version), 30)
        self.lab.stop_apps()  # fresh long-lived connections over the fleet as it is now
        self.lab.start_apps()
        ok = ok and wait_for(lambda: len(observe.long_by_local(self.lab.apps())) > 0, 15)
        detail = f"{len(addresses)} healthy appliances with policy {self.policy_version}"
        return [] if ok else [Check("fleet ready", False, f"not ready: {detail}")]

    def busiest(self, shared_zone: bool = False) -> tuple[str, str, list[str]]:
        """The running instance carrying the most live long-lived connections.

        Args:
            shared_zone: only instances whose zone keeps another appliance (with
                cross-zone off, a zone without appliances drops its new flows).
        """
        sim, apps = self.lab.sim(), self.lab.apps()
        running = self.lab.running()
        ranked = sorted(
            (
                (len(observe.connections_on(sim, apps, i.address)), i.instance_id, i.address)
                for i in running
                if not shared_zone or sum(o.zone == i.zone for o in running) > 1
            ),
            reverse=True,
        )
        _, instance_id, address = ranked[0]
        return instance_id, address, observe.connections_on(sim, apps, address)


def set_failover(ctx: Context, mode: str) -> None:
    ctx.lab.command(
        "attributes",
        attributes={
            "target_failover.on_deregistration": mode,
            "target_failover.on_unhealthy": mode,
        },
    )
