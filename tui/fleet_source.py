"""The data source for a fleet: instances found through AWS, then each one's status API.

AWS side (boto3, through the adapter :class:`AwsFleetApi` so tests can point it
at moto's server): the Auto Scaling group (given, or found in the stack's
resources), EC2 instances (AZ, private IP, source/dest check), GWLB target
health of the group's target groups, and the lifecycle state table (instance
items ``INSTANCE#<id>`` and policy items ``POLICY#<parameter>``).

Appliance side: ``http://<private ip>:<health port>/status`` for every instance,
at most ``concurrency`` at once, each bounded by ``timeout``; an instance that
does not answer becomes a member with ``error`` set, never a hang.
"""

from __future__ import annotations

import concurrent.futures
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer
from botocore.config import Config

from tui.errors import ActionError, FetchError, SourceError
from tui.http import JsonClient, check_schema
from tui.model import (
    AdminAction,
    FetchRequest,
    InstanceInfo,
    Json,
    LifecycleEvent,
    Member,
    Snapshot,
)


@dataclass(frozen=True, slots=True)
class FleetSettings:
    """Where the fleet is and how to reach it."""

    asg: str | None = None
    """Auto Scaling group name."""
    stack: str | None = None
    """CloudFormation stack name (its ASG and ``StateTableName`` output are used)."""
    state_table: str | None = None
    """Lifecycle state table (overrides the stack output)."""
    region: str | None = None
    endpoint_url: str | None = None
    """AWS endpoint (moto server) for every client."""
    health_port: int = 80
    timeout: float = 2.0
    """Seconds per status request (connect and each read)."""
    concurrency: int = 16
    """Status requests in flight at once."""
    target_groups: tuple[str, ...] = ()
    """GWLB target groups (ARNs or names) besides those attached to the group."""
    targets: tuple[tuple[str, str], ...] = ()
    """``(instance id, status URL)`` overrides, e.g. SSH port forwards to ``127.0.0.1``."""

    def target_for(self, instance_id: str, private_ip: str | None) -> str:
        """The status API URL of an instance: an override, else its private IP."""
        for iid, url in self.targets:
            if iid == instance_id:
                return url
        return f"http://{private_ip}:{self.health_port}" if private_ip else ""


@dataclass(frozen=True, slots=True)
class Resolved:
    """The stack's (or the arguments') names, resolved once."""

    asg: str
    state_table: str | None
    target_groups: tuple[str, ...] = ()
    """ARNs of the target groups named by the arguments or the stack."""


class AwsFleetApi:
    """The few AWS calls gwlbtop makes, with short timeouts and few retries."""

    def __init__(self, settings: FleetSettings) -> None:
        config = Config(
            connect_timeout=settings.timeout,
            read_timeout=max(settings.timeout, 5.0),
            retries={"max_attempts": 2, "mode": "standard"},
        )
        session = boto3.session.Session(region_name=settings.region)
        kwargs: dict[str, Any] = {"config": config}
        if settings.endpoint_url:
            kwargs["endpoint_url"] = settings.endpoint_url
        self.autoscaling: Any = session.client("autoscaling", **kwargs)
        self.ec2: Any = session.client("ec2", **kwargs)
        self.elbv2: Any = session.client("elbv2", **kwargs)
        self.cloudformation: Any = session.client("cloudformation", **kwargs)
        self.dynamodb: Any = session.client("dynamodb", **kwargs)
        self.ssm: Any = session.client("ssm", **kwargs)

    def stack(self, name: str) -> tuple[dict[str, str], list[Json]]:
        """The stack's outputs (key -> value) and resources."""
        stack = self.cloudformation.describe_stacks(StackName=name)["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        resources = self.cloudformation.describe_stack_resources(StackName=name)
        return outputs, list(resources.get("StackResources", []))

    def group(self, name: str) -> Json:
        """The Auto Scaling group."""
        groups = self.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])
        if not groups.get("AutoScalingGroups"):
            raise SourceError(f"no Auto Scaling group named {name!r}")
        return dict(groups["AutoScalingGroups"][0])

    def instances(self, ids: list[str]) -> dict[str, Json]:
        """EC2 descriptions by instance id."""
        if not ids:
            return {}
        out: dict[str, Json] = {}
        for page in self.ec2.get_paginator("describe_instances").paginate(InstanceIds=ids):
            for reservation in page.get("Reservations", []):
                for inst in reservation.get("Instances", []):
                    out[inst["InstanceId"]] = inst
        return out

    def src_dst_check(self, instance_id: str) -> bool | None:
        """The sourceDestCheck attribute (when describe_instances left it out)."""
        answer = self.ec2.describe_instance_attribute(
            InstanceId=instance_id, Attribute="sourceDestCheck"
        )
        value = answer.get("SourceDestCheck", {}).get("Value")
        return None if value is None else bool(value)

    def target_group_arn(self, name: str) -> str:
        """The ARN of a target group given by name."""
        groups = self.elbv2.describe_target_groups(Names=[name])["TargetGroups"]
        return str(groups[0]["TargetGroupArn"])

    def target_health(self, target_group_arns: list[str]) -> dict[str, str]:
        """Target state by instance id over the group's target groups."""
        out: dict[str, str] = {}
        for arn in target_group_arns:
            answer = self.elbv2.describe_target_health(TargetGroupArn=arn)
            for d in answer.get("TargetHealthDescriptions", []):
                out[d["Target"]["Id"]] = d.get("TargetHealth", {}).get("State", "unknown")
        return out

    def parameter(self, name: str) -> str:
        """An SSM parameter's value (decrypted)."""
        answer = self.ssm.get_parameter(Name=name, WithDecryption=True)
        return str(answer["Parameter"]["Value"])

    def table_items(self, table: str) -> list[Json]:
        """Every item of the lifecycle state table, as plain Python values."""
        des = TypeDeserializer()
        items: list[Json] = []
        for page in self.dynamodb.get_paginator("scan").paginate(TableName=table):
            for item in page.get("Items", []):
                items.append({k: des.deserialize(v) for k, v in item.items()})
        return items


