"""Pure parts of gwlbtop: formatting, rates, filter/sort/freeze, markers, narrow columns, views."""

from __future__ import annotations

import pytest

from tui import format as fmt
from tui.fake import FakeSource
from tui.model import FetchRequest
from tui.rates import RateTracker
from tui.table import (
    MARK_CHANGED,
    MARK_UP,
    Arrangement,
    ChangeMarks,
    Column,
    FilterError,
    Row,
    ViewTable,
    arrange,
    visible_columns,
)
from tui.views import BUILDERS, RenderContext
from tui.views.context import observe

COLUMNS = (Column("name", "name", 8, 0), Column("n", "n", 5, 1, numeric=True, mark=True))


def table(*pairs: tuple[str, int | None]) -> ViewTable:
    rows = [Row(k, (k, n), (k, str(n)), {"k": k}, k) for k, n in pairs]
    return ViewTable(COLUMNS, rows, f"{len(rows)} rows")


def keys(rows: list[Row]) -> list[str]:
    return [r.key for r in rows]


def test_formatting() -> None:
    assert fmt.count(1234567) == "1.2M"
    assert fmt.count(None) == "-"
    assert fmt.size(1536) == "1.5KiB"
    assert fmt.rate(2500.0) == "2.5k/s"
    assert fmt.age(312) == "5m12s"
    assert fmt.age(0.6) == "0.6s"
    assert fmt.clock(0) == "00:00:00"
    assert fmt.endpoint("2001:2::1", 443, 6) == "[2001:2::1]:443"
    assert fmt.protocol(17) == "udp"


def test_rates_over_windows() -> None:
    rates = RateTracker()
    for t in range(41):
        rates.observe("c", float(t), t * 10.0 if t < 30 else 300 + (t - 30) * 100.0)
    assert rates.rate("c", 2.0) == pytest.approx(100.0)
    assert rates.rate("c", 10.0) == pytest.approx(100.0)
    assert rates.rate("c", 40.0) == pytest.approx(1300 / 40)


def test_rate_needs_two_samples_and_restarts_after_counter_reset() -> None:
    rates = RateTracker()
    rates.observe("c", 0.0, 100.0)
    assert rates.rate("c", 10.0) is None
    rates.observe("c", 1.0, 5.0)
    assert rates.rate("c", 10.0) is None
    rates.observe("c", 2.0, 15.0)
    assert rates.rate("c", 10.0) == pytest.approx(10.0)


def test_filter_regex_and_inverted() -> None:
    t = table(("alpha", 1), ("beta", 2), ("gamma", 3))
    assert keys(arrange(t, Arrangement(filter_text="A"))) == ["alpha", "beta", "gamma"]
    assert keys(arrange(t, Arrangement(filter_text="^b"))) == ["beta"]
    assert keys(arrange(t, Arrangement(filter_text="!^b"))) == ["alpha", "gamma"]
    assert t.summary == "3 rows"
    with pytest.raises(FilterError):
        arrange(t, Arrangement(filter_text="("))


def test_sort_numeric_descending_by_default_and_none_last() -> None:
    t = table(("a", 2), ("b", None), ("c", 9))
    assert keys(arrange(t, Arrangement(sort_column="n"))) == ["c", "a", "b"]
    assert keys(arrange(t, Arrangement(sort_column="n", sort_reverse=True))) == ["a", "c", "b"]
    assert keys(arrange(t, Arrangement(sort_column="name", sort_reverse=True))) == ["c", "b", "a"]


def test_frozen_order_keeps_known_rows_and_appends_new_ones() -> None:
    t = table(("a", 1), ("new", 5), ("c", 9))
    frozen = Arrangement(sort_column="n", frozen_order=("c", "gone", "a"))
    assert keys(arrange(t, frozen)) == ["c", "a", "new"]


