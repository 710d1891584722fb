"""Run the benchmark: two namespaces, each subject in turn, three phases, repeated.

Topology: the generator namespace (198.18.0.1/30) and the subject namespace
(198.18.0.2/30) joined by one veth pair. For every repetition, every subject (the
order rotating each repetition, so slow drifts of a shared machine hit all alike) is
started in the subject namespace, waited for (gwlbd: ``/healthz`` answers 200; every
subject: a GENEVE probe comes back verified), warmed up, and measured in three
phases with the generator: ``max``, ``fixed`` and ``latency``. The subject's process
tree CPU time is sampled around each phase. Everything created is removed at the end,
also after an error or Ctrl-C (``appliance.lab.netns.Topology``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pyroute2 import netns

from appliance.bench import cpu, machine, memory
from appliance.bench.build import build
from appliance.bench.errors import BenchError, SubjectError
from appliance.bench.flow_fill import MemorySample, flows_active
from appliance.bench.generator import GENERATOR_ADDR, SUBJECT_ADDR, Generator, nice_prefix
from appliance.bench.report import PhaseSample, build_report
from appliance.bench.results import GeneratorResult
from appliance.bench.subjects import BASELINE, Endpoints, Subject
from appliance.lab.netns import Topology

LINK_PREFIX = 30
HEALTH_PORT = 9080
"""gwlbd's health port inside the subject namespace (the namespace is private)."""
NAMESPACE_PREFIX = "gwlbd-bench"
STOP_TIMEOUT_S = 10.0
"""How long a subject (and everything it started) may take to exit once told twice."""

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class BenchConfig:
    """How to run the benchmark (defaults: the figures issue #2 asks for)."""

    repetitions: int = 5
    duration_s: float = 5.0
    """Length of each measured phase."""
    warmup_s: float = 1.0
    """Paced traffic before the phases, so every flow exists in the subject."""
    drain_s: float = 3.0
    """Longest the generator waits for late replies after sending."""
    quiet_s: float = 0.25
    """The generator stops waiting once no reply came for this long (the subject's
    backlog is flushed, so it cannot leak into the next phase)."""
    flows: int = 64
    inner_size: int = 100
    """Inner IPv4 packet size in bytes (outer datagram: +68)."""
    batch: int = 64
    """Generator's sendmmsg/recvmmsg batch."""
    fixed_rate_pps: float = 50_000
    """Offered rate of the loss phase."""
    latency_rate_pps: float = 10_000
    """Offered rate of the latency phase."""
    ready_timeout_s: float = 30.0
    memory_flows: int = 1_000_000
    """Flows created to measure gwlbd's memory per flow (0: skip); once per gwlbd subject."""
    memory_rate_pps: float = 25_000
    """Offered rate of the flow fill (one packet per flow per pass)."""
    memory_passes: int = 3
    """Most fill passes: another pass runs while fewer than 99% of the flows exist."""
    nice: int = 0
    """Scheduling niceness of the generator and the subjects (negative: ahead of other
    work on a shared machine; the same for every subject, so comparisons stay fair)."""

    def check(self) -> None:
        """Raise :class:`BenchError` naming the first unusable setting."""
        checks = (
            ("repetitions", 1 <= self.repetitions <= 1000),
            ("duration", 0.1 <= self.duration_s <= 3600),
            ("warmup", 0 <= self.warmup_s <= 600),
            ("drain", 0 <= self.drain_s <= 60),
            ("quiet", 0.01 <= self.quiet_s <= 60),
            ("flows", 1 <= self.flows <= 16384),
            ("inner_size", 68 <= self.inner_size <= 1400),
            ("batch", 1 <= self.batch <= 256),
            ("fixed_rate", 1 <= self.fixed_rate_pps <= 100_000_000),
            ("latency_rate", 1 <= self.latency_rate_pps <= 100_000_000),
            ("ready_timeout", 1 <= self.ready_timeout_s <= 600),
            ("memory_flows", 0 <= self.memory_flows <= 16_000_000),
            ("memory_rate", 1 <= self.memory_rate_pps <= 100_000_000),
            ("memory_passes", 1 <= self.memory_passes <= 10),
            ("nice", -20 <= self.nice <= 19),
        )
        for name, ok in checks:
            if not ok:
                raise BenchError(f"{name}: out of range")

    def phase_rate(self, phase: str) -> float:
        """Offered rate of ``phase`` (0: as fast as possible)."""
        return {"max": 0.0, "fixed": self.fixed_rate_pps, "latency": self.latency_rate_pps}.get(
            phase, self.latency_rate_pps
        )


def _log_tail(path: Path, limit: int = 2000) -> str:
    try:
        return path.read_bytes()[-limit:].decode(errors="replace").strip()
    except OSError:
        return ""


