"""``gwlbd lab`` argument handling and its refusal to run without root."""

from __future__ import annotations

import argparse
import io

import pytest

from appliance.commands import lab as lab_command
from appliance.lab import fleet, fleet_run, layout
from appliance.lab import run as lab_run


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gwlbd")
    lab_command.register(parser.add_subparsers())
    return parser.parse_args(["lab", *argv])


def test_headless_gets_a_default_duration(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[layout.LabConfig] = []

    def fake_run_lab(config: layout.LabConfig, out: object) -> int:
        seen.append(config)
        return 0

    monkeypatch.setattr(lab_command, "run_lab", fake_run_lab)
    args = parse("--headless")
    assert args.handler(args) == 0
    assert seen[0].duration == lab_command.DEFAULT_HEADLESS_DURATION
    assert seen[0].headless
    args = parse(
        "--duration", "5", "--appliance", "reflector", "--workers", "2", "--appliances", "3"
    )
    assert args.handler(args) == 0
    assert seen[1].duration == 5
    assert seen[1].appliance == "reflector"
    assert seen[1].workers == 2
    assert seen[1].appliances == 3
    assert seen[0].appliances == 1
    assert not seen[1].headless
    assert parse().duration is None


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(SystemExit):
        parse("--duration", "0")
    with pytest.raises(SystemExit):
        parse("--appliance", "toaster")
    with pytest.raises(SystemExit):
        parse("--appliances", "0")


def test_without_root_one_line_and_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    out = io.StringIO()
    assert lab_run.run_lab(layout.LabConfig(headless=True, duration=1), out) == 1
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert "root" in lines[0]


def test_appliance_addresses_stay_in_the_lab_range() -> None:
    assert layout.appliance_address(0) == "198.18.0.10"
    assert layout.appliance_address(2) == "198.18.0.12"


def test_scenarios_are_named_or_all(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    def fake_run_scenarios(names: list[str], config: object, out: object) -> int:
        seen.append(names)
        return 0

    monkeypatch.setattr(fleet_run, "run_scenarios", fake_run_scenarios)
    args = parse("--headless", "--scenario", "crash", "--scenario", "steady", "--scenario", "crash")
    assert args.handler(args) == 0
    assert seen[-1] == ["crash", "steady"]
    args = parse("--scenario", "all")
    assert args.handler(args) == 0
    assert seen[-1] == [
        "steady",
        "scale-out",
        "scale-in",
        "crash",
        "policy-rollout",
        "invalid-policy",
    ]
    with pytest.raises(SystemExit):
        parse("--scenario", "meltdown")


def test_fleet_modes_without_root_say_so_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    for live in (False, True):
        out = io.StringIO()
        if live:
            assert fleet_run.run_fleet_live(fleet.FleetConfig(), out) == 1
        else:
            assert fleet_run.run_scenarios(["steady"], fleet.FleetConfig(), out) == 1
        assert len(out.getvalue().splitlines()) == 1
        assert "root" in out.getvalue()
