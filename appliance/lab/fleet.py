"""The fleet lab: a whole GWLB deployment in network namespaces.

Topology (198.18.0.0/15 only)::

    client 198.18.1.10 (zone a endpoint) ┐          ┌ br-appl 198.18.0.1/24 ── instance 198.18.0.x
           198.18.1.20 (zone b endpoint) ┤ gwlb ns  │   one namespace per instance the Auto
    server 198.19.1.10, denied .66 ──────┘ sim+cloud┘   Scaling group launches, running gwlbd

The ``gwlb`` namespace runs the GWLB simulator and the lab's cloud
(:mod:`appliance.lab.cloud`: moto with the stack's resources and the lifecycle
service). Instances get the addresses moto gives them in the zone subnets
(198.18.0.0/25 = zone a, 198.18.0.128/25 = zone b), so moto, gwlbtop and the simulator
agree on who is who. Each gwlbd reads its policy from the SSM parameter in moto
(``AWS_ENDPOINT_URL`` on the bridge) with fake credentials.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.lab import cloud, stack
from appliance.lab.layout import daemon_status
from appliance.lab.netns import Namespace
from appliance.lab.statusfile import read_status, write_status
from appliance.lab.workspace import Workspace

CLIENT_A, CLIENT_B, CLIENT_GW = "198.18.1.10", "198.18.1.20", "198.18.1.1"
SERVER, SERVER_GW, DENIED = "198.19.1.10", "198.19.1.1", "198.19.1.66"
GWLB_NODE = "198.18.0.1"
HEALTH_PORT = 8080
MOTO_PORT = 5000
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": stack.REGION,
}
POLICY = """apiVersion: gwlbd.policy/v1
version: "{version}"
settings: {{defaultAction: allow, midFlow: allow}}
rules:
{extra}  - {{id: no-denied-host, action: drop, log: true, match: {{dst: [{denied}/32]}}}}
  - {{id: no-blocked-site, action: drop, match: {{domain: ["blocked.example"]}}}}
  - {{id: no-evil-dns, action: drop, match: {{domain: ["evil.example", "*.evil.example"]}}}}
