"""Benchmark: UI-thread cost of one refresh, and key latency while a refresh runs.

``python -m tui.bench`` runs gwlbtop headless (Textual's pilot, a 200x50 terminal) on:

- ``flows``: the flows view with 10,000 flows, read over HTTP from appliance.control's
  server (JSON decoding included) or from the in-memory fake (``--in-memory``);
- ``fleet``: the fleet view with 50 instances (in-memory fake).

For each refresh it records the CPU time of the UI (event loop) thread from the start of
the refresh until the table is updated and the screen repainted (``time.thread_time``
on that thread: the fetch, JSON decoding and row building run in a worker thread), the
wall time of the whole refresh, and the time the worker spent. Then it presses a key at
a random moment during refreshes and records how long until the key's effect (cursor
moved) is visible. Every refresh changes every row (counters, ages) and re-sorts: the
worst case. Prints medians and 90th percentiles.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textual import events
from textual.pilot import Pilot

from appliance.control.fake import FakeStatusProvider, sample_flow
from appliance.control.http import ControlServer, ControlSettings
from tui.app import GwlbtopApp, create_app
from tui.appliance_source import ApplianceSource
from tui.fake import FakeSource
from tui.model import FetchRequest, Snapshot
from tui.screens.view import ViewScreen
from tui.source import DataSource
from tui.table import ViewTable


@dataclass
class Samples:
    """Measurements of one scenario, in milliseconds."""

    ui_cpu: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    worker: list[float] = field(default_factory=list)
    build: list[float] = field(default_factory=list)
    key: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, dict[str, float]]:
        """Median and 90th percentile of each series."""
        out = {}
        for name in ("ui_cpu", "wall", "worker", "build", "key"):
            values: list[float] = getattr(self, name)
            if values:
                p90 = (
                    statistics.quantiles(values, n=10, method="inclusive")[-1]
                    if len(values) > 1
                    else values[0]
                )
                out[name] = {
                    "median": round(statistics.median(values), 1),
                    "p90": round(p90, 1),
                    "n": len(values),
                }
        return out


class TimedSource:
    """Wraps a source and records the worker-thread time of each fetch."""

    def __init__(self, inner: DataSource, samples: Samples) -> None:
        self.inner = inner
        self.samples = samples

    @property
    def label(self) -> str:
        """The wrapped source's label."""
        return self.inner.label

    def fetch(self, request: FetchRequest) -> Snapshot:
        """Fetch and time it."""
        started = time.thread_time()
        snapshot = self.inner.fetch(request)
        self.samples.worker.append((time.thread_time() - started) * 1000)
        return snapshot

    def perform(self, action: Any) -> str:
        """Never used by the benchmark."""
        return self.inner.perform(action)

    def close(self) -> None:
        """Close the wrapped source."""
        self.inner.close()


async def _settle(pilot: Pilot[None]) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def _refresh_once(app: GwlbtopApp, pilot: Pilot[None], samples: Samples) -> None:
    await _settle(pilot)
    cpu, wall = time.thread_time(), time.perf_counter()
    app.refresh_now()
    await _settle(pilot)
    samples.ui_cpu.append((time.thread_time() - cpu) * 1000)
    samples.wall.append((time.perf_counter() - wall) * 1000)


async def _key_during_refresh(app: GwlbtopApp, pilot: Pilot[None], samples: Samples) -> None:
    await _settle(pilot)
    screen = app.screen
    assert isinstance(screen, ViewScreen)
    table = screen.table
    if table.cursor_row >= table.row_count - 2:
        table.move_cursor(row=0)
    expected_wall = statistics.median(samples.wall) if samples.wall else 50.0
    app.refresh_now()
    await asyncio.sleep(random.uniform(0, expected_wall / 2000))  # noqa: S311 - jitter
    before = table.cursor_row
    in_flight = app.refreshing
    started = time.perf_counter()
    app.post_message(events.Key("j", "j"))
    while table.cursor_row == before:
        await asyncio.sleep(0)
    if in_flight:
        samples.key.append((time.perf_counter() - started) * 1000)
    await _settle(pilot)


