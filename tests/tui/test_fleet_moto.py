"""The AWS fleet source against moto's HTTP server: ASG, EC2, target health, state table, stack.

Instances' status APIs are reached through ``targets`` overrides: one points at a real
control-plane server on 127.0.0.1, the other at a closed local port (unreachable).
"""

from __future__ import annotations

import json
import socket
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from appliance.control.fake import FakeStatusProvider
from appliance.control.http import ControlServer, ControlSettings
from tui.errors import ActionError, SourceError
from tui.explain import FlowQuestion, explain, load_policy
from tui.fake import DEMO_POLICY
from tui.fleet_source import FleetSettings, FleetSource
from tui.model import AdminAction, FetchRequest
from tui.rates import RateTracker
from tui.views import BUILDERS, RenderContext

REGION = "us-east-1"
ASG = "gwlbd-test-asg"
TABLE = "gwlbd-test-state"


@pytest.fixture
def moto_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    # moto's backends are per process: start every test from an empty account
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"))
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture
def status_server() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="gwlbtop-") as tmp:
        settings = ControlSettings(
            health_host="127.0.0.1", health_port=0, admin_socket=str(Path(tmp) / "a.sock")
        )
        with ControlServer(FakeStatusProvider(), settings) as control:
            address = control.health_address
            assert address is not None
            yield f"http://{address[0]}:{address[1]}"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def client(service: str, url: str) -> Any:
    session: Any = boto3.session.Session(region_name=REGION)
    return session.client(service, endpoint_url=url)


def make_fleet(url: str) -> list[str]:
    ec2 = client("ec2", url)
    vpc = ec2.create_vpc(CidrBlock="198.18.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="198.18.1.0/24", AvailabilityZone="us-east-1a")
    image = ec2.describe_images()["Images"][0]["ImageId"]
    ec2.create_launch_template(
        LaunchTemplateName="gwlbd",
        LaunchTemplateData={"ImageId": image, "InstanceType": "c6in.large"},
    )
    elbv2 = client("elbv2", url)
    tg = elbv2.create_target_group(
        Name="gwlbd-tg", Protocol="GENEVE", Port=6081, VpcId=vpc, TargetType="instance"
    )["TargetGroups"][0]["TargetGroupArn"]
    asg = client("autoscaling", url)
    asg.create_auto_scaling_group(
        AutoScalingGroupName=ASG,
        LaunchTemplate={"LaunchTemplateName": "gwlbd"},
        MinSize=2,
        MaxSize=2,
        DesiredCapacity=2,
        VPCZoneIdentifier=subnet["Subnet"]["SubnetId"],
        TargetGroupARNs=[tg],
    )
    ids = sorted(
        i["InstanceId"]
        for i in asg.describe_auto_scaling_groups(AutoScalingGroupNames=[ASG])["AutoScalingGroups"][
            0
        ]["Instances"]
    )
    for iid in ids:
        ec2.modify_instance_attribute(InstanceId=iid, SourceDestCheck={"Value": False})
    ddb = client("dynamodb", url)
    ddb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    table = boto3.resource("dynamodb", region_name=REGION, endpoint_url=url).Table(TABLE)
    table.put_item(
        Item={
            "pk": f"INSTANCE#{ids[0]}",
            "instance_id": ids[0],
            "asg_name": ASG,
            "state": "in_service",
            "last_action": "complete_lifecycle CONTINUE",
            "reason": "target healthy",
            "updated_at": "2025-11-29T16:00:00+00:00",
            "history": [
                {"at": "2025-11-29T15:59:00+00:00", "state": "pending", "reason": "launch hook"},
                {"at": "2025-11-29T16:00:00Z", "state": "in_service", "reason": "healthy"},
            ],
        }
    )
    table.put_item(
        Item={
            "pk": "POLICY#/gwlbd/policy",
            "parameter": "/gwlbd/policy",
            "desired_version": "3",
            "desired_label": "static",
            "live_version": "static",
            "updated_at": "2025-11-29T16:00:00+00:00",
            "last_error": None,
        }
    )
    return ids


def test_fleet_from_asg(moto_url: str, status_server: str) -> None:
    ids = make_fleet(moto_url)
    source = FleetSource(
        FleetSettings(
            asg=ASG,
            state_table=TABLE,
            region=REGION,
            endpoint_url=moto_url,
            timeout=1.0,
            target_groups=("gwlbd-tg",),
            targets=((ids[0], status_server), (ids[1], f"http://127.0.0.1:{closed_port()}")),
        )
    )
    try:
        snapshot = source.fetch(FetchRequest())
    finally:
        source.close()
    good, bad = snapshot.members
    assert good.info.instance_id == ids[0]
    assert good.reachable
    assert good.info.az == "us-east-1a"
    assert good.info.private_ip is not None
    assert good.info.private_ip.startswith("198.18.1.")
    assert good.info.lifecycle_state == "InService"
    assert good.info.src_dst_check is False
    assert good.info.managed_state == "in_service"
    assert good.info.desired_policy == "static"
    assert good.info.target_health not in (None, "not registered")
    assert not bad.reachable
    assert bad.error is not None
    assert "unreachable" in bad.error
    assert [e.state for e in snapshot.lifecycle_events] == ["pending", "in_service"]
    assert snapshot.policy_state is not None
    fleet = BUILDERS["fleet"](RenderContext(snapshot, RateTracker()))
    cells = {r.key: r.cells for r in fleet.rows}
    assert cells[ids[0]][7] == "static/static"
    assert cells[ids[1]][5].startswith("UNREACHABLE")
    json.dumps([r.record for r in fleet.rows], default=str)


def test_fleet_from_stack_outputs(moto_url: str, status_server: str) -> None:
    ids = make_fleet(moto_url)
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {
            "StateTableName": {"Value": TABLE},
            "AutoScalingGroupName": {"Value": ASG},
        },
    }
    client("cloudformation", moto_url).create_stack(
        StackName="gwlbd", TemplateBody=json.dumps(template)
    )
    source = FleetSource(
        FleetSettings(
            stack="gwlbd",
            region=REGION,
            endpoint_url=moto_url,
            targets=tuple((i, status_server) for i in ids),
        )
    )
    try:
        snapshot = source.fetch(FetchRequest(flows_of=ids[1]))
        with pytest.raises(ActionError):
            source.perform(AdminAction("drain", ids[0]))
    finally:
        source.close()
    assert [m.reachable for m in snapshot.members] == [True, True]
    assert snapshot.members[1].flows is not None
    assert snapshot.policy_state is not None
    assert snapshot.policy_state["desired_label"] == "static"
    assert snapshot.members[0].info.desired_policy == "static"