class _Run:
    """State of one benchmark run inside its topology."""

    def __init__(
        self,
        topo: Topology,
        *,
        config: BenchConfig,
        generator: Generator,
        reflector: Path,
        workdir: Path,
        progress: Progress,
    ) -> None:
        self.topo = topo
        self.config = config
        self.generator = generator
        self.reflector = reflector
        self.workdir = workdir
        self.progress = progress
        self.subject_ns = topo.namespaces["subject"]
        self.generator_ns = topo.namespaces["gen"]
        self.memory: list[MemorySample] = []

    def _ready(self, subject: Subject, proc: subprocess.Popen[bytes], log: Path) -> None:
        timeout = self.config.ready_timeout_s
        if subject.kind == "gwlbd":
            url = f"http://{SUBJECT_ADDR}:{HEALTH_PORT}/healthz"
            probe = [sys.executable, "-m", "appliance.bench.probe", "wait", url, str(timeout)]
            done = self.generator_ns.run(probe, check=False, timeout=timeout + 10)
            if done.returncode != 0:
                raise SubjectError(
                    f"{subject.name}: {url} never answered 200 ({done.stderr.strip()}); "
                    f"its output:\n{_log_tail(log)}"
                )
        if not self.generator.probe(timeout):
            state = "exited" if proc.poll() is not None else "is running but"
            raise SubjectError(
                f"{subject.name} {state} returned no verified GENEVE reply within {timeout} s; "
                f"its output:\n{_log_tail(log)}"
            )

    def measure(self, subject: Subject, repetition: int) -> list[PhaseSample]:
        """Start ``subject``, run warm-up and the three phases, stop it."""
        tag = f"{subject.name}-{repetition}"
        endpoints = Endpoints(
            listen=SUBJECT_ADDR,
            gwlb_cidr=f"{GENERATOR_ADDR}/32",
            health_port=HEALTH_PORT,
            admin_socket=str(self.workdir / f"admin-{tag}.sock"),
        )
        log = self.workdir / f"{tag}.log"
        with log.open("wb") as out:
            proc = self.topo.start(
                self.subject_ns,
                [*nice_prefix(self.config.nice), *subject.argv(endpoints, str(self.reflector))],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        samples: list[PhaseSample] = []
        try:
            self._ready(subject, proc, log)
            phases = [("warmup", self.config.warmup_s)] if self.config.warmup_s > 0 else []
            phases += [(p, self.config.duration_s) for p in ("max", "fixed", "latency")]
            for phase, duration in phases:
                before = cpu.snapshot(proc.pid)
                result = self.generator.run(self.config.phase_rate(phase), duration)
                after = cpu.snapshot(proc.pid)
                if proc.poll() is not None:
                    raise SubjectError(
                        f"{subject.name} exited ({proc.returncode}) during {phase}; "
                        f"its output:\n{_log_tail(log)}"
                    )
                cpu_s = cpu.ticks_between(before, after) / cpu.ticks_per_second()
                samples.append(PhaseSample(subject.name, repetition, phase, result, cpu_s))
                self.progress(
                    f"  {subject.name} rep {repetition + 1} {phase}: "
                    f"delivered {result.delivered_pps:,.0f} pps of {result.offered_pps:,.0f}, "
                    f"lost {result.lost}, bad {result.bad_total}, "
                    f"p99 {result.latency.p99_us:.0f} us"
                )
            if subject.kind == "gwlbd" and self.config.memory_flows and repetition == 0:
                self.memory.append(self._flow_memory(subject, proc, log, repetition))
        finally:
            self._stop(proc)
        return samples

    def _flows_active(self, subject: Subject, log: Path) -> int:
        url = f"http://{SUBJECT_ADDR}:{HEALTH_PORT}/status"
        done = self.generator_ns.run(
            [sys.executable, "-m", "appliance.bench.probe", "get", url], check=False, timeout=30
        )
        try:
            if done.returncode != 0:
                raise ValueError(done.stderr.strip())
            return flows_active(json.loads(done.stdout))
        except ValueError as exc:
            raise SubjectError(
                f"{subject.name}: cannot read flows_active from {url}: {exc}; "
                f"its output:\n{_log_tail(log)}"
            ) from exc

    def _flow_memory(
        self, subject: Subject, proc: subprocess.Popen[bytes], log: Path, repetition: int
    ) -> MemorySample:
        """Fill the subject with ``memory_flows`` new flows; measure its RSS growth."""
        c = self.config
        flows_before = self._flows_active(subject, log)
        rss_before = memory.tree_rss_bytes(proc.pid)
        results: list[GeneratorResult] = []
        flows_after = flows_before
        while len(results) < c.memory_passes and flows_after - flows_before < 0.99 * c.memory_flows:
            results.append(
                self.generator.run(
                    c.memory_rate_pps, c.memory_flows / c.memory_rate_pps, flows=c.memory_flows
                )
            )
            flows_after = self._settled_flows(subject, log)
        rss_after = memory.tree_rss_bytes(proc.pid)
        if proc.poll() is not None:
            raise SubjectError(
                f"{subject.name} exited ({proc.returncode}) while holding flows; "
                f"its output:\n{_log_tail(log)}"
            )
        sample = MemorySample(
            subject.name,
            repetition,
            flows_before,
            flows_after,
            rss_before,
            rss_after,
            tuple(results),
        )
        per_flow = sample.bytes_per_flow
        self.progress(
            f"  {subject.name} flow memory: {sample.flows_added:,} flows added, RSS "
            f"+{(rss_after - rss_before) / 2**20:,.1f} MiB"
            + (f" = {per_flow:,.0f} bytes/flow" if per_flow is not None else "")
            + f" after {len(results)} pass(es); bad {sum(r.bad_total for r in results)}"
        )
        return sample

    def _settled_flows(self, subject: Subject, log: Path) -> int:
        """``flows_active`` once two readings a second apart agree (workers report
        to the supervisor periodically), or after 20 s."""
        flows, deadline = -1, time.monotonic() + 20
        while time.monotonic() < deadline:
            now = self._flows_active(subject, log)
            if now == flows:
                break
            flows = now
            time.sleep(1.0)
        return flows

    def _stop(self, proc: subprocess.Popen[bytes]) -> None:
        """Stop a subject and wait until nothing runs in the subject namespace.

        gwlbd drains on its first SIGTERM and skips the rest of its grace on the
        second, so it is told twice. The next subject binds the same UDP port, so the
        namespace must be empty (workers included) before it starts.
        """
        for _ in range(2):
            if proc.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.2)
        self.topo.stop(proc, grace=STOP_TIMEOUT_S)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while pids := netns.ns_pids().get(self.subject_ns.name, []):
            if time.monotonic() > deadline:
                raise SubjectError(
                    f"processes {pids} still run in {self.subject_ns.name} after their subject"
                )
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)


