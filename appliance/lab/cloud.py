"""The lab's AWS: a moto server holding the stack, and the lifecycle service running on it.

Runs in the GWLB simulator's namespace (``python -m appliance.lab.cloud``), where the
appliances reach moto on the bridge (``http://198.18.0.1:PORT``, their
``AWS_ENDPOINT_URL``) and the lifecycle service reaches it on loopback. It:

- starts moto's server in-process (:mod:`appliance.lab.moto_ext` adds what moto lacks:
  lifecycle actions, target health from the simulator, draining) and creates the
  stack's resources: VPC with two subnets (zones ``a`` and ``b``), launch template, a
  GENEVE target group, the Auto Scaling group with launch and terminate hooks, the
  policy parameter, the state and idempotency tables and the lifecycle state machine;
- plays Auto Scaling: a launch or removal puts a lifecycle action in its hook and sends
  the EventBridge event (the same JSON AWS sends) to the lifecycle service's handler;
- plays Step Functions: an execution the handler starts is run by the service's own
  local runner (``lambdas.local_workflow``), Wait states really waiting;
- plays EventBridge for SSM: a policy written to the parameter is followed by the
  ``Parameter Store Change`` event to the publishing handler.

The lifecycle service is loaded by its handler names, as the Lambda runtime does
(``template.yaml``), in this separate process: the appliance package itself does not
depend on ``lambdas`` (the import contract), and the handlers' JSON logs and metrics go
to this process's log file. The lab drives everything through a unix socket, one JSON
request per line (:func:`request`).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import socket
import socketserver
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from appliance.lab.stack import (
    ACCOUNT,
    ASG,
    HANDLERS,
    IDEMPOTENCY_TABLE,
    LAUNCH_HOOK,
    PARAMETER,
    REGION,
    STATE_TABLE,
    SUBNETS,
    TARGET_GROUP,
    TERMINATE_HOOK,
    lifecycle_event,
    parameter_event,
    zone_of,
)


def request(path: Path, command: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
    """Send one command to the cloud process and return its answer.

    Raises:
        OSError: the process does not answer.
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(json.dumps(command).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    answer: dict[str, Any] = json.loads(data or b"{}")
    return answer


class Cloud:
    """moto, the stack's resources and the lifecycle service, driven by commands."""

    def __init__(self, port: int, workdir: Path, delay: int, thresholds: dict[str, int]) -> None:
        from moto.moto_server.threaded_moto_server import ThreadedMotoServer  # noqa: PLC0415

        from appliance.lab import moto_ext  # noqa: PLC0415 - imports moto

        self.endpoint = f"http://127.0.0.1:{port}"
        self.workdir = workdir
        self.delay = delay
        self.instances: dict[str, tuple[str, str]] = {}
        self.workflows: dict[str, dict[str, Any]] = {}
        self.policies: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()
        """One Lambda invocation at a time, as reserved concurrency 1 would."""
        self.hooks = moto_ext.Hooks(ACCOUNT, REGION)
        self.bridge = moto_ext.TargetBridge(
            targets_file=workdir / "targets.json",
            sim_status=workdir / "gwlb-sim.json",
            locate=self.instances.get,
            health_check=thresholds,
        )
        moto_ext.install(self.hooks, self.bridge)
        self.server = ThreadedMotoServer("0.0.0.0", port, verbose=False)
        self.server.start()
        import boto3  # noqa: PLC0415 - only the cloud process needs it

        session = boto3.session.Session(region_name=REGION)
        client = session.client
        self.ec2 = client("ec2", endpoint_url=self.endpoint)
        self.elbv2 = client("elbv2", endpoint_url=self.endpoint)
        self.asg = client("autoscaling", endpoint_url=self.endpoint)
        self.ssm = client("ssm", endpoint_url=self.endpoint)
        self.ddb = client("dynamodb", endpoint_url=self.endpoint)
        self.sfn = client("stepfunctions", endpoint_url=self.endpoint)
        self.target_group_arn = ""
        self.state_machine_arn = ""
        self.subnets: dict[str, str] = {}

    # -- the stack -----------------------------------------------------------------

    def create_stack(self, policy: str, capacity: int) -> dict[str, Any]:
        """Create every resource, publish the first policy and launch ``capacity``."""
        vpc = self.ec2.create_vpc(CidrBlock="198.18.0.0/16")["Vpc"]["VpcId"]
        self.subnets = {
            zone: self.ec2.create_subnet(
                VpcId=vpc, CidrBlock=cidr, AvailabilityZone=f"{REGION}{zone}"
            )["Subnet"]["SubnetId"]
            for cidr, zone in SUBNETS
        }
        image = self.ec2.describe_images()["Images"][0]["ImageId"]
        self.ec2.create_launch_template(
            LaunchTemplateName="gwlbd-lab",
            LaunchTemplateData={"ImageId": image, "InstanceType": "c6in.large"},
        )
        self.target_group_arn = self.elbv2.create_target_group(
            Name=TARGET_GROUP,
            Protocol="GENEVE",
            Port=6081,
            VpcId=vpc,
            TargetType="instance",
            HealthCheckProtocol="HTTP",
            HealthCheckPort="8080",
            HealthCheckPath="/healthz",
        )["TargetGroups"][0]["TargetGroupArn"]
        self.set_attributes({"deregistration_delay.timeout_seconds": str(self.delay)})
        for name in (STATE_TABLE, IDEMPOTENCY_TABLE):
            key = "pk" if name == STATE_TABLE else "id"
            self.ddb.create_table(
                TableName=name,
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
            )
        workflow = importlib.import_module(HANDLERS["workflow"])
        self.state_machine_arn = self.sfn.create_state_machine(
            name="gwlbd-lab-lifecycle",
            definition=Path(workflow.DEFINITION).read_text(),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/gwlbd-lab",
        )["stateMachineArn"]
        self._environment()
        first = self.put_policy(policy)
        self.asg.create_auto_scaling_group(
            AutoScalingGroupName=ASG,
            LaunchTemplate={"LaunchTemplateName": "gwlbd-lab", "Version": "$Latest"},
            MinSize=0,
            MaxSize=10,
            DesiredCapacity=0,
            VPCZoneIdentifier=",".join(self.subnets.values()),
        )
        for hook, transition, result in (
            (LAUNCH_HOOK, "autoscaling:EC2_INSTANCE_LAUNCHING", "ABANDON"),
            (TERMINATE_HOOK, "autoscaling:EC2_INSTANCE_TERMINATING", "CONTINUE"),
        ):
            self.asg.put_lifecycle_hook(
                AutoScalingGroupName=ASG,
                LifecycleHookName=hook,
                LifecycleTransition=transition,
                HeartbeatTimeout=300,
                DefaultResult=result,
            )
        launched = self.launch(capacity)
        return {"policy": first, **launched}

    def _environment(self) -> None:
        """The variables ``template.yaml`` gives the functions (lab timings)."""
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": self.endpoint,
                "AWS_DEFAULT_REGION": REGION,
                "GWLBD_STATE_TABLE": STATE_TABLE,
                "GWLBD_IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE,
                "GWLBD_TARGET_GROUP_ARN": self.target_group_arn,
                "GWLBD_ASG_NAME": ASG,
                "GWLBD_STATE_MACHINE_ARN": self.state_machine_arn,
                "GWLBD_LAUNCH_HOOK_NAME": LAUNCH_HOOK,
                "GWLBD_TERMINATE_HOOK_NAME": TERMINATE_HOOK,
                "GWLBD_HEALTHY_TIMEOUT_SECONDS": "60",
                "GWLBD_POLL_INTERVAL_SECONDS": "1",
                "GWLBD_HEARTBEAT_INTERVAL_SECONDS": "5",
                # an upper bound: the drain normally ends when the target leaves the group
                "GWLBD_DEREGISTRATION_DELAY_SECONDS": str(self.delay + 10),
                "GWLBD_POLICY_PARAMETER": PARAMETER,
                "GWLBD_POLICY_LABEL": "live",
                "POWERTOOLS_SERVICE_NAME": "gwlbd-lab",
                "POWERTOOLS_METRICS_NAMESPACE": "gwlbd-lab",
                "POWERTOOLS_TRACE_DISABLED": "true",
            }
        )

    def set_attributes(self, attributes: dict[str, str]) -> dict[str, Any]:
        """``ModifyTargetGroupAttributes`` (the simulator follows)."""
        self.elbv2.modify_target_group_attributes(
            TargetGroupArn=self.target_group_arn,
            Attributes=[{"Key": k, "Value": v} for k, v in attributes.items()],
        )
        return {"attributes": attributes}

    # -- the lifecycle service -------------------------------------------------------

    def _invoke(self, name: str, event: dict[str, Any]) -> dict[str, Any]:
        module = importlib.import_module(HANDLERS[name])
        context = importlib.import_module(HANDLERS["workflow"]).LocalContext(f"gwlbd-lab-{name}")
        with self.lock:
            result: dict[str, Any] = module.handler(event, context)
        return result

    def _run_workflow(self, instance_id: str, execution_arn: str) -> None:
        """Step Functions: run the execution's input through the state machine."""
        workflow = importlib.import_module(HANDLERS["workflow"])
        steps = workflow.handler_invoke()

        def invoke(payload: dict[str, Any]) -> dict[str, Any]:
            with self.lock:
                result: dict[str, Any] = steps(payload)
            return result

        record = self.workflows[instance_id]
        try:
            document = json.loads(self.sfn.describe_execution(executionArn=execution_arn)["input"])
            run = workflow.LocalWorkflow(invoke, time.sleep).run(document)
            output = run.output if isinstance(run.output, dict) else {}
            record.update(
                status=run.status,
                visited=list(run.visited),
                result=output.get("result"),
                reason=output.get("reason", run.error),
            )
        except Exception as exc:  # reported to the lab, which fails its check
            record.update(status="FAILED", reason=f"{type(exc).__name__}: {exc}")

    def _fire(self, kind: str, instance_id: str) -> None:
        token = str(uuid.uuid4())
        from appliance.lab.moto_ext import LAUNCH, TERMINATE, Action  # noqa: PLC0415

        transition = LAUNCH if kind == "launch" else TERMINATE
        hook = LAUNCH_HOOK if kind == "launch" else TERMINATE_HOOK
        self.hooks.add(Action(instance_id, ASG, hook, transition, token))
        self.workflows[instance_id] = {"kind": kind, "status": "RUNNING", "since": time.time()}
        answer = self._invoke("lifecycle", lifecycle_event(kind, instance_id, token))
        if not answer.get("started"):
            self.workflows[instance_id].update(status="NOT_STARTED", reason=answer.get("reason"))
            return
        threading.Thread(
            target=self._run_workflow, args=(instance_id, answer["execution"]), daemon=True
        ).start()

    def launch(self, count: int) -> dict[str, Any]:
        """Scale out by ``count``: new instances, each with its launch lifecycle action.

        Auto Scaling balances a group across its zones; moto puts every instance in the
        first subnet of ``VPCZoneIdentifier``, so each launch first puts the subnet of
        the zone with fewer instances first.
        """
        new: list[str] = []
        for _ in range(count):
            before = self._group()
            in_zone = {zone: 0 for _, zone in SUBNETS}
            for instance_id in before:
                if instance_id in self.instances:
                    in_zone[self.instances[instance_id][1]] += 1
            order = sorted(self.subnets, key=lambda z: (in_zone[z], z))
            self.asg.update_auto_scaling_group(
                AutoScalingGroupName=ASG,
                VPCZoneIdentifier=",".join(self.subnets[z] for z in order),
                DesiredCapacity=len(before) + 1,
            )
            added = [i for i in self._group() if i not in before]
            if not added:
                continue
            described = self.ec2.describe_instances(InstanceIds=added)
            for reservation in described["Reservations"]:
                for inst in reservation["Instances"]:
                    address = inst["PrivateIpAddress"]
                    self.instances[inst["InstanceId"]] = (address, zone_of(address))
            new += added
        for instance_id in new:
            self._fire("launch", instance_id)
        return {"launched": [self._describe(i) for i in new]}

    def terminate(self, instance_id: str) -> dict[str, Any]:
        """Scale in: the group removes ``instance_id`` (through the terminate hook)."""
        self._fire("terminate", instance_id)
        return {"terminating": instance_id}

    def put_policy(self, text: str) -> dict[str, Any]:
        """Write a new parameter version and send its change event to the publisher."""
        version = self.ssm.put_parameter(Name=PARAMETER, Value=text, Type="String", Overwrite=True)[
            "Version"
        ]
        operation = "Create" if version == 1 else "Update"
        result = self._invoke("parameter", parameter_event(PARAMETER, operation))
        result["ssm_version"] = version
        self.policies.append(result)
        return result

    def _group(self) -> list[str]:
        groups = self.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[ASG])
        return [i["InstanceId"] for g in groups["AutoScalingGroups"] for i in g["Instances"]]

    def _describe(self, instance_id: str) -> dict[str, Any]:
        address, zone = self.instances.get(instance_id, ("", ""))
        return {"instance_id": instance_id, "address": address, "zone": zone}

    def status(self) -> dict[str, Any]:
        """Instances, lifecycle actions, workflows, policy publications and state records."""
        labels = self.ssm.get_parameter_history(Name=PARAMETER)["Parameters"]
        live = [p["Version"] for p in labels if "live" in p.get("Labels", [])]
        records = self.ddb.scan(TableName=STATE_TABLE)["Items"]
        return {
            "group": self._group(),
            "instances": [self._describe(i) for i in self.instances],
            "hooks": self.hooks.snapshot(),
            "workflows": self.workflows,
            "policies": self.policies,
            "live_version": live[0] if live else None,
            "records": {
                r["pk"]["S"]: {k: next(iter(v.values())) for k, v in r.items()} for r in records
            },
            "target_group_arn": self.target_group_arn,
        }

    def handle(self, command: dict[str, Any]) -> dict[str, Any]:
        """Run one command from the lab."""
        op = command.get("op")
        if op == "status":
            return self.status()
        if op == "launch":
            return self.launch(int(command.get("count", 1)))
        if op == "terminate":
            return self.terminate(str(command["instance_id"]))
        if op == "put_policy":
            return self.put_policy(str(command["text"]))
        if op == "attributes":
            return self.set_attributes({str(k): str(v) for k, v in command["attributes"].items()})
        raise ValueError(f"unknown command {op!r}")


