"""What moto lacks for the lab, supplied from the lab's own state (PROTOCOL.md, "moto").

moto (the lab's stand-in for AWS) keeps Auto Scaling groups, target groups and SSM
parameters, but it has no ``CompleteLifecycleAction`` or
``RecordLifecycleActionHeartbeat``, never holds an instance in a lifecycle hook, reports
every registered target ``healthy`` and forgets a deregistered target at once. In the
lab those answers come from what really happens:

- :class:`Hooks` holds the lifecycle actions the lab's Auto Scaling fires (one per
  launched or removed instance); ``CompleteLifecycleAction`` ends one (a terminate
  CONTINUE, or a launch ABANDON, then terminates the instance in moto's group) and a
  call for an action not waiting fails as AWS does (``No active Lifecycle Action``);
- ``DescribeTargetHealth`` answers from the GWLB simulator's status file: the state its
  real health checks and deregistration delay give each target;
- ``RegisterTargets``, ``DeregisterTargets`` and ``ModifyTargetGroupAttributes`` also
  rewrite the simulator's targets file, so the simulated GWLB sends flows to exactly the
  targets the lifecycle service registered, with the group's attributes.

:func:`install` patches moto's classes in this process (the lab's cloud process runs
moto's server in-process).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moto.autoscaling.exceptions import ValidationError
from moto.autoscaling.models import autoscaling_backends
from moto.autoscaling.responses import AutoScalingResponse
from moto.core.responses import ActionResult, EmptyResult
from moto.elbv2.models import ELBv2Backend, FakeHealthStatus

from appliance.lab.statusfile import read_status, write_status

REASONS = {
    "initial": ("Elb.RegistrationInProgress", "Target registration is in progress"),
    "unhealthy": ("Target.FailedHealthChecks", "Health checks failed"),
    "draining": ("Target.DeregistrationInProgress", "Target deregistration is in progress"),
}
LAUNCH = "autoscaling:EC2_INSTANCE_LAUNCHING"
TERMINATE = "autoscaling:EC2_INSTANCE_TERMINATING"


@dataclass
class Action:
    """A lifecycle action waiting in its hook."""

    instance_id: str
    asg_name: str
    hook_name: str
    transition: str
    token: str
    heartbeats: int = 0


@dataclass
class Hooks:
    """Lifecycle actions waiting, and how each ended (the lab's Auto Scaling)."""

    account: str
    region: str
    waiting: dict[str, Action] = field(default_factory=dict)
    completed: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, action: Action) -> None:
        """Hold ``action`` (and its instance, ``Pending:Wait`` or ``Terminating:Wait``)."""
        with self.lock:
            self.waiting[action.token] = action
        waiting = "Pending:Wait" if action.transition == LAUNCH else "Terminating:Wait"
        self._lifecycle(action.asg_name, action.instance_id, waiting)

    def _lifecycle(self, asg_name: str, instance_id: str, state: str) -> None:
        """Show ``state`` as the instance's lifecycle state in moto's group."""
        backend = autoscaling_backends[self.account][self.region]
        group = backend.autoscaling_groups.get(asg_name)
        for instance in group.instance_states if group is not None else []:
            if instance.instance.id == instance_id:
                instance.lifecycle_state = state

    def find(self, params: dict[str, Any]) -> Action:
        """The waiting action a request names (by token, else by instance id).

        Raises:
            ValidationError: none is waiting, as Auto Scaling answers.
        """
        token, instance = params.get("LifecycleActionToken"), params.get("InstanceId")
        for action in self.waiting.values():
            same = action.token == token if token else action.instance_id == instance
            if (
                same
                and action.asg_name == params.get("AutoScalingGroupName")
                and action.hook_name == params.get("LifecycleHookName")
            ):
                return action
        raise ValidationError(
            f"No active Lifecycle Action found with token {token} or instance ID {instance}"
        )

    def complete(self, params: dict[str, Any]) -> None:
        """``CompleteLifecycleAction``: end the action, terminate when it says so."""
        with self.lock:
            action = self.find(params)
            del self.waiting[action.token]
        result = str(params.get("LifecycleActionResult", "CONTINUE"))
        terminate = action.transition == TERMINATE or result == "ABANDON"
        if terminate:
            backend = autoscaling_backends[self.account][self.region]
            backend.terminate_instance(action.instance_id, True)
        else:
            self._lifecycle(action.asg_name, action.instance_id, "InService")
        with self.lock:
            self.completed.append(
                {
                    "instance_id": action.instance_id,
                    "transition": action.transition,
                    "result": result,
                    "heartbeats": action.heartbeats,
                    "terminated": terminate,
                }
            )

    def heartbeat(self, params: dict[str, Any]) -> None:
        """``RecordLifecycleActionHeartbeat``."""
        with self.lock:
            self.find(params).heartbeats += 1

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready view."""
        with self.lock:
            return {
                "waiting": [vars(a).copy() for a in self.waiting.values()],
                "completed": [dict(c) for c in self.completed],
            }


def read_sim_targets(path: Path) -> dict[str, str]:
    """address -> target state, from the simulator's status file (empty if unreadable)."""
    doc = read_status(path) or {}
    return {str(t["address"]): str(t.get("state")) for t in doc.get("targets", [])}


