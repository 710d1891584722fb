"""Benchmark arithmetic and presentation: medians, ratios to the baseline, table, JSON (pure).

Each (subject, repetition) runs three phases: ``max`` (offered as fast as the
generator can), ``fixed`` (paced, for loss) and ``latency`` (paced, lower, for
latency). :func:`metrics_of` turns one repetition's phases into numbers,
:func:`summarize` takes medians over repetitions, and ratios compare every subject
with the baseline measured in the same run.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from appliance.bench.flow_fill import MemorySample, memory_doc, memory_lines
from appliance.bench.results import GeneratorResult

PHASES = ("max", "fixed", "latency")
"""Phases of one repetition, in the order they run."""
SCHEMA = "gwlbd.bench/v1"
SATURATION_HEADROOM = 1.02
"""The generator is shown not to be the bottleneck when it offered at least this many
times what the baseline returned at maximum rate."""


@dataclass(frozen=True, slots=True)
class PhaseSample:
    """One generator run against one subject, and the CPU the subject used meanwhile."""

    subject: str
    repetition: int
    phase: str
    result: GeneratorResult
    subject_cpu_s: float
    """utime + stime of the subject's process tree while the generator ran."""

    @property
    def cpu_us_per_packet(self) -> float | None:
        """Subject CPU per packet returned intact (None when nothing came back)."""
        if self.result.verified == 0:
            return None
        return self.subject_cpu_s * 1e6 / self.result.verified


@dataclass(frozen=True, slots=True)
class Metric:
    """A number reported per subject: median over repetitions, ratio to the baseline."""

    key: str
    label: str
    unit: str
    ratio: bool
    """Whether a ratio to the baseline is meaningful (not for losses, usually 0)."""


def metric_table(fixed_rate: float, latency_rate: float) -> tuple[Metric, ...]:
    """The reported metrics, labelled with this run's paced rates."""
    fixed, lat = f"{fixed_rate:,.0f} pps", f"{latency_rate:,.0f} pps"
    return (
        Metric("max_delivered_pps", "delivered at max rate", "pps", True),
        Metric("max_offered_pps", "offered at max rate", "pps", False),
        Metric("max_loss_pct", "loss at max rate", "%", False),
        Metric("max_cpu_us_per_packet", "CPU/packet at max rate", "us", True),
        Metric("fixed_loss_pct", f"loss at {fixed}", "%", False),
        Metric("fixed_cpu_us_per_packet", f"CPU/packet at {fixed}", "us", True),
        Metric("latency_p50_us", f"latency p50 at {lat}", "us", True),
        Metric("latency_p99_us", f"latency p99 at {lat}", "us", True),
        Metric("latency_p999_us", f"latency p99.9 at {lat}", "us", True),
        Metric("latency_loss_pct", f"loss at {lat}", "%", False),
    )


def metrics_of(samples: Iterable[PhaseSample]) -> dict[str, float]:
    """The numbers of one repetition of one subject (metrics of missing phases are absent)."""
    by_phase = {s.phase: s for s in samples}
    out: dict[str, float] = {}
    if (m := by_phase.get("max")) is not None:
        out["max_delivered_pps"] = m.result.delivered_pps
        out["max_offered_pps"] = m.result.offered_pps
        out["max_loss_pct"] = 100.0 * m.result.loss_fraction
        if (cpu := m.cpu_us_per_packet) is not None:
            out["max_cpu_us_per_packet"] = cpu
    if (f := by_phase.get("fixed")) is not None:
        out["fixed_loss_pct"] = 100.0 * f.result.loss_fraction
        if (cpu := f.cpu_us_per_packet) is not None:
            out["fixed_cpu_us_per_packet"] = cpu
    if (lat := by_phase.get("latency")) is not None:
        out["latency_loss_pct"] = 100.0 * lat.result.loss_fraction
        if lat.result.latency.samples:
            out["latency_p50_us"] = lat.result.latency.p50_us
            out["latency_p99_us"] = lat.result.latency.p99_us
            out["latency_p999_us"] = lat.result.latency.p999_us
    return out


@dataclass(frozen=True, slots=True)
class Stat:
    """A metric over repetitions."""

    median: float
    low: float
    high: float
    values: tuple[float, ...]


def stat_of(values: Sequence[float]) -> Stat:
    """Median, minimum and maximum of ``values`` (which must not be empty).

    Raises:
        ValueError: ``values`` is empty.
    """
    if not values:
        raise ValueError("no values")
    return Stat(statistics.median(values), min(values), max(values), tuple(values))