class _Handler(socketserver.StreamRequestHandler):
    cloud: Cloud

    def handle(self) -> None:
        line = self.rfile.readline()
        try:
            answer = self.cloud.handle(json.loads(line))
        except Exception as exc:  # the lab gets the error as an answer
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        self.wfile.write(json.dumps(answer, default=str).encode() + b"\n")


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def main(argv: list[str] | None = None) -> int:
    """Entry point: start moto, create the stack, serve the lab's commands."""
    parser = argparse.ArgumentParser(prog="python -m appliance.lab.cloud")
    parser.add_argument("--port", type=int, required=True, help="moto's port")
    parser.add_argument("--control", type=Path, required=True, help="unix socket for the lab")
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--policy-file", type=Path, required=True, help="first policy")
    parser.add_argument("--capacity", type=int, default=3, help="instances at the start")
    parser.add_argument("--deregistration-delay", type=int, default=5)
    parser.add_argument("--healthy-threshold", type=int, default=2)
    parser.add_argument("--unhealthy-threshold", type=int, default=2)
    args = parser.parse_args(argv)
    thresholds = {
        "healthy_threshold": args.healthy_threshold,
        "unhealthy_threshold": args.unhealthy_threshold,
    }
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's access log
    cloud = Cloud(args.port, args.workdir, args.deregistration_delay, thresholds)
    created = cloud.create_stack(args.policy_file.read_text(), args.capacity)
    print(json.dumps({"created": created}, default=str), flush=True)
    _Handler.cloud = cloud
    with contextlib.suppress(FileNotFoundError):
        args.control.unlink()
    with _Server(str(args.control), _Handler) as server:
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
