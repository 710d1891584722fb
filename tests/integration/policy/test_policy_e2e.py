"""Policy end to end: real connections through the simulated GWLB, policy from (moto) SSM.

GIVEN the lab (client, server, GWLB simulator, one gwlbd) and a policy in an SSM
parameter (served by moto inside the appliance's namespace) that blocks TCP port
9999, TLS to blocked.example (SNI) and DNS queries for evil.example,
THEN a real TCP connection to 9999 fails while others work, the SNI and DNS rules
stop their flows, AND a new parameter version moved to the ``live`` label reaches
the running daemon without a restart.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance.control.client import AdminClient
from appliance.control.errors import ControlError
from appliance.lab.layout import SERVER, Lab, LabConfig

pytestmark = pytest.mark.netns

ENDPOINTS = str(Path(__file__).with_name("endpoints.py"))
PARAMETER = "/gwlbd/policy"
POLICY = """apiVersion: gwlbd.policy/v1
version: "{version}"
settings: {{defaultAction: allow}}
rules:
{extra}  - {{id: no-blocked-site, action: drop, match: {{domain: ["blocked.example"]}}}}
  - {{id: no-evil-dns, action: drop, match: {{domain: ["evil.example", "*.evil.example"]}}}}
"""
BLOCK_9999 = "  - {id: no-9999, action: drop, match: {protocol: [tcp], dstPort: [9999]}}\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


MOTO_PORT = free_port()


class PolicyLab(Lab):
    """The lab, with gwlbd reading its policy from SSM."""

    def appliance_argv(self, index: int) -> list[str]:
        return [
            *super().appliance_argv(index),
            "--policy-ssm-parameter", PARAMETER,
            "--policy-ssm-label", "live",
            "--policy-poll-seconds", "1",
            "--state-dir", str(self.workdir / "state"),
            "--shutdown-grace", "0",
        ]  # fmt: skip


def ssm(lab: Lab, code: str) -> str:
    """Run boto3 code against moto inside the appliance's namespace."""
    prelude = (
        f"import boto3\nssm = boto3.client('ssm', endpoint_url='http://127.0.0.1:{MOTO_PORT}')\n"
    )
    ns = lab.topology.namespaces["appl1"]
    return ns.run([sys.executable, "-c", prelude + code], timeout=60).stdout


def publish(lab: Lab, version: str, extra: str = "") -> None:
    text = POLICY.format(version=version, extra=extra)
    ssm(
        lab,
        f"r = ssm.put_parameter(Name={PARAMETER!r}, Value={text!r}, Type='String',"
        " Overwrite=True)\n"
        f"ssm.label_parameter_version(Name={PARAMETER!r}, ParameterVersion=r['Version'],"
        " Labels=['live'])\n",
    )


def wait_for(predicate: Callable[[], bool], timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except ControlError:
            pass
        time.sleep(0.3)
    raise AssertionError("condition not met in time")


@pytest.fixture
def lab(monkeypatch: pytest.MonkeyPatch) -> Iterator[PolicyLab]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{MOTO_PORT}",
    }.items():
        monkeypatch.setenv(name, value)
    lab = PolicyLab(LabConfig(headless=True, prefix="gwlbd-pol"))
    with lab:
        lab.build()
        appliance = lab.topology.namespaces["appl1"]
        lab.topology.start(
            appliance,
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(MOTO_PORT)],
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                publish(lab, "v1", BLOCK_9999)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        lab.start()
        lab.topology.start(
            lab.topology.namespaces["server"], [sys.executable, ENDPOINTS, "serve", SERVER]
        )
        ready, why = lab.wait_ready()
        assert ready, why
        yield lab


def probe(lab: Lab, kind: str, name: str = "") -> str:
    client = lab.topology.namespaces["client"]
    return client.run([sys.executable, ENDPOINTS, "probe", kind, SERVER, name]).stdout.strip()


def status(lab: Lab) -> dict[str, Any]:
    return AdminClient(str(lab.admin_sockets[0])).get("/status")


def test_rules_block_real_traffic_and_a_new_ssm_version_arrives_live(lab: PolicyLab) -> None:
    wait_for(lambda: status(lab)["policy"]["version"] == "v1")
    # a real TCP connection to a blocked port fails; the rest of the server works
    assert probe(lab, "tcp") == "blocked"
    assert probe(lab, "tls", "good.example") == "ok"
    # SNI and DNS names decide their flows
    assert probe(lab, "tls", "blocked.example") == "blocked"
    assert probe(lab, "dns", "www.good.example") == "ok"
    assert probe(lab, "dns", "evil.example") == "blocked"
    doc = status(lab)
    rules = {r["id"]: r for r in doc["policy"]["rules"]}
    assert rules["no-9999"]["flows"] >= 1
    assert rules["no-blocked-site"]["flows"] >= 1
    assert rules["no-evil-dns"]["flows"] >= 1
    assert doc["drops"]["policy"] >= 3
    # WHEN a new version without the port rule is labelled live
    publish(lab, "v2")
    wait_for(lambda: status(lab)["policy"]["version"] == "v2")
    # THEN the daemon uses it without a restart
    assert probe(lab, "tcp") == "ok"
    assert probe(lab, "tls", "blocked.example") == "blocked"
    assert status(lab)["workers"][0]["restarts"] == 0
    events = json.dumps(status(lab)["events"])
    assert "v2" in events
