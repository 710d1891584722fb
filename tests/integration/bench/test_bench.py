"""The benchmark end to end in real network namespaces (needs root; no timing assertions)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pyroute2 import netns

from appliance.bench.build import build
from appliance.bench.generator import GENERATOR_ADDR, SUBJECT_ADDR
from appliance.bench.results import parse_generator_output
from appliance.bench.runner import NAMESPACE_PREFIX, BenchConfig, run_benchmark
from appliance.bench.subjects import subject_set
from appliance.commands import bench
from appliance.lab.netns import Namespace, Topology

pytestmark = pytest.mark.netns


def _bench_namespaces() -> set[str]:
    return {name for name in netns.listnetns() if name.startswith(f"{NAMESPACE_PREFIX}-")}


def test_short_bench_against_the_baseline_and_a_command_subject(tmp_path: Path) -> None:
    # GIVEN the bench command, one short repetition, the C baseline and a Python reflector
    parser = argparse.ArgumentParser(prog="gwlbd")
    bench.register(parser.add_subparsers())
    out = tmp_path / "bench.json"
    before = _bench_namespaces()
    args = parser.parse_args(
        [
            "bench",
            "--repetitions", "1",
            "--duration", "1",
            "--warmup", "0.2",
            "--baseline-only",
            "--command", f"pyrefl:{sys.executable} -m appliance.lab.reflector --address {{listen}}",
            "--note", "integration test",
            "--json", str(out),
        ]
    )  # fmt: skip
    # WHEN it runs
    code = args.handler(args)
    # THEN every returned packet verified and the report has every field
    assert code == 0
    report = json.loads(out.read_text())
    assert report["schema"] == "gwlbd.bench/v1"
    assert report["all_verified"] is True
    assert [s["name"] for s in report["subjects"]] == ["baseline", "pyrefl"]
    assert {"nproc", "cpu_model", "kernel", "python"} <= set(report["machine"])
    assert report["notes"] == ["integration test"]
    phases = {(s["subject"], s["phase"]) for s in report["samples"]}
    for subject in ("baseline", "pyrefl"):
        for phase in ("warmup", "max", "fixed", "latency"):
            assert (subject, phase) in phases
    for s in report["samples"]:
        gen = s["generator"]
        assert gen["sent"] > 0
        assert gen["verified"] > 0
        assert gen["bad"] == dict.fromkeys(gen["bad"], 0)
        # every reply verified (an intact reply to an earlier phase counts as stale)
        assert gen["received"] == gen["verified"] + gen["stale"]
        assert s["subject_cpu_s"] >= 0
    summary = report["summary"]
    for metric in ("max_delivered_pps", "fixed_loss_pct", "latency_p50_us", "latency_p99_us"):
        assert metric in summary["baseline"]
        assert metric in summary["pyrefl"]
    assert "max_delivered_pps" in report["ratios"]["pyrefl"]
    assert report["generator"]["verdict"]
    # AND nothing is left behind
    assert _bench_namespaces() == before


def _wait_bound(ns: Namespace, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the reflector exited"
        if ns.run(["ss", "-Hlun", "sport = :6081"]).stdout.strip():
            return
        time.sleep(0.05)
    pytest.fail("the reflector never bound UDP 6081")


@pytest.mark.parametrize(
    ("fault", "kind"), [("change-cookie", "geneve"), ("change-payload", "payload")]
)
def test_generator_catches_a_subject_that_breaks_the_protocol(fault: str, kind: str) -> None:
    # GIVEN a reflector that corrupts every reply in one way
    generator = build("gwlbgen")
    with Topology(NAMESPACE_PREFIX) as topo:
        gen_ns, subject_ns = topo.namespace("gen"), topo.namespace("subject")
        topo.link(gen_ns, subject_ns, f"{GENERATOR_ADDR}/30", f"{SUBJECT_ADDR}/30")
        argv = [sys.executable, "-m", "appliance.lab.reflector", "--address", SUBJECT_ADDR]
        proc = topo.start(subject_ns, [*argv, "--fault", fault])
        _wait_bound(subject_ns, proc)
        # WHEN the generator sends paced traffic on 8 flows
        gen_argv = [str(generator), "--src", GENERATOR_ADDR, "--dst", SUBJECT_ADDR]
        gen_argv += ["--flows", "8", "--rate", "500", "--duration", "0.5", "--drain", "1"]
        done = gen_ns.run(gen_argv)
    result = parse_generator_output(done.stdout)
    # THEN replies came back and none of them verified: each is counted under its fault
    assert result.sent > 0
    assert result.received > 0
    assert result.verified == 0
    assert result.bad[kind] == result.received
    assert result.lost == result.sent


def test_many_flows_share_outer_ports_and_still_verify() -> None:
    # GIVEN more flows than free outer source ports (and than the generator prebuilds)
    generator, reflector = build("gwlbgen"), build("reflector")
    with Topology(NAMESPACE_PREFIX) as topo:
        gen_ns, subject_ns = topo.namespace("gen"), topo.namespace("subject")
        topo.link(gen_ns, subject_ns, f"{GENERATOR_ADDR}/30", f"{SUBJECT_ADDR}/30")
        topo.start(subject_ns, [str(reflector), "--listen", SUBJECT_ADDR])
        gen_argv = [str(generator), "--src", GENERATOR_ADDR, "--dst", SUBJECT_ADDR]
        assert gen_ns.run([*gen_argv, "--probe", "10"], check=False).returncode == 0
        # WHEN 70,000 flows are sent, one packet each
        done = gen_ns.run([*gen_argv, "--flows", "70000", "--rate", "20000", "--duration", "3.5"])
    result = parse_generator_output(done.stdout)
    # THEN every reply was matched to its flow through the payload and verified
    assert result.flows == 70000
    assert result.sent > 0
    assert result.received > 0
    assert result.bad_total == 0
    assert result.verified == result.received


def test_short_bench_against_gwlbd() -> None:
    # GIVEN the daemon (skipped while `gwlbd run` does not exist yet)
    pytest.importorskip("appliance.daemon")
    config = BenchConfig(
        repetitions=1,
        duration_s=0.5,
        warmup_s=0.2,
        memory_flows=3000,
        memory_rate_pps=3000,
    )
    # WHEN the baseline and gwlbd with one worker are measured
    report = run_benchmark(config, subject_set(["gwlbd-w1:1"]))
    # THEN gwlbd returned every packet intact, and its flow memory was measured
    assert report["all_verified"] is True
    assert {s["subject"] for s in report["samples"]} == {"baseline", "gwlbd-w1"}
    for s in report["samples"]:
        assert s["generator"]["verified"] > 0
        gen = s["generator"]
        assert gen["received"] == gen["verified"] + gen["stale"]
    assert "max_delivered_pps" in report["ratios"]["gwlbd-w1"]
    assert report["summary"]["gwlbd-w1"]["max_cpu_us_per_packet"]["median"] > 0
    memory = report["memory"]["gwlbd-w1"]
    assert memory["flows_added"] > 0
    assert memory["bytes_per_flow"] is not None
