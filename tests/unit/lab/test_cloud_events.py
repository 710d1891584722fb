"""The lab's AWS: events it sends the lifecycle service, zones, target group settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.lab.stack import SUBNETS, lifecycle_event, parameter_event, zone_of
from appliance.lab.targets import GroupSettings

moto_ext = pytest.importorskip("appliance.lab.moto_ext")  # needs moto (dev extra)

EVENTS = Path(__file__).resolve().parents[3] / "events"


@pytest.mark.parametrize(
    ("kind", "sample"),
    [("launch", "lifecycle-launch.json"), ("terminate", "lifecycle-terminate.json")],
)
def test_lifecycle_events_have_the_shape_auto_scaling_sends(kind: str, sample: str) -> None:
    expected = json.loads((EVENTS / sample).read_text())
    event = lifecycle_event(kind, "i-0123456789abcdef0", "token-1")
    assert event.keys() == expected.keys()
    assert event["detail"].keys() == expected["detail"].keys()
    assert event["detail-type"] == expected["detail-type"]
    assert event["detail"]["LifecycleTransition"] == expected["detail"]["LifecycleTransition"]
    assert event["detail"]["LifecycleActionToken"] == "token-1"


def test_parameter_event_names_the_parameter() -> None:
    expected = json.loads((EVENTS / "parameter-store-change-update.json").read_text())
    event = parameter_event("/gwlbd/policy", "Update")
    assert event["detail-type"] == expected["detail-type"]
    assert event["detail"] == {"name": "/gwlbd/policy", "type": "String", "operation": "Update"}


def test_zones_follow_the_subnets() -> None:
    assert [zone for _, zone in SUBNETS] == ["a", "b"]
    assert zone_of("198.18.0.4") == "a"
    assert zone_of("198.18.0.132") == "b"


def test_target_group_attributes_become_simulator_settings() -> None:
    settings = moto_ext.group_settings(
        {
            "deregistration_delay.timeout_seconds": "5",
            "target_failover.on_deregistration": "rebalance",
            "target_failover.on_unhealthy": "rebalance",
            "stickiness.enabled": "true",
            "stickiness.type": "source_ip_dest_ip",
            "load_balancing.cross_zone.enabled": "true",
        },
        {"healthy_threshold": 3},
    )
    parsed = GroupSettings.from_json(settings)
    assert parsed.deregistration_delay == 5
    assert parsed.stickiness.value == "2-tuple"
    assert parsed.cross_zone is True
    assert parsed.healthy_threshold == 3
    default = GroupSettings.from_json(moto_ext.group_settings({}, {}))
    assert default == GroupSettings()


def test_hooks_complete_each_action_once() -> None:
    hooks = moto_ext.Hooks("123456789012", "us-east-1")
    hooks.add(moto_ext.Action("i-1", "asg", "launch-hook", moto_ext.LAUNCH, "tok-1"))
    params = {
        "AutoScalingGroupName": "asg",
        "LifecycleHookName": "launch-hook",
        "LifecycleActionToken": "tok-1",
        "InstanceId": None,
        "LifecycleActionResult": "CONTINUE",
    }
    hooks.heartbeat(params)
    hooks.complete(params)
    assert hooks.snapshot()["completed"] == [
        {
            "instance_id": "i-1",
            "transition": moto_ext.LAUNCH,
            "result": "CONTINUE",
            "heartbeats": 1,
            "terminated": False,
        }
    ]
    with pytest.raises(Exception, match="No active Lifecycle Action"):
        hooks.complete(params)
