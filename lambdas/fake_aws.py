"""An in-memory :class:`lambdas.aws.LifecycleAws` for tests and offline runs.

It behaves like the parts of AWS the service uses, including what moto does not model:
lifecycle actions waiting in ``Pending:Wait``/``Terminating:Wait`` that are completed or
heartbeated, target health moving from ``initial`` to ``healthy`` (or never), and targets
draining before they leave the group. Every call is recorded in :attr:`FakeAws.calls` as
``(AWS operation name, parameters)``; :meth:`FakeAws.fail` injects errors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lambdas.actions import LifecycleAction, Result, Transition
from lambdas.aws import Eni, GroupInstance, InstanceInfo, ParameterVersion, TargetHealth
from lambdas.errors import ActionGoneError, AwsCallError, InstanceGoneError

Call = tuple[str, dict[str, Any]]


@dataclass
class FakeInstance:
    """An EC2 instance in the fake."""

    state: str = "running"
    """EC2 state name."""
    enis: dict[str, bool] = field(default_factory=dict)
    """ENI id -> source/destination check, primary first."""
    tags: dict[str, str] = field(default_factory=dict)
    """Instance tags."""


@dataclass
class FakeTarget:
    """A target in the fake target group."""

    state: str = "initial"
    """initial, healthy, unhealthy or draining."""
    polls_left: int = 0
    """Health checks (for initial) or draining polls left before the next state."""
    then: str = "healthy"
    """State after ``initial`` once ``polls_left`` reaches 0 (``initial`` = never healthy)."""


@dataclass
class WaitingAction:
    """A lifecycle action paused by a hook."""

    instance_id: str
    asg_name: str
    hook_name: str
    transition: Transition
    token: str


class FakeAws:
    """In-memory AWS for the lifecycle service (see the module docstring)."""

    def __init__(self) -> None:
        """Start empty."""
        self.calls: list[Call] = []
        self.instances: dict[str, FakeInstance] = {}
        self.groups: dict[str, dict[str, GroupInstance]] = {}
        self.targets: dict[str, dict[str, FakeTarget]] = {}
        self.waiting: dict[str, WaitingAction] = {}
        self.parameters: dict[str, list[str]] = {}
        self.labels: dict[str, dict[str, int]] = {}
        self.objects: dict[tuple[str, str], bytes] = {}
        self.commands: list[dict[str, Any]] = []
        self.alerts: list[tuple[str, str, str]] = []
        self.workflows: dict[str, dict[str, Any]] = {}
        self.health_checks_to_pass = 1
        """Health polls a newly registered target stays ``initial`` before turning healthy."""
        self.healthy_after_checks: bool = True
        """False: newly registered targets never pass their health check."""
        self.drain_polls = 1
        """Polls a deregistered target stays ``draining``."""
        self._faults: dict[str, list[AwsCallError]] = {}

    # -- setting the scene ---------------------------------------------------------

    def add_instance(
        self, instance_id: str, asg_name: str, lifecycle_state: str = "Pending:Wait", enis: int = 1
    ) -> None:
        """Add a running instance to a group with ``enis`` interfaces, source/dest check on."""
        eni_ids = {f"eni-{instance_id[2:]}{n:02d}": True for n in range(enis)}
        self.instances[instance_id] = FakeInstance(enis=eni_ids)
        self.groups.setdefault(asg_name, {})[instance_id] = GroupInstance(
            instance_id, lifecycle_state, "Healthy"
        )

    def add_waiting_action(self, action: LifecycleAction) -> None:
        """Make ``action`` wait in its hook (its instance must exist)."""
        token = action.token or f"missed-{action.instance_id}"
        self.waiting[token] = WaitingAction(
            action.instance_id, action.asg_name, action.hook_name, action.transition, token
        )
        state = "Pending:Wait" if action.is_launch else "Terminating:Wait"
        self._set_lifecycle(action.asg_name, action.instance_id, state)

    def terminate_instance(self, instance_id: str) -> None:
        """The instance dies (e.g. a spot interruption or an operator)."""
        self.instances[instance_id].state = "terminated"
        for group in self.groups.values():
            group.pop(instance_id, None)

    def set_target(self, tg: str, instance_id: str, state: str) -> None:
        """Force a target's health state (``absent`` removes it)."""
        if state == "absent":
            self.targets.get(tg, {}).pop(instance_id, None)
        else:
            self.targets.setdefault(tg, {})[instance_id] = FakeTarget(state=state)

    def add_parameter_version(self, name: str, value: str) -> int:
        """Put a new version of a parameter; returns its number."""
        self.parameters.setdefault(name, []).append(value)
        return len(self.parameters[name])

    def fail(self, operation: str, error: AwsCallError, times: int = 1) -> None:
        """Make the next ``times`` calls of ``operation`` raise ``error``."""
        self._faults.setdefault(operation, []).extend([error] * times)

    def operations(self) -> list[str]:
        """The recorded operation names, in order."""
        return [name for name, _ in self.calls]

    # -- internals -----------------------------------------------------------------

    def _call(self, operation: str, **params: Any) -> None:
        self.calls.append((operation, params))
        pending = self._faults.get(operation)
        if pending:
            raise pending.pop(0)

    def _set_lifecycle(self, asg: str, instance_id: str, state: str) -> None:
        group = self.groups.setdefault(asg, {})
        old = group.get(instance_id)
        health = old.health_status if old else "Healthy"
        group[instance_id] = GroupInstance(instance_id, state, health)

    def _instance(self, operation: str, instance_id: str) -> FakeInstance:
        inst = self.instances.get(instance_id)
        if inst is None or inst.state == "terminated":
            raise InstanceGoneError(operation, "InvalidInstanceID.NotFound", instance_id)
        return inst

    def _find_action(self, operation: str, action: LifecycleAction) -> WaitingAction:
        for waiting in self.waiting.values():
            same = waiting.token == action.token if action.token else True
            if (
                same
                and waiting.instance_id == action.instance_id
                and waiting.hook_name == action.hook_name
                and waiting.asg_name == action.asg_name
            ):
                return waiting
        raise ActionGoneError(operation, "ValidationError", "No active Lifecycle Action found")

    # -- LifecycleAws ----------------------------------------------------------------

    def describe_instance(self, instance_id: str) -> InstanceInfo | None:
        """See :meth:`lambdas.aws.LifecycleAws.describe_instance`."""
        self._call("DescribeInstances", InstanceIds=[instance_id])
        inst = self.instances.get(instance_id)
        if inst is None:
            return None
        enis = tuple(Eni(eni, check) for eni, check in inst.enis.items())
        return InstanceInfo(instance_id, inst.state, enis)

    def set_instance_source_dest_check(self, instance_id: str, enabled: bool) -> None:
        """See :meth:`lambdas.aws.LifecycleAws.set_instance_source_dest_check`."""
        self._call("ModifyInstanceAttribute", InstanceId=instance_id, SourceDestCheck=enabled)
        inst = self._instance("ModifyInstanceAttribute", instance_id)
        if len(inst.enis) != 1:
            raise AwsCallError(
                "ModifyInstanceAttribute",
                "InvalidInstanceID",
                "There are multiple interfaces attached to instance",
            )
        inst.enis = dict.fromkeys(inst.enis, enabled)

    def set_eni_source_dest_check(self, eni_id: str, enabled: bool) -> None:
        """See :meth:`lambdas.aws.LifecycleAws.set_eni_source_dest_check`."""
        self._call("ModifyNetworkInterfaceAttribute", NetworkInterfaceId=eni_id, Value=enabled)
        for inst in self.instances.values():
            if eni_id in inst.enis and inst.state != "terminated":
                inst.enis[eni_id] = enabled
                return
        raise AwsCallError("ModifyNetworkInterfaceAttribute", "InvalidNetworkInterfaceID", eni_id)

    def tag_instance(self, instance_id: str, tags: Mapping[str, str]) -> None:
        """See :meth:`lambdas.aws.LifecycleAws.tag_instance`."""
        self._call("CreateTags", Resources=[instance_id], Tags=dict(tags))
        self._instance("CreateTags", instance_id).tags.update(tags)

    def register_target(self, target_group_arn: str, instance_id: str) -> None:
        """See :meth:`lambdas.aws.LifecycleAws.register_target`."""
        self._call("RegisterTargets", TargetGroupArn=target_group_arn, Id=instance_id)
        self._instance("RegisterTargets", instance_id)
        then = "healthy" if self.healthy_after_checks else "initial"
        self.targets.setdefault(target_group_arn, {})[instance_id] = FakeTarget(
            "initial", self.health_checks_to_pass, then
        )

    def deregister_target(self, target_group_arn: str, instance_id: str) -> None:
        """See :meth:`lambdas.aws.LifecycleAws.deregister_target`."""
        self._call("DeregisterTargets", TargetGroupArn=target_group_arn, Id=instance_id)
        target = self.targets.get(target_group_arn, {}).get(instance_id)
        if target is not None and target.state != "draining":
            target.state, target.polls_left = "draining", self.drain_polls

    def target_health(
        self, target_group_arn: str, instance_id: str | None = None
    ) -> list[TargetHealth]:
        """See :meth:`lambdas.aws.LifecycleAws.target_health`."""
        self._call("DescribeTargetHealth", TargetGroupArn=target_group_arn, Id=instance_id)
        group = self.targets.setdefault(target_group_arn, {})
        found = []
        for tid, target in list(group.items()):
            if instance_id is not None and tid != instance_id:
                continue
            inst = self.instances.get(tid)
            if inst is not None and inst.state == "terminated" and target.state != "draining":
                target.state = "unhealthy"
            if target.state == "initial" and target.then != "initial":
                if target.polls_left <= 0:
                    target.state = target.then
                target.polls_left -= 1
            elif target.state == "draining":
                if target.polls_left <= 0:
                    del group[tid]
                    continue
                target.polls_left -= 1
            reason = {
                "initial": "Elb.RegistrationInProgress",
                "unhealthy": "Target.FailedHealthChecks",
                "draining": "Target.DeregistrationInProgress",
            }.get(target.state, "")
            found.append(TargetHealth(tid, target.state, reason))
        return found

    def complete_lifecycle_action(self, action: LifecycleAction, result: Result) -> None:
        """See :meth:`lambdas.aws.LifecycleAws.complete_lifecycle_action`."""
        ref = action.token or action.instance_id
        self._call("CompleteLifecycleAction", Ref=ref, Result=result.value)
        waiting = self._find_action("CompleteLifecycleAction", action)
        del self.waiting[waiting.token]
        if waiting.transition is Transition.TERMINATE or result is Result.ABANDON:
            self.terminate_instance(waiting.instance_id)
        else:
            self._set_lifecycle(waiting.asg_name, waiting.instance_id, "InService")

    def record_heartbeat(self, action: LifecycleAction) -> None:
        """See :meth:`lambdas.aws.LifecycleAws.record_heartbeat`."""
        self._call("RecordLifecycleActionHeartbeat", Ref=action.token or action.instance_id)
        self._find_action("RecordLifecycleActionHeartbeat", action)

    def set_instance_unhealthy(self, instance_id: str) -> None:
        """See :meth:`lambdas.aws.LifecycleAws.set_instance_unhealthy`."""
        self._call("SetInstanceHealth", InstanceId=instance_id, HealthStatus="Unhealthy")
        for group in self.groups.values():
            if instance_id in group:
                old = group[instance_id]
                group[instance_id] = GroupInstance(instance_id, old.lifecycle_state, "Unhealthy")

    def group_instances(self, asg_name: str) -> list[GroupInstance]:
        """See :meth:`lambdas.aws.LifecycleAws.group_instances`."""
        self._call("DescribeAutoScalingGroups", AutoScalingGroupNames=[asg_name])
        return list(self.groups.get(asg_name, {}).values())

    def get_parameter(self, name: str, version: int | None = None) -> ParameterVersion:
        """See :meth:`lambdas.aws.LifecycleAws.get_parameter`."""
        self._call("GetParameter", Name=name if version is None else f"{name}:{version}")
        versions = self.parameters.get(name)
        if not versions or (version is not None and not 1 <= version <= len(versions)):
            raise AwsCallError("GetParameter", "ParameterNotFound", name)
        number = version or len(versions)
        return ParameterVersion(name, versions[number - 1], number)

    def read_object(self, bucket: str, key: str, limit: int) -> bytes:
        """See :meth:`lambdas.aws.LifecycleAws.read_object`."""
        self._call("GetObject", Bucket=bucket, Key=key)
        if (bucket, key) not in self.objects:
            raise AwsCallError("GetObject", "NoSuchKey", f"s3://{bucket}/{key}")
        return self.objects[(bucket, key)][: limit + 1]

    def label_parameter_version(self, name: str, version: int, label: str) -> None:
        """See :meth:`lambdas.aws.LifecycleAws.label_parameter_version`."""
        self._call("LabelParameterVersion", Name=name, ParameterVersion=version, Labels=[label])
        self.labels.setdefault(name, {})[label] = version

    def send_command(self, asg_name: str, commands: Sequence[str], comment: str) -> str:
        """See :meth:`lambdas.aws.LifecycleAws.send_command`."""
        self._call("SendCommand", Group=asg_name, Commands=list(commands), Comment=comment)
        self.commands.append({"asg": asg_name, "commands": list(commands), "comment": comment})
        return f"cmd-{len(self.commands)}"

    def publish_alert(self, topic_arn: str, subject: str, message: str) -> None:
        """See :meth:`lambdas.aws.LifecycleAws.publish_alert`."""
        self._call("Publish", TopicArn=topic_arn, Subject=subject)
        self.alerts.append((topic_arn, subject, message))

    def start_workflow(self, state_machine_arn: str, name: str, payload: dict[str, Any]) -> str:
        """See :meth:`lambdas.aws.LifecycleAws.start_workflow`."""
        self._call("StartExecution", stateMachineArn=state_machine_arn, name=name)
        self.workflows.setdefault(name, payload)
        return state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
