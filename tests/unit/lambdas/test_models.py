"""Every sample event in events/ parses with the model of the handler that receives it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from lambdas.errors import MalformedEventError
from lambdas.handlers.workflow_steps import parse_state
from lambdas.models import (
    AlarmStateChangeEvent,
    ExecutionStatusEvent,
    LifecycleActionEvent,
    ParameterChangeEvent,
    ScheduledEvent,
    parse_event,
)

EVENTS = Path(__file__).resolve().parents[3] / "events"
MODELS: dict[str, type[BaseModel]] = {
    "lifecycle-launch.json": LifecycleActionEvent,
    "lifecycle-launch-into-warm-pool.json": LifecycleActionEvent,
    "lifecycle-launch-from-warm-pool.json": LifecycleActionEvent,
    "lifecycle-terminate.json": LifecycleActionEvent,
    "lifecycle-terminate-from-warm-pool.json": LifecycleActionEvent,
    "parameter-store-change-update.json": ParameterChangeEvent,
    "parameter-store-change-label.json": ParameterChangeEvent,
    "alarm-unhealthy-hosts.json": AlarmStateChangeEvent,
    "schedule-reconcile.json": ScheduledEvent,
    "execution-timed-out.json": ExecutionStatusEvent,
}


def load(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


def test_every_sample_event_is_covered() -> None:
    samples = {p.name for p in EVENTS.glob("*.json")}
    steps = {n for n in samples if n.startswith("workflow-step-")}
    assert samples == set(MODELS) | steps | {"lifecycle-launch-malformed.json"}
    assert len(steps) == 4


@pytest.mark.parametrize("name", sorted(MODELS))
def test_sample_event_parses(name: str) -> None:
    parsed = parse_event(MODELS[name], load(name), name)
    assert isinstance(parsed, MODELS[name])


@pytest.mark.parametrize("name", sorted(p.name for p in EVENTS.glob("workflow-step-*.json")))
def test_sample_workflow_steps_parse(name: str) -> None:
    event = load(name)
    assert event["step"] in ("begin", "check", "finish")
    assert parse_state(event["state"]).action.instance_id == "i-0a1b2c3d4e5f60718"


def test_warm_pool_fields_are_read() -> None:
    parsed = parse_event(
        LifecycleActionEvent, load("lifecycle-launch-into-warm-pool.json"), "lifecycle"
    )
    assert (parsed.detail.Origin, parsed.detail.Destination) == ("EC2", "WarmPool")


def test_malformed_sample_lists_every_problem() -> None:
    with pytest.raises(MalformedEventError) as caught:
        parse_event(LifecycleActionEvent, load("lifecycle-launch-malformed.json"), "lifecycle")
    assert [p.split(":")[0] for p in caught.value.problems] == [
        "detail.LifecycleActionToken",
        "detail.AutoScalingGroupName",
        "detail.EC2InstanceId",
        "detail.LifecycleTransition",
    ]


def test_a_non_object_is_refused() -> None:
    with pytest.raises(MalformedEventError, match="expected a JSON object"):
        parse_event(ScheduledEvent, ["not", "an", "event"], "schedule")


def test_an_event_for_another_handler_is_refused() -> None:
    with pytest.raises(MalformedEventError, match="source"):
        parse_event(LifecycleActionEvent, load("schedule-reconcile.json"), "lifecycle")
