"""Pilot tests: every view, navigation, filter, sort, freeze, pause, describe/raw/copy, help."""

from __future__ import annotations

import threading

from textual.widgets import Input, Static

from tests.tui.conftest import SIZE, AppFactory, refresh, settle
from tui.app import GwlbtopApp
from tui.errors import SourceError
from tui.fake import FakeSource
from tui.screens.explain import ExplainScreen
from tui.screens.modals import HelpScreen, TextScreen
from tui.screens.view import ViewScreen
from tui.views import VIEW_NAMES


def view(app: GwlbtopApp) -> ViewScreen:
    screen = app.screen
    assert isinstance(screen, ViewScreen)
    return screen


def status_text(app: GwlbtopApp) -> str:
    return str(view(app).query_one("#status", Static).render())


async def test_every_view_shows_rows(make_app: AppFactory, fleet: FakeSource) -> None:
    app = make_app(fleet)
    async with app.run_test(size=SIZE) as pilot:
        await refresh(pilot)
        for number, name in enumerate(VIEW_NAMES, start=1):
            await pilot.press(str(number))
            await refresh(pilot)
            assert name == view(app).VIEW
            assert view(app).table.row_count > 0, name


async def test_colon_command_and_prefix_switch_views(
    make_app: AppFactory, fleet: FakeSource
) -> None:
    app = make_app(fleet)
    async with app.run_test(size=SIZE) as pilot:
        await refresh(pilot)
        await pilot.press("colon", *"pol", "enter")
        await settle(pilot)
        assert view(app).VIEW == "policy"
        await pilot.press("colon", *"events", "enter")
        await settle(pilot)
        assert view(app).VIEW == "events"
        await pilot.press("colon", *"f", "enter")  # ambiguous: fleet, flows
        await settle(pilot)
        assert view(app).VIEW == "events"


async def test_unreachable_instance_is_shown_not_fatal(
    make_app: AppFactory, fleet: FakeSource
) -> None:
    app = make_app(fleet)
    async with app.run_test(size=SIZE) as pilot:
        await refresh(pilot, 2)
        table = view(app).table
        bad = fleet.instances[2].instance_id
        row = table.get_row(bad)
        assert "UNREACHABLE timeout" in [str(c) for c in row]
        assert table.row_count == 4
        assert "live" in status_text(app)


async def test_slow_instance_does_not_block_keys(make_app: AppFactory) -> None:
    gate = threading.Event()
    source = FakeSource.fleet_of(3, slow=(1,), delay_s=5.0)
    source.sleep = lambda _s: gate.wait(10)
    app = make_app(source)
    async with app.run_test(size=SIZE) as pilot:
        gate.set()
        await refresh(pilot)
        gate.clear()
        app.refresh_now()
        await pilot.pause()
        # GIVEN a refresh stuck on the slow instance WHEN keys arrive THEN they are handled
        assert app._polling
        await pilot.press("j", "j")
        assert view(app).table.cursor_row == 2
        await pilot.press("2")
        assert view(app).VIEW == "tunnels"
        assert app._polling
        gate.set()
        await settle(pilot)
        assert not app._polling


async def test_enter_on_instance_opens_its_tunnels(make_app: AppFactory, fleet: FakeSource) -> None:
    app = make_app(fleet)
    async with app.run_test(size=SIZE) as pilot:
        await refresh(pilot)
        await pilot.press("j", "enter")
        await refresh(pilot)
        assert view(app).VIEW == "tunnels"
        assert app.instance_id == fleet.instances[1].instance_id
        assert all(k.startswith("0x000000000e5e01") for k in view(app).table.order)


async def test_filter_regex_invert_keeps_totals(make_app: AppFactory, fleet: FakeSource) -> None:
    app = make_app(fleet, view="flows")
    async with app.run_test(size=SIZE) as pilot:
        await refresh(pilot, 2)
        screen = view(app)
        total = screen.table.row_count
        summary = str(screen.query_one("#summary", Static).render())
        await pilot.press("slash", *"deny")
        await settle(pilot)
        denied = screen.table.row_count
        assert 0 < denied < total
        await pilot.press("enter")
        assert str(screen.query_one("#summary", Static).render()) == summary
        assert f"{denied} of {total} rows" in status_text(app)
        await pilot.press("slash", "home", "!", "enter")
        await settle(pilot)
        assert screen.table.row_count == total - denied
        await pilot.press("escape")
        await refresh(pilot)
        assert screen.table.row_count == total


async def test_invalid_regex_is_flagged_and_shows_everything(
    make_app: AppFactory, fleet: FakeSource
) -> None:
    app = make_app(fleet, view="flows")
    async with app.run_test(size=SIZE) as pilot:
        await refresh(pilot)
        await pilot.press("slash", "(")
        await settle(pilot)
        assert view(app).query_one("#line", Input).has_class("-invalid")
        assert view(app).table.row_count == 30


async def test_sort_cycles_columns_with_indicator(make_app: AppFactory, fleet: FakeSource) -> None:
    app = make_app(fleet, view="flows")
    async with app.run_test(size=SIZE) as pilot:
        await refresh(pilot)
        table = view(app).table
        labels = [c.label.plain for c in table.ordered_columns]
        assert "bytes ▼" in labels
        await pilot.press("s")
        await settle(pilot)
        assert view(app).arrangement.sort_column == "rate"
        await pilot.press("S", "S", "o")
        await settle(pilot)
        assert view(app).arrangement.sort_column == "packets"
        assert "packets ▲" in [c.label.plain for c in table.ordered_columns]
        values = [int(str(table.get_row_at(i)[6]).split()[0]) for i in range(table.row_count)]
        assert values == sorted(values)


