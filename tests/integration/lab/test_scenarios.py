"""Every fleet scenario end to end: ``gwlbd lab --headless --scenario all`` must pass.

The real command line, run as CI runs it: moto holds the stack, the lifecycle service
launches and removes appliances, three or more gwlbd daemons sit behind the simulated
GWLB and real traffic is checked in every scenario. It leaves no namespace behind.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from appliance.lab.netns import stale_namespaces
from appliance.lab.scenarios import ALL

pytestmark = [
    pytest.mark.netns,
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("moto") is None
        or importlib.util.find_spec("aws_lambda_powertools") is None,
        reason="the fleet lab needs moto[server] and the lambda extra (pip install -e '.[dev]')",
    ),
]


@pytest.mark.timeout(900)
def test_every_scenario_passes_and_leaves_nothing_behind() -> None:
    # WHEN every scenario runs headless
    result = subprocess.run(
        [sys.executable, "-m", "appliance.cli", "lab", "--headless", "--scenario", "all"],
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
    )
    output = result.stdout + result.stderr
    report = "\n".join(line for line in output.splitlines() if not line.startswith("{"))
    # THEN each scenario reports its checks and passed
    assert result.returncode == 0, report
    for name in ALL:
        assert f"== scenario {name}:" in output, report
        assert f"{name} passed:" in output, report
    assert "\nFAIL " not in output, report
    assert "gwlbtop --asg gwlbd-lab" in output
    # AND nothing is left behind
    assert stale_namespaces("gwlbd-fleet") == []


def test_an_unknown_scenario_is_refused() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "appliance.cli", "lab", "--headless", "--scenario", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "invalid choice" in result.stderr
