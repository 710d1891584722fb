"""Flow memory: how many bytes of RSS a subject grows by per flow it holds (pure).

The runner fills a gwlbd subject with many distinct flows (one packet each; a few
passes if a loaded subject dropped some of the first pass), reads
``flows_active`` from its ``/status`` and the RSS of its process tree before and after,
and records a :class:`MemorySample`. Issue #2's target is <= 500 bytes per flow at
1,000,000 flows.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from appliance.bench.results import GeneratorResult


@dataclass(frozen=True, slots=True)
class MemorySample:
    """One flow-memory measurement of one subject."""

    subject: str
    repetition: int
    flows_before: int
    """``flows_active`` from ``/status`` before the fill."""
    flows_after: int
    """``flows_active`` after the fill, once it stopped changing."""
    rss_before: int
    """RSS of the subject's process tree before the fill, bytes."""
    rss_after: int
    results: tuple[GeneratorResult, ...]
    """The fill passes (one packet per flow each), verified like every other run."""

    @property
    def flows_added(self) -> int:
        """Flows the subject gained."""
        return self.flows_after - self.flows_before

    @property
    def bytes_per_flow(self) -> float | None:
        """RSS growth per added flow (None when no flow was added)."""
        if self.flows_added <= 0:
            return None
        return (self.rss_after - self.rss_before) / self.flows_added


def flows_active(status: Mapping[str, Any]) -> int:
    """``counters.flows_active`` of a ``gwlbd.status/v1`` document.

    Raises:
        ValueError: the document has no such integer.
    """
    counters = status.get("counters")
    value = counters.get("flows_active") if isinstance(counters, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("status document has no integer counters.flows_active")
    return value


def memory_doc(samples: Sequence[MemorySample]) -> dict[str, Any]:
    """subject -> flows held, RSS growth and median bytes per flow, plus each sample."""
    out: dict[str, Any] = {}
    for subject in dict.fromkeys(s.subject for s in samples):
        mine = [s for s in samples if s.subject == subject]
        per_flow = [b for s in mine if (b := s.bytes_per_flow) is not None]
        out[subject] = {
            "flows_added": statistics.median(s.flows_added for s in mine),
            "rss_growth_bytes": statistics.median(s.rss_after - s.rss_before for s in mine),
            "bytes_per_flow": statistics.median(per_flow) if per_flow else None,
            "samples": [
                {
                    "repetition": s.repetition,
                    "flows_before": s.flows_before,
                    "flows_after": s.flows_after,
                    "rss_before": s.rss_before,
                    "rss_after": s.rss_after,
                    "bytes_per_flow": s.bytes_per_flow,
                    "passes": [asdict(r) for r in s.results],
                }
                for s in mine
            ],
        }
    return out


def memory_lines(doc: Mapping[str, Any]) -> list[str]:
    """One text line per subject for the report table."""
    lines = []
    for subject, m in doc.items():
        per_flow = m["bytes_per_flow"]
        lines.append(
            f"flow memory: {subject} held {m['flows_added']:,.0f} more flows, RSS "
            f"+{m['rss_growth_bytes'] / 2**20:,.1f} MiB = "
            + (f"{per_flow:,.0f} bytes per flow" if per_flow is not None else "n/a")
        )
    return lines
