"""Benchmark arithmetic: per-repetition metrics, medians, ratios, the table and the JSON."""

from __future__ import annotations

import json

import pytest

from appliance.bench import report
from appliance.bench.flow_fill import MemorySample
from appliance.bench.report import PhaseSample
from appliance.bench.results import parse_generator_output

from .conftest import generator_line


def sample(
    subject: str,
    rep: int,
    phase: str,
    *,
    sent: int = 10_000,
    verified: int = 10_000,
    duration: float = 1.0,
    cpu_s: float = 0.05,
    p50: float = 10.0,
    p99: float = 50.0,
    bad: dict[str, int] | None = None,
    rcvbuf: int = 0,
    stale: int = 0,
) -> PhaseSample:
    """A phase sample whose generator result has the given counts."""
    bad = bad or {}
    line = generator_line(
        mode="max" if phase == "max" else "rate",
        sent=sent,
        verified=verified,
        verified_in_window=verified,
        received=verified + sum(bad.values()) + stale,
        stale=stale,
        lost=sent - verified,
        bad_total=sum(bad.values()),
        bad=bad,
        duration_s=duration,
        offered_pps=sent / duration,
        delivered_pps=verified / duration,
        latency_us={"p50": p50, "p99": p99, "p999": p99 * 2, "samples": verified},
        generator_rcvbuf_errors=rcvbuf,
    )
    return PhaseSample(subject, rep, phase, parse_generator_output(line), cpu_s)


def repetition(
    subject: str, rep: int, max_pps: int, *, offered: int | None = None
) -> list[PhaseSample]:
    """Warm-up and three phases of one repetition; ``max_pps`` delivered at max rate."""
    return [
        sample(subject, rep, "warmup"),
        sample(
            subject, rep, "max", sent=offered or max_pps, verified=max_pps, cpu_s=max_pps * 4e-6
        ),
        sample(subject, rep, "fixed", sent=50_000, verified=49_950, cpu_s=0.25),
        sample(subject, rep, "latency", p50=20.0 + rep, p99=100.0 + rep),
    ]


def test_metrics_of_one_repetition() -> None:
    metrics = report.metrics_of(repetition("gwlbd", 0, 200_000, offered=250_000))
    assert metrics["max_delivered_pps"] == pytest.approx(200_000)
    assert metrics["max_offered_pps"] == pytest.approx(250_000)
    assert metrics["max_loss_pct"] == pytest.approx(20.0)
    assert metrics["max_cpu_us_per_packet"] == pytest.approx(4.0)
    assert metrics["fixed_loss_pct"] == pytest.approx(0.1)
    assert metrics["fixed_cpu_us_per_packet"] == pytest.approx(0.25e6 / 49_950)
    assert metrics["latency_p50_us"] == pytest.approx(20.0)
    assert metrics["latency_p99_us"] == pytest.approx(100.0)
    assert metrics["latency_loss_pct"] == 0.0


def test_nothing_returned_means_no_cpu_per_packet() -> None:
    s = sample("x", 0, "max", sent=1000, verified=0)
    assert s.cpu_us_per_packet is None
    assert "max_cpu_us_per_packet" not in report.metrics_of([s])
    assert report.metrics_of([s])["max_loss_pct"] == 100.0


def test_stat_of_takes_the_median() -> None:
    stat = report.stat_of([5.0, 1.0, 3.0, 100.0, 2.0])
    assert (stat.median, stat.low, stat.high) == (3.0, 1.0, 100.0)
    assert report.stat_of([1.0, 2.0, 3.0, 4.0]).median == 2.5
    with pytest.raises(ValueError, match="no values"):
        report.stat_of([])


def test_ratio() -> None:
    assert report.ratio(75.0, 100.0) == 0.75
    assert report.ratio(1.0, 0.0) is None


def run_samples() -> list[PhaseSample]:
    """Three repetitions: baseline 400k/410k/390k pps, gwlbd 300k/100k/320k pps."""
    out: list[PhaseSample] = []
    for rep, (base, daemon) in enumerate(
        [(400_000, 300_000), (410_000, 100_000), (390_000, 320_000)]
    ):
        out += repetition("baseline", rep, base, offered=base + 40_000)
        out += repetition("gwlbd-w1", rep, daemon, offered=base + 60_000)
    return out


def test_summary_and_ratios_use_medians() -> None:
    per_rep = report.per_repetition(run_samples())
    summary = report.summarize(per_rep)
    assert summary["baseline"]["max_delivered_pps"].median == pytest.approx(400_000)
    assert summary["gwlbd-w1"]["max_delivered_pps"].median == pytest.approx(300_000)
    assert summary["gwlbd-w1"]["latency_p99_us"].median == pytest.approx(101.0)
    metrics = report.metric_table(50_000, 10_000)
    ratios = report.ratios(summary, "baseline", metrics)
    assert set(ratios) == {"gwlbd-w1"}
    assert ratios["gwlbd-w1"]["max_delivered_pps"] == pytest.approx(0.75)
    assert "fixed_loss_pct" not in ratios["gwlbd-w1"]  # losses get no ratio


