"""gwlbd run in a network namespace, fed real GENEVE by a peer playing the GWLB."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from scapy.layers.inet import IP, TCP, UDP

from appliance.control.client import AdminClient
from appliance.control.errors import ControlError
from appliance.lab.netns import Namespace, Topology
from appliance.wire.geneve import build_geneve

pytestmark = pytest.mark.netns

PEER = str(Path(__file__).with_name("peer.py"))
GWLB, APPLIANCE, STRANGER = "198.18.0.1", "198.18.0.2", "198.18.0.5"
SECOND = "198.18.0.3"
"""Another address of the appliance (for a daemon listening on 0.0.0.0)."""
EP = 0x0123456789ABCDEF


@dataclass
class Rig:
    topology: Topology
    gwlb: Namespace
    appliance: Namespace
    daemon: subprocess.Popen[bytes]
    admin: AdminClient
    tmp: Path

    def peer(
        self, datagrams: list[dict[str, Any]], wait: float = 1.0, target: str = APPLIANCE
    ) -> list[dict[str, Any]]:
        spec = self.tmp / "spec.json"
        spec.write_text(json.dumps({"target": target, "datagrams": datagrams, "wait": wait}))
        out = self.gwlb.run([sys.executable, PEER, str(spec)], timeout=60).stdout
        replies: list[dict[str, Any]] = json.loads(out)["replies"]
        return replies

    def http_status(self, path: str) -> int:
        url = f"http://{APPLIANCE}:8080{path}"
        code = (
            "import urllib.request, urllib.error\n"
            f"try:\n print(urllib.request.urlopen({url!r}, timeout=3).status)\n"
            "except urllib.error.HTTPError as e:\n print(e.code)\n"
        )
        return int(self.appliance.run([sys.executable, "-c", code]).stdout.strip())


def wait_for(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except ControlError:
            pass
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


@pytest.fixture
def rig(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Rig]:
    listen = getattr(request, "param", APPLIANCE)
    with Topology(prefix="gwlbd-dtest") as topo:
        gwlb = topo.namespace("gwlb")
        appliance = topo.namespace("appl")
        ifname, peer_ifname = topo.link(gwlb, appliance, f"{GWLB}/24", f"{APPLIANCE}/24")
        topo.address(gwlb, ifname, f"{STRANGER}/24")
        topo.address(appliance, peer_ifname, f"{SECOND}/24")
        sock = str(tmp_path / "admin.sock")
        (tmp_path / "gwlbd.toml").write_text('deny_cidrs = ["198.19.9.0/24"]\n')
        log = open(tmp_path / "daemon.log", "wb")  # noqa: SIM115 - closed below
        daemon = topo.start(
            appliance,
            [
                sys.executable,
                "-m",
                "appliance.cli",
                "run",
                "--listen",
                listen,
                "--gwlb-cidr",
                f"{GWLB}/32",
                "--health-port",
                "8080",
                "--admin-socket",
                sock,
                "--workers",
                "2",
                "--config",
                str(tmp_path / "gwlbd.toml"),
                "--state-dir",
                str(tmp_path / "state"),
                "--shutdown-grace",
                "0",
                "--log-format",
                "text",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        admin = AdminClient(sock, timeout=5)
        try:
            wait_for(lambda: admin.get("/status")["state"] == "serving")
            yield Rig(topo, gwlb, appliance, daemon, admin, tmp_path)
        finally:
            log.close()
            if daemon.poll() is None:
                daemon.send_signal(signal.SIGTERM)
                try:
                    daemon.wait(15)
                except subprocess.TimeoutExpired:
                    daemon.kill()
            print((tmp_path / "daemon.log").read_text()[-4000:])


def datagram(inner: Any, sport: int, *, src: str = GWLB, cookie: int = 7) -> dict[str, Any]:
    payload = build_geneve(endpoint_id=EP, attachment_id=0, cookie=cookie) + bytes(inner)
    return {"payload": payload.hex(), "src": src, "sport": sport}


def test_allowed_flows_come_back_unchanged_and_denied_ones_do_not(rig: Rig) -> None:
    # GIVEN 32 allowed UDP flows, one denied TCP flow and a datagram from a non-GWLB source
    sent = [
        datagram(
            IP(src=f"198.18.1.{n + 1}", dst="198.19.1.1") / UDP(sport=1000 + n, dport=53) / b"q",
            30000 + n,
            cookie=n,
        )
        for n in range(32)
    ]
    denied = datagram(IP(src="198.18.1.1", dst="198.19.9.9") / TCP(dport=80, flags="S"), 31000)
    stranger = datagram(IP(src="198.18.1.1", dst="198.19.1.1") / UDP(dport=53), 31001, src=STRANGER)
    # WHEN the peer sends them
    replies = rig.peer([*sent, denied, stranger])
    # THEN every allowed datagram comes back byte for byte, from the address it was sent
    # to, with the GWLB's source port kept (and 6081 as destination: the peer listens there)
    by_port = {r["port"]: r for r in replies}
    assert sorted(by_port) == [30000 + n for n in range(32)]
    for item in sent:
        reply = by_port[item["sport"]]
        assert reply["payload"] == item["payload"]
        assert reply["from"] == APPLIANCE
        assert (reply["ttl"], reply["df"], reply["udp_checksum"]) == (64, True, 0)

    # AND the drops are counted by reason
    def counted() -> bool:
        status = rig.admin.get("/status")
        return bool(
            status["drops"]["policy"] == 1
            and status["drops"]["source_not_allowed"] == 1
            and status["counters"]["packets_in"] == 34
        )

    wait_for(counted, timeout=10)
    status = rig.admin.get("/status")
    [tunnel] = status["tunnels"]
    assert tunnel["endpoint_id"] == f"0x{EP:016x}"
    assert tunnel["packets_in"] == 33
    assert tunnel["drops"] == 1
    assert tunnel["bytes_out"] == tunnel["bytes_in"] - len(bytes.fromhex(denied["payload"]))
    rules = {r["id"]: r for r in status["policy"]["rules"]}
    assert rules["static-deny"]["flows"] == 1
    assert rules["default"]["packets"] == 32
    # AND flows and metrics show them
    flows = rig.admin.get("/flows", {"limit": 5, "port": 53})
    assert flows["total"] == 32
    assert len(flows["flows"]) == 5
    assert flows["flows"][0]["dport"] == 53
    _, _, metrics = rig.admin.request("GET", "/metrics")
    assert b'gwlbd_drops_total{reason="policy"} 1.0' in metrics


@pytest.mark.parametrize("rig", ["0.0.0.0"], indirect=True)
def test_listening_on_every_address_replies_from_the_one_each_datagram_was_sent_to(
    rig: Rig,
) -> None:
    sent = [
        datagram(IP(src="198.18.1.1", dst="198.19.1.1") / UDP(sport=1000 + n, dport=53), 30000 + n)
        for n in range(4)
    ]
    first = rig.peer(sent[:2], target=APPLIANCE)
    second = rig.peer(sent[2:], target=SECOND)
    assert sorted((r["port"], r["from"]) for r in first + second) == [
        (30000, APPLIANCE),
        (30001, APPLIANCE),
        (30002, SECOND),
        (30003, SECOND),
    ]
    for reply in first + second:
        assert reply["payload"] == sent[reply["port"] - 30000]["payload"]
        assert (reply["ttl"], reply["df"]) == (64, True)


def test_health_drain_and_worker_restart(rig: Rig) -> None:
    assert rig.http_status("/healthz") == 200
    # drain: health fails while traffic still flows
    rig.admin.post("/admin/drain")
    assert rig.http_status("/healthz") == 503
    replies = rig.peer([datagram(IP(src="198.18.1.1", dst="198.19.1.1") / UDP(dport=53), 32000)])
    assert len(replies) == 1
    rig.admin.post("/admin/undrain")
    assert rig.http_status("/healthz") == 200
    # a killed worker is replaced and counted; health comes back
    victim = rig.admin.get("/status")["workers"][0]["pid"]
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: rig.admin.get("/status")["counters"]["worker_restarts"] == 1)
    wait_for(lambda: rig.admin.get("/status")["state"] == "serving")
    status = rig.admin.get("/status")
    assert status["workers"][0]["pid"] != victim
    assert any(e["kind"] == "worker-restart" for e in status["events"])


def test_sigterm_exits_cleanly_and_quickly(rig: Rig) -> None:
    started = time.monotonic()
    rig.daemon.send_signal(signal.SIGTERM)
    assert rig.daemon.wait(15) == 0
    assert time.monotonic() - started < 15
    assert not Path(rig.admin.target).exists()


def test_sighup_reloads_the_configuration(rig: Rig) -> None:
    flow = datagram(IP(src="198.18.1.1", dst="198.19.1.1") / UDP(dport=53), 33000)
    assert len(rig.peer([flow])) == 1
    # WHEN the file denies the flow's server and the daemon gets SIGHUP
    (rig.tmp / "gwlbd.toml").write_text('deny_cidrs = ["198.19.9.0/24", "198.19.1.0/24"]\n')
    rig.daemon.send_signal(signal.SIGHUP)
    wait_for(
        lambda: any(e["kind"] == "config-reloaded" for e in rig.admin.get("/status")["events"])
    )
    # THEN the existing flow is re-decided and dropped
    wait_for(lambda: not rig.peer([flow], wait=0.5))
    assert rig.admin.get("/status")["drops"]["policy"] >= 1


GOOD_POLICY = """apiVersion: gwlbd.policy/v1
version: pushed-1
rules:
  - {id: no-dns, action: drop, match: {protocol: [udp], dstPort: [53]}}
"""


def test_admin_push_applies_a_policy_and_refuses_a_bad_one(rig: Rig) -> None:
    answer = rig.admin.post("/admin/policy", GOOD_POLICY.encode())
    assert "pushed-1" in answer["message"]
    flow = datagram(IP(src="198.18.1.1", dst="198.19.1.1") / UDP(dport=53), 34000)
    wait_for(lambda: not rig.peer([flow], wait=0.5))
    # a bad document is refused with the field named, and the good one stays
    with pytest.raises(ControlError, match=r"dstPort.*line 4"):
        rig.admin.post("/admin/policy", GOOD_POLICY.replace("[53]", "[70000]").encode())
    policy = rig.admin.get("/status")["policy"]
    assert policy["version"] == "pushed-1"
    assert policy["last_error"] is not None
    rules = {r["id"]: r for r in policy["rules"]}
    assert rules["no-dns"]["flows"] >= 1
    # the pushed policy is kept as the last good one
    assert any((rig.tmp / "state").iterdir())
