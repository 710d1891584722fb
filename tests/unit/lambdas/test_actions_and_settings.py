"""Plans for every warm-pool combination, execution names, settings from the environment."""

from __future__ import annotations

import re

import pytest

from lambdas.actions import LifecycleAction, Plan, Result, Transition
from lambdas.env import ASG_NAME, HEALTHY_TIMEOUT, STATE_TABLE, Settings
from lambdas.errors import ConfigurationError


def action(transition: Transition, origin: str, destination: str) -> LifecycleAction:
    return LifecycleAction(
        instance_id="i-0123456789abcdef0",
        asg_name="g",
        hook_name="h",
        transition=transition,
        token="t" * 36,
        origin=origin,
        destination=destination,
        key="t" * 36,
    )


@pytest.mark.parametrize(
    ("transition", "origin", "destination", "plan"),
    [
        (Transition.LAUNCH, "EC2", "AutoScalingGroup", Plan.LAUNCH_INTO_SERVICE),
        (Transition.LAUNCH, "EC2", "WarmPool", Plan.LAUNCH_INTO_WARM_POOL),
        (Transition.LAUNCH, "WarmPool", "AutoScalingGroup", Plan.LAUNCH_INTO_SERVICE),
        (Transition.TERMINATE, "AutoScalingGroup", "EC2", Plan.DRAIN),
        (Transition.TERMINATE, "AutoScalingGroup", "WarmPool", Plan.DRAIN),
        (Transition.TERMINATE, "WarmPool", "EC2", Plan.LEAVE_WARM_POOL),
    ],
)
def test_plan_follows_transition_origin_and_destination(
    transition: Transition, origin: str, destination: str, plan: Plan
) -> None:
    assert action(transition, origin, destination).plan is plan


def test_failure_answer_abandons_launches_and_continues_terminations() -> None:
    assert action(Transition.LAUNCH, "EC2", "AutoScalingGroup").failure_result() is Result.ABANDON
    assert action(Transition.TERMINATE, "AutoScalingGroup", "EC2").failure_result() is (
        Result.CONTINUE
    )


def test_execution_names_are_valid_and_distinct_per_key() -> None:
    a = action(Transition.LAUNCH, "EC2", "AutoScalingGroup")
    b = a.model_copy(update={"key": "another-token"})
    for name in (a.execution_name(), b.execution_name()):
        assert len(name) <= 80
        assert re.fullmatch(r"[A-Za-z0-9_-]+", name)
    assert a.execution_name() != b.execution_name()


def test_instance_ids_are_checked() -> None:
    with pytest.raises(ValueError, match="instance_id"):
        LifecycleAction(
            instance_id="web-1", asg_name="g", hook_name="h", transition=Transition.LAUNCH, key="k"
        )


def base_env() -> dict[str, str]:
    return {
        STATE_TABLE: "s",
        "GWLBD_IDEMPOTENCY_TABLE": "i",
        "GWLBD_TARGET_GROUP_ARN": "arn:tg",
        ASG_NAME: "g",
    }


def test_settings_defaults_and_overrides() -> None:
    settings = Settings.from_env({**base_env(), HEALTHY_TIMEOUT: "900"})
    assert (settings.healthy_timeout, settings.poll_interval, settings.policy_label) == (
        900,
        15,
        "live",
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({STATE_TABLE: ""}, "GWLBD_STATE_TABLE: is not set"),
        ({HEALTHY_TIMEOUT: "ten"}, "GWLBD_HEALTHY_TIMEOUT_SECONDS: expected whole seconds"),
        ({HEALTHY_TIMEOUT: "-5"}, "GWLBD_HEALTHY_TIMEOUT_SECONDS: must not be negative"),
    ],
)
def test_bad_settings_name_the_variable(change: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env({**base_env(), **change})
