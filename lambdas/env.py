"""Every environment variable the lifecycle service reads, and the settings built from them.

Explicit arguments beat environment variables beat defaults: :meth:`Settings.from_env`
reads the variables named here, and tests or callers may build :class:`Settings` directly.
``template.yaml`` sets the same names in ``Globals.Function.Environment``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from lambdas.errors import ConfigurationError

STATE_TABLE = "GWLBD_STATE_TABLE"
"""DynamoDB table with instance and policy records (the stack output ``StateTableName``)."""
IDEMPOTENCY_TABLE = "GWLBD_IDEMPOTENCY_TABLE"
"""DynamoDB table of the Powertools idempotency persistence layer."""
TARGET_GROUP_ARN = "GWLBD_TARGET_GROUP_ARN"
"""The GENEVE target group the service registers appliances in."""
ASG_NAME = "GWLBD_ASG_NAME"
"""The appliance Auto Scaling group."""
STATE_MACHINE_ARN = "GWLBD_STATE_MACHINE_ARN"
"""The lifecycle workflow (started for every lifecycle action)."""
LAUNCH_HOOK_NAME = "GWLBD_LAUNCH_HOOK_NAME"
"""Name of the launch lifecycle hook (used for actions the reconciler restarts)."""
TERMINATE_HOOK_NAME = "GWLBD_TERMINATE_HOOK_NAME"
"""Name of the terminate lifecycle hook."""
HEALTHY_TIMEOUT = "GWLBD_HEALTHY_TIMEOUT_SECONDS"
"""How long a launching target may take to become healthy before it is abandoned."""
POLL_INTERVAL = "GWLBD_POLL_INTERVAL_SECONDS"
"""Wait between two checks of target health or draining (a Step Functions Wait state)."""
HEARTBEAT_INTERVAL = "GWLBD_HEARTBEAT_INTERVAL_SECONDS"
"""Heartbeat the lifecycle hook at least this often (keep it well under the hook timeout)."""
DEREGISTRATION_DELAY = "GWLBD_DEREGISTRATION_DELAY_SECONDS"
"""The target group's deregistration delay: the longest a scale-in waits for draining."""
UNHEALTHY_GRACE = "GWLBD_UNHEALTHY_GRACE_SECONDS"
"""How long an in-service target may stay unhealthy before the ASG is told to replace it."""
MISSED_EVENT_GRACE = "GWLBD_MISSED_EVENT_GRACE_SECONDS"
"""How long an instance may wait in a lifecycle hook with no event before the reconciler acts."""
POLICY_PARAMETER = "GWLBD_POLICY_PARAMETER"
"""SSM parameter holding the policy document."""
POLICY_LABEL = "GWLBD_POLICY_LABEL"
"""Parameter label marking the validated version appliances load (default ``live``)."""
ALERT_TOPIC_ARN = "GWLBD_ALERT_TOPIC_ARN"
"""SNS topic for rejected policies and reconciler repairs."""

# Powertools reads its own variables; listed here so every name the stack sets is in one place.
POWERTOOLS_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
POWERTOOLS_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"

RELOAD_COMMAND = "gwlbd policy reload"
"""What SSM Run Command executes on every appliance after a policy version goes live."""


def _text(env: Mapping[str, str], name: str, default: str | None = None) -> str:
    value = env.get(name, "").strip()
    if value:
        return value
    if default is None:
        raise ConfigurationError(name, "is not set")
    return default


def _seconds(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigurationError(name, f"expected whole seconds, got {raw!r}") from exc
    if value < 0:
        raise ConfigurationError(name, f"must not be negative, got {value}")
    return value


@dataclass(frozen=True, slots=True)
class Settings:
    """Configuration of the lifecycle service."""

    state_table: str
    """DynamoDB state table name."""
    idempotency_table: str
    """DynamoDB idempotency table name."""
    target_group_arn: str
    """GENEVE target group ARN."""
    asg_name: str
    """Auto Scaling group name."""
    state_machine_arn: str = ""
    """Lifecycle workflow ARN; only the event and reconciler handlers need it."""
    launch_hook_name: str = "gwlbd-launch"
    """Launch lifecycle hook name."""
    terminate_hook_name: str = "gwlbd-terminate"
    """Terminate lifecycle hook name."""
    healthy_timeout: int = 600
    """Seconds a launching target has to become healthy."""
    poll_interval: int = 15
    """Seconds between two workflow checks."""
    heartbeat_interval: int = 120
    """Seconds between two lifecycle heartbeats."""
    deregistration_delay: int = 300
    """Seconds the target group drains a deregistered target."""
    unhealthy_grace: int = 120
    """Seconds an in-service target may stay unhealthy."""
    missed_event_grace: int = 120
    """Seconds a waiting lifecycle action may go without an event."""
    policy_parameter: str = "/gwlbd/policy"
    """SSM parameter with the policy document."""
    policy_label: str = "live"
    """Label of the validated policy version."""
    alert_topic_arn: str = ""
    """SNS topic for alerts; empty disables publishing."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from environment variables (``os.environ`` by default).

        Raises:
            ConfigurationError: a required variable is missing or a number is invalid.
        """
        e = os.environ if env is None else env
        return cls(
            state_table=_text(e, STATE_TABLE),
            idempotency_table=_text(e, IDEMPOTENCY_TABLE),
            target_group_arn=_text(e, TARGET_GROUP_ARN),
            asg_name=_text(e, ASG_NAME),
            state_machine_arn=_text(e, STATE_MACHINE_ARN, ""),
            launch_hook_name=_text(e, LAUNCH_HOOK_NAME, "gwlbd-launch"),
            terminate_hook_name=_text(e, TERMINATE_HOOK_NAME, "gwlbd-terminate"),
            healthy_timeout=_seconds(e, HEALTHY_TIMEOUT, 600),
            poll_interval=max(1, _seconds(e, POLL_INTERVAL, 15)),
            heartbeat_interval=_seconds(e, HEARTBEAT_INTERVAL, 120),
            deregistration_delay=_seconds(e, DEREGISTRATION_DELAY, 300),
            unhealthy_grace=_seconds(e, UNHEALTHY_GRACE, 120),
            missed_event_grace=_seconds(e, MISSED_EVENT_GRACE, 120),
            policy_parameter=_text(e, POLICY_PARAMETER, "/gwlbd/policy"),
            policy_label=_text(e, POLICY_LABEL, "live"),
            alert_topic_arn=_text(e, ALERT_TOPIC_ARN, ""),
        )
