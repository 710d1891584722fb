"""The lab's layout: addresses, namespaces, links and the processes in them.

Topology (addresses only from the benchmarking ranges 198.18.0.0/15 and 2001:2::/48)::

    client 198.18.1.10 ── 198.18.1.1 ┐            ┌ br-appl 198.18.0.1/24 ── appliance 198.18.0.10
                                     │  gwlb-sim  │   (GENEVE, UDP 6081)     gwlbd or reflector
    server 198.19.1.10 ── 198.19.1.1 ┘ TUN+rules  ┘
           198.19.1.66 (denied by the appliance's policy)

    client and server also have IPv6: 2001:2:0:1::10 and 2001:2:0:2::10 (denied:
    2001:2:0:2::66), routed through 2001:2:0:1::1 and 2001:2:0:2::1 in the gwlb namespace.

Client and server route through the ``gwlb`` namespace, where the simulator takes every
packet, sends it through the appliance and forwards what comes back. Appliances sit on
a bridge so more of them can be added (``LabConfig.appliances``), each getting flows by
5-tuple. :class:`Lab` builds it, starts and watches the processes, and removes it all;
:mod:`appliance.lab.run` drives a run.
"""

from __future__ import annotations

import http.client
import json
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.lab import report
from appliance.lab.statusfile import read_status
from appliance.lab.workspace import Workspace
from appliance.wire.geneve import GENEVE_PORT

CLIENT, CLIENT_GW = "198.18.1.10", "198.18.1.1"
SERVER, SERVER_GW = "198.19.1.10", "198.19.1.1"
DENIED = "198.19.1.66"
CLIENT6, CLIENT6_GW = "2001:2:0:1::10", "2001:2:0:1::1"
SERVER6, SERVER6_GW = "2001:2:0:2::10", "2001:2:0:2::1"
DENIED6 = "2001:2:0:2::66"
GWLB_NODE = "198.18.0.1"
INNER_MTU = 8500
"""GWLB carries inner packets up to 8500 bytes; client and server links use that MTU."""
APPLIANCE_KINDS = ("gwlbd", "reflector")


def appliance_address(index: int) -> str:
    """Address of appliance ``index`` (0-based) on the GWLB's bridge."""
    return f"198.18.0.{10 + index}"


@dataclass(frozen=True, slots=True)
class LabConfig:
    """How to run the lab."""

    duration: float | None = None
    """Seconds of traffic; None runs until Ctrl-C."""
    headless: bool = False
    """No live counters, only progress lines and the summary."""
    appliance: str = "gwlbd"
    """``gwlbd`` (the real daemon) or ``reflector`` (a GENEVE echo with no policy)."""
    appliances: int = 1
    workers: int = 1
    health_port: int = 8080
    startup_timeout: float = 30.0
    prefix: str = "gwlbd-lab"


