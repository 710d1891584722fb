"""The boto3 implementation of :class:`lambdas.aws.LifecycleAws`.

Clients use botocore's ``standard`` retry mode (throttling is retried with backoff by the
SDK first); what still fails is translated into :mod:`lambdas.errors` so that Step
Functions can retry or catch it by class name.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from lambdas.actions import LifecycleAction, Result
from lambdas.aws import Eni, GroupInstance, InstanceInfo, ParameterVersion, TargetHealth
from lambdas.errors import ActionGoneError, AwsCallError, InstanceGoneError, ThrottledError

if TYPE_CHECKING:
    from mypy_boto3_autoscaling import AutoScalingClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_stepfunctions import SFNClient

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "TooManyRequestsException",
        "SlowDown",
    }
)
INSTANCE_GONE_CODES = frozenset({"InvalidInstanceID.NotFound", "InvalidTarget"})

CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})


def translate(operation: str, exc: ClientError | BotoCoreError) -> AwsCallError:
    """Map a botocore error to the service's error hierarchy.

    Errors raised before or instead of an answer (parameter validation, connection
    failures) become a plain :class:`AwsCallError` named after the botocore class.
    """
    if not isinstance(exc, ClientError):
        return AwsCallError(operation, type(exc).__name__, str(exc))
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    message = str(error.get("Message", ""))
    if code in THROTTLING_CODES:
        return ThrottledError(operation, code, message)
    if code in INSTANCE_GONE_CODES:
        return InstanceGoneError(operation, code, message)
    if code == "ValidationError" and "No active Lifecycle Action" in message:
        return ActionGoneError(operation, code, message)
    return AwsCallError(operation, code, message)


class Boto3Aws:
    """:class:`lambdas.aws.LifecycleAws` on boto3 clients."""

    def __init__(
        self,
        session: boto3.session.Session | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        """Create the clients.

        Args:
            session: boto3 session (a default one when None).
            endpoint_url: send every call there (moto's server in tests).
        """
        s = session or boto3.session.Session()
        self.ec2: EC2Client = s.client("ec2", endpoint_url=endpoint_url, config=CLIENT_CONFIG)
        self.elbv2: ElasticLoadBalancingv2Client = s.client(
            "elbv2", endpoint_url=endpoint_url, config=CLIENT_CONFIG
        )
        self.autoscaling: AutoScalingClient = s.client(
            "autoscaling", endpoint_url=endpoint_url, config=CLIENT_CONFIG
        )
        self.ssm: SSMClient = s.client("ssm", endpoint_url=endpoint_url, config=CLIENT_CONFIG)
        self.s3: S3Client = s.client("s3", endpoint_url=endpoint_url, config=CLIENT_CONFIG)
        self.sns: SNSClient = s.client("sns", endpoint_url=endpoint_url, config=CLIENT_CONFIG)
        self.sfn: SFNClient = s.client(
            "stepfunctions", endpoint_url=endpoint_url, config=CLIENT_CONFIG
        )

    def describe_instance(self, instance_id: str) -> InstanceInfo | None:
        """See :meth:`lambdas.aws.LifecycleAws.describe_instance`."""
        try:
            reply = self.ec2.describe_instances(InstanceIds=[instance_id])
        except (ClientError, BotoCoreError) as exc:
            err = translate("DescribeInstances", exc)
            if isinstance(err, InstanceGoneError):
                return None
            raise err from exc
        for reservation in reply.get("Reservations", []):
            for inst in reservation.get("Instances", []):
                if inst.get("InstanceId") != instance_id:
                    continue
                nics = sorted(
                    inst.get("NetworkInterfaces", []),
                    key=lambda n: n.get("Attachment", {}).get("DeviceIndex", 0),
                )
                enis = tuple(
                    Eni(str(n["NetworkInterfaceId"]), bool(n.get("SourceDestCheck", True)))
                    for n in nics
                )
                state = str(inst.get("State", {}).get("Name", "unknown"))
                return InstanceInfo(instance_id, state, enis)
        return None

    def set_instance_source_dest_check(self, instance_id: str, enabled: bool) -> None:
        """See :meth:`lambdas.aws.LifecycleAws.set_instance_source_dest_check`."""
        try:
            self.ec2.modify_instance_attribute(
                InstanceId=instance_id, SourceDestCheck={"Value": enabled}
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate("ModifyInstanceAttribute", exc) from exc

    def set_eni_source_dest_check(self, eni_id: str, enabled: bool) -> None:
        """See :meth:`lambdas.aws.LifecycleAws.set_eni_source_dest_check`."""
        try:
            self.ec2.modify_network_interface_attribute(
                NetworkInterfaceId=eni_id, SourceDestCheck={"Value": enabled}
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate("ModifyNetworkInterfaceAttribute", exc) from exc

    def tag_instance(self, instance_id: str, tags: Mapping[str, str]) -> None:
        """See :meth:`lambdas.aws.LifecycleAws.tag_instance`."""
        try:
            self.ec2.create_tags(
                Resources=[instance_id], Tags=[{"Key": k, "Value": v} for k, v in tags.items()]
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate("CreateTags", exc) from exc

    def register_target(self, target_group_arn: str, instance_id: str) -> None:
        """See :meth:`lambdas.aws.LifecycleAws.register_target`."""
        try:
            self.elbv2.register_targets(
                TargetGroupArn=target_group_arn, Targets=[{"Id": instance_id}]
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate("RegisterTargets", exc) from exc

    def deregister_target(self, target_group_arn: str, instance_id: str) -> None:
        """See :meth:`lambdas.aws.LifecycleAws.deregister_target`."""
        try:
            self.elbv2.deregister_targets(
                TargetGroupArn=target_group_arn, Targets=[{"Id": instance_id}]
            )
        except (ClientError, BotoCoreError) as exc:
            err = translate("DeregisterTargets", exc)
            if isinstance(err, InstanceGoneError):
                return  # already gone from the group: nothing to drain
            raise err from exc

    def target_health(
        self, target_group_arn: str, instance_id: str | None = None
    ) -> list[TargetHealth]:
        """See :meth:`lambdas.aws.LifecycleAws.target_health`."""
        try:
            if instance_id is None:
                reply = self.elbv2.describe_target_health(TargetGroupArn=target_group_arn)
            else:
                reply = self.elbv2.describe_target_health(
                    TargetGroupArn=target_group_arn, Targets=[{"Id": instance_id}]
                )
        except (ClientError, BotoCoreError) as exc:
            err = translate("DescribeTargetHealth", exc)
            if isinstance(err, InstanceGoneError):
                return []
            raise err from exc
        found = []
        for desc in reply.get("TargetHealthDescriptions", []):
            health = desc.get("TargetHealth", {})
            state = str(health.get("State", "unavailable"))
            reason = str(health.get("Reason", ""))
            if state == "unused" and reason == "Target.NotRegistered":
                continue  # asked about a target that is not (or no longer) in the group
            found.append(TargetHealth(str(desc.get("Target", {}).get("Id")), state, reason))
        return found

    def _action_ref(self, action: LifecycleAction) -> dict[str, str]:
        ref = {"AutoScalingGroupName": action.asg_name, "LifecycleHookName": action.hook_name}
        if action.token:
            ref["LifecycleActionToken"] = action.token
        else:
            ref["InstanceId"] = action.instance_id
        return ref

    def complete_lifecycle_action(self, action: LifecycleAction, result: Result) -> None:
        """See :meth:`lambdas.aws.LifecycleAws.complete_lifecycle_action`."""
        try:
            self.autoscaling.complete_lifecycle_action(
                LifecycleActionResult=result.value, **self._action_ref(action)
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate("CompleteLifecycleAction", exc) from exc

    def record_heartbeat(self, action: LifecycleAction) -> None:
        """See :meth:`lambdas.aws.LifecycleAws.record_heartbeat`."""
        try:
            self.autoscaling.record_lifecycle_action_heartbeat(**self._action_ref(action))
        except (ClientError, BotoCoreError) as exc:
            raise translate("RecordLifecycleActionHeartbeat", exc) from exc

    def set_instance_unhealthy(self, instance_id: str) -> None:
        """See :meth:`lambdas.aws.LifecycleAws.set_instance_unhealthy`."""
        try:
            self.autoscaling.set_instance_health(
                InstanceId=instance_id, HealthStatus="Unhealthy", ShouldRespectGracePeriod=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate("SetInstanceHealth", exc) from exc

    def group_instances(self, asg_name: str) -> list[GroupInstance]:
        """See :meth:`lambdas.aws.LifecycleAws.group_instances`."""
        try:
            reply = self.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[asg_name])
        except (ClientError, BotoCoreError) as exc:
            raise translate("DescribeAutoScalingGroups", exc) from exc
        return [
            GroupInstance(str(i["InstanceId"]), str(i["LifecycleState"]), str(i["HealthStatus"]))
            for group in reply.get("AutoScalingGroups", [])
            for i in group.get("Instances", [])
        ]

    def get_parameter(self, name: str, version: int | None = None) -> ParameterVersion:
        """See :meth:`lambdas.aws.LifecycleAws.get_parameter`."""
        selector = name if version is None else f"{name}:{version}"
        try:
            reply = self.ssm.get_parameter(Name=selector, WithDecryption=True)
        except (ClientError, BotoCoreError) as exc:
            raise translate("GetParameter", exc) from exc
        p = reply["Parameter"]
        return ParameterVersion(name, str(p.get("Value", "")), int(p.get("Version", 0)))

    def read_object(self, bucket: str, key: str, limit: int) -> bytes:
        """See :meth:`lambdas.aws.LifecycleAws.read_object`."""
        try:
            body = self.s3.get_object(Bucket=bucket, Key=key)["Body"]
            data: bytes = body.read(limit + 1)
        except (ClientError, BotoCoreError) as exc:
            raise translate("GetObject", exc) from exc
        return data

    def label_parameter_version(self, name: str, version: int, label: str) -> None:
        """See :meth:`lambdas.aws.LifecycleAws.label_parameter_version`."""
        try:
            self.ssm.label_parameter_version(Name=name, ParameterVersion=version, Labels=[label])
        except (ClientError, BotoCoreError) as exc:
            raise translate("LabelParameterVersion", exc) from exc

    def send_command(self, asg_name: str, commands: Sequence[str], comment: str) -> str:
        """See :meth:`lambdas.aws.LifecycleAws.send_command`."""
        try:
            reply = self.ssm.send_command(
                Targets=[{"Key": "tag:aws:autoscaling:groupName", "Values": [asg_name]}],
                DocumentName="AWS-RunShellScript",
                Parameters={"commands": list(commands)},
                Comment=comment[:100],
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate("SendCommand", exc) from exc
        return str(reply["Command"].get("CommandId", ""))

    def publish_alert(self, topic_arn: str, subject: str, message: str) -> None:
        """See :meth:`lambdas.aws.LifecycleAws.publish_alert`."""
        try:
            self.sns.publish(TopicArn=topic_arn, Subject=subject[:100], Message=message)
        except (ClientError, BotoCoreError) as exc:
            raise translate("Publish", exc) from exc

    def start_workflow(self, state_machine_arn: str, name: str, payload: dict[str, Any]) -> str:
        """See :meth:`lambdas.aws.LifecycleAws.start_workflow`."""
        try:
            reply = self.sfn.start_execution(
                stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload)
            )
        except (ClientError, BotoCoreError) as exc:
            err = translate("StartExecution", exc)
            if err.code == "ExecutionAlreadyExists":
                return state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
            raise err from exc
        return str(reply["executionArn"])