"""
CLOSE_9999 = "  - {id: no-9999, action: drop, match: {protocol: [tcp], dstPort: [9999]}}\n"


def policy_text(version: str, close_9999: bool = False) -> str:
    """The lab's policy document (``close_9999``: the rollout's extra rule).

    The port rule goes first: rules decide in order, and a flow that a domain rule
    might still match waits for its name before later rules are tried.
    """
    return POLICY.format(version=version, denied=DENIED, extra=CLOSE_9999 if close_9999 else "")


@dataclass(frozen=True, slots=True)
class FleetConfig:
    """How to run the fleet lab."""

    capacity: int = 3
    """Instances the group starts with."""
    deregistration_delay: int = 5
    """Target group deregistration delay, seconds (AWS default 300; short for the lab)."""
    long_connections: int = 6
    prefix: str = "gwlbd-fleet"
    startup_timeout: float = 90.0


@dataclass
class Instance:
    """An instance of the group and the gwlbd running in its namespace."""

    instance_id: str
    address: str
    zone: str
    namespace: Namespace
    admin_socket: Path
    proc: subprocess.Popen[bytes] | None = None
    stopped: bool = False


class FleetLab(Workspace):
    """Namespaces, simulator, cloud, instances and traffic; all removed on exit."""

    def __init__(self, config: FleetConfig) -> None:
        super().__init__(config.prefix, "gwlbd-fleet-")
        self.config = config
        self.instances: dict[str, Instance] = {}
        self.capture: list[str] = []
        self.sim_status_file = self.workdir / "gwlb-sim.json"
        self.apps_status_file = self.workdir / "apps.json"
        self.control = self.workdir / "cloud.sock"
        self._apps_runs = 0

    def _start(
        self, name: str, ns: Namespace, argv: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        return self.start_logged(name, ns, argv, env)

    def build(self) -> None:
        """Client, server and GWLB namespaces; instances come later."""
        topo = self.topology
        client, server, gwlb = (topo.namespace(r) for r in ("client", "server", "gwlb"))
        to_client, client_if = topo.link(gwlb, client, f"{CLIENT_GW}/24", f"{CLIENT_A}/24")
        topo.address(client, client_if, f"{CLIENT_B}/24")
        to_server, server_if = topo.link(gwlb, server, f"{SERVER_GW}/24", f"{SERVER}/24")
        topo.address(server, server_if, f"{DENIED}/32")
        topo.route(client, "default", CLIENT_GW)
        topo.route(server, "default", SERVER_GW)
        topo.bridge(gwlb, "br-appl", f"{GWLB_NODE}/24")
        self.capture = [to_client, to_server]

    def start(self) -> None:
        """Servers, the GWLB simulator and the cloud (which launches the first fleet)."""
        ns = self.topology.namespaces
        py = sys.executable
        self._start(
            "apps-server",
            ns["server"],
            [py, "-m", "appliance.lab.apps", "serve", "--address", SERVER, "--address", DENIED],
        )
        write_status(self.workdir / "targets.json", {"settings": {}, "targets": []})
        sim = [py, "-m", "appliance.lab.simulator", "--address", GWLB_NODE]
        sim += ["--targets-file", str(self.workdir / "targets.json")]
        for ifname in self.capture:
            sim += ["--capture", ifname]
        sim += ["--status-file", str(self.sim_status_file), "--status-interval", "0.25"]
        sim += ["--health-port", str(HEALTH_PORT), "--health-interval", "0.5"]
        sim += ["--zone", f"{CLIENT_B}/32=b", "--watch-port", "7008"]
        self._start("gwlb-sim", ns["gwlb"], sim)
        policy = self.workdir / "policy-1.yaml"
        policy.write_text(policy_text("lab-1"))
        self._start(
            "cloud",
            ns["gwlb"],
            [
                py, "-m", "appliance.lab.cloud",
                "--port", str(MOTO_PORT),
                "--control", str(self.control),
                "--workdir", str(self.workdir),
                "--policy-file", str(policy),
                "--capacity", str(self.config.capacity),
                "--deregistration-delay", str(self.config.deregistration_delay),
            ],
            env=FAKE_CREDENTIALS,
        )  # fmt: skip

    def command(self, op: str, **params: Any) -> dict[str, Any]:
        """One command to the cloud process.

        Raises:
            RuntimeError: the cloud answered with an error.
            OSError: it did not answer.
        """
        answer = cloud.request(self.control, {"op": op, **params}, timeout=60)
        if "error" in answer:
            raise RuntimeError(f"cloud {op}: {answer['error']}")
        return answer

    def wait_cloud(self) -> tuple[bool, str]:
        """Wait until the cloud answers (stack created, first fleet launched)."""
        deadline = time.monotonic() + self.config.startup_timeout
        while time.monotonic() < deadline:
            for name in ("cloud", "gwlb-sim", "apps-server"):
                if self.procs[name].poll() is not None:
                    return False, f"{name} exited with {self.procs[name].returncode}"
            with contextlib.suppress(OSError, ValueError):
                self.command("status")
                return True, "stack created"
            time.sleep(0.3)
        return False, "the cloud did not answer in time"

    def start_instances(self) -> list[Instance]:
        """Boot gwlbd in a namespace for every instance the group launched (new ones only)."""
        started = []
        for described in self.command("status")["instances"]:
            instance_id = str(described["instance_id"])
            if instance_id in self.instances:
                continue
            started.append(self._boot(instance_id, described["address"], described["zone"]))
        return started

    def _boot(self, instance_id: str, address: str, zone: str) -> Instance:
        topo = self.topology
        ns = topo.namespace(f"appl{len(self.instances) + 1}")
        topo.link(topo.namespaces["gwlb"], ns, None, f"{address}/24", master_a="br-appl")
        instance = Instance(instance_id, address, zone, ns, self.workdir / f"{instance_id}.sock")
        self.instances[instance_id] = instance
        env = {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": f"http://{GWLB_NODE}:{MOTO_PORT}"}
        argv = [
            sys.executable, "-m", "appliance.cli", "run",
            "--gwlb-cidr", f"{GWLB_NODE}/32",
            "--health-port", str(HEALTH_PORT),
            "--admin-socket", str(instance.admin_socket),
            "--workers", "1",
            "--policy-ssm-parameter", stack.PARAMETER,
            "--policy-ssm-label", "live",
            "--policy-poll-seconds", "1",
            "--deny-cidr", f"{DENIED}/32",
            "--state-dir", str(self.workdir / f"state-{instance_id}"),
            "--shutdown-grace", "0",
        ]  # fmt: skip
        instance.proc = self._start(instance_id, ns, argv, env=env)
        return instance

    def stop_instance(self, instance_id: str) -> None:
        """The instance is terminated: its gwlbd goes away with it."""
        instance = self.instances[instance_id]
        if instance.proc is not None and not instance.stopped:
            self.topology.stop(instance.proc)
        instance.stopped = True

    def crash_instance(self, instance_id: str) -> None:
        """The instance dies at once (every gwlbd process killed, no drain)."""
        instance = self.instances[instance_id]
        if instance.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(instance.proc.pid, signal.SIGKILL)
            instance.proc.wait(timeout=10)
        instance.stopped = True

    def start_apps(self) -> None:
        """The client applications (both zones' sources)."""
        self.apps_status_file.unlink(missing_ok=True)
        # each run its own block of source ports for blocked probes (below 32768)
        first_port = 10000 + 1000 * (self._apps_runs % 22)
        self._apps_runs += 1
        argv = [sys.executable, "-m", "appliance.lab.apps", "client"]
        argv += ["--source", CLIENT_A, "--source", CLIENT_B, "--server", SERVER]
        argv += ["--denied", DENIED, "--long", str(self.config.long_connections)]
        argv += ["--status-file", str(self.apps_status_file)]
        argv += ["--blocked-ports", str(first_port)]
        self._start("apps-client", self.topology.namespaces["client"], argv)

    def stop_apps(self) -> None:
        """Ask the client to finish and wait for its last report."""
        self.finish("apps-client")

    def sim(self) -> dict[str, Any]:
        """The simulator's latest status (empty before the first)."""
        return read_status(self.sim_status_file) or {}

    def apps(self) -> dict[str, Any]:
        """The client's latest status (empty before the first)."""
        return read_status(self.apps_status_file) or {}

    def daemon(self, instance_id: str) -> dict[str, Any] | None:
        """``/status`` of one instance's gwlbd."""
        return daemon_status(self.instances[instance_id].admin_socket)

    def running(self) -> list[Instance]:
        """Instances whose gwlbd is meant to be running."""
        return [i for i in self.instances.values() if not i.stopped]

    def dead_process(self) -> str | None:
        """A lab process (not an instance stopped on purpose) that exited."""
        for name, proc in self.procs.items():
            instance = self.instances.get(name)
            if instance is not None and instance.stopped:
                continue
            if name != "apps-client" and proc.poll() is not None:
                return name
        return None

    def log_tail(self, name: str, lines: int = 15) -> str:
        """The last lines a process wrote."""
        try:
            text = (self.workdir / f"{name}.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def gwlbtop_command(self) -> str:
        """The command that opens gwlbtop on this lab's fleet (while the lab runs)."""
        gwlb = self.topology.namespaces["gwlb"].name
        creds = " ".join(f"{k}={v}" for k, v in FAKE_CREDENTIALS.items())
        return (
            f"sudo ip netns exec {gwlb} env {creds} gwlbtop --asg {stack.ASG} "
            f"--endpoint-url http://127.0.0.1:{MOTO_PORT} --region {stack.REGION} "
            f"--state-table {stack.STATE_TABLE} --target-group {stack.TARGET_GROUP} "
            f"--health-port {HEALTH_PORT}"
        )