def per_repetition(samples: Iterable[PhaseSample]) -> dict[str, dict[int, dict[str, float]]]:
    """subject -> repetition -> metrics."""
    grouped: dict[str, dict[int, list[PhaseSample]]] = {}
    for s in samples:
        grouped.setdefault(s.subject, {}).setdefault(s.repetition, []).append(s)
    return {
        subject: {rep: metrics_of(phases) for rep, phases in sorted(reps.items())}
        for subject, reps in grouped.items()
    }


def summarize(
    per_rep: Mapping[str, Mapping[int, Mapping[str, float]]],
) -> dict[str, dict[str, Stat]]:
    """subject -> metric -> :class:`Stat` over the repetitions that have that metric."""
    summary: dict[str, dict[str, Stat]] = {}
    for subject, reps in per_rep.items():
        keys = sorted({k for metrics in reps.values() for k in metrics})
        summary[subject] = {
            k: stat_of([metrics[k] for metrics in reps.values() if k in metrics]) for k in keys
        }
    return summary


def ratio(value: float, reference: float) -> float | None:
    """``value / reference``, or None when the reference is 0."""
    return value / reference if reference else None


def ratios(
    summary: Mapping[str, Mapping[str, Stat]], baseline: str, metrics: Sequence[Metric]
) -> dict[str, dict[str, float | None]]:
    """For every subject but the baseline: median / baseline median, per metric."""
    ref = summary.get(baseline, {})
    out: dict[str, dict[str, float | None]] = {}
    for subject, stats in summary.items():
        if subject == baseline:
            continue
        out[subject] = {
            m.key: ratio(stats[m.key].median, ref[m.key].median)
            for m in metrics
            if m.ratio and m.key in stats and m.key in ref
        }
    return out


def paired_ratios(
    per_rep: Mapping[str, Mapping[int, Mapping[str, float]]], baseline: str, key: str
) -> dict[str, float | None]:
    """Median over repetitions of subject/baseline for ``key``, pairing the same repetition.

    Noise that hits one repetition hits both members of the pair, so this is a second,
    often steadier, view of the same comparison.
    """
    ref = per_rep.get(baseline, {})
    out: dict[str, float | None] = {}
    for subject, reps in per_rep.items():
        if subject == baseline:
            continue
        pairs = [
            r
            for rep, metrics in reps.items()
            if key in metrics and key in ref.get(rep, {})
            if (r := ratio(metrics[key], ref[rep][key])) is not None
        ]
        out[subject] = statistics.median(pairs) if pairs else None
    return out


def generator_check(summary: Mapping[str, Mapping[str, Stat]], baseline: str) -> dict[str, Any]:
    """Evidence that the generator is not the bottleneck: what it offered the baseline
    at maximum rate against what the baseline returned."""
    stats = summary.get(baseline, {})
    if "max_offered_pps" not in stats or "max_delivered_pps" not in stats:
        return {"headroom": None, "saturated_baseline": False, "verdict": "no max-rate data"}
    offered = stats["max_offered_pps"].median
    delivered = stats["max_delivered_pps"].median
    headroom = ratio(offered, delivered)
    saturated = headroom is not None and headroom >= SATURATION_HEADROOM
    if saturated:
        verdict = (
            f"the generator offered {offered:,.0f} pps, {headroom:.2f}x what the baseline "
            f"returned while it was sending ({delivered:,.0f} pps; the rest queued or was "
            "dropped): the baseline, not the generator, set its figure"
        )
    else:
        verdict = (
            f"the baseline returned {delivered:,.0f} of {offered:,.0f} pps offered: the "
            "generator may have set the baseline's figure, so ratios to it are upper bounds"
        )
    return {
        "baseline_offered_pps": offered,
        "baseline_delivered_pps": delivered,
        "headroom": headroom,
        "saturated_baseline": saturated,
        "verdict": verdict,
    }


def generator_drops(samples: Iterable[PhaseSample]) -> int:
    """Replies the generator's own socket dropped (receive buffer full), all phases."""
    return sum(max(0, s.result.generator_rcvbuf_errors) for s in samples)


def stale_replies(samples: Iterable[PhaseSample]) -> int:
    """Intact replies that belonged to an earlier generator run, all phases."""
    return sum(s.result.stale for s in samples)


def bad_replies(samples: Iterable[PhaseSample]) -> dict[str, int]:
    """Replies that failed verification, by kind, over every phase of every subject."""
    total: dict[str, int] = {}
    for s in samples:
        for kind, n in s.result.bad.items():
            total[kind] = total.get(kind, 0) + n
    return total


def sample_doc(sample: PhaseSample) -> dict[str, Any]:
    """One phase sample as JSON-ready data."""
    return {
        "subject": sample.subject,
        "repetition": sample.repetition,
        "phase": sample.phase,
        "subject_cpu_s": sample.subject_cpu_s,
        "cpu_us_per_packet": sample.cpu_us_per_packet,
        "generator": asdict(sample.result),
    }


