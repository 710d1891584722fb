"""Rigs for the tun-mode recipes: clients and servers behind a GWLB peer, gwlbd in tun mode.

Every rig lives in namespaces created by :class:`appliance.lab.netns.Topology` (unique
names, always removed) and uses only 198.18.0.0/15:

- ``gwlb``: the GWLB peer (``gwlbpeer.py``) capturing what the client (and server)
  namespaces route through it, 198.18.0.1 towards the appliance;
- ``appl``: gwlbd in tun mode on 198.18.0.2;
- ``client`` 198.18.10.2 and, per recipe, ``server`` 198.18.30.2 behind the GWLB
  (route-back) or an ``internet`` namespace 198.18.20.1 behind the appliance's uplink
  198.18.20.2 (nat-egress).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from appliance.control.client import AdminClient
from appliance.control.errors import ControlError
from appliance.lab.netns import Namespace, Topology

PEER = str(Path(__file__).with_name("gwlbpeer.py"))
GWLB, APPLIANCE = "198.18.0.1", "198.18.0.2"
CLIENT, SERVER, INTERNET, UPLINK = "198.18.10.2", "198.18.30.2", "198.18.20.1", "198.18.20.2"
ENDPOINT = 0x0E1D00000000000A

SERVER_CODE = """
import socket, sys, threading
def serve(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(16)
    while True:
        c, (addr, _) = s.accept()
        data = c.recv(4096)
        c.sendall(b"hello " + addr.encode() + b" " + data)
        c.close()
for port in map(int, sys.argv[1:]):
    threading.Thread(target=serve, args=(port,), daemon=True).start()
threading.Event().wait()
"""

CLIENT_CODE = """
import socket, sys
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
    s.sendall(sys.argv[4].encode())
    s.settimeout(float(sys.argv[3]))
    print(s.recv(4096).decode())
except OSError as exc:
    print("FAILED", type(exc).__name__)
"""


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (ControlError, OSError, ValueError, KeyError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"condition not met in time: {what}")


@dataclass
class TunRig:
    topology: Topology
    gwlb: Namespace
    appliance: Namespace
    client: Namespace
    daemon: subprocess.Popen[bytes]
    admin: AdminClient
    tmp: Path
    others: dict[str, Namespace] = field(default_factory=dict)

    def connect(self, host: str, port: int, message: str, timeout: float = 3.0) -> str:
        """Open a TCP connection from the client, send ``message``; the answer or FAILED."""
        argv = [sys.executable, "-c", CLIENT_CODE, host, str(port), str(timeout), message]
        return self.client.run(argv, timeout=timeout * 3 + 10).stdout.strip()

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = self.admin.get("/status")
        return status

    def settled(self, read: Callable[[dict[str, Any]], int]) -> int:
        """A status value once two readings a stats interval apart agree."""
        value = read(self.status())
        for _ in range(50):
            time.sleep(0.7)
            again = read(self.status())
            if again == value:
                return value
            value = again
        raise AssertionError("status value never settled")

    def peer_counts(self) -> dict[str, Any]:
        counts: dict[str, Any] = json.loads((self.tmp / "peer.json").read_text())
        return counts

    def wait_for_hook(self, action: str = "CREATE") -> None:
        def done() -> bool:
            return any(
                e["kind"] == "hook" and e["message"].startswith(action)
                for e in self.status()["events"]
            )

        wait_for(done, what=f"{action} hook done")

    def log(self) -> str:
        return (self.tmp / "daemon.log").read_text(errors="replace")

    def stop_daemon(self) -> int:
        self.daemon.send_signal(signal.SIGTERM)
        return self.daemon.wait(60)


def build_rig(
    tmp: Path,
    recipe: str,
    *,
    with_server: bool,
    with_internet: bool,
    extra_args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    appliance_sysctls: dict[str, str] | None = None,
) -> Iterator[TunRig]:
    """Build the namespaces, start the peer and gwlbd; yields the rig, always cleans up."""
    with Topology(prefix="gwlbd-tun") as topo:
        gwlb = topo.namespace("gwlb")
        appliance = topo.namespace("appl")
        client = topo.namespace("client")
        others: dict[str, Namespace] = {}
        captures = []
        g_client, _ = topo.link(gwlb, client, "198.18.10.1/24", f"{CLIENT}/24")
        topo.route(client, "default", "198.18.10.1")
        captures.append(g_client)
        topo.link(gwlb, appliance, f"{GWLB}/24", f"{APPLIANCE}/24")
        if with_server:
            server = others["server"] = topo.namespace("server")
            g_server, _ = topo.link(gwlb, server, "198.18.30.1/24", f"{SERVER}/24")
            topo.route(server, "default", "198.18.30.1")
            captures.append(g_server)
            topo.start(server, [sys.executable, "-c", SERVER_CODE, "8080", "23"])
        if with_internet:
            internet = others["internet"] = topo.namespace("inet")
            topo.link(appliance, internet, f"{UPLINK}/24", f"{INTERNET}/24")
            topo.route(appliance, "default", INTERNET)
            topo.start(internet, [sys.executable, "-c", SERVER_CODE, "8080"])
        for key, value in (appliance_sysctls or {}).items():
            appliance.sysctl(key, value)
        peer_argv = [sys.executable, PEER, "--address", GWLB, "--appliance", APPLIANCE]
        for capture in captures:
            peer_argv += ["--capture", capture]
        peer_argv += ["--status", str(tmp / "peer.json"), "--endpoint-id", hex(ENDPOINT)]
        topo.start(gwlb, peer_argv, stderr=open(tmp / "peer.log", "wb"))  # noqa: SIM115
        sock = str(tmp / "admin.sock")
        log = open(tmp / "daemon.log", "wb")  # noqa: SIM115 - closed below
        argv = [
            sys.executable, "-m", "appliance.cli", "run",
            "--mode", "tun", "--tun-recipe", recipe,
            "--listen", APPLIANCE, "--gwlb-cidr", f"{GWLB}/32",
            "--health-port", "8080", "--admin-socket", sock,
            "--shutdown-grace", "0", "--log-format", "text", "--tun-hook-timeout", "20",
            "--workers", "2",  # tun mode runs one anyway (an event says so)
            *extra_args,
        ]  # fmt: skip
        daemon_env = {**os.environ, **env} if env else None
        daemon = topo.start(appliance, argv, stdout=log, stderr=subprocess.STDOUT, env=daemon_env)
        admin = AdminClient(sock, timeout=5)
        try:
            wait_for(lambda: admin.get("/status")["state"] == "serving", what="serving")
            wait_for((tmp / "peer.json").exists, what="peer running")
            yield TunRig(topo, gwlb, appliance, client, daemon, admin, tmp, others)
        finally:
            log.close()
            if daemon.poll() is None:
                daemon.send_signal(signal.SIGTERM)
                try:
                    daemon.wait(30)
                except subprocess.TimeoutExpired:
                    daemon.kill()
            print((tmp / "daemon.log").read_text(errors="replace")[-6000:])
            if (tmp / "peer.log").exists():
                print((tmp / "peer.log").read_text(errors="replace")[-2000:])


def need_nft() -> None:
    if shutil.which("nft") is None:
        pytest.skip("nftables (nft) is not installed; scripts/bootstrap.sh dev installs it")


@pytest.fixture
def route_back(tmp_path: Path) -> Iterator[TunRig]:
    need_nft()
    # strict reverse-path filtering everywhere, as many distributions set it: the daemon
    # must make its devices work without loosening the other interfaces
    yield from build_rig(
        tmp_path,
        "route-back",
        with_server=True,
        with_internet=False,
        appliance_sysctls={"net.ipv4.conf.all.rp_filter": "1"},
    )


@pytest.fixture
def route_back_idle(tmp_path: Path) -> Iterator[TunRig]:
    need_nft()
    yield from build_rig(
        tmp_path,
        "route-back",
        with_server=True,
        with_internet=False,
        extra_args=("--tun-idle-timeout", "2"),
    )


@pytest.fixture
def nat_egress(tmp_path: Path) -> Iterator[TunRig]:
    need_nft()
    yield from build_rig(
        tmp_path,
        "nat-egress",
        with_server=False,
        with_internet=True,
        extra_args=("--deny-cidr", "198.18.21.0/24"),
    )
