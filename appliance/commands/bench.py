"""``gwlbd bench``: the data-plane benchmark against the C reflector baseline.

Prints progress to stderr, the result table to stdout, and with ``--json FILE`` the
whole report (``gwlbd.bench/v1``). Exit status: 0 when every returned packet verified,
1 when some reply failed verification, 2 when the benchmark could not run.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from appliance.bench.errors import BenchError
from appliance.bench.report import render_table
from appliance.bench.runner import BenchConfig, run_benchmark
from appliance.bench.subjects import subject_set
from appliance.errors import ApplianceError

_DEFAULTS = BenchConfig()


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``bench`` subcommand."""
    parser = subparsers.add_parser(
        "bench",
        help="measure the data plane against a C reflector baseline (root)",
        description=(
            "Build two network namespaces, play the GWLB with a C load generator and "
            "measure each subject (the C reflector baseline, gwlbd with 1 and 2 workers, "
            "or the subjects given) in interleaved repetitions: delivered packets/s at "
            "maximum rate, loss at a fixed rate, latency at a lower fixed rate, and CPU "
            "per packet; and gwlbd's memory per flow. Every returned packet is verified."
        ),
    )
    add = parser.add_argument
    add("--repetitions", type=int, default=_DEFAULTS.repetitions, help="repetitions per subject")
    add("--duration", type=float, default=_DEFAULTS.duration_s, help="seconds per phase")
    add("--warmup", type=float, default=_DEFAULTS.warmup_s, help="warm-up seconds per subject")
    add("--drain", type=float, default=_DEFAULTS.drain_s, help="most seconds to wait for replies")
    add("--quiet", type=float, default=_DEFAULTS.quiet_s, help="stop waiting after S silent")
    add("--flows", type=int, default=_DEFAULTS.flows, help="number of flows")
    add("--inner-size", type=int, default=_DEFAULTS.inner_size, help="inner IPv4 packet bytes")
    add("--batch", type=int, default=_DEFAULTS.batch, help="generator batch size")
    add("--fixed-rate", type=float, default=_DEFAULTS.fixed_rate_pps, help="loss phase pps")
    add("--latency-rate", type=float, default=_DEFAULTS.latency_rate_pps, help="latency phase pps")
    add(
        "--memory-flows",
        type=int,
        default=_DEFAULTS.memory_flows,
        help="flows created once per gwlbd subject to measure bytes per flow (0: skip)",
    )
    add("--memory-rate", type=float, default=_DEFAULTS.memory_rate_pps, help="flow fill pps")
    add("--memory-passes", type=int, default=_DEFAULTS.memory_passes, help="most fill passes")
    add(
        "--nice",
        type=int,
        default=_DEFAULTS.nice,
        help="niceness of generator and subjects (e.g. -10 on a shared machine)",
    )
    add("--ready-timeout", type=float, default=_DEFAULTS.ready_timeout_s, help="seconds")
    add(
        "--gwlbd",
        action="append",
        default=[],
        metavar="NAME:WORKERS[:ARGS]",
        help="a gwlbd subject, e.g. 'big:2:--policy /etc/gwlbd/big.yaml' (repeatable; "
        "replaces the default gwlbd-w1 and gwlbd-w2)",
    )
    add(
        "--command",
        action="append",
        default=[],
        metavar="NAME:COMMAND",
        help="any subject answering GENEVE on {listen}:6081, e.g. "
        "'pyrefl:python3 -m appliance.lab.reflector --address {listen}' (repeatable)",
    )
    add("--daemon-args", default="", help="extra arguments for every gwlbd subject")
    add("--baseline-only", action="store_true", help="measure only the C baseline")
    add("--note", action="append", default=[], help="text kept in the report (repeatable)")
    add("--json", type=Path, metavar="FILE", help="write the full report as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Handler of ``gwlbd bench``."""
    config = BenchConfig(
        repetitions=args.repetitions,
        duration_s=args.duration,
        warmup_s=args.warmup,
        drain_s=args.drain,
        quiet_s=args.quiet,
        flows=args.flows,
        inner_size=args.inner_size,
        batch=args.batch,
        fixed_rate_pps=args.fixed_rate,
        latency_rate_pps=args.latency_rate,
        ready_timeout_s=args.ready_timeout,
        memory_flows=args.memory_flows,
        memory_rate_pps=args.memory_rate,
        memory_passes=args.memory_passes,
        nice=args.nice,
    )
    try:
        subjects = subject_set(
            args.gwlbd,
            args.command,
            shlex.split(args.daemon_args),
            default_daemons=not args.baseline_only,
        )
        report = run_benchmark(
            config, subjects, progress=lambda line: print(line, file=sys.stderr), notes=args.note
        )
    except (ApplianceError, ValueError) as exc:
        message = str(exc) if isinstance(exc, BenchError) else f"{type(exc).__name__}: {exc}"
        print(f"gwlbd bench: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gwlbd bench: interrupted; namespaces removed", file=sys.stderr)
        return 130
    print(render_table(report), end="")
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"report written to {args.json}", file=sys.stderr)
    return 0 if report["all_verified"] else 1
