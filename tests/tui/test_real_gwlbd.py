"""gwlbtop against a real gwlbd running in a network namespace, fed GENEVE from a peer namespace.

Needs root (``@pytest.mark.netns``). The namespaces use 198.18.0.0/15 only and are always
removed; gwlbtop reads the daemon through its admin unix socket, as an on-call engineer on
the instance would (``gwlbtop --appliance /run/gwlbd/admin.sock --write``).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from scapy.layers.inet import IP, UDP
from textual.widgets import Static

from appliance.lab.netns import Namespace, Topology
from appliance.wire.geneve import build_geneve
from tests.tui.conftest import SIZE, AppFactory, refresh, settle
from tui.appliance_source import ApplianceSource
from tui.errors import FetchError
from tui.http import JsonClient
from tui.widgets.keyed_table import KeyedTable

pytestmark = pytest.mark.netns

GWLB, APPLIANCE = "198.18.0.1", "198.18.0.2"
ENDPOINT = 0x0123456789ABCDEF
FLOWS = 12

SEND = """
import json, socket, sys
spec = json.load(open(sys.argv[1]))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for hexed in spec["payloads"]:
    s.sendto(bytes.fromhex(hexed), (spec["target"], 6081))
"""


@dataclass
class Daemon:
    gwlb: Namespace
    socket: str
    tmp: Path

    def send_flows(self) -> None:
        payloads = [
            (
                build_geneve(endpoint_id=ENDPOINT, attachment_id=0, cookie=n)
                + bytes(
                    IP(src=f"198.18.1.{n + 1}", dst="198.19.1.1")
                    / UDP(sport=2000 + n, dport=53)
                    / b"q"
                )
            ).hex()
            for n in range(FLOWS)
        ]
        spec = self.tmp / "send.json"
        spec.write_text(json.dumps({"target": APPLIANCE, "payloads": payloads}))
        self.gwlb.run([sys.executable, "-c", SEND, str(spec)], timeout=30)


def wait_serving(client: JsonClient, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if client.get("/status").get("state") == "serving":
                return
        except FetchError:
            pass
        time.sleep(0.2)
    raise AssertionError("gwlbd did not start serving")


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    with Topology(prefix="gwlbtop-t") as topo:
        gwlb = topo.namespace("gwlb")
        appliance = topo.namespace("appl")
        topo.link(gwlb, appliance, f"{GWLB}/24", f"{APPLIANCE}/24")
        sock = str(tmp_path / "admin.sock")
        log = open(tmp_path / "daemon.log", "wb")  # noqa: SIM115 - closed below
        process = topo.start(
            appliance,
            [
                sys.executable, "-m", "appliance.cli", "run",
                "--listen", APPLIANCE,
                "--gwlb-cidr", f"{GWLB}/32",
                "--health-port", "8080",
                "--admin-socket", sock,
                "--workers", "1",
                "--state-dir", str(tmp_path / "state"),
                "--shutdown-grace", "0",
                "--log-format", "text",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_serving(JsonClient(sock, timeout=5))
            yield Daemon(gwlb, sock, tmp_path)
        finally:
            log.close()
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()


async def test_gwlbtop_reads_and_drains_a_real_gwlbd(make_app: AppFactory, daemon: Daemon) -> None:
    # GIVEN a serving gwlbd that has seen 12 flows on one GWLB endpoint
    daemon.send_flows()
    app = make_app(ApplianceSource(daemon.socket, timeout=5), write=True, view="tunnels")
    async with app.run_test(size=SIZE) as pilot:
        await refresh(pilot, 2)
        # THEN the tunnels view shows the endpoint with its flows
        table = app.screen.query_one("#table", KeyedTable)
        assert f"0x{ENDPOINT:016x}" in table.order
        # AND the flows view lists every flow with the daemon's verdict
        await pilot.press("3")
        await refresh(pilot)
        flows = app.screen.query_one("#table", KeyedTable)
        assert flows.row_count == FLOWS
        assert {r.record["verdict"] for r in flows._rows} == {"allow"}
        # WHEN the engineer drains the appliance from the tunnels view and confirms
        await pilot.press("2", "D", "y")
        await settle(pilot)
        await refresh(pilot)
        # THEN the daemon is draining and the UI says so
        assert JsonClient(daemon.socket).get("/status")["state"] == "draining"
        assert "draining" in str(app.screen.query_one("#summary", Static).render())
        assert app.local_events[-1]["kind"] == "drain"