def daemon_status(admin_socket: Path, timeout: float = 2.0) -> dict[str, Any] | None:
    """``GET /status`` over the daemon's admin unix socket; None if it does not answer."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(admin_socket))
        conn = http.client.HTTPConnection("localhost", timeout=timeout)
        conn.sock = sock
        conn.request("GET", "/status")
        answer = conn.getresponse()
        if answer.status != 200:
            return None
        document: dict[str, Any] = json.loads(answer.read())
    except (OSError, ValueError, http.client.HTTPException):
        return None
    finally:
        sock.close()
    return document


def _udp_port_bound(pid: int, port: int) -> bool:
    """True if a UDP socket on ``port`` exists in the namespace of process ``pid``."""
    try:
        table = Path(f"/proc/{pid}/net/udp").read_text()
    except OSError:
        return False
    return any(line.split()[1].endswith(f":{port:04X}") for line in table.splitlines()[1:])


class Lab(Workspace):
    """The lab's namespaces, processes and files; removed on exit."""

    def __init__(self, config: LabConfig) -> None:
        super().__init__(config.prefix, "gwlbd-lab-")
        self.config = config
        self.capture: list[str] = []
        self.capture_peers: list[str] = []
        self.sim_status_file = self.workdir / "gwlb-sim.json"
        self.traffic_status_file = self.workdir / "traffic.json"
        self.admin_sockets = [self.workdir / f"admin-{n}.sock" for n in range(config.appliances)]

    @property
    def with_policy(self) -> bool:
        """The appliance is gwlbd and applies the lab's deny list."""
        return self.config.appliance == "gwlbd"

    def _start(self, name: str, role: str, argv: list[str]) -> None:
        self.start_logged(name, self.topology.namespaces[role], argv)

    def build(self) -> None:
        """Create namespaces, links, addresses and routes."""
        topo = self.topology
        client, server, gwlb = (topo.namespace(r) for r in ("client", "server", "gwlb"))
        to_client, client_if = topo.link(
            gwlb, client, f"{CLIENT_GW}/24", f"{CLIENT}/24", mtu=INNER_MTU
        )
        self.capture = [to_client]
        self.capture_peers = [client_if]
        to_server, server_if = topo.link(
            gwlb, server, f"{SERVER_GW}/24", f"{SERVER}/24", mtu=INNER_MTU
        )
        self.capture.append(to_server)
        topo.address(server, server_if, f"{DENIED}/32")
        topo.address(gwlb, self.capture[0], f"{CLIENT6_GW}/64")
        topo.address(client, self.capture_peers[0], f"{CLIENT6}/64")
        topo.address(gwlb, to_server, f"{SERVER6_GW}/64")
        topo.address(server, server_if, f"{SERVER6}/64")
        topo.address(server, server_if, f"{DENIED6}/128")
        topo.route(client, "default", CLIENT_GW)
        topo.route(server, "default", SERVER_GW)
        topo.route(client, "default", CLIENT6_GW)
        topo.route(server, "default", SERVER6_GW)
        topo.bridge(gwlb, "br-appl", f"{GWLB_NODE}/24")
        for n in range(self.config.appliances):
            appliance = topo.namespace(f"appl{n + 1}")
            topo.link(gwlb, appliance, None, f"{appliance_address(n)}/24", master_a="br-appl")

    def start(self) -> None:
        """Start the echo server, the appliance(s) and the simulator."""
        py = sys.executable
        serve = [py, "-m", "appliance.lab.traffic", "serve"]
        for addr in (SERVER, DENIED, SERVER6, DENIED6):
            serve += ["--address", addr]
        self._start("server", "server", serve)
        for n in range(self.config.appliances):
            self._start(f"appl{n + 1}", f"appl{n + 1}", self.appliance_argv(n))
        sim = [py, "-m", "appliance.lab.simulator", "--address", GWLB_NODE]
        for n in range(self.config.appliances):
            sim += ["--appliance", appliance_address(n)]
        for ifname in self.capture:
            sim += ["--capture", ifname]
        sim += ["--status-file", str(self.sim_status_file), "--status-interval", "0.25"]
        if self.with_policy:
            sim += ["--health-port", str(self.config.health_port), "--health-interval", "0.5"]
        self._start("gwlb-sim", "gwlb", sim)

    def appliance_argv(self, index: int) -> list[str]:
        """Command line of appliance ``index``."""
        py = sys.executable
        if not self.with_policy:
            return [py, "-m", "appliance.lab.reflector", "--address", appliance_address(index)]
        return [
            py, "-m", "appliance.cli", "run",
            "--gwlb-cidr", f"{GWLB_NODE}/32",
            "--health-port", str(self.config.health_port),
            "--admin-socket", str(self.admin_sockets[index]),
            "--deny-cidr", f"{DENIED}/32",
            "--deny-cidr", f"{DENIED6}/128",
            "--workers", str(self.config.workers),
        ]  # fmt: skip

    def dead_process(self) -> str | None:
        """Name of a lab process that has exited, if any."""
        for name, proc in self.procs.items():
            if name != "traffic" and proc.poll() is not None:
                return name
        return None

    def wait_ready(self) -> tuple[bool, str]:
        """Wait until the simulator runs and every appliance is ready for traffic."""
        started = time.monotonic()
        deadline = started + self.config.startup_timeout
        while time.monotonic() < deadline:
            dead = self.dead_process()
            if dead is not None:
                return False, f"{dead} exited with {self.procs[dead].returncode}"
            sim = read_status(self.sim_status_file)
            if sim is not None and sim.get("state") == "running" and self._appliances_ready(sim):
                return True, f"ready after {time.monotonic() - started:.1f} s"
            time.sleep(0.1)
        sim = read_status(self.sim_status_file) or {}
        return False, f"not ready within {self.config.startup_timeout:.0f} s: {sim.get('targets')}"

    def _appliances_ready(self, sim: dict[str, Any]) -> bool:
        if self.with_policy:
            targets = sim.get("targets", [])
            return bool(targets) and all(t.get("healthy") is True for t in targets)
        return all(
            _udp_port_bound(self.procs[f"appl{n + 1}"].pid, GENEVE_PORT)
            for n in range(self.config.appliances)
        )

    def start_traffic(self) -> None:
        """Start the traffic client in the client namespace."""
        argv = [sys.executable, "-m", "appliance.lab.traffic", "client"]
        argv += ["--server", SERVER, "--server", SERVER6]
        argv += ["--status-file", str(self.traffic_status_file)]
        if self.with_policy:
            argv += ["--denied", DENIED, "--denied", DENIED6]
        if self.config.duration is not None:
            argv += ["--duration", str(self.config.duration)]
        self._start("traffic", "client", argv)

    def stop_traffic(self) -> None:
        """Ask the traffic client to finish and wait for its final report."""
        self.finish("traffic")  # it lets its current probes (a ping, say) finish

    def snapshot(self) -> tuple[dict[str, Any] | None, ...]:
        """Latest simulator, traffic and daemon documents (all appliances merged)."""
        daemon = None
        if self.with_policy:
            daemon = report.merge_statuses([daemon_status(path) for path in self.admin_sockets])
        return (
            read_status(self.sim_status_file),
            read_status(self.traffic_status_file),
            daemon,
        )

    def settle(self, timeout: float = 5.0) -> tuple[dict[str, Any] | None, ...]:
        """Wait until in-flight packets are back and the daemon's counters caught up."""
        deadline = time.monotonic() + timeout
        since = time.time()
        snap = self.snapshot()
        while time.monotonic() < deadline:
            sim, _, daemon = snap
            fresh = sim is not None and float(sim.get("now", 0)) > since
            if fresh and report.settled(sim, daemon, self.with_policy):
                break
            time.sleep(0.25)
            snap = self.snapshot()
        return snap

    def log_tail(self, name: str, lines: int = 15) -> str:
        """The last ``lines`` lines a process wrote."""
        try:
            text = (self.workdir / f"{name}.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])
