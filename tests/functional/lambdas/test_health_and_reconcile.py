"""Health sweep (alarm and schedule) and the reconciler's repairs, against the fake."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from lambdas.actions import LifecycleAction, Transition
from lambdas.fake_aws import FakeAws
from lambdas.handlers import health_alarm, lifecycle_event, schedule
from lambdas.local_workflow import LocalContext, LocalWorkflow
from lambdas.runtime import Runtime

LoadEvent = Callable[[str], dict[str, Any]]
A, B, C = "i-0aaaaaaaaaaaaaaa1", "i-0bbbbbbbbbbbbbbb2", "i-0ccccccccccccccc3"


def serving(fake: FakeAws, rt: Runtime, *instances: str) -> None:
    for instance in instances:
        fake.add_instance(instance, rt.settings.asg_name, lifecycle_state="InService")
        fake.instances[instance].enis = {f"eni-{instance[2:]}": False}
        fake.set_target(rt.settings.target_group_arn, instance, "healthy")


def test_unhealthy_target_is_replaced_after_the_grace_only(
    load_event: LoadEvent, fake: FakeAws, rt: Runtime, clock: Any, context: LocalContext
) -> None:
    serving(fake, rt, A, B)
    fake.set_target(rt.settings.target_group_arn, A, "unhealthy")
    alarm = load_event("alarm-unhealthy-hosts.json")
    # WHEN the alarm fires: A is noted, not yet replaced (grace 90 s)
    first = health_alarm.handler(alarm, context)
    assert (first["unhealthy"], first["replaced"]) == ([A], [])
    clock.advance(60)
    assert health_alarm.handler(alarm, context)["replaced"] == []
    # THEN once the grace has passed, Auto Scaling is told, once
    clock.advance(31)
    assert health_alarm.handler(alarm, context)["replaced"] == [A]
    assert [p for op, p in fake.calls if op == "SetInstanceHealth"] == [
        {"InstanceId": A, "HealthStatus": "Unhealthy"}
    ]
    health_alarm.handler(alarm, context)  # already Unhealthy in the ASG: not again
    assert fake.operations().count("SetInstanceHealth") == 1
    record = rt.state.get_instance(A)
    assert record is not None
    assert record.state == "unhealthy"
    assert record.reason.startswith("target unhealthy (Target.FailedHealthChecks) for 91s")


def test_target_recovering_within_the_grace_is_left_alone(
    load_event: LoadEvent, fake: FakeAws, rt: Runtime, clock: Any, context: LocalContext
) -> None:
    serving(fake, rt, A)
    fake.set_target(rt.settings.target_group_arn, A, "unhealthy")
    alarm = load_event("alarm-unhealthy-hosts.json")
    health_alarm.handler(alarm, context)
    fake.set_target(rt.settings.target_group_arn, A, "healthy")
    clock.advance(60)
    assert health_alarm.handler(alarm, context)["recovered"] == [A]
    fake.set_target(rt.settings.target_group_arn, A, "unhealthy")
    clock.advance(60)  # a new unhealthy period starts from zero
    assert health_alarm.handler(alarm, context)["replaced"] == []
    assert "SetInstanceHealth" not in fake.operations()


def test_reconciler_repairs_every_kind_of_drift_and_reports_it(
    load_event: LoadEvent, fake: FakeAws, rt: Runtime, context: LocalContext
) -> None:
    tg = rt.settings.target_group_arn
    serving(fake, rt, A, B)
    fake.set_target(tg, A, "absent")  # InService but not registered
    fake.instances[B].enis[f"eni-{B[2:]}"] = True  # source/dest check turned back on
    fake.set_target(tg, C, "healthy")  # a target whose instance is not in the group
    result = schedule.handler(load_event("schedule-reconcile.json"), context)
    kinds = sorted((r["kind"], r["instance_id"]) for r in result["repairs"])
    assert kinds == [
        ("deregistered-orphan-target", C),
        ("disabled-source-dest-check", B),
        ("registered-missing-target", A),
    ]
    assert ("RegisterTargets", {"TargetGroupArn": tg, "Id": A}) in fake.calls
    assert ("ModifyInstanceAttribute", {"InstanceId": B, "SourceDestCheck": False}) in fake.calls
    assert ("DeregisterTargets", {"TargetGroupArn": tg, "Id": C}) in fake.calls
    ((_topic, subject, message),) = fake.alerts
    assert subject == "gwlbd: reconciler repaired 3 drift(s)"
    assert {r["kind"] for r in json.loads(message)} == {k for k, _ in kinds}
    # a second pass finds nothing left to repair
    fake.calls.clear()
    assert schedule.handler(load_event("schedule-reconcile.json"), context)["repairs"] == []
    assert "Publish" not in fake.operations()


def test_missed_launch_event_is_restarted_once_and_a_late_event_is_not_doubled(
    load_event: LoadEvent,
    fake: FakeAws,
    rt: Runtime,
    clock: Any,
    context: LocalContext,
    workflow: LocalWorkflow,
) -> None:
    event = load_event("lifecycle-launch.json")
    instance = event["detail"]["EC2InstanceId"]
    fake.add_instance(instance, rt.settings.asg_name)
    waiting = LifecycleAction(
        instance_id=instance,
        asg_name=rt.settings.asg_name,
        hook_name=rt.settings.launch_hook_name,
        transition=Transition.LAUNCH,
        token=event["detail"]["LifecycleActionToken"],
        key="k",
    )
    fake.add_waiting_action(waiting)
    tick = load_event("schedule-reconcile.json")
    # GIVEN the launch event never arrives: the first pass only notes the waiting instance
    assert schedule.handler(tick, context)["repairs"] == []
    assert fake.workflows == {}
    clock.advance(61)
    # WHEN the grace has passed, the reconciler starts the workflow itself
    (repair,) = schedule.handler(tick, context)["repairs"]
    assert repair["kind"] == "restarted-missed-action"
    (doc,) = fake.workflows.values()
    assert doc["action"]["token"] is None
    # AND the event, arriving late, does not start a second one
    late = lifecycle_event.handler(event, context)
    assert late == {
        "started": False,
        "execution": late["execution"],
        "reason": "the reconciler already restarted this action",
    }
    assert len(fake.workflows) == 1
    # THEN the restarted workflow completes the action by instance id
    run = workflow.run(doc)
    assert run.output["finished"]["completed"]["result"] == "CONTINUE"
    assert [p for op, p in fake.calls if op == "CompleteLifecycleAction"] == [
        {"Ref": instance, "Result": "CONTINUE"}
    ]
    assert fake.waiting == {}


def test_record_of_an_instance_that_vanished_is_closed(
    load_event: LoadEvent, fake: FakeAws, rt: Runtime, clock: Any, context: LocalContext
) -> None:
    serving(fake, rt, A)
    fake.set_target(rt.settings.target_group_arn, A, "unhealthy")
    health_alarm.handler(load_event("alarm-unhealthy-hosts.json"), context)  # creates a record
    fake.terminate_instance(A)
    fake.set_target(rt.settings.target_group_arn, A, "absent")
    result = schedule.handler(load_event("schedule-reconcile.json"), context)
    assert [(r["kind"], r["instance_id"]) for r in result["repairs"]] == [
        ("closed-stale-record", A)
    ]
    record = rt.state.get_instance(A)
    assert record is not None
    assert record.state == "terminated"
