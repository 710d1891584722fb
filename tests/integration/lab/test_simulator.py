"""The GWLB simulator carries real TCP, UDP and ICMP through an appliance and checks it."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator

import pytest

from appliance.lab import report
from appliance.lab.layout import SERVER, SERVER6, Lab, LabConfig
from appliance.lab.statusfile import read_status

pytestmark = pytest.mark.netns


class FaultyLab(Lab):
    """A lab whose reflector breaks one GWLB rule on purpose."""

    fault = "none"

    def appliance_argv(self, index: int) -> list[str]:
        return [*super().appliance_argv(index), "--fault", self.fault]


def reflector_config() -> LabConfig:
    return LabConfig(appliance="reflector", prefix=f"gwlbd-labt{secrets.token_hex(2)}")


@pytest.fixture
def lab() -> Iterator[Lab]:
    with Lab(reflector_config()) as built:
        built.build()
        built.start()
        ready, detail = built.wait_ready()
        assert ready, detail
        yield built


def client_run(lab: Lab, *argv: str) -> str:
    ns = lab.topology.namespaces["client"]
    return ns.run([sys.executable, "-m", "appliance.lab.traffic", *argv], timeout=60).stdout


def test_tcp_udp_and_icmp_round_trip_through_the_reflector(lab: Lab) -> None:
    # WHEN the client drives traffic for two seconds
    client_run(
        lab,
        "client",
        "--server",
        SERVER,
        "--server",
        SERVER6,
        "--duration",
        "2",
        "--status-file",
        str(lab.traffic_status_file),
    )
    sim, traffic, _ = lab.settle()
    # THEN every kind of traffic worked and every return was verified
    checks = report.evaluate(
        sim=sim, traffic=traffic, daemon=None, with_policy=False, ready=True, ready_detail=""
    )
    assert not report.failed(checks), report.render_summary(checks)
    assert sim is not None
    assert sim["verified"] == sim["sent"] == sim["forwarded"]
    assert sim["flows"] >= 6


@pytest.mark.parametrize("server", [SERVER, SERVER6])
def test_a_ping_really_travels_through_the_gwlb(lab: Lab, server: str) -> None:
    before = read_status(lab.sim_status_file) or {}
    lab.topology.namespaces["client"].run(["ping", "-c", "2", "-i", "0.2", "-W", "2", server])
    sim, _, _ = lab.settle()
    assert sim is not None
    # two requests and two replies, one flow for both directions
    assert sim["verified"] - before.get("verified", 0) == 4
    assert sim["flows"] - before.get("flows", 0) == 1


@pytest.mark.parametrize(
    ("fault", "violation"),
    [
        ("swap-ports", "source_port"),
        ("change-cookie", "unknown_cookie"),
        ("change-payload", "payload_changed"),
    ],
)
def test_a_reflector_breaking_a_rule_is_caught(fault: str, violation: str) -> None:
    # GIVEN a reflector that breaks one rule
    FaultyLab.fault = fault
    with FaultyLab(reflector_config()) as lab:
        lab.build()
        lab.start()
        ready, detail = lab.wait_ready()
        assert ready, detail
        # WHEN a ping goes through it
        ping = lab.topology.namespaces["client"].run(
            ["ping", "-c", "1", "-W", "1", SERVER], check=False
        )
        sim, _, _ = lab.settle(timeout=1.0)
    # THEN the ping fails, and the simulator names the violation and forwarded nothing
    assert ping.returncode != 0
    assert sim is not None
    assert sim["violations"][violation] >= 1
    assert sim["forwarded"] == 0
    assert sim["verified"] == 0