def build_report(
    *,
    samples: Sequence[PhaseSample],
    subjects: Sequence[Mapping[str, Any]],
    baseline: str,
    config: Mapping[str, Any],
    machine: Mapping[str, Any],
    started_at: float,
    finished_at: float,
    notes: Sequence[str] = (),
    memory: Sequence[MemorySample] = (),
) -> dict[str, Any]:
    """The whole benchmark result as a JSON-ready document (``gwlbd.bench/v1``)."""
    metrics = metric_table(float(config["fixed_rate_pps"]), float(config["latency_rate_pps"]))
    per_rep = per_repetition(samples)
    summary = summarize(per_rep)
    fills = [
        PhaseSample(m.subject, m.repetition, "memory", r, 0.0) for m in memory for r in m.results
    ]
    bad = bad_replies([*samples, *fills])
    return {
        "schema": SCHEMA,
        "started_at": started_at,
        "finished_at": finished_at,
        "machine": dict(machine),
        "config": dict(config),
        "subjects": [dict(s) for s in subjects],
        "baseline": baseline,
        "metrics": [asdict(m) for m in metrics],
        "summary": {
            subject: {k: {**asdict(v), "values": list(v.values)} for k, v in stats.items()}
            for subject, stats in summary.items()
        },
        "ratios": ratios(summary, baseline, metrics),
        "paired_ratios": {
            "max_delivered_pps": paired_ratios(per_rep, baseline, "max_delivered_pps")
        },
        "generator": {
            **generator_check(summary, baseline),
            "rcvbuf_drops": generator_drops(samples),
            "stale_replies": stale_replies(samples),
        },
        "memory": memory_doc(memory),
        "bad_replies": bad,
        "all_verified": sum(bad.values()) == 0,
        "notes": list(notes),
        "samples": [sample_doc(s) for s in samples],
    }


def _fmt(value: float, unit: str) -> str:
    if unit == "pps":
        return f"{value:,.0f}"
    if unit == "%":
        return f"{value:.3f}"
    return f"{value:,.1f}"


def render_table(report: Mapping[str, Any]) -> str:
    """The report as text: machine, configuration, a metric x subject table, the checks."""
    machine, config = report["machine"], report["config"]
    subjects = [s["name"] for s in report["subjects"]]
    baseline = report["baseline"]
    lines = [
        f"gwlbd bench — {machine['nproc']} CPUs ({machine['cpu_model']}), kernel "
        f"{machine['kernel']}, Python {machine['python']}, load {machine['load_average']}",
        f"{config['repetitions']} repetitions (medians), {config['duration_s']} s per phase, "
        f"{config['flows']} flows, {config['inner_size']}-byte inner packets; "
        "ratios are to the baseline in this run"
        + (f"; generator and subjects at nice {config['nice']}" if config.get("nice") else ""),
        "",
    ]
    header = ["metric", *subjects]
    rows: list[list[str]] = []
    for m in report["metrics"]:
        row = [f"{m['label']} ({m['unit']})"]
        for subject in subjects:
            stat = report["summary"].get(subject, {}).get(m["key"])
            if stat is None:
                row.append("-")
                continue
            cell = _fmt(stat["median"], m["unit"])
            r = report["ratios"].get(subject, {}).get(m["key"])
            if subject != baseline and r is not None:
                cell += f" ({r:.2f}x)"
            row.append(cell)
        rows.append(row)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for i, r in enumerate([header, *rows]):
        cells = [r[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append("")
    paired = report["paired_ratios"]["max_delivered_pps"]
    if paired:
        lines.append(
            "paired max-rate ratio (median of per-repetition ratios): "
            + ", ".join(f"{s} {r:.2f}x" if r is not None else f"{s} -" for s, r in paired.items())
        )
    lines.extend(memory_lines(report.get("memory", {})))
    generator = report["generator"]
    lines.append(f"generator: {generator['verdict']}")
    if generator.get("rcvbuf_drops"):
        lines.append(
            f"generator: its socket dropped {generator['rcvbuf_drops']} replies "
            "(counted as lost): it was short of CPU to receive"
        )
    if generator.get("stale_replies"):
        lines.append(
            f"generator: {generator['stale_replies']} replies belonged to an earlier phase "
            "(a subject backlog outlived the quiet period); they were not counted"
        )
    bad = {k: v for k, v in report["bad_replies"].items() if v}
    lines.append(
        "verification: every returned packet verified"
        if report["all_verified"]
        else f"verification: FAILED replies {bad}"
    )
    lines.extend(f"note: {note}" for note in report["notes"])
    return "\n".join(lines) + "\n"
