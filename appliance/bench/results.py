"""What one run of the load generator reports: parsed from its JSON line (pure).

The generator (``gwlbgen.c``) prints one JSON object per run; this module turns it into
a :class:`GeneratorResult`, refusing anything that is not a complete, consistent report.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from appliance.bench.errors import GeneratorError

BAD_KINDS = (
    "length",
    "src_addr",
    "src_port",
    "geneve",
    "inner_header",
    "payload",
    "flow_mismatch",
    "unknown_seq",
    "duplicate",
)
"""Why a returned packet failed verification, in the generator's own words."""


@dataclass(frozen=True, slots=True)
class Latency:
    """Round-trip latency of verified replies, from the send timestamp in each payload."""

    samples: int
    p50_us: float
    p99_us: float
    p999_us: float
    max_us: float


@dataclass(frozen=True, slots=True)
class GeneratorResult:
    """One generator run (one phase against one subject)."""

    mode: str
    """``max`` (as fast as possible) or ``rate`` (paced at ``rate_pps``)."""
    flows: int
    inner_size: int
    rate_pps: float
    """Offered rate asked for; 0 in ``max`` mode."""
    duration_s: float
    """How long the generator was sending."""
    sent: int
    offered_pps: float
    """``sent / duration_s``: what the generator actually offered."""
    send_errors: int
    received: int
    """Datagrams read back, verified or not."""
    verified: int
    """Replies that passed every check (each sequence number counted once)."""
    verified_in_window: int
    """Verified replies that arrived while the generator was still sending."""
    stale: int
    """Intact replies to an earlier generator run (a backlog the subject still held)."""
    delivered_pps: float
    """``verified_in_window / duration_s``."""
    lost: int
    """``sent - verified``: packets not returned intact."""
    bad: dict[str, int]
    """Replies that failed verification, by kind (see :data:`BAD_KINDS`)."""
    latency: Latency
    drain_s: float
    """How long the generator collected replies after it stopped sending."""
    generator_rcvbuf_errors: int
    """UDP receive-buffer drops in the generator's namespace (-1: unknown)."""

    @property
    def bad_total(self) -> int:
        """Replies that failed verification, all kinds."""
        return sum(self.bad.values())

    @property
    def loss_fraction(self) -> float:
        """Share of sent packets not returned intact (0 when nothing was sent)."""
        return self.lost / self.sent if self.sent else 0.0


def _number(doc: dict[str, Any], key: str, kind: type[int] | type[float]) -> Any:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise GeneratorError(f"generator output: {key!r} is missing or not a number")
    if kind is int:
        if not isinstance(value, int):
            raise GeneratorError(f"generator output: {key!r} is not an integer")
        return value
    if not math.isfinite(value):
        raise GeneratorError(f"generator output: {key!r} is not finite")
    return float(value)


def parse_generator_output(text: str) -> GeneratorResult:
    """Parse the generator's report: the last non-empty line of its standard output.

    Raises:
        GeneratorError: no JSON object, a missing or mistyped field, or counts that
            contradict each other.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise GeneratorError("generator printed nothing")
    try:
        doc = json.loads(lines[-1])
    except json.JSONDecodeError as exc:
        raise GeneratorError(f"generator output is not JSON: {lines[-1][:200]!r}") from exc
    if not isinstance(doc, dict):
        raise GeneratorError("generator output is not a JSON object")
    mode = doc.get("mode")
    if mode not in ("max", "rate"):
        raise GeneratorError(f"generator output: unexpected mode {mode!r}")
    bad_doc = doc.get("bad")
    if not isinstance(bad_doc, dict):
        raise GeneratorError("generator output: 'bad' is missing")
    bad = {kind: _number(bad_doc, kind, int) for kind in BAD_KINDS}
    lat_doc = doc.get("latency_us")
    if not isinstance(lat_doc, dict):
        raise GeneratorError("generator output: 'latency_us' is missing")
    latency = Latency(
        samples=_number(lat_doc, "samples", int),
        p50_us=_number(lat_doc, "p50", float),
        p99_us=_number(lat_doc, "p99", float),
        p999_us=_number(lat_doc, "p999", float),
        max_us=_number(lat_doc, "max", float),
    )
    result = GeneratorResult(
        mode=mode,
        flows=_number(doc, "flows", int),
        inner_size=_number(doc, "inner_size", int),
        rate_pps=_number(doc, "rate_pps", float),
        duration_s=_number(doc, "duration_s", float),
        sent=_number(doc, "sent", int),
        offered_pps=_number(doc, "offered_pps", float),
        send_errors=_number(doc, "send_errors", int),
        received=_number(doc, "received", int),
        verified=_number(doc, "verified", int),
        verified_in_window=_number(doc, "verified_in_window", int),
        stale=_number(doc, "stale", int),
        delivered_pps=_number(doc, "delivered_pps", float),
        lost=_number(doc, "lost", int),
        bad=bad,
        latency=latency,
        drain_s=_number(doc, "drain_s", float),
        generator_rcvbuf_errors=_number(doc, "generator_rcvbuf_errors", int),
    )
    _check_consistent(result, doc)
    return result


def _check_consistent(result: GeneratorResult, doc: dict[str, Any]) -> None:
    counts = (
        result.sent,
        result.received,
        result.verified,
        result.verified_in_window,
        result.lost,
        result.send_errors,
        result.stale,
        result.latency.samples,
        *result.bad.values(),
    )
    if any(n < 0 for n in counts):
        raise GeneratorError("generator output: negative count")
    if result.verified > result.sent or result.verified_in_window > result.verified:
        raise GeneratorError("generator output: more packets verified than sent")
    if result.verified + result.bad_total + result.stale > result.received:
        raise GeneratorError("generator output: more packets judged than received")
    if result.lost != result.sent - result.verified:
        raise GeneratorError("generator output: lost != sent - verified")
    if doc.get("bad_total", result.bad_total) != result.bad_total:
        raise GeneratorError("generator output: bad_total disagrees with the kinds")
