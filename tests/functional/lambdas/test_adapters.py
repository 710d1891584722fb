"""The boto3 adapter and the DynamoDB state store against moto in-process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from lambdas.actions import LifecycleAction, Transition
from lambdas.boto_adapter import Boto3Aws, translate
from lambdas.errors import ActionGoneError, AwsCallError, InstanceGoneError, ThrottledError
from lambdas.records import HISTORY_LIMIT, InstanceState
from lambdas.state import DynamoStateStore


@pytest.fixture
def session() -> Iterator[boto3.session.Session]:
    with mock_aws():
        yield boto3.session.Session(region_name="us-east-1")


@pytest.fixture
def aws(session: boto3.session.Session) -> Boto3Aws:
    return Boto3Aws(session)


def error(code: str, message: str = "m") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "Op")


@pytest.mark.parametrize(
    ("code", "message", "kind"),
    [
        ("Throttling", "Rate exceeded", ThrottledError),
        ("RequestLimitExceeded", "", ThrottledError),
        ("InvalidInstanceID.NotFound", "", InstanceGoneError),
        ("ValidationError", "No active Lifecycle Action found with token x", ActionGoneError),
        ("ValidationError", "something else", AwsCallError),
    ],
)
def test_errors_are_translated(code: str, message: str, kind: type[AwsCallError]) -> None:
    err = translate("CompleteLifecycleAction", error(code, message))
    assert type(err) is kind
    assert (err.operation, err.code) == ("CompleteLifecycleAction", code)


def test_instances_enis_and_source_dest_check(
    session: boto3.session.Session, aws: Boto3Aws
) -> None:
    ec2 = session.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=subnet)[
        "Instances"
    ][0]["InstanceId"]
    info = aws.describe_instance(instance)
    assert info is not None
    assert (info.state, len(info.enis), info.enis[0].source_dest_check) == ("running", 1, True)
    aws.set_instance_source_dest_check(instance, False)
    aws.set_eni_source_dest_check(info.enis[0].eni_id, False)
    attr = ec2.describe_instance_attribute(InstanceId=instance, Attribute="sourceDestCheck")
    assert attr["SourceDestCheck"]["Value"] is False
    aws.tag_instance(instance, {"gwlbd:managed": "true"})
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [instance]}])["Tags"]
    assert [(t["Key"], t["Value"]) for t in tags] == [("gwlbd:managed", "true")]
    assert aws.describe_instance("i-0000000000000dead") is None


def test_targets_parameters_topic_and_workflow(
    session: boto3.session.Session, aws: Boto3Aws
) -> None:
    ec2, elbv2 = session.client("ec2"), session.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=subnet)[
        "Instances"
    ][0]["InstanceId"]
    tg = elbv2.create_target_group(Name="g", Protocol="GENEVE", Port=6081, VpcId=vpc)[
        "TargetGroups"
    ][0]["TargetGroupArn"]
    assert aws.target_health(tg, instance) == []
    aws.register_target(tg, instance)
    assert [t.instance_id for t in aws.target_health(tg)] == [instance]
    aws.deregister_target(tg, instance)
    assert aws.target_health(tg, instance) == []

    ssm = session.client("ssm")
    ssm.put_parameter(Name="/gwlbd/policy", Value="one", Type="String")
    ssm.put_parameter(Name="/gwlbd/policy", Value="two", Type="String", Overwrite=True)
    newest = aws.get_parameter("/gwlbd/policy")
    assert (newest.value, newest.version) == ("two", 2)
    assert aws.get_parameter("/gwlbd/policy", 1).value == "one"
    aws.label_parameter_version("/gwlbd/policy", 1, "live")
    assert ssm.get_parameter(Name="/gwlbd/policy:live")["Parameter"]["Value"] == "one"
    assert aws.send_command("gwlbd-appliances", ["gwlbd policy reload"], "reload")

    topic = session.client("sns").create_topic(Name="alerts")["TopicArn"]
    aws.publish_alert(topic, "subject", "message")

    sfn = session.client("stepfunctions")
    machine = sfn.create_state_machine(
        name="m",
        definition=json.dumps({"StartAt": "S", "States": {"S": {"Type": "Succeed"}}}),
        roleArn="arn:aws:iam::123456789012:role/r",
    )["stateMachineArn"]
    first = aws.start_workflow(machine, "launch-x", {"a": 1})
    assert aws.start_workflow(machine, "launch-x", {"a": 1}) == first  # already exists: fine
    described = sfn.describe_execution(executionArn=first)
    assert json.loads(described["input"]) == {"a": 1}


def test_requests_refused_by_botocore_surface_as_aws_errors(aws: Boto3Aws) -> None:
    action = LifecycleAction(
        instance_id="i-0123456789abcdef0",
        asg_name="g",
        hook_name="h",
        transition=Transition.LAUNCH,
        token="c2b6f9e1-3a4d-4e5f-8a9b-0c1d2e3f4a5b",
        key="c2b6f9e1-3a4d-4e5f-8a9b-0c1d2e3f4a5b",
    )
    # a request botocore refuses before sending is reported as a typed error too
    with pytest.raises(AwsCallError, match="ParamValidationError"):
        aws.record_heartbeat(action.model_copy(update={"token": "short"}))


@pytest.fixture
def store(session: boto3.session.Session) -> DynamoStateStore:
    session.client("dynamodb").create_table(
        TableName="state",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return DynamoStateStore("state", session)


def record(store: DynamoStateStore, n: int, **kw: Any) -> None:
    store.record_instance(
        "i-0123456789abcdef0",
        asg_name="g",
        state=InstanceState.DRAINING,
        reason=f"step {n}",
        last_action="check",
        now=1_764_438_000.0 + n,
        **kw,
    )


def test_state_store_bounds_history_and_survives_a_race(
    store: DynamoStateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(HISTORY_LIMIT + 3):
        record(store, n)
    # GIVEN another writer updates the item between our read and our write
    real_get = store.get_instance
    raced = {"done": False}

    def racing_get(instance_id: str) -> Any:
        found = real_get(instance_id)
        if not raced["done"]:
            raced["done"] = True
            record(store, 100)
        return found

    monkeypatch.setattr(store, "get_instance", racing_get)
    record(store, 200)
    monkeypatch.undo()
    final = store.get_instance("i-0123456789abcdef0")
    assert final is not None
    # THEN neither write was lost
    assert [h["reason"] for h in final.history[-2:]] == ["step 100", "step 200"]
    assert len(final.history) == HISTORY_LIMIT
    assert final.revision == HISTORY_LIMIT + 5


def test_state_store_fields_and_scan(store: DynamoStateStore) -> None:
    record(store, 0, token="tok")
    store.set_instance_fields(
        "i-0123456789abcdef0", {"unhealthy_since": "x", "waiting_seen_at": None}
    )
    (only,) = store.instances()
    assert only.extra["unhealthy_since"] == "x"
    store.set_instance_fields("i-0123456789abcdef0", {"unhealthy_since": None})
    assert "unhealthy_since" not in store.instances()[0].extra
    store.record_policy(
        parameter="/p",
        desired_version="2",
        desired_label="v2",
        live_version="2",
        now=1.0,
        last_error=None,
    )
    assert [r.instance_id for r in store.instances()] == ["i-0123456789abcdef0"]
    assert store.get_policy("/p") == {
        "pk": "POLICY#/p",
        "parameter": "/p",
        "desired_version": "2",
        "desired_label": "v2",
        "live_version": "2",
        "updated_at": "1970-01-01T00:00:01Z",
    }
