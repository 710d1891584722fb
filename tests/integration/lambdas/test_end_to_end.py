"""Launch and terminate, end to end, against moto's HTTP server.

The same code the deployed workflow runs: the lifecycle event handler starts a real
(moto) Step Functions execution; its recorded input is walked through the state machine
definition by the local runner, each Task invoking the real ``workflow_steps`` handler,
which talks to moto over HTTP through the boto3 adapter. What moto lacks (lifecycle
completion and heartbeats, ``initial`` and ``draining`` target states) is supplied by
:class:`MotoGapsAws`; every AWS call is recorded and asserted.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from lambdas.actions import LifecycleAction, Transition
from lambdas.handlers import lifecycle_event
from lambdas.local_workflow import LocalContext, LocalWorkflow, handler_invoke
from lambdas.runtime import Runtime

from .conftest import Clock
from .moto_stack import ROOT, MotoGapsAws, Stack, execution_input


def sample(name: str, instance_id: str, asg_name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / name).read_text())
    event["detail"].update(EC2InstanceId=instance_id, AutoScalingGroupName=asg_name)
    return event


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


def ops(gaps: MotoGapsAws) -> list[str]:
    return [f"{service}:{op}" for service, op, _ in gaps.calls]


@pytest.mark.slow
def test_launch_then_terminate_through_the_workflow(
    stack: Stack, gaps: MotoGapsAws, rt: Runtime, clock: Clock
) -> None:
    s = stack.session
    asg = s.client("autoscaling", endpoint_url=stack.endpoint)
    ec2 = s.client("ec2", endpoint_url=stack.endpoint)
    elbv2 = s.client("elbv2", endpoint_url=stack.endpoint)
    context = LocalContext("gwlbd-e2e")
    workflow = LocalWorkflow(handler_invoke(context), clock.advance)

    # GIVEN the group scales out by one instance, which waits in the launch hook
    asg.set_desired_capacity(AutoScalingGroupName=stack.asg_name, DesiredCapacity=1)
    (group,) = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[stack.asg_name])[
        "AutoScalingGroups"
    ]
    instance = group["Instances"][0]["InstanceId"]
    launch = sample("lifecycle-launch.json", instance, stack.asg_name)
    token = launch["detail"]["LifecycleActionToken"]
    gaps.expect(action_of(launch))

    # WHEN EventBridge delivers the launch event, and the workflow runs
    started = lifecycle_event.handler(launch, context)
    run = workflow.run(execution_input(stack, started["execution"]))

    # THEN these exact calls were made, and the action was continued once
    tg = stack.target_group_arn
    off, managed = {"Value": False}, {"Key": "gwlbd:managed", "Value": "true"}
    assert gaps.calls == [
        (
            "stepfunctions",
            "StartExecution",
            {
                "stateMachineArn": stack.state_machine_arn,
                "name": action_of(launch).execution_name(),
                "input": gaps.calls[0][2]["input"],
            },
        ),
        ("ec2", "DescribeInstances", {"InstanceIds": [instance]}),
        ("ec2", "ModifyInstanceAttribute", {"InstanceId": instance, "SourceDestCheck": off}),
        ("ec2", "CreateTags", {"Resources": [instance], "Tags": [managed]}),
        ("elbv2", "RegisterTargets", {"TargetGroupArn": tg, "Targets": [{"Id": instance}]}),
        ("ec2", "DescribeInstances", {"InstanceIds": [instance]}),  # t+15 s: initial
        ("elbv2", "DescribeTargetHealth", {"TargetGroupArn": tg, "Targets": [{"Id": instance}]}),
        ("ec2", "DescribeInstances", {"InstanceIds": [instance]}),  # t+30 s: initial
        ("elbv2", "DescribeTargetHealth", {"TargetGroupArn": tg, "Targets": [{"Id": instance}]}),
        ("autoscaling", "RecordLifecycleActionHeartbeat", {"Ref": token}),  # due at t+20 s
        ("ec2", "DescribeInstances", {"InstanceIds": [instance]}),  # t+45 s: healthy
        ("elbv2", "DescribeTargetHealth", {"TargetGroupArn": tg, "Targets": [{"Id": instance}]}),
        ("autoscaling", "CompleteLifecycleAction", {"Ref": token, "Result": "CONTINUE"}),
    ]  # fmt: skip
    assert run.status == "SUCCEEDED"
    assert gaps.waiting == {}
    # AND moto's view agrees: source/dest check off, tagged, registered
    attr = ec2.describe_instance_attribute(InstanceId=instance, Attribute="sourceDestCheck")
    assert attr["SourceDestCheck"]["Value"] is False
    (reservation,) = ec2.describe_instances(InstanceIds=[instance])["Reservations"]
    assert {"Key": "gwlbd:managed", "Value": "true"} in reservation["Instances"][0]["Tags"]
    targets = elbv2.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
    assert [t["Target"]["Id"] for t in targets] == [instance]
    record = rt.state.get_instance(instance)
    assert record is not None
    assert (record.state, record.last_action, record.lifecycle_token) == (
        "in-service",
        "CONTINUE",
        token,
    )

    # GIVEN the group scales in: the instance waits in the terminate hook
    gaps.calls.clear()
    terminate = sample("lifecycle-terminate.json", instance, stack.asg_name)
    gaps.expect(action_of(terminate))
    # WHEN the terminate event arrives twice (at-least-once delivery) and the workflow runs
    started = lifecycle_event.handler(terminate, context)
    assert lifecycle_event.handler(terminate, context) == started
    run = workflow.run(execution_input(stack, started["execution"]))
    # THEN the target was deregistered, drained, and the action continued once
    token = terminate["detail"]["LifecycleActionToken"]
    assert ops(gaps) == [
        "stepfunctions:StartExecution",
        "elbv2:DeregisterTargets",
        "elbv2:DescribeTargetHealth",  # t+15 s: draining
        "elbv2:DescribeTargetHealth",  # t+30 s: draining
        "autoscaling:RecordLifecycleActionHeartbeat",  # due at t+20 s
        "elbv2:DescribeTargetHealth",  # t+45 s: gone
        "autoscaling:CompleteLifecycleAction",
    ]
    assert gaps.calls[-1][2] == {"Ref": token, "Result": "CONTINUE"}
    assert elbv2.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"] == []
    record = rt.state.get_instance(instance)
    assert record is not None
    assert [h["state"] for h in record.history] == [
        "launching", "registering", "waiting-healthy", "in-service",
        "draining", "draining", "terminated",
    ]  # fmt: skip
    assert record.reason == "target drained and left the target group"
