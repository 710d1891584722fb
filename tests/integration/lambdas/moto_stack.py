"""moto's HTTP server as the stack's AWS, with what moto lacks supplied around it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from lambdas.actions import LifecycleAction, Result
from lambdas.aws import TargetHealth
from lambdas.boto_adapter import Boto3Aws
from lambdas.errors import ActionGoneError

ROOT = Path(__file__).resolve().parents[3]
Call = tuple[str, str, dict[str, Any]]


@dataclass
class WaitingAction:
    """A lifecycle action moto cannot represent, kept by :class:`MotoGapsAws`."""

    action: LifecycleAction
    heartbeats: int = 0


class MotoGapsAws(Boto3Aws):
    """The boto3 adapter against moto's server, plus what moto does not implement.

    moto has no ``CompleteLifecycleAction``/``RecordLifecycleActionHeartbeat``, reports
    every target ``healthy`` at once and removes deregistered targets at once. This
    subclass keeps lifecycle actions itself, and overlays target health: a registered
    target is ``initial`` for ``checks_before_healthy`` looks, a deregistered one
    ``draining`` for ``drain_checks`` looks. Every AWS call (real or supplied) is
    recorded in :attr:`calls` as ``(service, operation, parameters)``.
    """

    def __init__(self, session: boto3.session.Session, endpoint_url: str) -> None:
        super().__init__(session, endpoint_url)
        self.calls: list[Call] = []
        self.waiting: dict[str, WaitingAction] = {}
        self.checks_before_healthy = 2
        self.drain_checks = 2
        self._initial: dict[str, int] = {}
        self._draining: dict[str, int] = {}
        for client in (self.ec2, self.elbv2, self.autoscaling, self.ssm, self.sns, self.sfn):
            client.meta.events.register("provide-client-params.*.*", self._record)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.service_model.service_name, model.name, dict(params)))

    def expect(self, action: LifecycleAction) -> None:
        """An instance now waits in a hook (moto never puts one in ``*:Wait``)."""
        self.waiting[action.token or action.instance_id] = WaitingAction(action)

    def _find(self, operation: str, action: LifecycleAction) -> str:
        key = action.token or action.instance_id
        if key not in self.waiting:
            raise ActionGoneError(operation, "ValidationError", "No active Lifecycle Action")
        return key

    def complete_lifecycle_action(self, action: LifecycleAction, result: Result) -> None:
        ref = action.token or action.instance_id
        self.calls.append(
            ("autoscaling", "CompleteLifecycleAction", {"Ref": ref, "Result": result.value})
        )
        del self.waiting[self._find("CompleteLifecycleAction", action)]

    def record_heartbeat(self, action: LifecycleAction) -> None:
        ref = action.token or action.instance_id
        self.calls.append(("autoscaling", "RecordLifecycleActionHeartbeat", {"Ref": ref}))
        self.waiting[self._find("RecordLifecycleActionHeartbeat", action)].heartbeats += 1

    def register_target(self, target_group_arn: str, instance_id: str) -> None:
        super().register_target(target_group_arn, instance_id)
        self._initial[instance_id] = self.checks_before_healthy

    def deregister_target(self, target_group_arn: str, instance_id: str) -> None:
        super().deregister_target(target_group_arn, instance_id)
        self._draining[instance_id] = self.drain_checks

    def target_health(
        self, target_group_arn: str, instance_id: str | None = None
    ) -> list[TargetHealth]:
        found = super().target_health(target_group_arn, instance_id)
        out = []
        for seen in found:
            left = self._initial.get(seen.instance_id, 0)
            if left > 0:
                self._initial[seen.instance_id] = left - 1
                out.append(TargetHealth(seen.instance_id, "initial", "Elb.RegistrationInProgress"))
            else:
                out.append(seen)
        for iid, left in list(self._draining.items()):
            if instance_id in (None, iid) and left > 0 and iid not in {t.instance_id for t in out}:
                self._draining[iid] = left - 1
                out.append(TargetHealth(iid, "draining", "Target.DeregistrationInProgress"))
        return out


@dataclass
class Stack:
    """The stack's resources, created in moto."""

    session: boto3.session.Session
    endpoint: str
    target_group_arn: str
    asg_name: str
    state_machine_arn: str
    topic_arn: str


def session() -> boto3.session.Session:
    """A session with fake credentials."""
    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )


def create_stack(endpoint: str) -> Stack:
    """VPC, GWLB, GENEVE target group, listener, ASG with hooks, tables, topic, workflow."""
    s = session()
    ec2 = s.client("ec2", endpoint_url=endpoint)
    elbv2 = s.client("elbv2", endpoint_url=endpoint)
    asg = s.client("autoscaling", endpoint_url=endpoint)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    lb = elbv2.create_load_balancer(Name="gwlbd", Type="gateway", Subnets=[subnet])
    lb_arn = lb["LoadBalancers"][0]["LoadBalancerArn"]
    tg = elbv2.create_target_group(
        Name="gwlbd-geneve",
        Protocol="GENEVE",
        Port=6081,
        VpcId=vpc,
        HealthCheckProtocol="HTTP",
        HealthCheckPort="80",
        HealthCheckPath="/healthz",
        TargetType="instance",
    )["TargetGroups"][0]["TargetGroupArn"]
    elbv2.create_listener(
        LoadBalancerArn=lb_arn, DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}]
    )
    ec2.create_launch_template(
        LaunchTemplateName="gwlbd",
        LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "c7g.large"},
    )
    asg.create_auto_scaling_group(
        AutoScalingGroupName="gwlbd-appliances",
        LaunchTemplate={"LaunchTemplateName": "gwlbd", "Version": "$Latest"},
        MinSize=0,
        MaxSize=2,
        DesiredCapacity=0,
        VPCZoneIdentifier=subnet,
    )
    for hook, transition in (
        ("gwlbd-launch", "autoscaling:EC2_INSTANCE_LAUNCHING"),
        ("gwlbd-terminate", "autoscaling:EC2_INSTANCE_TERMINATING"),
    ):
        asg.put_lifecycle_hook(
            AutoScalingGroupName="gwlbd-appliances",
            LifecycleHookName=hook,
            LifecycleTransition=transition,
            HeartbeatTimeout=900,
        )
    ddb = s.client("dynamodb", endpoint_url=endpoint)
    for name, key in (("gwlbd-state", "pk"), ("gwlbd-idempotency", "id")):
        ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    topic = s.client("sns", endpoint_url=endpoint).create_topic(Name="gwlbd-alerts")["TopicArn"]
    definition = (ROOT / "statemachine" / "lifecycle.asl.json").read_text()
    steps_arn = "arn:aws:lambda:us-east-1:123456789012:function:gwlbd-workflow-steps"
    machine = s.client("stepfunctions", endpoint_url=endpoint).create_state_machine(
        name="gwlbd-lifecycle",
        definition=definition.replace("${WorkflowStepsFunctionArn}", steps_arn),
        roleArn="arn:aws:iam::123456789012:role/gwlbd-lifecycle-workflow",
    )["stateMachineArn"]
    return Stack(s, endpoint, tg, "gwlbd-appliances", machine, topic)


def execution_input(stack: Stack, execution_arn: str) -> dict[str, Any]:
    """The input moto recorded for an execution."""
    sfn = stack.session.client("stepfunctions", endpoint_url=stack.endpoint)
    loaded: dict[str, Any] = json.loads(sfn.describe_execution(executionArn=execution_arn)["input"])
    return loaded
