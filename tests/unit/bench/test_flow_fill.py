"""Flow memory: RSS per flow from /proc statm and the daemon's flows_active."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from appliance.bench import memory
from appliance.bench.errors import BenchError
from appliance.bench.flow_fill import MemorySample, flows_active, memory_doc, memory_lines
from appliance.bench.results import parse_generator_output

from .conftest import GOLDEN
from .test_cpu import stat_line


def fill(subject: str, before: int, after: int, rss_before: int, rss_after: int) -> MemorySample:
    result = parse_generator_output(GOLDEN)
    return MemorySample(subject, 0, before, after, rss_before, rss_after, (result, result))


def test_bytes_per_flow_is_rss_growth_over_added_flows() -> None:
    sample = fill("gwlbd-w1", 64, 1_000_064, 50 << 20, (50 << 20) + 300_000_000)
    assert sample.flows_added == 1_000_000
    assert sample.bytes_per_flow == pytest.approx(300.0)


def test_no_flow_added_has_no_per_flow_figure() -> None:
    assert fill("x", 64, 64, 1, 2).bytes_per_flow is None


def test_memory_doc_and_lines() -> None:
    doc = memory_doc(
        [fill("gwlbd-w1", 0, 1_000_000, 0, 400_000_000), fill("gwlbd-w2", 0, 500, 0, 0)]
    )
    assert doc["gwlbd-w1"]["bytes_per_flow"] == pytest.approx(400.0)
    assert doc["gwlbd-w1"]["flows_added"] == 1_000_000
    assert len(doc["gwlbd-w1"]["samples"][0]["passes"]) == 2
    lines = memory_lines(doc)
    assert lines[0] == (
        "flow memory: gwlbd-w1 held 1,000,000 more flows, RSS +381.5 MiB = 400 bytes per flow"
    )
    assert lines[1].endswith("= 0 bytes per flow")


def test_flows_active_from_status() -> None:
    assert flows_active({"schema": "gwlbd.status/v1", "counters": {"flows_active": 12}}) == 12
    bad_docs: list[dict[str, object]] = [
        {},
        {"counters": []},
        {"counters": {"flows_active": "12"}},
        {"counters": {"flows_active": True}},
    ]
    for bad in bad_docs:
        with pytest.raises(ValueError, match="flows_active"):
            flows_active(bad)


def test_statm_resident() -> None:
    assert memory.parse_statm_resident("12345 678 90 1 0 400 0\n") == 678
    for bad in ("", "1", "a b c"):
        with pytest.raises(BenchError):
            memory.parse_statm_resident(bad)


def test_tree_rss_sums_the_tree(tmp_path: Path) -> None:
    procs = {100: (1, "10 3 0 0 0 0 0"), 101: (100, "10 5 0 0 0 0 0"), 7: (1, "10 99 0 0 0 0 0")}
    for pid, (ppid, statm) in procs.items():
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(stat_line(pid, ppid, 1, 1))
        (tmp_path / str(pid) / "statm").write_text(statm)
    assert memory.tree_rss_bytes(100, tmp_path) == 8 * memory.page_size()
    with pytest.raises(BenchError, match="not running"):
        memory.tree_rss_bytes(555, tmp_path)


def test_tree_rss_of_this_process() -> None:
    assert memory.tree_rss_bytes(os.getpid()) > 1 << 20