def group_settings(attributes: dict[str, str], health_check: dict[str, int]) -> dict[str, Any]:
    """The simulator's target group settings from target group attributes (pure)."""
    stickiness = "5-tuple"
    if attributes.get("stickiness.enabled") == "true":
        kind = attributes.get("stickiness.type", "source_ip_dest_ip_proto")
        stickiness = "2-tuple" if kind == "source_ip_dest_ip" else "3-tuple"
    return {
        "deregistration_delay": float(attributes.get("deregistration_delay.timeout_seconds", 300)),
        "on_deregistration": attributes.get("target_failover.on_deregistration", "no_rebalance"),
        "on_unhealthy": attributes.get("target_failover.on_unhealthy", "no_rebalance"),
        "stickiness": stickiness,
        "cross_zone": attributes.get("load_balancing.cross_zone.enabled") == "true",
        **health_check,
    }


@dataclass
class TargetBridge:
    """Connects moto's target group to the simulator: targets file out, health in.

    Args:
        targets_file: written for the simulator (``--targets-file``).
        sim_status: the simulator's status file.
        locate: instance id -> (address, zone), or None for an unknown instance.
        health_check: healthy/unhealthy thresholds for the simulator.
    """

    targets_file: Path
    sim_status: Path
    locate: Callable[[str], tuple[str, str] | None]
    health_check: dict[str, int] = field(default_factory=dict)
    addresses: dict[str, str] = field(default_factory=dict)
    """instance id -> address of every instance ever located."""

    def where(self, instance_id: str) -> tuple[str, str] | None:
        """Address and zone of an instance (remembered once seen)."""
        found = self.locate(instance_id)
        if found is not None:
            self.addresses[instance_id] = found[0]
        return found

    def sync(self, backend: ELBv2Backend, target_group_arn: str) -> None:
        """Rewrite the targets file from moto's registered targets and attributes."""
        group = backend.target_groups[target_group_arn]
        targets = []
        for instance_id in list(group.targets):
            found = self.where(instance_id)
            if found is not None:
                targets.append({"instance_id": instance_id, "address": found[0], "zone": found[1]})
        attributes = {str(k): str(v) for k, v in group.attributes.items()}
        settings = group_settings(attributes, self.health_check)
        write_status(self.targets_file, {"settings": settings, "targets": targets})

    def health(
        self, backend: ELBv2Backend, target_group_arn: str, asked: list[dict[str, Any]]
    ) -> list[FakeHealthStatus]:
        """``DescribeTargetHealth`` from the simulator's view."""
        group = backend.target_groups[target_group_arn]
        sim = read_sim_targets(self.sim_status)
        ids = [str(t["Id"]) for t in asked] or list(
            dict.fromkeys(
                [
                    *group.targets,
                    *(i for i, a in self.addresses.items() if sim.get(a) == "draining"),
                ]
            )
        )
        out = []
        for instance_id in ids:
            address = self.addresses.get(instance_id)
            state = sim.get(address or "", "unused")
            if instance_id in group.targets:
                state = state if state in ("healthy", "unhealthy", "draining") else "initial"
            elif state != "draining":
                state = "unused"
            reason, description = REASONS.get(state, ("", ""))
            if state == "unused":
                reason, description = "Target.NotRegistered", "Target is not registered"
            out.append(
                FakeHealthStatus(
                    instance_id, "6081", "8080", state, reason or None, description or None
                )
            )
        return out


def install(hooks: Hooks, bridge: TargetBridge) -> None:
    """Patch moto's Auto Scaling responses and ELBv2 backend in this process."""

    def complete_lifecycle_action(self: AutoScalingResponse) -> ActionResult:
        hooks.complete(_params(self))
        return EmptyResult()

    def record_lifecycle_action_heartbeat(self: AutoScalingResponse) -> ActionResult:
        hooks.heartbeat(_params(self))
        return EmptyResult()

    register, deregister = ELBv2Backend.register_targets, ELBv2Backend.deregister_targets
    modify = ELBv2Backend.modify_target_group_attributes

    def register_targets(self: ELBv2Backend, arn: str, instances: list[Any]) -> None:
        register(self, arn, instances)
        bridge.sync(self, arn)

    def deregister_targets(self: ELBv2Backend, arn: str, instances: list[Any]) -> None:
        for target in instances:
            bridge.where(str(target["Id"]))
        deregister(self, arn, instances)
        bridge.sync(self, arn)

    def modify_attributes(self: ELBv2Backend, arn: str, attributes: dict[str, Any]) -> Any:
        result = modify(self, arn, attributes)
        bridge.sync(self, arn)
        return result

    def describe_target_health(
        self: ELBv2Backend, arn: str, targets: list[dict[str, Any]]
    ) -> list[FakeHealthStatus]:
        return bridge.health(self, arn, targets)

    patches: dict[str, Any] = {
        "complete_lifecycle_action": complete_lifecycle_action,
        "record_lifecycle_action_heartbeat": record_lifecycle_action_heartbeat,
    }
    for name, fn in patches.items():
        setattr(AutoScalingResponse, name, fn)
    backend_patches: dict[str, Any] = {
        "register_targets": register_targets,
        "deregister_targets": deregister_targets,
        "modify_target_group_attributes": modify_attributes,
        "describe_target_health": describe_target_health,
    }
    for name, fn in backend_patches.items():
        setattr(ELBv2Backend, name, fn)


def _params(response: AutoScalingResponse) -> dict[str, Any]:
    names = (
        "AutoScalingGroupName",
        "LifecycleHookName",
        "LifecycleActionToken",
        "InstanceId",
        "LifecycleActionResult",
    )
    return {name: response._get_param(name) for name in names}
