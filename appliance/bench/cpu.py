"""CPU time of a subject's whole process tree, from ``/proc/<pid>/stat``.

A subject (the C baseline, or gwlbd's supervisor and its workers) is charged the
user + system time of its root process and every descendant, plus the time of
descendants that already exited and were reaped inside the tree (``cutime`` and
``cstime``). Softirq work done while one of its threads is on the CPU is included in
``stime`` on kernels without ``CONFIG_IRQ_TIME_ACCOUNTING``; docs/benchmarks.md says
what that means for the figures. Parsing and tree arithmetic are pure; only
:func:`snapshot` reads ``/proc``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from appliance.bench.errors import BenchError

ProcKey = tuple[int, int]
"""A process identity that survives pid reuse: (pid, start time in ticks since boot)."""


@dataclass(frozen=True, slots=True)
class ProcStat:
    """The fields of one ``/proc/<pid>/stat`` line that CPU accounting needs."""

    pid: int
    ppid: int
    utime: int
    """User time, clock ticks."""
    stime: int
    """System time, clock ticks."""
    cutime: int
    """User time of reaped children, clock ticks."""
    cstime: int
    """System time of reaped children, clock ticks."""
    starttime: int
    """Start time after boot, clock ticks."""

    @property
    def key(self) -> ProcKey:
        """(pid, start time): unique even if the pid is reused."""
        return (self.pid, self.starttime)

    @property
    def ticks(self) -> int:
        """All CPU time charged to this process and its reaped children."""
        return self.utime + self.stime + self.cutime + self.cstime


def parse_stat_line(line: str) -> ProcStat:
    """Parse one ``/proc/<pid>/stat`` line (see proc(5)).

    The command name (field 2) is in parentheses and may itself contain spaces and
    parentheses, so the fields after it are found from its last ``)``.

    Raises:
        BenchError: the line does not have the fields of a stat line.
    """
    try:
        open_paren = line.index("(")
        close_paren = line.rindex(")")
        pid = int(line[:open_paren].strip())
        rest = line[close_paren + 2 :].split()
        # rest[0] is field 3 (state); field n is rest[n - 3]
        return ProcStat(
            pid=pid,
            ppid=int(rest[1]),
            utime=int(rest[11]),
            stime=int(rest[12]),
            cutime=int(rest[13]),
            cstime=int(rest[14]),
            starttime=int(rest[19]),
        )
    except (ValueError, IndexError) as exc:
        raise BenchError(f"not a /proc/<pid>/stat line: {line[:120]!r}") from exc


def tree(stats: Iterable[ProcStat], root: int) -> list[ProcStat]:
    """``root`` and all its descendants among ``stats`` (empty if ``root`` is absent)."""
    by_pid = {stat.pid: stat for stat in stats}
    if root not in by_pid:
        return []
    children: dict[int, list[ProcStat]] = {}
    for stat in by_pid.values():
        children.setdefault(stat.ppid, []).append(stat)
    found: list[ProcStat] = []
    stack = [by_pid[root]]
    while stack:
        stat = stack.pop()
        found.append(stat)
        stack.extend(child for child in children.get(stat.pid, []) if child.pid != stat.pid)
    return found


def tree_ticks(stats: Iterable[ProcStat], root: int) -> dict[ProcKey, int]:
    """CPU ticks of each process in ``root``'s tree, keyed by process identity."""
    return {stat.key: stat.ticks for stat in tree(stats, root)}


def ticks_between(before: Mapping[ProcKey, int], after: Mapping[ProcKey, int]) -> int:
    """CPU ticks the tree used between two snapshots.

    Processes in ``after`` count what they gained since ``before`` (all of it if they
    are new). Processes that vanished in between are lost unless a tree member reaped
    them (then their time is in that member's ``cutime``/``cstime``).
    """
    return sum(max(0, ticks - before.get(key, 0)) for key, ticks in after.items())


def read_all(proc: Path = Path("/proc")) -> list[ProcStat]:
    """Stat lines of every process in ``proc`` (processes exiting mid-read are skipped)."""
    stats: list[ProcStat] = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stats.append(parse_stat_line((entry / "stat").read_text()))
        except (OSError, BenchError):
            continue
    return stats


def snapshot(root: int, proc: Path = Path("/proc")) -> dict[ProcKey, int]:
    """CPU ticks of ``root``'s process tree now."""
    return tree_ticks(read_all(proc), root)


def ticks_per_second() -> int:
    """Clock ticks per second (``USER_HZ``) used by ``/proc/<pid>/stat``."""
    return os.sysconf("SC_CLK_TCK")