async def test_cursor_stays_on_row_key_across_refresh(
    make_app: AppFactory, fleet: FakeSource
) -> None:
    app = make_app(fleet, view="flows")
    async with app.run_test(size=SIZE) as pilot:
        await refresh(pilot)
        await pilot.press("j", "j", "j")
        table = view(app).table
        key = table.cursor_key
        await refresh(pilot, 3)
        assert table.cursor_key == key


async def test_freeze_keeps_order_while_values_change(
    make_app: AppFactory, fleet: FakeSource
) -> None:
    app = make_app(fleet, view="flows")
    async with app.run_test(size=SIZE) as pilot:
        await refresh(pilot)
        await pilot.press("f")
        table = view(app).table
        order = table.order
        await refresh(pilot, 4)
        assert table.order == order
        assert "FROZEN" in status_text(app)
        await pilot.press("f")
        await refresh(pilot)
        assert table.order != order


async def test_pause_stops_refresh_and_says_so(make_app: AppFactory, fleet: FakeSource) -> None:
    app = make_app(fleet, autorefresh=True, interval=600.0)
    async with app.run_test(size=SIZE) as pilot:
        await refresh(pilot)
        assert app._timer is not None
        await pilot.press("p")
        await settle(pilot)
        fetched = fleet.fetches
        assert app._timer is None
        assert "PAUSED" in status_text(app)
        await pilot.press("p")
        await settle(pilot)
        assert fleet.fetches > fetched
        assert app._timer is not None


async def test_rate_window_cycles(make_app: AppFactory, fleet: FakeSource) -> None:
    app = make_app(fleet)
    async with app.run_test(size=SIZE) as pilot:
        await refresh(pilot)
        assert app.window == 10.0
        await pilot.press("w")
        assert app.window == 40.0
        await pilot.press("w")
        assert app.window == 2.0
        await settle(pilot)
        assert "rates over 2s" in str(view(app).query_one("#title", Static).render())


async def test_group_by_and_drill_into_group(make_app: AppFactory, fleet: FakeSource) -> None:
    app = make_app(fleet, view="flows")
    async with app.run_test(size=SIZE) as pilot:
        await refresh(pilot)
        await pilot.press("b", "b", "b")  # src, dst, rule
        await settle(pilot)
        assert app.group_by == "rule"
        table = view(app).table
        assert table.row_count == 4
        group = table.cursor_record
        assert group is not None
        await pilot.press("enter")
        await settle(pilot)
        assert app.group_by is None
        assert 0 < view(app).table.row_count < 30
        rule = group.key.removeprefix("rule:")
        assert all(r.record["rule"] == rule for r in view(app).table._rows)


async def test_describe_raw_and_copy(make_app: AppFactory, fleet: FakeSource) -> None:
    app = make_app(fleet, view="flows")
    async with app.run_test(size=SIZE) as pilot:
        await refresh(pilot)
        await pilot.press("d")
        assert isinstance(app.screen, TextScreen)
        assert "endpoint_id: 0x" in app.screen.body
        await pilot.press("escape", "y")
        assert isinstance(app.screen, TextScreen)
        assert '"cookie": "0x' in app.screen.body
        await pilot.press("escape", "enter")
        assert isinstance(app.screen, TextScreen)  # Enter on a flow drills down
        await pilot.press("escape", "c")
        assert app.copied is not None
        assert app.copied.startswith("tcp ") or app.copied.startswith("udp ")


async def test_help_lists_live_bindings(make_app: AppFactory, fleet: FakeSource) -> None:
    app = make_app(fleet, view="flows")
    async with app.run_test(size=SIZE) as pilot:
        await refresh(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        descriptions = [d for _, d in app.screen.bindings]
        assert "group by" in descriptions
        assert "clear flow" not in descriptions  # read-only
        await pilot.press("escape", "1", "question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert "group by" not in [d for _, d in app.screen.bindings]


async def test_source_failure_marks_data_stale(make_app: AppFactory, fleet: FakeSource) -> None:
    app = make_app(fleet)
    async with app.run_test(size=SIZE) as pilot:
        await refresh(pilot)

        def broken(_request: object) -> None:
            raise SourceError("AWS said no")

        fleet.fetch = broken  # type: ignore[method-assign,assignment]
        await refresh(pilot)
        text = status_text(app)
        assert "STALE since 16:26:42" in text
        assert "AWS said no" in text
        assert view(app).table.row_count == 4


async def test_explain_form_without_policy_says_why(
    make_app: AppFactory, fleet: FakeSource
) -> None:
    app = make_app(fleet, view="policy")
    async with app.run_test(size=SIZE) as pilot:
        await refresh(pilot)
        await pilot.press("e")
        assert isinstance(app.screen, ExplainScreen)
        await pilot.click("#explain")
        assert "cannot explain" in str(app.screen.query_one("#answer", Static).render())


async def test_narrow_terminal_drops_columns(make_app: AppFactory, fleet: FakeSource) -> None:
    app = make_app(fleet, view="flows")
    async with app.run_test(size=(70, 20)) as pilot:
        await refresh(pilot)
        keys = [str(c.key.value) for c in view(app).table.ordered_columns]
        assert "src" in keys
        assert "dst" in keys
        assert "cookie" not in keys
        assert "endpoint" not in keys
