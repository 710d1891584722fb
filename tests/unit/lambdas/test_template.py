"""The SAM template's promises: least privilege, dead letters, hooks, the workflow wiring."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode  # type: ignore[import-untyped]

from appliance.config import ENV_PREFIX, FIELDS
from lambdas import env
from lambdas.policy_publish import validate
from lambdas.steps import STEPS

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded, problems = decode(str(ROOT / "template.yaml"))
    assert problems == []
    assert loaded is not None
    return dict(loaded)


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    """Every IAM statement written in the template (managed, role and inline function policies)."""
    found: list[dict[str, Any]] = []
    for res in template["Resources"].values():
        props = res.get("Properties", {})
        docs = [props.get("PolicyDocument")]
        docs += [
            p.get("PolicyDocument") for p in props.get("Policies", []) if "PolicyDocument" in p
        ]
        if res["Type"] == "AWS::Serverless::Function":
            docs += [p for p in props.get("Policies", []) if "Statement" in p]
        for doc in docs:
            if doc:
                found += list(doc["Statement"])
    return found


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def test_functions_are_arm64_python311_with_powertools(template: dict[str, Any]) -> None:
    glob = template["Globals"]["Function"]
    assert (glob["Runtime"], glob["Architectures"], glob["Tracing"]) == (
        "python3.11",
        ["arm64"],
        "Active",
    )
    assert glob["Layers"] == [{"Ref": "PowertoolsLayerArn"}]
    fns = resources(template, "AWS::Serverless::Function")
    assert len(fns) == 6
    for name, fn in fns.items():
        handler = fn["Properties"]["Handler"]
        assert handler.startswith("lambdas.handlers."), name
        module = handler.rsplit(".", 1)[0]
        assert (ROOT / (module.replace(".", "/") + ".py")).is_file(), handler


def test_environment_names_are_the_ones_lambdas_env_reads(template: dict[str, Any]) -> None:
    known = {v for k, v in vars(env).items() if k.isupper() and isinstance(v, str)}
    names = set(template["Globals"]["Function"]["Environment"]["Variables"])
    for fn in resources(template, "AWS::Serverless::Function").values():
        names |= set(fn["Properties"].get("Environment", {}).get("Variables", {}))
    assert names <= known


def test_every_event_source_retries_and_dead_letters(template: dict[str, Any]) -> None:
    for name, fn in resources(template, "AWS::Serverless::Function").items():
        events = fn["Properties"].get("Events", {})
        if not events:
            assert name == "WorkflowStepsFunction"  # invoked synchronously by Step Functions
            continue
        on_failure = fn["Properties"]["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]
        assert on_failure["Destination"] == {"Fn::GetAtt": ["EventsDeadLetterQueue", "Arn"]}
        for event in events.values():
            props = event["Properties"]
            assert "RetryPolicy" in props, name
            assert props["DeadLetterConfig"] == {
                "Arn": {"Fn::GetAtt": ["EventsDeadLetterQueue", "Arn"]}
            }


def test_no_wildcard_actions_and_wildcard_resources_only_for_reads(
    template: dict[str, Any],
) -> None:
    found = statements(template)
    assert len(found) >= 8
    for st in found:
        actions = as_list(st["Action"])
        assert all("*" not in a for a in actions), st
        if st.get("Resource") == "*":
            assert all(a.split(":")[1].startswith("Describe") for a in actions), st


def test_mutating_ec2_actions_are_scoped_to_the_group(template: dict[str, Any]) -> None:
    mutating = {"ec2:ModifyInstanceAttribute", "ec2:CreateTags", "ssm:SendCommand"}
    scoped = [
        st
        for st in statements(template)
        if mutating & set(as_list(st["Action"])) and "instance/*" in json.dumps(st["Resource"])
    ]
    assert len(scoped) == 3
    for st in scoped:
        assert "aws:autoscaling:groupName" in json.dumps(st["Condition"]), st


def test_hooks_are_on_the_group_and_targets_are_not(template: dict[str, Any]) -> None:
    (group,) = resources(template, "AWS::AutoScaling::AutoScalingGroup").values()
    props = group["Properties"]
    assert "TargetGroupARNs" not in props
    hooks = {h["LifecycleTransition"]: h for h in props["LifecycleHookSpecificationList"]}
    assert hooks["autoscaling:EC2_INSTANCE_LAUNCHING"]["DefaultResult"] == "ABANDON"
    assert hooks["autoscaling:EC2_INSTANCE_TERMINATING"]["DefaultResult"] == "CONTINUE"


def test_target_group_is_geneve_with_an_http_health_check(template: dict[str, Any]) -> None:
    props = template["Resources"]["TargetGroup"]["Properties"]
    assert (props["Protocol"], props["Port"], props["HealthCheckProtocol"]) == (
        "GENEVE",
        6081,
        "HTTP",
    )
    attrs = {a["Key"]: a["Value"] for a in props["TargetGroupAttributes"]}
    assert attrs["target_failover.on_deregistration"] == attrs["target_failover.on_unhealthy"]


def test_tables_have_ttl_and_point_in_time_recovery(template: dict[str, Any]) -> None:
    tables = resources(template, "AWS::DynamoDB::Table")
    assert set(tables) == {"StateTable", "IdempotencyTable"}
    for table in tables.values():
        props = table["Properties"]
        assert props["TimeToLiveSpecification"]["Enabled"] is True
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert template["Resources"]["StateTable"]["Properties"]["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"}
    ]
    assert "StateTableName" in template["Outputs"]
    assert "EndpointServiceName" in template["Outputs"]


def test_workflow_tasks_call_known_steps_of_the_substituted_function(
    template: dict[str, Any],
) -> None:
    machine = template["Resources"]["StateMachine"]["Properties"]
    definition = json.loads((ROOT / machine["DefinitionUri"]).read_text())
    assert set(machine["DefinitionSubstitutions"]) == {"WorkflowStepsFunctionArn"}
    tasks = {k: v for k, v in definition["States"].items() if v["Type"] == "Task"}
    steps = {t["Parameters"]["Payload"]["step"] for t in tasks.values()}
    assert steps == {*STEPS, "finish"}
    for name, task in tasks.items():
        assert task["Parameters"]["FunctionName"] == "${WorkflowStepsFunctionArn}", name
        assert any("States.ALL" in c["ErrorEquals"] for c in task["Catch"]), name
    waits = [v for v in definition["States"].values() if v["Type"] == "Wait"]
    assert waits == [
        {
            "Type": "Wait",
            "Comment": waits[0]["Comment"],
            "SecondsPath": "$.wait_seconds",
            "Next": "Check",
        }
    ]


def test_initial_policy_parameter_is_a_valid_policy(template: dict[str, Any]) -> None:
    value = template["Resources"]["PolicyParameter"]["Properties"]["Value"]
    assert validate(str(value), "template") == ("initial", [])


def test_user_data_runs_gwlbd_with_settings_the_daemon_reads(template: dict[str, Any]) -> None:
    data = template["Resources"]["LaunchTemplate"]["Properties"]["LaunchTemplateData"]
    script = data["UserData"]["Fn::Base64"]["Fn::Sub"][0]
    assert "ExecStart=/opt/gwlbd/bin/gwlbd run" in script
    assert "systemctl enable --now gwlbd.service" in script
    set_vars = {
        line.split("=", 2)[1]
        for line in script.splitlines()
        if line.startswith("Environment=GWLBD_")
    }
    assert set_vars == {
        "GWLBD_GWLB_CIDRS",
        "GWLBD_HEALTH_PORT",
        "GWLBD_POLICY_SSM_PARAMETER",
        "GWLBD_POLICY_SSM_LABEL",
    }
    known = {ENV_PREFIX + f.name.upper() for f in FIELDS}
    assert set_vars <= known
