"""Resident memory of a subject's process tree, from ``/proc/<pid>/statm``.

The flow-memory measurement compares the tree's total RSS before and after the
generator creates many flows; parsing is pure, :func:`tree_rss_bytes` reads ``/proc``.
"""

from __future__ import annotations

import os
from pathlib import Path

from appliance.bench import cpu
from appliance.bench.errors import BenchError


def parse_statm_resident(text: str) -> int:
    """Resident pages: the second field of a ``/proc/<pid>/statm`` line (see proc(5)).

    Raises:
        BenchError: not a statm line.
    """
    fields = text.split()
    if len(fields) < 2 or not all(f.isdigit() for f in fields):
        raise BenchError(f"not a /proc/<pid>/statm line: {text[:80]!r}")
    return int(fields[1])


def page_size() -> int:
    """Bytes per page, as statm counts them."""
    return os.sysconf("SC_PAGE_SIZE")


def tree_rss_bytes(root: int, proc: Path = Path("/proc")) -> int:
    """Total RSS of ``root`` and its descendants (processes exiting mid-read are skipped).

    Raises:
        BenchError: ``root`` is not running.
    """
    members = cpu.tree(cpu.read_all(proc), root)
    if not members:
        raise BenchError(f"process {root} is not running")
    pages = 0
    for stat in members:
        try:
            pages += parse_statm_resident((proc / str(stat.pid) / "statm").read_text())
        except (OSError, BenchError):
            continue
    return pages * page_size()
