"""The AWS operations the lifecycle service needs, as one small interface.

:class:`LifecycleAws` is implemented by :class:`lambdas.boto_adapter.Boto3Aws` (real AWS,
or moto in tests) and :class:`lambdas.fake_aws.FakeAws` (in memory, with the behaviours
moto lacks: lifecycle completion and heartbeats, target health states, draining).
Implementations raise :class:`lambdas.errors.AwsCallError` subclasses, never botocore errors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from lambdas.actions import LifecycleAction, Result


@dataclass(frozen=True, slots=True)
class Eni:
    """One network interface of an instance."""

    eni_id: str
    """Network interface id."""
    source_dest_check: bool
    """Whether EC2 drops traffic not addressed to the interface (must be off for GWLB)."""


@dataclass(frozen=True, slots=True)
class InstanceInfo:
    """What the service needs to know about an instance."""

    instance_id: str
    """EC2 instance id."""
    state: str
    """EC2 state name: pending, running, stopping, stopped, shutting-down, terminated."""
    enis: tuple[Eni, ...]
    """Attached network interfaces, primary first."""

    @property
    def gone(self) -> bool:
        """True when the instance is terminated or on its way out."""
        return self.state in ("shutting-down", "terminated")


@dataclass(frozen=True, slots=True)
class TargetHealth:
    """One target's state in the target group (``DescribeTargetHealth``)."""

    instance_id: str
    """Target id."""
    state: str
    """initial, healthy, unhealthy, unused, draining or unavailable."""
    reason: str = ""
    """Elastic Load Balancing's reason code, e.g. ``Target.FailedHealthChecks``."""


@dataclass(frozen=True, slots=True)
class GroupInstance:
    """One instance of the Auto Scaling group."""

    instance_id: str
    """EC2 instance id."""
    lifecycle_state: str
    """Pending:Wait, InService, Terminating:Wait, Warmed:Stopped, ..."""
    health_status: str
    """Healthy or Unhealthy."""


@dataclass(frozen=True, slots=True)
class ParameterVersion:
    """One version of an SSM parameter."""

    name: str
    """Parameter name."""
    value: str
    """The text stored."""
    version: int
    """Version number."""


class LifecycleAws(Protocol):
    """Everything the domain code asks of AWS."""

    def describe_instance(self, instance_id: str) -> InstanceInfo | None:
        """The instance, or None when EC2 does not know it any more."""
        ...

    def set_instance_source_dest_check(self, instance_id: str, enabled: bool) -> None:
        """``ModifyInstanceAttribute`` (valid only for single-ENI instances)."""
        ...

    def set_eni_source_dest_check(self, eni_id: str, enabled: bool) -> None:
        """``ModifyNetworkInterfaceAttribute`` on one ENI."""
        ...

    def tag_instance(self, instance_id: str, tags: Mapping[str, str]) -> None:
        """``CreateTags`` on the instance."""
        ...

    def register_target(self, target_group_arn: str, instance_id: str) -> None:
        """``RegisterTargets`` with one instance."""
        ...

    def deregister_target(self, target_group_arn: str, instance_id: str) -> None:
        """``DeregisterTargets`` with one instance (no error when not registered)."""
        ...

    def target_health(
        self, target_group_arn: str, instance_id: str | None = None
    ) -> list[TargetHealth]:
        """Registered targets (or just ``instance_id``; empty when it is not registered)."""
        ...

    def complete_lifecycle_action(self, action: LifecycleAction, result: Result) -> None:
        """``CompleteLifecycleAction`` by token, or by instance id when there is none.

        Raises:
            ActionGoneError: no such action is waiting (completed, or its hook timed out).
        """
        ...

    def record_heartbeat(self, action: LifecycleAction) -> None:
        """``RecordLifecycleActionHeartbeat`` by token or instance id.

        Raises:
            ActionGoneError: no such action is waiting.
        """
        ...

    def set_instance_unhealthy(self, instance_id: str) -> None:
        """``SetInstanceHealth`` Unhealthy, respecting the group's grace period."""
        ...

    def group_instances(self, asg_name: str) -> list[GroupInstance]:
        """The group's instances with their lifecycle states (warm pool excluded)."""
        ...

    def get_parameter(self, name: str, version: int | None = None) -> ParameterVersion:
        """One version of a parameter (the newest when ``version`` is None)."""
        ...

    def read_object(self, bucket: str, key: str, limit: int) -> bytes:
        """An S3 object's bytes, at most ``limit`` + 1 of them (so oversize is detectable)."""
        ...

    def label_parameter_version(self, name: str, version: int, label: str) -> None:
        """Move ``label`` to ``version`` (``LabelParameterVersion``)."""
        ...

    def send_command(self, asg_name: str, commands: Sequence[str], comment: str) -> str:
        """Run shell ``commands`` on the group's instances (SSM Run Command); the command id."""
        ...

    def publish_alert(self, topic_arn: str, subject: str, message: str) -> None:
        """Publish to the alert topic."""
        ...

    def start_workflow(self, state_machine_arn: str, name: str, payload: dict[str, Any]) -> str:
        """Start a workflow execution; an execution of that name already existing is fine.

        Returns:
            The execution ARN.
        """
        ...