def test_paired_ratio_pairs_the_same_repetition() -> None:
    per_rep = report.per_repetition(run_samples())
    paired = report.paired_ratios(per_rep, "baseline", "max_delivered_pps")
    # per repetition: 300/400, 100/410, 320/390 -> median 0.75
    assert paired["gwlbd-w1"] == pytest.approx(0.75)


def test_generator_check_saturated_and_not() -> None:
    summary = report.summarize(report.per_repetition(run_samples()))
    check = report.generator_check(summary, "baseline")
    assert check["saturated_baseline"] is True
    assert check["headroom"] == pytest.approx(440_000 / 400_000)
    assert "not the generator" in check["verdict"]
    even = report.summarize(report.per_repetition(repetition("baseline", 0, 400_000)))
    check = report.generator_check(even, "baseline")
    assert check["saturated_baseline"] is False
    assert "upper bounds" in check["verdict"]
    assert report.generator_check({}, "baseline")["headroom"] is None


def build(samples: list[PhaseSample]) -> dict[str, object]:
    return report.build_report(
        samples=samples,
        subjects=[{"name": "baseline"}, {"name": "gwlbd-w1"}],
        baseline="baseline",
        config={
            "repetitions": 3,
            "duration_s": 1.0,
            "flows": 64,
            "inner_size": 100,
            "fixed_rate_pps": 50_000,
            "latency_rate_pps": 10_000,
        },
        machine={
            "nproc": 2,
            "cpu_model": "Test CPU",
            "kernel": "6.1",
            "python": "3.11.7",
            "load_average": [0.5, 0.4, 0.3],
        },
        started_at=1.0,
        finished_at=2.0,
        notes=["machine shared with other jobs"],
    )


def test_report_document_has_every_section_and_is_json() -> None:
    doc = build(run_samples())
    keys = "schema machine config subjects summary ratios paired_ratios generator"
    keys += " bad_replies all_verified notes samples metrics"
    for key in keys.split():
        assert key in doc
    assert doc["schema"] == "gwlbd.bench/v1"
    assert doc["all_verified"] is True
    assert len(doc["samples"]) == 24  # type: ignore[arg-type]
    assert json.loads(json.dumps(doc)) == doc


def test_bad_replies_fail_verification_and_show() -> None:
    samples = [*run_samples(), sample("gwlbd-w1", 0, "fixed", bad={"geneve": 3, "src_port": 1})]
    doc = build(samples)
    assert doc["all_verified"] is False
    assert doc["bad_replies"]["geneve"] == 3  # type: ignore[index]
    assert "FAILED" in report.render_table(doc)


def test_table_quotes_medians_ratios_and_checks() -> None:
    table = report.render_table(build(run_samples()))
    assert "Test CPU" in table
    assert "delivered at max rate (pps)" in table
    assert "400,000" in table
    assert "300,000 (0.75x)" in table
    assert "latency p99 at 10,000 pps (us)" in table
    assert "paired max-rate ratio" in table
    assert "every returned packet verified" in table
    assert "note: machine shared with other jobs" in table


def test_generator_socket_drops_and_stale_replies_are_reported() -> None:
    samples = [*run_samples(), sample("baseline", 0, "max", rcvbuf=17, stale=5)]
    doc = build(samples)
    assert doc["generator"]["rcvbuf_drops"] == 17  # type: ignore[index]
    assert doc["generator"]["stale_replies"] == 5  # type: ignore[index]
    table = report.render_table(doc)
    assert "dropped 17 replies" in table
    assert "5 replies belonged to an earlier phase" in table
    assert doc["all_verified"] is True  # stale replies are not verification failures


def test_flow_memory_is_reported_and_its_replies_verified() -> None:
    fill_ok = sample("gwlbd-w1", 0, "memory", sent=1000, verified=1000).result
    fill_bad = sample("gwlbd-w1", 0, "memory", bad={"inner_header": 2}).result
    mem = MemorySample("gwlbd-w1", 0, 64, 1_000_064, 0, 350_000_000, (fill_ok, fill_bad))
    doc = report.build_report(
        samples=run_samples(),
        subjects=[{"name": "baseline"}, {"name": "gwlbd-w1"}],
        baseline="baseline",
        config={
            "repetitions": 3,
            "duration_s": 1.0,
            "flows": 64,
            "inner_size": 100,
            "fixed_rate_pps": 50_000,
            "latency_rate_pps": 10_000,
        },
        machine={"nproc": 2, "cpu_model": "c", "kernel": "k", "python": "p", "load_average": []},
        started_at=1.0,
        finished_at=2.0,
        memory=[mem],
    )
    assert doc["memory"]["gwlbd-w1"]["bytes_per_flow"] == pytest.approx(350.0)
    assert doc["bad_replies"]["inner_header"] == 2
    assert doc["all_verified"] is False
    assert "350 bytes per flow" in report.render_table(doc)
