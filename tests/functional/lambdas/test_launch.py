"""Scale-out through the real handlers and the state machine run locally (fake AWS)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lambdas.actions import LifecycleAction, Transition
from lambdas.errors import ThrottledError
from lambdas.fake_aws import FakeAws
from lambdas.handlers import lifecycle_event
from lambdas.local_workflow import LocalContext, LocalWorkflow, handler_invoke
from lambdas.runtime import Runtime

INSTANCE = "i-0a1b2c3d4e5f60718"
TOKEN = "c2b6f9e1-3a4d-4e5f-8a9b-0c1d2e3f4a5b"

LoadEvent = Callable[[str], dict[str, Any]]


def launch_action(event: dict[str, Any]) -> LifecycleAction:
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
def launch_event(load_event: LoadEvent, fake: FakeAws, rt: Runtime) -> dict[str, Any]:
    """The sample launch event, with its instance waiting in Pending:Wait."""
    event = load_event("lifecycle-launch.json")
    fake.add_instance(INSTANCE, rt.settings.asg_name)
    fake.add_waiting_action(launch_action(event))
    return event


def start(event: dict[str, Any], fake: FakeAws, context: LocalContext) -> dict[str, Any]:
    """Deliver the event; return the workflow input the handler started."""
    lifecycle_event.handler(event, context)
    (doc,) = fake.workflows.values()
    return doc


def completions(fake: FakeAws) -> list[dict[str, Any]]:
    return [params for op, params in fake.calls if op == "CompleteLifecycleAction"]


def test_launch_registers_waits_healthy_and_continues(
    launch_event: dict[str, Any],
    fake: FakeAws,
    rt: Runtime,
    workflow: LocalWorkflow,
    context: LocalContext,
) -> None:
    # GIVEN a target that passes its health check on the third look
    fake.health_checks_to_pass = 2
    # WHEN the launch event arrives and the workflow runs
    run = workflow.run(start(launch_event, fake, context))
    # THEN exactly these calls were made, in this order
    tg = rt.settings.target_group_arn
    assert fake.calls == [
        (
            "StartExecution",
            {"stateMachineArn": rt.settings.state_machine_arn, "name": run_name(fake)},
        ),
        ("DescribeInstances", {"InstanceIds": [INSTANCE]}),
        ("ModifyInstanceAttribute", {"InstanceId": INSTANCE, "SourceDestCheck": False}),
        ("CreateTags", {"Resources": [INSTANCE], "Tags": {"gwlbd:managed": "true"}}),
        ("RegisterTargets", {"TargetGroupArn": tg, "Id": INSTANCE}),
        ("DescribeInstances", {"InstanceIds": [INSTANCE]}),
        ("DescribeTargetHealth", {"TargetGroupArn": tg, "Id": INSTANCE}),
        ("DescribeInstances", {"InstanceIds": [INSTANCE]}),
        ("DescribeTargetHealth", {"TargetGroupArn": tg, "Id": INSTANCE}),
        ("DescribeInstances", {"InstanceIds": [INSTANCE]}),
        ("DescribeTargetHealth", {"TargetGroupArn": tg, "Id": INSTANCE}),
        ("CompleteLifecycleAction", {"Ref": TOKEN, "Result": "CONTINUE"}),
    ]
    assert run.status == "SUCCEEDED"
    assert run.visited == [
        "Begin", "Decided", "Wait", "Check", "Decided", "Wait", "Check", "Decided",
        "Wait", "Check", "Decided", "Finish",
    ]  # fmt: skip
    assert run.output["finished"]["completed"]["result"] == "CONTINUE"
    assert fake.instances[INSTANCE].enis == {"eni-0a1b2c3d4e5f6071800": False}
    assert fake.groups[rt.settings.asg_name][INSTANCE].lifecycle_state == "InService"
    record = rt.state.get_instance(INSTANCE)
    assert record is not None
    assert (record.state, record.last_action) == ("in-service", "CONTINUE")
    assert record.reason == "target healthy after 3 check(s)"
    assert record.lifecycle_token == TOKEN
    assert [h["state"] for h in record.history] == [
        "launching", "registering", "waiting-healthy", "in-service",
    ]  # fmt: skip


def run_name(fake: FakeAws) -> str:
    (name,) = fake.workflows
    return name


def test_several_enis_are_changed_one_by_one(
    load_event: LoadEvent,
    fake: FakeAws,
    rt: Runtime,
    workflow: LocalWorkflow,
    context: LocalContext,
) -> None:
    event = load_event("lifecycle-launch.json")
    fake.add_instance(INSTANCE, rt.settings.asg_name, enis=3)
    fake.add_waiting_action(launch_action(event))
    workflow.run(start(event, fake, context))
    changed = [p["NetworkInterfaceId"] for op, p in fake.calls if op.startswith("Modify")]
    assert changed == [f"eni-0a1b2c3d4e5f60718{n:02d}" for n in range(3)]
    assert "ModifyInstanceAttribute" not in fake.operations()
    assert set(fake.instances[INSTANCE].enis.values()) == {False}


def test_health_never_passing_deregisters_and_abandons_with_heartbeats(
    launch_event: dict[str, Any],
    fake: FakeAws,
    rt: Runtime,
    workflow: LocalWorkflow,
    context: LocalContext,
) -> None:
    # GIVEN a target that never passes (healthy_timeout 300 s, polls every 15 s)
    fake.healthy_after_checks = False
    run = workflow.run(start(launch_event, fake, context))
    ops = fake.operations()
    # THEN the hook was kept alive (heartbeat every 60 s) ...
    assert ops.count("RecordLifecycleActionHeartbeat") == 4
    # ... and at the deadline the target was deregistered before one ABANDON
    assert ops[-2:] == ["DeregisterTargets", "CompleteLifecycleAction"]
    assert completions(fake) == [{"Ref": TOKEN, "Result": "ABANDON"}]
    assert run.waited == 300
    record = rt.state.get_instance(INSTANCE)
    assert record is not None
    assert (record.state, record.last_action) == ("abandoned", "ABANDON")
    assert record.reason == (
        "not healthy within 300s (last state initial: Elb.RegistrationInProgress)"
    )
    assert fake.instances[INSTANCE].state == "terminated"  # a launch ABANDON terminates


def test_instance_terminated_mid_launch_is_abandoned_once(
    launch_event: dict[str, Any],
    fake: FakeAws,
    rt: Runtime,
    context: LocalContext,
) -> None:
    # GIVEN the instance dies while the workflow waits for its health check
    fake.healthy_after_checks = False
    invoke_count = {"n": 0}
    real = handler_invoke(context)

    def invoke(payload: dict[str, Any]) -> dict[str, Any]:
        invoke_count["n"] += 1
        if payload["step"] == "check" and invoke_count["n"] == 3:
            fake.instances[INSTANCE].state = "terminated"
        return real(payload)

    run = LocalWorkflow(invoke, lambda s: None).run(start(launch_event, fake, context))
    assert completions(fake) == [{"Ref": TOKEN, "Result": "ABANDON"}]
    assert run.output["finished"]["completed"]["reason"].startswith(
        f"instance {INSTANCE} terminated while waiting for its health check"
    )
    record = rt.state.get_instance(INSTANCE)
    assert record is not None
    assert record.state == "abandoned"


def test_throttled_registration_is_retried_by_the_workflow(
    launch_event: dict[str, Any],
    fake: FakeAws,
    rt: Runtime,
    workflow: LocalWorkflow,
    context: LocalContext,
) -> None:
    fake.fail("RegisterTargets", ThrottledError("RegisterTargets", "Throttling", "slow down"), 2)
    run = workflow.run(start(launch_event, fake, context))
    assert fake.operations().count("RegisterTargets") == 3
    assert run.visited[:3] == ["Begin", "Begin", "Begin"]
    assert completions(fake) == [{"Ref": TOKEN, "Result": "CONTINUE"}]


def test_throttling_that_never_stops_abandons_the_launch(
    launch_event: dict[str, Any],
    fake: FakeAws,
    rt: Runtime,
    workflow: LocalWorkflow,
    context: LocalContext,
) -> None:
    # GIVEN RegisterTargets throttled beyond the workflow's 6 retries
    fake.fail("RegisterTargets", ThrottledError("RegisterTargets", "Throttling", "slow down"), 7)
    run = workflow.run(start(launch_event, fake, context))
    # THEN the Catch sends the action to Finish: deregister (cleanup), then one ABANDON
    assert fake.operations().count("RegisterTargets") == 7
    assert completions(fake) == [{"Ref": TOKEN, "Result": "ABANDON"}]
    reason = run.output["finished"]["completed"]["reason"]
    assert reason.startswith("workflow step failed: ThrottledError: RegisterTargets failed")
    record = rt.state.get_instance(INSTANCE)
    assert record is not None
    assert record.reason == reason


def test_instance_gone_before_begin_is_abandoned_without_registering(
    launch_event: dict[str, Any],
    fake: FakeAws,
    rt: Runtime,
    workflow: LocalWorkflow,
    context: LocalContext,
) -> None:
    fake.instances[INSTANCE].state = "shutting-down"  # e.g. a spot interruption
    run = workflow.run(start(launch_event, fake, context))
    assert fake.operations() == [
        "StartExecution",
        "DescribeInstances",
        "DeregisterTargets",  # harmless cleanup: it was never registered
        "CompleteLifecycleAction",
    ]
    assert run.visited == ["Begin", "Decided", "Finish"]
    assert completions(fake) == [{"Ref": TOKEN, "Result": "ABANDON"}]
    assert run.output["finished"]["completed"]["reason"] == (
        f"instance {INSTANCE} terminated before it could be prepared"
    )


def test_failing_health_check_is_named_in_the_reason(
    monkeypatch: pytest.MonkeyPatch,
    launch_event: dict[str, Any],
    fake: FakeAws,
    rt: Runtime,
    workflow: LocalWorkflow,
    context: LocalContext,
) -> None:
    # GIVEN gwlbd answers 503 on its health endpoint: the target turns unhealthy
    real_register = fake.register_target

    def register_unhealthy(tg: str, instance_id: str) -> None:
        real_register(tg, instance_id)
        fake.set_target(tg, instance_id, "unhealthy")

    monkeypatch.setattr(fake, "register_target", register_unhealthy)
    run = workflow.run(start(launch_event, fake, context))
    assert run.output["finished"]["completed"]["reason"] == (
        "not healthy within 300s (last state unhealthy: Target.FailedHealthChecks)"
    )
    assert completions(fake) == [{"Ref": TOKEN, "Result": "ABANDON"}]