def test_change_marks_are_characters_and_expire() -> None:
    marks = ChangeMarks()
    marks.apply(table(("a", 1)))
    changed = marks.apply(table(("a", 2)))
    assert changed.rows[0].cells[1] == f"2 {MARK_UP}"
    text = ViewTable((Column("s", "s", 5, mark=True),), [Row("a", ("x",), ("x",), {}, "a")], "")
    marks2 = ChangeMarks()
    marks2.apply(text)
    flipped = marks2.apply(ViewTable(text.columns, [Row("a", ("y",), ("y",), {}, "a")], ""))
    assert flipped.rows[0].cells[0] == f"y {MARK_CHANGED}"
    for _ in range(3):
        still = marks.apply(table(("a", 2)))
    assert still.rows[0].cells[1] == "2"


def test_narrow_terminal_drops_low_value_columns_first() -> None:
    cols = (
        Column("id", "id", 10, 0),
        Column("low", "low", 10, 5),
        Column("mid", "mid", 10, 2),
    )
    assert visible_columns(cols, 100) == [0, 1, 2]
    assert visible_columns(cols, 25) == [0, 2]
    assert visible_columns(cols, 5) == [0]


@pytest.mark.parametrize("view", list(BUILDERS))
def test_every_view_builds_from_a_fleet_with_an_unreachable_instance(view: str) -> None:
    source = FakeSource.fleet_of(4, flows=20, unreachable=(2,))
    rates = RateTracker()
    for _ in range(2):
        snapshot = source.fetch(FetchRequest(flows_of=source.instances[0].instance_id))
        observe(snapshot, rates)
    t = BUILDERS[view](RenderContext(snapshot, rates))
    assert t.rows
    assert all(len(r.cells) == len(t.columns) == len(r.values) for r in t.rows)
    assert len({r.key for r in t.rows}) == len(t.rows)


def test_fleet_view_marks_unreachable_and_policy_mismatch() -> None:
    source = FakeSource.fleet_of(4, unreachable=(2,))
    snapshot = source.fetch(FetchRequest())
    t = BUILDERS["fleet"](RenderContext(snapshot, RateTracker()))
    by_key = {r.key: r for r in t.rows}
    assert by_key[source.instances[2].instance_id].cells[5] == "UNREACHABLE timeout"
    assert by_key[source.instances[3].instance_id].cells[7] == "v7/v6 ≠"
    assert "1 unreachable" in t.summary


def test_flows_group_by_rule_sums_flows() -> None:
    source = FakeSource.single(flows=40)
    iid = source.instances[0].instance_id
    snapshot = source.fetch(FetchRequest(flows_of=iid))
    t = BUILDERS["flows"](RenderContext(snapshot, RateTracker(), group_by="rule"))
    assert sorted(r.key for r in t.rows) == [
        "rule:allow-dns",
        "rule:allow-http",
        "rule:allow-web",
        "rule:deny-ssh",
    ]
    assert sum(r.values[1] for r in t.rows) == 40


def test_tunnels_view_shows_each_tun_devices_packet_counters() -> None:
    source = FakeSource.fleet_of(2)
    snapshot = source.fetch(FetchRequest())
    names = [c.key for c in BUILDERS["tunnels"](RenderContext(snapshot, RateTracker())).columns]
    at_in, at_out = names.index("to_kernel"), names.index("from_kernel")
    inline, tun = source.instances[0].instance_id, source.instances[1].instance_id
    # a tun-mode appliance: packets handed to gwi-X and read back from the devices
    rows = BUILDERS["tunnels"](RenderContext(snapshot, RateTracker(), instance_id=tun)).rows
    member = snapshot.member(tun)
    assert member is not None
    assert member.status is not None
    tunnels = {str(t["endpoint_id"]): t for t in member.status["tunnels"]}
    for row in rows:
        itf = tunnels[row.key]["interfaces"]
        assert row.values[at_in] == itf["in_packets"]
        assert row.values[at_out] == itf["out_packets"]
        assert row.cells[at_in] == fmt.count(itf["in_packets"])
    # inline mode has no devices
    rows = BUILDERS["tunnels"](RenderContext(snapshot, RateTracker(), instance_id=inline)).rows
    assert {(r.cells[at_in], r.cells[at_out]) for r in rows} == {(fmt.NONE, fmt.NONE)}
