"""Lifecycle actions and what the service does with each one (pure).

An Auto Scaling lifecycle action is identified by its token (events) or, when the
reconciler restarts an action whose event was lost, by the instance and hook. Warm
pools add ``Origin`` and ``Destination``: an instance launched *into* the warm pool is
prepared but never registered; an instance terminated *from* the warm pool was never
registered, so it needs no draining. See the EC2 Auto Scaling user guide, "Warm pools"
and "Amazon EventBridge events for lifecycle hooks".
"""

from __future__ import annotations

import enum
import hashlib

from pydantic import BaseModel, ConfigDict, Field


class Transition(enum.StrEnum):
    """The two lifecycle transitions a hook can pause."""

    LAUNCH = "autoscaling:EC2_INSTANCE_LAUNCHING"
    TERMINATE = "autoscaling:EC2_INSTANCE_TERMINATING"


class Plan(enum.StrEnum):
    """What the workflow does for an action."""

    LAUNCH_INTO_SERVICE = "launch-into-service"
    """Prepare, register, wait healthy, CONTINUE (ABANDON when never healthy)."""
    LAUNCH_INTO_WARM_POOL = "launch-into-warm-pool"
    """Prepare only (the instance is stopped in the pool), CONTINUE."""
    DRAIN = "drain"
    """Deregister, wait until drained or the delay passed, CONTINUE."""
    LEAVE_WARM_POOL = "leave-warm-pool"
    """Terminated from the warm pool: never registered, CONTINUE at once."""


class Result(enum.StrEnum):
    """The two answers to a lifecycle action."""

    CONTINUE = "CONTINUE"
    ABANDON = "ABANDON"


WARM_POOL = "WarmPool"


class LifecycleAction(BaseModel):
    """One lifecycle action as the workflow carries it."""

    model_config = ConfigDict(frozen=True)

    instance_id: str = Field(pattern=r"^i-[0-9a-f]{8,17}$")
    """EC2 instance id."""
    asg_name: str = Field(min_length=1)
    """Auto Scaling group name."""
    hook_name: str = Field(min_length=1)
    """Lifecycle hook name."""
    transition: Transition
    """Launch or terminate."""
    token: str | None = None
    """Lifecycle action token; None when the reconciler restarted a missed action."""
    origin: str = "EC2"
    """Where the instance comes from: ``EC2``, ``AutoScalingGroup`` or ``WarmPool``."""
    destination: str = "AutoScalingGroup"
    """Where it goes: ``AutoScalingGroup``, ``WarmPool`` or ``EC2``."""
    metadata: str = ""
    """The hook's notification metadata."""
    key: str = Field(min_length=1)
    """Idempotency key: the token, or a key the reconciler made up."""

    @property
    def plan(self) -> Plan:
        """The plan for this action, from transition, origin and destination."""
        if self.transition is Transition.LAUNCH:
            if self.destination == WARM_POOL:
                return Plan.LAUNCH_INTO_WARM_POOL
            return Plan.LAUNCH_INTO_SERVICE
        if self.origin == WARM_POOL:
            return Plan.LEAVE_WARM_POOL
        return Plan.DRAIN

    @property
    def is_launch(self) -> bool:
        """True for a launch transition."""
        return self.transition is Transition.LAUNCH

    def execution_name(self) -> str:
        """A Step Functions execution name, unique per action (at most 80 characters)."""
        digest = hashlib.sha256(self.key.encode()).hexdigest()[:24]
        verb = "launch" if self.is_launch else "terminate"
        return f"{verb}-{self.instance_id}-{digest}"

    def failure_result(self) -> Result:
        """The answer when the workflow fails: a launch is abandoned, a terminate goes on."""
        return Result.ABANDON if self.is_launch else Result.CONTINUE
