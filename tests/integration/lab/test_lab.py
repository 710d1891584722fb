"""``gwlbd lab`` end to end: passes against the real daemon, cleans up after signals."""

from __future__ import annotations

import importlib.util
import io
import os
import secrets
import signal
import subprocess
import sys
import time

import pytest
from pyroute2 import netns

from appliance.lab import report
from appliance.lab.layout import Lab, LabConfig
from appliance.lab.netns import stale_namespaces
from appliance.lab.run import run_lab

pytestmark = pytest.mark.netns


def _lab_namespaces(prefix: str) -> list[str]:
    return [name for name in netns.listnetns() if name.startswith(f"{prefix}-")]


@pytest.mark.skipif(
    importlib.util.find_spec("appliance.commands.run") is None,
    reason="gwlbd run (appliance.commands.run) is not in this build yet",
)
def test_gwlbd_lab_headless_passes_against_the_daemon() -> None:
    # WHEN the README's lab command runs headless
    result = subprocess.run(
        [sys.executable, "-m", "appliance.cli", "lab", "--headless", "--duration", "5"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    summary = result.stdout + result.stderr
    # THEN every check passed, including the denied ones, and nothing is left behind
    assert result.returncode == 0, summary
    assert "lab passed" in summary
    assert "FAIL" not in summary
    assert "PASS  denied TCP blocked" in summary
    assert "PASS  daemon counted what GWLB sent" in summary
    assert stale_namespaces("gwlbd-lab") == []


def test_headless_lab_with_the_reflector_passes_and_leaves_nothing() -> None:
    prefix = f"gwlbd-labt{secrets.token_hex(2)}"
    out = io.StringIO()
    status = run_lab(
        LabConfig(headless=True, duration=2, appliance="reflector", prefix=prefix), out
    )
    assert status == 0, out.getvalue()
    assert "PASS  TCP echo" in out.getvalue()
    assert _lab_namespaces(prefix) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_mid_run_removes_everything(sig: signal.Signals) -> None:
    # GIVEN a lab running until interrupted
    prefix = f"gwlbd-labt{secrets.token_hex(2)}"
    code = (
        "import sys\n"
        "from appliance.lab.layout import LabConfig\n"
        "from appliance.lab.run import run_lab\n"
        f"sys.exit(run_lab(LabConfig(appliance='reflector', prefix={prefix!r}), sys.stdout))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while len(_lab_namespaces(prefix)) < 4 and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[0]
            time.sleep(0.2)
        time.sleep(1.5)  # let traffic start
        assert len(_lab_namespaces(prefix)) == 4
        # WHEN it gets the signal
        os.kill(proc.pid, sig)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # THEN it exits and leaves no namespace behind
    assert _lab_namespaces(prefix) == [], output
    assert "building the lab topology" in output
    # a summary if traffic had started, else the interruption notice
    assert proc.returncode in (0, 1, 130), output
    assert any(end in output for end in ("lab passed", "lab FAILED", "interrupted")), output


def test_flows_spread_over_several_appliances() -> None:
    # GIVEN a lab with three reflectors behind the simulated GWLB
    prefix = f"gwlbd-labt{secrets.token_hex(2)}"
    config = LabConfig(appliance="reflector", appliances=3, duration=2, prefix=prefix)
    with Lab(config) as lab:
        lab.build()
        lab.start()
        ready, detail = lab.wait_ready()
        assert ready, detail
        # WHEN traffic runs
        lab.start_traffic()
        assert lab.procs["traffic"].wait(timeout=60) == 0
        sim, traffic, _ = lab.settle()
    # THEN it all worked and every appliance carried some of it
    checks = report.evaluate(
        sim=sim, traffic=traffic, daemon=None, with_policy=False, ready=True, ready_detail=""
    )
    assert not report.failed(checks), report.render_summary(checks)
    assert sim is not None
    assert [t["address"] for t in sim["targets"]] == ["198.18.0.10", "198.18.0.11", "198.18.0.12"]
    assert all(t["verified"] > 0 for t in sim["targets"])
    assert _lab_namespaces(prefix) == []
