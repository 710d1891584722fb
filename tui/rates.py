"""Rates of monotonic counters over sliding windows (2 s, 10 s, 40 s).

Pure bookkeeping: the caller feeds samples ``(time, value)`` per series key and
asks for the rate over a window. A counter that went down (daemon restarted)
restarts its series.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from typing import Final

WINDOWS: Final[tuple[float, ...]] = (2.0, 10.0, 40.0)
"""The windows the UI offers, in seconds."""

_KEEP: Final = 45.0
"""Seconds of history kept per series (longest window plus slack)."""


class RateTracker:
    """Samples of many counters and their rates over a window."""

    def __init__(self) -> None:
        self._series: dict[Hashable, deque[tuple[float, float]]] = {}
        self._seen: set[Hashable] = set()

    def observe(self, key: Hashable, at: float, value: float) -> None:
        """Record ``value`` of series ``key`` at time ``at``."""
        self._seen.add(key)
        series = self._series.get(key)
        if series is None:
            self._series[key] = deque([(at, value)])
            return
        if series[-1][1] > value:
            series.clear()
        elif series[-1][0] >= at:
            series.pop()
        series.append((at, value))
        limit = at - _KEEP
        while len(series) > 2 and series[1][0] <= limit:
            series.popleft()

    def rate(self, key: Hashable, window: float) -> float | None:
        """Per-second increase over about ``window`` seconds; None before two samples.

        The reference sample is the newest one at least ``window`` seconds old, or
        the oldest kept when the series is younger than the window.
        """
        series = self._series.get(key)
        if not series or len(series) < 2:
            return None
        t_last, v_last = series[-1]
        ref_t, ref_v = series[0]
        cutoff = t_last - window
        for t, v in reversed(series):
            if t <= cutoff:
                ref_t, ref_v = t, v
                break
        if t_last <= ref_t:
            return None
        return (v_last - ref_v) / (t_last - ref_t)

    def sweep(self) -> None:
        """Forget series that were not observed since the previous sweep."""
        for key in [k for k in self._series if k not in self._seen]:
            del self._series[key]
        self._seen = set()

    def __len__(self) -> int:
        return len(self._series)
