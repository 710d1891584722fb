"""Describe the machine a benchmark ran on: CPUs, CPU model, kernel, Python, load."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any


def cpu_model(cpuinfo: str) -> str:
    """The first ``model name`` (x86) or ``Model``/``Hardware`` (Arm) in /proc/cpuinfo text."""
    for key in ("model name", "Model", "Hardware"):
        for line in cpuinfo.splitlines():
            name, sep, value = line.partition(":")
            if sep and name.strip() == key and value.strip():
                return value.strip()
    return "unknown"


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages (empty if unavailable)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def describe() -> dict[str, Any]:
    """The machine as the report shows it."""
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(_read("/proc/cpuinfo")),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "hostname": platform.node(),
        "load_average": load_average(),
    }