async def run_scenario(
    source: DataSource, view: str, rounds: int, warmup: int = 3
) -> dict[str, Any]:
    """Measure ``rounds`` refreshes and ``rounds`` key presses on ``view``."""
    samples = Samples()
    timed = TimedSource(source, samples)
    app = create_app(timed, view=view, autorefresh=False, interval=1.0)
    build = app._build

    def timed_build(name: str, snapshot: Snapshot) -> ViewTable:
        started = time.thread_time()
        table = build(name, snapshot)
        samples.build.append((time.thread_time() - started) * 1000)
        return table

    app._build = timed_build  # type: ignore[method-assign,assignment]
    async with app.run_test(size=(200, 50)) as pilot:
        for _ in range(warmup):
            await _refresh_once(app, pilot, Samples())
        samples.worker.clear()
        samples.build.clear()
        for _ in range(rounds):
            await _refresh_once(app, pilot, samples)
        screen = app.screen
        assert isinstance(screen, ViewScreen)
        rows = screen.table.row_count
        for _ in range(rounds):
            await _key_during_refresh(app, pilot, samples)
    source.close()
    return {"view": view, "rows": rows, "source": source.label, **samples.summary()}


@contextmanager
def http_appliance(flows: int) -> Iterator[str]:
    """A real control-plane HTTP server serving ``flows`` flows from its in-memory provider."""
    clock: Callable[[], float] = time.time
    provider = FakeStatusProvider(clock=clock)
    base = time.time()
    provider.flow_records = [
        sample_flow(
            i,
            src=f"198.18.{i // 250 % 256}.{i % 250 + 1}",
            packets=10 + i,
            octets=1500 + 7 * i,
            last_seen=base,
        )
        for i in range(flows)
    ]
    original = provider.flows

    def moving(query: Any) -> dict[str, Any]:
        # every refresh changes every flow's counters, like a busy appliance
        step = int(time.time() * 10)
        for n, f in enumerate(provider.flow_records):
            f["packets"] = 10 + n + step * (n % 5 + 1)
            f["bytes"] = f["packets"] * 100
            f["last_seen"] = time.time()
        return original(query)

    provider.flows = moving  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory(prefix="gwlbtop-bench-") as tmp:
        settings = ControlSettings(
            health_host="127.0.0.1", health_port=0, admin_socket=str(Path(tmp) / "a.sock")
        )
        with ControlServer(provider, settings) as server:
            address = server.health_address
            assert address is not None
            yield f"http://{address[0]}:{address[1]}"


def main(argv: list[str] | None = None) -> int:
    """``python -m tui.bench``: print the figures (``--json`` for a document)."""
    p = argparse.ArgumentParser(prog="python -m tui.bench", description=__doc__.splitlines()[0])
    p.add_argument("--flows", type=int, default=10_000)
    p.add_argument("--instances", type=int, default=50)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--in-memory", action="store_true", help="flows from the fake, not HTTP")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    random.seed(6)
    results = []
    if args.in_memory:
        source: DataSource = FakeSource.single(flows=args.flows)
        results.append(asyncio.run(run_scenario(source, "flows", args.rounds)))
    else:
        with http_appliance(args.flows) as url:
            results.append(
                asyncio.run(run_scenario(ApplianceSource(url, timeout=10.0), "flows", args.rounds))
            )
    fleet = FakeSource.fleet_of(args.instances, flows=100)
    results.append(asyncio.run(run_scenario(fleet, "fleet", args.rounds)))
    if args.json:
        sys.stdout.write(json.dumps(results, indent=2) + "\n")
        return 0
    sys.stdout.write(
        f"{'view':<7}{'rows':>7}  {'UI-thread ms/refresh':>22}  {'refresh wall ms':>20}"
        f"  {'fetch ms (worker)':>18}  {'build ms (worker)':>18}  {'key latency ms':>22}\n"
    )
    for r in results:

        def cell(name: str, r: dict[str, Any] = r) -> str:
            s = r.get(name, {})
            if not s:
                return "no sample"
            n = f", n={s['n']}" if name == "key" else ""
            return f"{s['median']} (p90 {s['p90']}{n})"

        sys.stdout.write(
            f"{r['view']:<7}{r['rows']:>7}  {cell('ui_cpu'):>22}  {cell('wall'):>20}"
            f"  {cell('worker'):>18}  {cell('build'):>18}  {cell('key'):>22}\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
