"""SVG snapshots of every screen (pytest-textual-snapshot; Textual is pinned exactly).

The fake source has a simulated clock and the app a fixed one, so every run draws the
same screen. Update with ``pytest tests/tui --snapshot-update`` after a deliberate change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from tests.tui.conftest import SIZE, AppFactory, refresh
from tui.fake import FakeSource

Snap = Callable[..., bool]


def after(*keys: str, refreshes: int = 2) -> Callable[[Pilot[Any]], Awaitable[None]]:
    """Refresh a few times (rates need two samples), then press ``keys``."""

    async def run(pilot: Pilot[Any]) -> None:
        await refresh(pilot, refreshes)
        if keys:
            await pilot.press(*keys)
            await refresh(pilot, 0)
            await pilot.pause()

    return run


@pytest.mark.parametrize("view", ["fleet", "tunnels", "flows", "policy", "events"])
def test_view(snap_compare: Snap, make_app: AppFactory, fleet: FakeSource, view: str) -> None:
    app = make_app(fleet, view=view)
    assert snap_compare(app, terminal_size=SIZE, run_before=after())


def test_fleet_narrow(snap_compare: Snap, make_app: AppFactory, fleet: FakeSource) -> None:
    app = make_app(fleet)
    assert snap_compare(app, terminal_size=(80, 20), run_before=after())


def test_flows_grouped_by_rule(snap_compare: Snap, make_app: AppFactory, fleet: FakeSource) -> None:
    app = make_app(fleet, view="flows")
    assert snap_compare(app, terminal_size=SIZE, run_before=after("b", "b", "b"))


def test_flows_filtered_and_frozen(
    snap_compare: Snap, make_app: AppFactory, fleet: FakeSource
) -> None:
    app = make_app(fleet, view="flows")
    keys = ("slash", *"!deny", "enter", "f")
    assert snap_compare(app, terminal_size=SIZE, run_before=after(*keys))


def test_help(snap_compare: Snap, make_app: AppFactory, fleet: FakeSource) -> None:
    app = make_app(fleet, view="flows", write=True)
    assert snap_compare(app, terminal_size=SIZE, run_before=after("question_mark"))


def test_describe(snap_compare: Snap, make_app: AppFactory, fleet: FakeSource) -> None:
    app = make_app(fleet, view="tunnels")
    assert snap_compare(app, terminal_size=SIZE, run_before=after("d"))


def test_confirm_drain(snap_compare: Snap, make_app: AppFactory, fleet: FakeSource) -> None:
    app = make_app(fleet, write=True)
    assert snap_compare(app, terminal_size=SIZE, run_before=after("D"))


def test_explain_form(snap_compare: Snap, make_app: AppFactory, fleet: FakeSource) -> None:
    app = make_app(fleet, view="policy")
    assert snap_compare(app, terminal_size=SIZE, run_before=after("e"))


def test_no_color(
    snap_compare: Snap, make_app: AppFactory, fleet: FakeSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(fleet, view="flows")
    assert snap_compare(app, terminal_size=SIZE, run_before=after())