def _desired(policy_state: Json | None) -> str | None:
    """The desired policy as the daemons report theirs: the document's version label.

    ``desired_version`` is the SSM parameter version (a number); ``desired_label`` is the
    document's ``version``, which is what ``/status`` ``policy.version`` shows.
    """
    if not policy_state:
        return None
    value = policy_state.get("desired_label") or policy_state.get("desired_version")
    return None if value is None else str(value)


def _iso(text: Any) -> float:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def _plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal: make them JSON-friendly."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if type(value).__name__ == "Decimal":
        return float(value) if value % 1 else int(value)
    return value


class FleetSource:
    """Reads a fleet: AWS state for every instance, then each status API.

    Args:
        settings: where the fleet is.
        api: the AWS adapter (default: boto3 clients built from ``settings``).
    """

    def __init__(self, settings: FleetSettings, api: AwsFleetApi | None = None) -> None:
        if not settings.asg and not settings.stack:
            raise SourceError("a fleet needs --asg or --stack")
        self.settings = settings
        self._api = api
        self._resolved: Resolved | None = None
        self._policy_parameter: str | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(1, settings.concurrency), thread_name_prefix="gwlbtop-status"
        )

    @property
    def label(self) -> str:
        """``asg NAME`` or ``stack NAME``."""
        s = self.settings
        return f"asg {s.asg}" if s.asg else f"stack {s.stack}"

    @property
    def api(self) -> AwsFleetApi:
        """The AWS adapter (built on first use: importing boto3 is slow)."""
        if self._api is None:
            self._api = AwsFleetApi(self.settings)
        return self._api

    def _resolve(self) -> Resolved:
        if self._resolved is not None:
            return self._resolved
        s = self.settings
        asg, table = s.asg, s.state_table
        groups = [
            g if g.startswith("arn:") else self.api.target_group_arn(g) for g in s.target_groups
        ]
        if s.stack:
            outputs, resources = self.api.stack(s.stack)
            table = table or outputs.get("StateTableName")
            if outputs.get("TargetGroupArn"):
                groups.append(outputs["TargetGroupArn"])
            if not asg:
                asg = outputs.get("AutoScalingGroupName") or next(
                    (
                        r["PhysicalResourceId"]
                        for r in resources
                        if r.get("ResourceType") == "AWS::AutoScaling::AutoScalingGroup"
                    ),
                    None,
                )
            if not asg:
                raise SourceError(f"stack {s.stack} has no Auto Scaling group")
        assert asg is not None
        self._resolved = Resolved(asg, table, tuple(dict.fromkeys(groups)))
        return self._resolved

    def fetch(self, request: FetchRequest) -> Snapshot:
        """AWS state, then every status API in parallel (bounded)."""
        started = time.time()
        try:
            return self._fetch(request, started)
        except SourceError:
            raise
        except Exception as exc:  # botocore errors have no common useful base to name here
            raise SourceError(f"{self.label}: {type(exc).__name__}: {exc}") from exc

    def _fetch(self, request: FetchRequest, started: float) -> Snapshot:
        resolved = self._resolve()
        api = self.api
        warnings: list[str] = []
        group = api.group(resolved.asg)
        asg_instances = {i["InstanceId"]: i for i in group.get("Instances", [])}
        ec2 = api.instances(sorted(asg_instances))
        try:
            arns = [*group.get("TargetGroupARNs", []), *resolved.target_groups]
            health = api.target_health(list(dict.fromkeys(arns)))
        except Exception as exc:  # a missing permission must not hide the fleet
            health = {}
            warnings.append(f"target health: {exc}")
        items: list[Json] = []
        if resolved.state_table:
            try:
                items = [_plain(i) for i in api.table_items(resolved.state_table)]
            except Exception as exc:
                warnings.append(f"state table {resolved.state_table}: {exc}")
        managed = {
            str(i.get("instance_id")): i
            for i in items
            if str(i.get("pk", "")).startswith("INSTANCE#")
        }
        policies = [i for i in items if str(i.get("pk", "")).startswith("POLICY#")]
        policy_state = policies[0] if policies else None
        if policy_state and policy_state.get("parameter"):
            self._policy_parameter = str(policy_state["parameter"])
        desired = _desired(policy_state)
        infos = []
        for iid in sorted(asg_instances):
            described = ec2.get(iid, {})
            check = described.get("SourceDestCheck")
            ip = described.get("PrivateIpAddress")
            item = managed.get(iid, {})
            infos.append(
                InstanceInfo(
                    instance_id=iid,
                    target=self.settings.target_for(iid, ip),
                    az=asg_instances[iid].get("AvailabilityZone")
                    or described.get("Placement", {}).get("AvailabilityZone"),
                    private_ip=ip,
                    lifecycle_state=asg_instances[iid].get("LifecycleState"),
                    managed_state=item.get("state"),
                    last_action=item.get("last_action"),
                    target_health=health.get(iid, "not registered" if health else None),
                    src_dst_check=None if check is None else bool(check),
                    desired_policy=desired,
                )
            )
        members = self._read_all(infos, request)
        events = sorted(
            (
                LifecycleEvent(_iso(h.get("at")), iid, str(h.get("state")), str(h.get("reason")))
                for iid, item in managed.items()
                for h in item.get("history") or []
            ),
            key=lambda e: e.at,
        )
        return Snapshot(
            taken_at=started,
            source=self.label,
            members=tuple(members),
            lifecycle_events=tuple(events),
            policy_state=policy_state,
            warnings=tuple(warnings),
        )

    def _read_one(self, info: InstanceInfo, request: FetchRequest) -> Member:
        if not info.target:
            return Member(info, error="no private IP")
        started = time.monotonic()
        client = JsonClient(info.target, self.settings.timeout)
        try:
            status = check_schema(client.get("/status"), "status", info.target)
            flows = None
            if request.flows_of == info.instance_id:
                flows = check_schema(
                    client.get("/flows", {"limit": str(request.flows_limit)}), "flows", info.target
                )
        except FetchError as exc:
            return Member(info, error=exc.message, latency_s=time.monotonic() - started)
        return Member(info, status, flows, None, time.monotonic() - started)

    def _read_all(self, infos: list[InstanceInfo], request: FetchRequest) -> list[Member]:
        futures = [self._pool.submit(self._read_one, info, request) for info in infos]
        # Each request is bounded by the socket timeout; this bounds the whole round too.
        batches = -(-len(infos) // max(1, self.settings.concurrency))
        deadline = (self.settings.timeout * 3 + 1) * max(1, batches)
        done, _ = concurrent.futures.wait(futures, timeout=deadline)
        return [
            f.result() if f in done else Member(info, error="timeout")
            for f, info in zip(futures, infos, strict=True)
        ]

    def policy_document(self) -> tuple[str, str] | None:
        """The desired policy document: the SSM parameter named by the state table."""
        name = self._policy_parameter
        if name is None:
            return None
        try:
            return self.api.parameter(name), f"ssm:{name}"
        except Exception as exc:  # botocore's errors share no useful base
            raise SourceError(f"policy parameter {name}: {exc}") from exc

    def perform(self, action: AdminAction) -> str:
        """Fleet mode has no admin channel: the admin socket is local to each instance."""
        raise ActionError(
            f"{action.describe()}: actions need the instance's admin channel; "
            "run gwlbtop --appliance /run/gwlbd/admin.sock --write on that instance"
        )

    def close(self) -> None:
        """Stop the status thread pool."""
        self._pool.shutdown(wait=False, cancel_futures=True)
