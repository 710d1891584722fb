"""Scale-in and warm pools through the real handlers and the local state machine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lambdas.actions import LifecycleAction, Transition
from lambdas.fake_aws import FakeAws
from lambdas.handlers import lifecycle_event
from lambdas.local_workflow import LocalContext, LocalWorkflow
from lambdas.runtime import Runtime

LoadEvent = Callable[[str], dict[str, Any]]


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


def deliver(event: dict[str, Any], fake: FakeAws, context: LocalContext) -> dict[str, Any]:
    before = set(fake.workflows)
    lifecycle_event.handler(event, context)
    (name,) = set(fake.workflows) - before
    return fake.workflows[name]


def in_service(fake: FakeAws, rt: Runtime, instance: str) -> None:
    fake.add_instance(instance, rt.settings.asg_name, lifecycle_state="InService")
    fake.set_target(rt.settings.target_group_arn, instance, "healthy")


def test_terminate_deregisters_waits_for_draining_and_continues(
    load_event: LoadEvent,
    fake: FakeAws,
    rt: Runtime,
    workflow: LocalWorkflow,
    context: LocalContext,
) -> None:
    event = load_event("lifecycle-terminate.json")
    instance, token = event["detail"]["EC2InstanceId"], event["detail"]["LifecycleActionToken"]
    in_service(fake, rt, instance)
    fake.add_waiting_action(action_of(event))
    fake.drain_polls = 2
    run = workflow.run(deliver(event, fake, context))
    tg = rt.settings.target_group_arn
    assert fake.calls[1:] == [
        ("DeregisterTargets", {"TargetGroupArn": tg, "Id": instance}),
        ("DescribeTargetHealth", {"TargetGroupArn": tg, "Id": instance}),
        ("DescribeTargetHealth", {"TargetGroupArn": tg, "Id": instance}),
        ("DescribeTargetHealth", {"TargetGroupArn": tg, "Id": instance}),
        ("CompleteLifecycleAction", {"Ref": token, "Result": "CONTINUE"}),
    ]
    assert run.waited == 45
    record = rt.state.get_instance(instance)
    assert record is not None
    assert (record.state, record.last_action) == ("terminated", "CONTINUE")
    assert record.reason == "target drained and left the target group"
    assert [h["state"] for h in record.history] == ["draining", "draining", "terminated"]


def test_draining_longer_than_the_delay_continues_at_the_delay(
    load_event: LoadEvent,
    fake: FakeAws,
    rt: Runtime,
    workflow: LocalWorkflow,
    context: LocalContext,
) -> None:
    event = load_event("lifecycle-terminate.json")
    instance = event["detail"]["EC2InstanceId"]
    in_service(fake, rt, instance)
    fake.add_waiting_action(action_of(event))
    fake.drain_polls = 1000  # connections that never close
    run = workflow.run(deliver(event, fake, context))
    # deregistration delay 120 s, heartbeat every 60 s
    assert run.waited == 120
    assert fake.operations().count("RecordLifecycleActionHeartbeat") == 1
    assert run.output["finished"]["completed"]["reason"] == (
        "deregistration delay of 120s passed (target still draining)"
    )
    assert fake.operations()[-1] == "CompleteLifecycleAction"


def test_hook_timed_out_while_draining_is_recorded_not_retried(
    load_event: LoadEvent,
    fake: FakeAws,
    rt: Runtime,
    workflow: LocalWorkflow,
    context: LocalContext,
) -> None:
    event = load_event("lifecycle-terminate.json")
    instance = event["detail"]["EC2InstanceId"]
    in_service(fake, rt, instance)
    fake.drain_polls = 1000
    # no waiting action in the fake: the hook already timed out
    run = workflow.run(deliver(event, fake, context))
    assert run.status == "SUCCEEDED"
    completed = run.output["finished"]["completed"]
    assert completed["completed"] is False
    assert "lifecycle action no longer active" in completed["reason"]
    assert fake.operations().count("CompleteLifecycleAction") == 1


def test_launch_into_warm_pool_prepares_without_registering(
    load_event: LoadEvent,
    fake: FakeAws,
    rt: Runtime,
    workflow: LocalWorkflow,
    context: LocalContext,
) -> None:
    event = load_event("lifecycle-launch-into-warm-pool.json")
    instance, token = event["detail"]["EC2InstanceId"], event["detail"]["LifecycleActionToken"]
    fake.add_instance(instance, rt.settings.asg_name)
    fake.add_waiting_action(action_of(event))
    run = workflow.run(deliver(event, fake, context))
    assert fake.operations() == [
        "StartExecution",
        "DescribeInstances",
        "ModifyInstanceAttribute",
        "CreateTags",
        "CompleteLifecycleAction",
    ]
    assert fake.calls[-1][1] == {"Ref": token, "Result": "CONTINUE"}
    assert run.visited == ["Begin", "Decided", "Finish"]
    record = rt.state.get_instance(instance)
    assert record is not None
    assert record.extra.get("warm_pool") is True
    assert record.state == "launching"


def test_launch_from_warm_pool_registers_and_waits(
    load_event: LoadEvent,
    fake: FakeAws,
    rt: Runtime,
    workflow: LocalWorkflow,
    context: LocalContext,
) -> None:
    event = load_event("lifecycle-launch-from-warm-pool.json")
    instance = event["detail"]["EC2InstanceId"]
    fake.add_instance(instance, rt.settings.asg_name)
    fake.add_waiting_action(action_of(event))
    run = workflow.run(deliver(event, fake, context))
    assert "RegisterTargets" in fake.operations()
    assert run.output["finished"]["completed"]["result"] == "CONTINUE"
    record = rt.state.get_instance(instance)
    assert record is not None
    assert record.state == "in-service"


def test_terminate_from_warm_pool_continues_at_once(
    load_event: LoadEvent,
    fake: FakeAws,
    rt: Runtime,
    workflow: LocalWorkflow,
    context: LocalContext,
) -> None:
    event = load_event("lifecycle-terminate-from-warm-pool.json")
    instance = event["detail"]["EC2InstanceId"]
    fake.add_instance(instance, rt.settings.asg_name, lifecycle_state="Warmed:Stopped")
    fake.add_waiting_action(action_of(event))
    run = workflow.run(deliver(event, fake, context))
    assert fake.operations() == ["StartExecution", "CompleteLifecycleAction"]
    assert run.output["finished"]["completed"]["reason"] == (
        "terminated from the warm pool; never registered"
    )
