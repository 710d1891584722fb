"""The lab stack's names, zones and the EventBridge events AWS would send (pure).

Shared by the lab's cloud process (:mod:`appliance.lab.cloud`), the fleet lab that drives
it (:mod:`appliance.lab.fleet`) and the tests.
"""

from __future__ import annotations

import ipaddress
import time
import uuid
from typing import Any

ASG = "gwlbd-lab"
TARGET_GROUP = "gwlbd-lab"
PARAMETER = "/gwlbd/policy"
STATE_TABLE = "gwlbd-lab-state"
IDEMPOTENCY_TABLE = "gwlbd-lab-idempotency"
LAUNCH_HOOK, TERMINATE_HOOK = "gwlbd-launch", "gwlbd-terminate"
REGION = "us-east-1"
ACCOUNT = "123456789012"
SUBNETS = (("198.18.0.0/25", "a"), ("198.18.0.128/25", "b"))
"""Instance subnets by zone; moto hands out addresses from them (after 3 reserved)."""
HANDLERS = {
    "lifecycle": "lambdas.handlers.lifecycle_event",
    "parameter": "lambdas.handlers.parameter_change",
    "workflow": "lambdas.local_workflow",
}
"""The lifecycle service's modules, by the names ``template.yaml`` gives the runtime."""


def zone_of(address: str) -> str:
    """The zone whose subnet holds ``address``."""
    for cidr, zone in SUBNETS:
        if ipaddress.ip_address(address) in ipaddress.ip_network(cidr):
            return zone
    return SUBNETS[0][1]


def lifecycle_event(kind: str, instance_id: str, token: str) -> dict[str, Any]:
    """The EventBridge event Auto Scaling sends for a lifecycle action."""
    launch = kind == "launch"
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": f"EC2 Instance-{'launch' if launch else 'terminate'} Lifecycle Action",
        "source": "aws.autoscaling",
        "account": ACCOUNT,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": REGION,
        "resources": [f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:lab"],
        "detail": {
            "LifecycleActionToken": token,
            "AutoScalingGroupName": ASG,
            "LifecycleHookName": LAUNCH_HOOK if launch else TERMINATE_HOOK,
            "EC2InstanceId": instance_id,
            "LifecycleTransition": (
                "autoscaling:EC2_INSTANCE_LAUNCHING"
                if launch
                else "autoscaling:EC2_INSTANCE_TERMINATING"
            ),
            "NotificationMetadata": '{"stack":"gwlbd-lab"}',
            "Origin": "EC2" if launch else "AutoScalingGroup",
            "Destination": "AutoScalingGroup" if launch else "EC2",
        },
    }


def parameter_event(name: str, operation: str) -> dict[str, Any]:
    """The EventBridge ``Parameter Store Change`` event for ``name``."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Parameter Store Change",
        "source": "aws.ssm",
        "account": ACCOUNT,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": REGION,
        "resources": [f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{name}"],
        "detail": {"name": name, "type": "String", "operation": operation},
    }
