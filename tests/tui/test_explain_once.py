"""The explain form with a real policy document, and ``--once`` output for scripts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import Input, Static

from tests.tui.conftest import SIZE, AppFactory, refresh
from tui.app import main
from tui.cli import build_source, load_policy_file, parser
from tui.errors import SourceError
from tui.explain import ExplainError, FlowQuestion, explain, load_policy
from tui.fake import FakeSource
from tui.fleet_source import FleetSource
from tui.screens.explain import ExplainScreen

POLICY = """
apiVersion: gwlbd.policy/v1
version: "web-1"
settings: {defaultAction: drop}
rules:
  - id: deny-ssh
    action: drop
    match: {protocol: tcp, dstPort: [22]}
  - id: allow-web
    action: allow
    match: {protocol: tcp, dstPort: [80, 443]}
"""


def test_explain_names_the_deciding_rule() -> None:
    policy = load_policy(POLICY, "test")
    web = explain(policy, FlowQuestion("198.18.0.1", "198.19.0.1", "tcp", "40000", "443"))
    assert "allow by rule allow-web" in web.text()
    other = explain(policy, FlowQuestion("198.18.0.1", "198.19.0.1", "udp", "40000", "443"))
    assert "drop by rule default" in other.text()
    with pytest.raises(ExplainError):
        explain(policy, FlowQuestion("198.18.0.1", "2001:2::1"))
    with pytest.raises(ExplainError):
        load_policy("apiVersion: nope", "bad")


async def test_explain_form_answers(
    make_app: AppFactory, fleet: FakeSource, tmp_path: Path
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    policy, note = load_policy_file(path)
    app = make_app(fleet, view="policy", policy=policy, policy_note=note)
    async with app.run_test(size=SIZE) as pilot:
        await refresh(pilot)
        await pilot.press("e")
        screen = app.screen
        assert isinstance(screen, ExplainScreen)
        screen.query_one("#q-dport", Input).value = "22"
        await pilot.click("#explain")
        assert "drop by rule deny-ssh" in str(screen.query_one("#answer", Static).render())


def test_once_json_prints_a_view(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--demo", "--once", "--json", "--view", "fleet"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "gwlbtop.view/v1"
    assert doc["view"] == "fleet"
    assert len(doc["rows"]) == 5
    states = [r["values"]["state"] for r in doc["rows"]]
    assert "UNREACHABLE timeout" in states


def test_once_text_flows(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--demo", "--once", "--view", "flows"]) == 0
    out = capsys.readouterr().out
    assert "source" in out.splitlines()[2]
    assert len(out.splitlines()) == 3 + 200


def test_unreachable_appliance_once_still_prints(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--appliance", "http://127.0.0.1:9", "--once", "--json", "--timeout", "0.5"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["view"] == "tunnels"
    assert doc["summary"].startswith("unreachable")


def test_fleet_arguments_reach_the_source() -> None:
    args = parser().parse_args(
        ["--asg", "g", "--target-group", "tg", "--target", "i-1=http://127.0.0.1:8080"]
    )
    source = build_source(args)
    try:
        assert isinstance(source, FleetSource)
        assert source.settings.target_groups == ("tg",)
        assert source.settings.target_for("i-1", "198.18.0.4") == "http://127.0.0.1:8080"
    finally:
        source.close()
    with pytest.raises(SourceError):
        build_source(parser().parse_args(["--asg", "g", "--target", "no-equals-sign"]))
