"""Policy publishing from Parameter Store: valid versions go live, invalid ones never do."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lambdas.fake_aws import FakeAws
from lambdas.handlers import parameter_change
from lambdas.local_workflow import LocalContext
from lambdas.runtime import Runtime

LoadEvent = Callable[[str], dict[str, Any]]
EVENTS = Path(__file__).resolve().parents[3] / "events"
VALID = (EVENTS / "policy-valid.yaml").read_text()
INVALID = (EVENTS / "policy-invalid.yaml").read_text()
PARAM = "/gwlbd/policy"


@pytest.fixture
def change(load_event: LoadEvent) -> dict[str, Any]:
    return load_event("parameter-store-change-update.json")


def test_valid_version_goes_live_and_instances_reload(
    change: dict[str, Any], fake: FakeAws, rt: Runtime, context: LocalContext
) -> None:
    version = fake.add_parameter_version(PARAM, VALID)
    result = parameter_change.handler(change, context)
    assert result["accepted"] is True
    assert result["label"] == "2026-11-29.1"
    assert fake.calls == [
        ("GetParameter", {"Name": PARAM}),
        ("LabelParameterVersion", {"Name": PARAM, "ParameterVersion": version, "Labels": ["live"]}),
        (
            "SendCommand",
            {
                "Group": rt.settings.asg_name,
                "Commands": ["gwlbd policy reload"],
                "Comment": f"gwlbd policy 2026-11-29.1 ({PARAM}:1)",
            },
        ),
    ]
    item = rt.state.get_policy(PARAM)
    assert item is not None
    assert {k: item[k] for k in ("desired_version", "desired_label", "live_version")} == {
        "desired_version": "1",
        "desired_label": "2026-11-29.1",
        "live_version": "1",
    }
    assert "last_error" not in item


def test_invalid_version_never_goes_live_and_is_reported(
    change: dict[str, Any], fake: FakeAws, rt: Runtime, context: LocalContext
) -> None:
    fake.add_parameter_version(PARAM, VALID)
    parameter_change.handler(change, context)
    fake.calls.clear()
    fake.add_parameter_version(PARAM, INVALID)
    second = dict(change, id="7a1b2c3d-0000-4000-8000-000000000002")
    result = parameter_change.handler(second, context)
    assert result["accepted"] is False
    assert result["version"] == 2
    # every problem names its field and line
    assert result["problems"] == [
        "rules[0].match.dstPort[0] (line 5): 70000 is not a port (0-65535)",
        "rules[1].action (line 6): must be allow, drop or reject, got 'explode'",
        "rules[1].match.dst[0] (line 6): '10.0.0.0/33' is not a CIDR: prefix length over 32",
    ]
    assert fake.operations() == ["GetParameter", "Publish"]
    assert fake.labels[PARAM] == {"live": 1}  # the label stayed on the good version
    assert fake.commands == [fake.commands[0]]  # no reload was requested for version 2
    ((_, subject, message),) = fake.alerts
    assert subject == f"gwlbd: policy {PARAM} version 2 rejected"
    assert "Appliances keep version 1." in message
    assert "rules[1].action (line 6)" in message
    item = rt.state.get_policy(PARAM)
    assert item is not None
    assert (item["live_version"], item["desired_version"], item["last_rejected_version"]) == (
        "1",
        "1",
        "2",
    )
    assert item["last_error"].startswith("version 2 rejected: rules[0].match.dstPort[0]")


def test_label_moves_and_other_parameters_are_ignored(
    load_event: LoadEvent,
    change: dict[str, Any],
    fake: FakeAws,
    rt: Runtime,
    context: LocalContext,
) -> None:
    label_event = load_event("parameter-store-change-label.json")
    assert parameter_change.handler(label_event, context)["ignored"] is True
    other = dict(change, detail=dict(change["detail"], name="/someone/else"))
    assert parameter_change.handler(other, context)["ignored"] is True
    assert fake.calls == []


def test_duplicate_change_event_publishes_once(
    change: dict[str, Any], fake: FakeAws, rt: Runtime, context: LocalContext
) -> None:
    fake.add_parameter_version(PARAM, VALID)
    first = parameter_change.handler(change, context)
    second = parameter_change.handler(change, context)
    assert first == second
    assert fake.operations().count("SendCommand") == 1


def test_a_pointer_to_s3_is_followed_and_validated(
    change: dict[str, Any], fake: FakeAws, rt: Runtime, context: LocalContext
) -> None:
    fake.objects[("gwlbd-policies", "2026-11-29.1.yaml")] = VALID.encode()
    fake.add_parameter_version(PARAM, "s3://gwlbd-policies/2026-11-29.1.yaml")
    result = parameter_change.handler(change, context)
    assert (result["accepted"], result["label"]) == (True, "2026-11-29.1")
    assert fake.operations()[:3] == ["GetParameter", "GetObject", "LabelParameterVersion"]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("s3://gwlbd-policies/missing.yaml", "value: s3://gwlbd-policies/missing.yaml: GetObject"),
        ("s3://just-a-bucket", "is not an s3://bucket/key pointer"),
        ("s3://gwlbd-policies/invalid.yaml", "rules[0].match.dstPort[0] (line 5)"),
        ("s3://gwlbd-policies/binary.bin", "not UTF-8 text"),
    ],
)
def test_bad_pointers_and_objects_are_rejected(
    change: dict[str, Any],
    fake: FakeAws,
    rt: Runtime,
    context: LocalContext,
    value: str,
    problem: str,
) -> None:
    fake.objects[("gwlbd-policies", "invalid.yaml")] = INVALID.encode()
    fake.objects[("gwlbd-policies", "binary.bin")] = b"\xff\xfe\x00policy"
    fake.add_parameter_version(PARAM, value)
    result = parameter_change.handler(change, context)
    assert result["accepted"] is False
    assert problem in result["problems"][0]
    assert "LabelParameterVersion" not in fake.operations()
