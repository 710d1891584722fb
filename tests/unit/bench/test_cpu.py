"""CPU accounting of a subject's process tree from /proc/<pid>/stat lines."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.bench import cpu
from appliance.bench.errors import BenchError


def stat_line(
    pid: int, ppid: int, utime: int, stime: int, comm: str = "gwlbd", start: int = 1000,
    cutime: int = 0, cstime: int = 0,
) -> str:  # fmt: skip
    """A /proc/<pid>/stat line with the fields cpu.py reads and plausible others."""
    fields = [
        "S", str(ppid), str(pid), str(pid), "0", "-1", "4194560", "100", "0", "0", "0",
        str(utime), str(stime), str(cutime), str(cstime), "20", "0", "1", "0", str(start),
        "123456", "789",
    ]  # fmt: skip
    return f"{pid} ({comm}) " + " ".join(fields) + "\n"


REAL = (
    "4242 (python3) S 4200 4242 4200 0 -1 4194560 5360 0 0 0 153 42 7 3 20 0 3 0 "
    "987654 123456789 6789 18446744073709551615 1 1 0 0 0 0 0 16781312 16386 0 0 0 17 1 "
    "0 0 0 0 0 0 0 0 0 0 0 0 0\n"
)


def test_real_stat_line() -> None:
    stat = cpu.parse_stat_line(REAL)
    assert (stat.pid, stat.ppid) == (4242, 4200)
    assert (stat.utime, stat.stime, stat.cutime, stat.cstime) == (153, 42, 7, 3)
    assert stat.starttime == 987654
    assert stat.ticks == 205
    assert stat.key == (4242, 987654)


@pytest.mark.parametrize("comm", ["a b", "x) (y", "((", ")", "gwlbd: worker 0"])
def test_command_names_with_spaces_and_parentheses(comm: str) -> None:
    stat = cpu.parse_stat_line(stat_line(7, 1, 11, 22, comm=comm))
    assert (stat.pid, stat.ppid, stat.utime, stat.stime) == (7, 1, 11, 22)


@given(
    comm=st.text(alphabet=st.characters(blacklist_characters="\n\0"), max_size=16),
    pid=st.integers(1, 2**22),
    ppid=st.integers(0, 2**22),
    utime=st.integers(0, 2**40),
    stime=st.integers(0, 2**40),
)
def test_parse_any_command_name(comm: str, pid: int, ppid: int, utime: int, stime: int) -> None:
    stat = cpu.parse_stat_line(stat_line(pid, ppid, utime, stime, comm=comm))
    assert (stat.pid, stat.ppid, stat.utime, stat.stime) == (pid, ppid, utime, stime)


@pytest.mark.parametrize("line", ["", "garbage", "12 (x) S 1 2", "x (y) S " + "1 " * 30])
def test_malformed_lines_are_refused(line: str) -> None:
    with pytest.raises(BenchError):
        cpu.parse_stat_line(line)


STATS = [
    cpu.parse_stat_line(stat_line(1, 0, 500, 500, "init")),
    cpu.parse_stat_line(stat_line(100, 1, 10, 5, "ip")),  # the subject's root
    cpu.parse_stat_line(stat_line(101, 100, 200, 100, "worker")),
    cpu.parse_stat_line(stat_line(102, 100, 300, 50, "worker")),
    cpu.parse_stat_line(stat_line(103, 102, 1, 1, "helper")),
    cpu.parse_stat_line(stat_line(200, 1, 9999, 9999, "other")),
]


def test_tree_holds_root_and_all_descendants_only() -> None:
    assert sorted(s.pid for s in cpu.tree(STATS, 100)) == [100, 101, 102, 103]
    assert cpu.tree(STATS, 999) == []


def test_tree_ticks_sum() -> None:
    ticks = cpu.tree_ticks(STATS, 100)
    assert sum(ticks.values()) == 15 + 300 + 350 + 2


def test_ticks_between_counts_growth_and_new_processes() -> None:
    before = {(100, 1): 10, (101, 1): 100, (102, 1): 50}
    after = {(100, 1): 12, (101, 1): 160, (104, 9): 7}  # 102 exited unreaped, 104 is new
    assert cpu.ticks_between(before, after) == 2 + 60 + 7


def test_pid_reuse_is_a_new_process() -> None:
    before = {(101, 1): 100}
    after = {(101, 2): 30}  # same pid, later start: a different process
    assert cpu.ticks_between(before, after) == 30


def test_reaped_children_count_through_cutime() -> None:
    before = cpu.tree_ticks([cpu.parse_stat_line(stat_line(100, 1, 10, 5))], 100)
    after = cpu.tree_ticks(
        [cpu.parse_stat_line(stat_line(100, 1, 10, 5, cutime=40, cstime=2))], 100
    )
    assert cpu.ticks_between(before, after) == 42


def test_snapshot_reads_a_proc_tree(tmp_path: Path) -> None:
    for line in (stat_line(100, 1, 10, 5), stat_line(101, 100, 20, 1), stat_line(5, 1, 99, 99)):
        pid = line.split()[0]
        (tmp_path / pid).mkdir()
        (tmp_path / pid / "stat").write_text(line)
    (tmp_path / "self").mkdir()
    (tmp_path / "777").mkdir()  # a process that exited between listing and reading
    assert sum(cpu.snapshot(100, tmp_path).values()) == 36


def test_snapshot_of_this_process_is_real() -> None:
    pids = {pid for pid, _start in cpu.snapshot(os.getpid())}
    assert os.getpid() in pids
    assert cpu.ticks_per_second() > 0
