"""Duplicate, malformed and lost events; failed executions; completion throttled for long."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lambdas.actions import LifecycleAction, Transition
from lambdas.errors import MalformedEventError, ThrottledError
from lambdas.fake_aws import FakeAws
from lambdas.handlers import lifecycle_event, parameter_change, workflow_failed, workflow_steps
from lambdas.local_workflow import LocalContext, LocalWorkflow
from lambdas.runtime import Runtime

LoadEvent = Callable[[str], dict[str, Any]]
EVENTS = Path(__file__).resolve().parents[3] / "events"
Items = Callable[[str], list[dict[str, Any]]]


def action_of(event: dict[str, Any]) -> LifecycleAction:
    d = event["detail"]
    return LifecycleAction(
        instance_id=d["EC2InstanceId"],
        asg_name=d["AutoScalingGroupName"],
        hook_name=d["LifecycleHookName"],
        transition=Transition(d["LifecycleTransition"]),
        token=d["LifecycleActionToken"],
        key=d["LifecycleActionToken"],
    )


@pytest.fixture
def launch(load_event: LoadEvent, fake: FakeAws, rt: Runtime) -> dict[str, Any]:
    event = load_event("lifecycle-launch.json")
    fake.add_instance(event["detail"]["EC2InstanceId"], rt.settings.asg_name)
    fake.add_waiting_action(action_of(event))
    return event


def test_duplicate_event_starts_one_workflow(
    launch: dict[str, Any], fake: FakeAws, context: LocalContext
) -> None:
    first = lifecycle_event.handler(launch, context)
    again = dict(launch, id="0f0e0d0c-0b0a-4909-8807-060504030201")  # redelivered, new id
    second = lifecycle_event.handler(again, context)
    assert fake.operations() == ["StartExecution"]
    assert second == first
    assert first["started"] is True


def test_finish_twice_completes_once(
    load_event: LoadEvent, launch: dict[str, Any], fake: FakeAws, context: LocalContext
) -> None:
    step = load_event("workflow-step-finish.json")
    first = workflow_steps.handler(step, context)
    second = workflow_steps.handler(step, context)  # a Step Functions retry, or a rescue
    assert fake.operations().count("CompleteLifecycleAction") == 1
    assert first == second
    assert first["result"] == "CONTINUE"


def test_malformed_event_is_refused_before_any_side_effect(
    load_event: LoadEvent, fake: FakeAws, rt: Runtime, context: LocalContext, table_items: Items
) -> None:
    with pytest.raises(MalformedEventError) as caught:
        lifecycle_event.handler(load_event("lifecycle-launch-malformed.json"), context)
    message = str(caught.value)
    assert message.startswith("malformed lifecycle action event: ")
    for field in (
        "detail.LifecycleActionToken",
        "detail.AutoScalingGroupName",
        "detail.EC2InstanceId",
        "detail.LifecycleTransition",
    ):
        assert field in message
    assert fake.calls == []
    assert table_items(rt.settings.state_table) == []
    assert table_items(rt.settings.idempotency_table) == []


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda e: e.update(source="aws.ec2"), "source"),
        (lambda e: e.pop("detail"), "detail"),
        (lambda e: e["detail"].update(Origin="Moon"), "detail.Origin"),
    ],
)
def test_other_malformed_shapes_name_their_field(
    load_event: LoadEvent,
    fake: FakeAws,
    rt: Runtime,
    context: LocalContext,
    mutate: Callable[[dict[str, Any]], object],
    field: str,
) -> None:
    event = load_event("lifecycle-launch.json")
    mutate(event)
    with pytest.raises(MalformedEventError, match=field):
        lifecycle_event.handler(event, context)
    assert fake.calls == []


def test_malformed_workflow_step_is_refused(
    fake: FakeAws, rt: Runtime, context: LocalContext
) -> None:
    with pytest.raises(MalformedEventError, match=r"action\.instance_id"):
        workflow_steps.handler(
            {"step": "check", "state": {"action": {"instance_id": "x"}, "plan": "drain"}}, context
        )
    with pytest.raises(MalformedEventError, match="unknown 'sleep'"):
        workflow_steps.handler(
            {"step": "sleep", "state": json.loads(json.dumps(minimal_state()))}, context
        )
    assert fake.calls == []


def minimal_state() -> dict[str, Any]:
    return {
        "action": {
            "instance_id": "i-0a1b2c3d4e5f60718",
            "asg_name": "gwlbd-appliances",
            "hook_name": "gwlbd-launch",
            "transition": "autoscaling:EC2_INSTANCE_LAUNCHING",
            "key": "k",
        },
        "plan": "launch-into-service",
    }


def test_timed_out_execution_is_abandoned_by_the_rescue(
    load_event: LoadEvent, launch: dict[str, Any], fake: FakeAws, rt: Runtime, context: LocalContext
) -> None:
    result = workflow_failed.handler(load_event("execution-timed-out.json"), context)
    assert result["result"] == "ABANDON"
    assert result["reason"].startswith("workflow step failed: execution TIMED_OUT")
    assert fake.operations() == ["DeregisterTargets", "CompleteLifecycleAction"]
    record = rt.state.get_instance(launch["detail"]["EC2InstanceId"])
    assert record is not None
    assert record.state == "abandoned"


def test_rescue_after_a_completed_action_does_not_complete_again(
    load_event: LoadEvent, launch: dict[str, Any], fake: FakeAws, context: LocalContext
) -> None:
    workflow_steps.handler(load_event("workflow-step-finish.json"), context)
    workflow_failed.handler(load_event("execution-timed-out.json"), context)
    assert fake.operations().count("CompleteLifecycleAction") == 1


def test_completion_throttled_past_every_retry_is_completed_by_the_rescue(
    load_event: LoadEvent,
    launch: dict[str, Any],
    fake: FakeAws,
    rt: Runtime,
    workflow: LocalWorkflow,
    context: LocalContext,
) -> None:
    # GIVEN CompleteLifecycleAction throttled through all 9 attempts of the Finish state
    fake.fail(
        "CompleteLifecycleAction",
        ThrottledError("CompleteLifecycleAction", "Throttling", "Rate exceeded"),
        9,
    )
    lifecycle_event.handler(launch, context)
    (doc,) = fake.workflows.values()
    run = workflow.run(doc)
    assert (run.status, run.error) == ("FAILED", "CouldNotComplete")
    assert fake.waiting  # still waiting in its hook
    # WHEN the execution-failed rule delivers the failure (throttling has eased)
    failed = load_event("execution-timed-out.json")
    failed["detail"].update(status="FAILED", input=json.dumps(doc), error="CouldNotComplete")
    result = workflow_failed.handler(failed, context)
    # THEN the action is completed once, with the failure answer for a launch
    assert fake.waiting == {}
    assert result["result"] == "ABANDON"
    assert fake.operations().count("CompleteLifecycleAction") == 10
    workflow_failed.handler(failed, context)  # a duplicate delivery changes nothing
    assert fake.operations().count("CompleteLifecycleAction") == 10


def test_one_persistence_layer_keys_every_kind_of_side_effect(
    load_event: LoadEvent, launch: dict[str, Any], fake: FakeAws, context: LocalContext
) -> None:
    # GIVEN one idempotency layer (Powertools configures a layer once, on first use)
    policy = (EVENTS / "policy-valid.yaml").read_text()
    fake.add_parameter_version("/gwlbd/policy", policy)
    change = load_event("parameter-store-change-update.json")
    assert parameter_change.handler(change, context)["accepted"] is True
    # WHEN other side effects, keyed differently, go through it
    lifecycle_event.handler(launch, context)
    lifecycle_event.handler(launch, context)
    parameter_change.handler(dict(change, id="0a0a0a0a-0000-4000-8000-00000000000b"), context)
    # THEN each is still deduplicated on its own key
    assert fake.operations().count("StartExecution") == 1
    assert fake.operations().count("LabelParameterVersion") == 2


def test_finish_after_a_caught_error_records_its_message(
    load_event: LoadEvent, launch: dict[str, Any], fake: FakeAws, rt: Runtime, context: LocalContext
) -> None:
    result = workflow_steps.handler(load_event("workflow-step-finish-after-error.json"), context)
    assert result["result"] == "ABANDON"
    assert result["reason"] == (
        "workflow step failed: AwsCallError: RegisterTargets failed: ValidationError: "
        "instance is not in a valid state"
    )
    assert fake.operations() == ["DeregisterTargets", "CompleteLifecycleAction"]
