"""Machine description, run configuration checks and subject order."""

from __future__ import annotations

import pytest

from appliance.bench import machine
from appliance.bench.errors import BenchError
from appliance.bench.generator import nice_prefix
from appliance.bench.runner import BenchConfig, rotated, run_benchmark
from appliance.bench.subjects import subject_set

X86 = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Processor\n"
ARM = "processor\t: 0\nBogoMIPS\t: 50.00\n\nHardware\t: BCM2835\nModel\t\t: Raspberry Pi 4\n"


def test_cpu_model() -> None:
    assert machine.cpu_model(X86) == "Intel(R) Xeon(R) Processor"
    assert machine.cpu_model(ARM) == "Raspberry Pi 4"
    assert machine.cpu_model("") == "unknown"


def test_describe_has_the_fields_the_report_shows() -> None:
    doc = machine.describe()
    assert doc["nproc"] >= 1
    assert isinstance(doc["kernel"], str)
    assert doc["python"].startswith("3.")


def test_default_config_is_the_issue_spec() -> None:
    c = BenchConfig()
    c.check()
    assert (c.repetitions, c.flows, c.inner_size) == (5, 64, 100)
    assert (c.fixed_rate_pps, c.latency_rate_pps) == (50_000, 10_000)
    assert c.phase_rate("max") == 0.0
    assert c.phase_rate("fixed") == 50_000
    assert c.phase_rate("latency") == 10_000
    assert c.phase_rate("warmup") == 10_000


@pytest.mark.parametrize(
    "bad",
    [
        BenchConfig(repetitions=0),
        BenchConfig(duration_s=0.0),
        BenchConfig(flows=0),
        BenchConfig(flows=20_000),
        BenchConfig(inner_size=64),
        BenchConfig(quiet_s=0.0),
        BenchConfig(nice=-21),
        BenchConfig(memory_passes=0),
        BenchConfig(batch=1000),
        BenchConfig(fixed_rate_pps=0),
    ],
)
def test_bad_config_is_refused(bad: BenchConfig) -> None:
    with pytest.raises(BenchError, match="out of range"):
        bad.check()


def test_rotation_gives_every_subject_every_position() -> None:
    subjects = subject_set()
    orders = [[s.name for s in rotated(subjects, rep)] for rep in range(3)]
    assert orders[0] == ["baseline", "gwlbd-w1", "gwlbd-w2"]
    assert orders[1] == ["gwlbd-w1", "gwlbd-w2", "baseline"]
    assert {o[0] for o in orders} == {"baseline", "gwlbd-w1", "gwlbd-w2"}
    assert rotated(subjects, 3) == rotated(subjects, 0)


def test_nice_prefix() -> None:
    assert nice_prefix(0) == []
    assert nice_prefix(-10) == ["nice", "-n", "-10"]


def test_run_refuses_without_root_or_baseline(monkeypatch: pytest.MonkeyPatch) -> None:
    subjects = subject_set()
    with pytest.raises(BenchError, match="must include the baseline"):
        run_benchmark(BenchConfig(), subjects[1:])
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    with pytest.raises(BenchError, match="needs root"):
        run_benchmark(BenchConfig(), subjects)
    with pytest.raises(BenchError, match="repetitions: out of range"):
        run_benchmark(BenchConfig(repetitions=0), subjects)
