"""Pilot tests for write actions: read-only by default, confirmed, logged, refusals shown."""

from __future__ import annotations

import logging

import pytest

from tests.tui.conftest import SIZE, AppFactory, refresh, settle
from tui.fake import FakeSource
from tui.screens.modals import ConfirmScreen
from tui.widgets.keyed_table import KeyedTable


async def test_read_only_by_default(make_app: AppFactory, fleet: FakeSource) -> None:
    app = make_app(fleet)
    async with app.run_test(size=SIZE) as pilot:
        await refresh(pilot)
        await pilot.press("D", "U", "L")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert fleet.performed == []


@pytest.mark.parametrize(
    ("key", "kind"), [("D", "drain"), ("U", "undrain"), ("L", "reload_policy")]
)
async def test_fleet_action_needs_confirmation(
    make_app: AppFactory, fleet: FakeSource, key: str, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gwlbtop")
    app = make_app(fleet, write=True)
    async with app.run_test(size=SIZE) as pilot:
        await refresh(pilot)
        await pilot.press(key)
        assert isinstance(app.screen, ConfirmScreen)
        assert fleet.instances[0].instance_id in app.screen.question
        await pilot.press("y")
        await settle(pilot)
        assert [(a.kind, a.instance_id) for a in fleet.performed] == [
            (kind, fleet.instances[0].instance_id)
        ]
        assert any("action: " in r.getMessage() for r in caplog.records)
        assert any(e["kind"] == kind for e in app.local_events)


async def test_cancelled_action_does_nothing(make_app: AppFactory, fleet: FakeSource) -> None:
    app = make_app(fleet, write=True)
    async with app.run_test(size=SIZE) as pilot:
        await refresh(pilot)
        await pilot.press("D", "n")
        await settle(pilot)
        assert fleet.performed == []
        await pilot.press("D", "escape")
        await settle(pilot)
        assert fleet.performed == []


async def test_drain_shows_up_in_fleet_view(make_app: AppFactory, fleet: FakeSource) -> None:
    app = make_app(fleet, write=True)
    async with app.run_test(size=SIZE) as pilot:
        await refresh(pilot)
        await pilot.press("D")
        await pilot.click("#yes")
        await settle(pilot)
        await refresh(pilot)
        table = app.screen.query_one("#table", KeyedTable)
        (row,) = [r for r in table._rows if r.key == fleet.instances[0].instance_id]
        assert row.record["instance"]["target_health"] == "draining"
        assert row.record["status"]["state"] == "draining"
        assert any(cell.startswith("draining *") for cell in row.cells)  # marked as changed


async def test_clear_flow_sends_its_tuple(make_app: AppFactory, fleet: FakeSource) -> None:
    app = make_app(fleet, write=True, view="flows")
    async with app.run_test(size=SIZE) as pilot:
        await refresh(pilot)
        await pilot.press("X", "y")
        await settle(pilot)
        (action,) = fleet.performed
        assert action.kind == "clear_flows"
        assert set(action.params) == {"endpoint", "addr", "port"}
        assert action.params["addr"].startswith("198.18.")


async def test_refused_action_is_reported(make_app: AppFactory, fleet: FakeSource) -> None:
    app = make_app(fleet, write=True)
    async with app.run_test(size=SIZE) as pilot:
        await refresh(pilot)
        await pilot.press("j", "j", "D", "y")  # the unreachable instance
        await settle(pilot)
        assert fleet.performed == []
        assert app.local_events[-1]["kind"] == "drain failed"


async def test_policy_reload_from_policy_view(make_app: AppFactory, fleet: FakeSource) -> None:
    app = make_app(fleet, write=True, view="policy")
    async with app.run_test(size=SIZE) as pilot:
        await refresh(pilot)
        await pilot.press("L", "y")
        await settle(pilot)
        assert [a.kind for a in fleet.performed] == ["reload_policy"]