def rotated(subjects: Sequence[Subject], repetition: int) -> list[Subject]:
    """Subjects in the order of ``repetition``: rotated by one each time."""
    k = repetition % len(subjects)
    return [*subjects[k:], *subjects[:k]]


def run_benchmark(
    config: BenchConfig,
    subjects: Sequence[Subject],
    *,
    progress: Progress = lambda _message: None,
    notes: Sequence[str] = (),
) -> dict[str, Any]:
    """Run the whole benchmark and return its report (``gwlbd.bench/v1``).

    Args:
        config: durations, rates, sizes.
        subjects: what to measure; must include the baseline.
        progress: called with one line per step (the CLI prints them to stderr).
        notes: free text kept in the report (e.g. "machine shared with other jobs").

    Raises:
        BenchError: not root, a build failed, a subject never became ready or died,
            or the generator failed.
    """
    config.check()
    if not any(s.name == BASELINE for s in subjects):
        raise BenchError("the subjects must include the baseline")
    if os.geteuid() != 0:
        raise BenchError("gwlbd bench needs root: it builds network namespaces")
    generator_bin = build("gwlbgen")
    reflector_bin = build("reflector")
    machine_before = machine.describe()
    started = time.time()
    samples: list[PhaseSample] = []
    with (
        tempfile.TemporaryDirectory(prefix="gwlbd-bench-") as workdir,
        Topology(NAMESPACE_PREFIX) as topo,
    ):
        gen_ns = topo.namespace("gen")
        subject_ns = topo.namespace("subject")
        topo.link(
            gen_ns, subject_ns, f"{GENERATOR_ADDR}/{LINK_PREFIX}", f"{SUBJECT_ADDR}/{LINK_PREFIX}"
        )
        run = _Run(
            topo,
            config=config,
            generator=Generator(generator_bin, gen_ns, config),
            reflector=reflector_bin,
            workdir=Path(workdir),
            progress=progress,
        )
        for repetition in range(config.repetitions):
            for subject in rotated(subjects, repetition):
                progress(f"repetition {repetition + 1}/{config.repetitions}: {subject.name}")
                samples.extend(run.measure(subject, repetition))
    finished = time.time()
    machine_doc = {**machine_before, "load_average_end": machine.load_average()}
    return build_report(
        samples=samples,
        subjects=[s.describe() for s in subjects],
        baseline=BASELINE,
        config={**asdict(config), "generator_addr": GENERATOR_ADDR, "subject_addr": SUBJECT_ADDR},
        machine=machine_doc,
        started_at=started,
        finished_at=finished,
        notes=notes,
        memory=run.memory,
    )