def test_missing_group_is_a_source_error(moto_url: str) -> None:
    source = FleetSource(FleetSettings(asg="nope", region=REGION, endpoint_url=moto_url))
    try:
        with pytest.raises(SourceError, match="nope"):
            source.fetch(FetchRequest())
    finally:
        source.close()


def test_default_target_is_private_ip_on_health_port() -> None:
    settings = FleetSettings(asg="a", health_port=8080, targets=(("i-1", "http://127.0.0.1:1"),))
    assert settings.target_for("i-2", "198.18.1.5") == "http://198.18.1.5:8080"
    assert settings.target_for("i-1", "198.18.1.6") == "http://127.0.0.1:1"
    assert settings.target_for("i-3", None) == ""


def test_policy_document_for_explain_comes_from_ssm(moto_url: str, status_server: str) -> None:
    ids = make_fleet(moto_url)
    client("ssm", moto_url).put_parameter(Name="/gwlbd/policy", Value=DEMO_POLICY, Type="String")
    source = FleetSource(
        FleetSettings(
            asg=ASG,
            state_table=TABLE,
            region=REGION,
            endpoint_url=moto_url,
            targets=tuple((i, status_server) for i in ids),
        )
    )
    try:
        assert source.policy_document() is None  # nothing fetched yet: no parameter known
        source.fetch(FetchRequest())
        found = source.policy_document()
    finally:
        source.close()
    assert found is not None
    text, where = found
    assert where == "ssm:/gwlbd/policy"
    policy = load_policy(text, where)
    answer = explain(policy, FlowQuestion("198.18.0.1", "198.19.0.1", "tcp", "1234", "22"))
    assert "drop by rule deny-ssh" in answer.text()
