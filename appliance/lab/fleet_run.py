"""``gwlbd lab --scenario NAME``: run scripted fleet scenarios and report every check.

One fleet lab is built for the run (:class:`appliance.lab.fleet.FleetLab`); the
scenarios named run one after another on it, each starting from a serving fleet of
three. Per scenario the output lists what was checked and the result; the exit status
is non-zero if any check failed. Everything is removed at the end, also on Ctrl-C.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from typing import TextIO

from appliance.lab import scenarios
from appliance.lab.fleet import FleetConfig, FleetLab
from appliance.lab.netns import remove_stale_namespaces
from appliance.lab.report import Check, failed, render_summary
from appliance.lab.run import _Interrupts, preflight
from appliance.lab.scenario_context import Context

Scenario = Callable[[Context], list[Check]]
SCENARIOS: dict[str, Scenario] = scenarios.ALL
"""Every scenario, in the order ``all`` runs them."""


def fleet_preflight() -> str | None:
    """Why the fleet lab cannot run here, or None if it can."""
    problem = preflight()
    if problem is not None:
        return problem
    for module, what in (("moto", "moto[server]"), ("aws_lambda_powertools", "the lambda extra")):
        if importlib.util.find_spec(module) is None:
            return f"gwlbd lab --scenario needs {what}: pip install -e '.[dev]'"
    return None


def run_scenarios(names: list[str], config: FleetConfig, out: TextIO) -> int:
    """Run the named scenarios on one fleet lab; returns the exit status."""
    problem = fleet_preflight()
    if problem is not None:
        print(problem, file=out)
        return 1
    try:
        with _Interrupts():
            return _run(names, config, out)
    except KeyboardInterrupt:
        print("gwlbd lab: interrupted; everything it created was removed", file=out)
        return 130


def _run(names: list[str], config: FleetConfig, out: TextIO) -> int:
    for name in remove_stale_namespaces(config.prefix):
        print(f"removed namespace {name} left by an earlier run", file=out)
    results: list[tuple[str, list[Check]]] = []
    with FleetLab(config) as lab:
        started = time.monotonic()
        print("building the fleet lab (moto, GWLB simulator, lifecycle service)", file=out)
        out.flush()
        lab.build()
        lab.start()
        ready, detail = lab.wait_cloud()
        if ready:
            lab.start_instances()
            print(f"fleet starting: {len(lab.instances)} instances launched", file=out)
            print(f"gwlbtop on this fleet: {lab.gwlbtop_command()}", file=out, flush=True)
        else:
            results.append(("setup", [Check("the lab's AWS started", False, detail)]))
        context = Context(lab)
        for name in names if ready else []:
            scenario_started = time.monotonic()
            print(f"\n== scenario {name}: {SCENARIOS[name].__doc__}", file=out, flush=True)
            checks = context.ensure_fleet()
            if not checks:
                try:
                    checks = SCENARIOS[name](context)
                except (RuntimeError, OSError) as exc:
                    checks = [Check("scenario ran", False, f"{type(exc).__name__}: {exc}")]
            dead = lab.dead_process()
            if dead is not None:
                checks.append(Check("lab processes alive", False, f"{dead} exited"))
            results.append((name, checks))
            print(render_summary(checks).replace("lab ", f"{name} ", 1), file=out)
            print(f"({time.monotonic() - scenario_started:.0f} s)", file=out, flush=True)
        lab.stop_apps()
        all_checks = [c for _, checks in results for c in checks]
        if failed(all_checks):
            for name in ("cloud", "gwlb-sim"):
                tail = lab.log_tail(name, 10)
                if tail:
                    print(f"--- last lines of {name}'s output ---\n{tail}", file=out)
    print("\n== summary", file=out)
    for name, checks in results:
        n_failed = sum(c.passed is False for c in checks)
        word = "FAILED" if n_failed else "passed"
        print(f"{word:6}  {name}: {len(checks)} checks, {n_failed} failed", file=out)
    print(f"({time.monotonic() - started:.0f} s in all)", file=out, flush=True)
    return 1 if failed([c for _, checks in results for c in checks]) else 0


def fleet_lines(lab: FleetLab, elapsed: float) -> list[str]:
    """The live view of a running fleet lab."""
    sim, apps = lab.sim(), lab.apps()
    lines = [f"gwlbd fleet lab  {elapsed:6.1f} s  (Ctrl-C ends the run)"]
    for target in sim.get("targets", []):
        lines.append(
            f"  {target['address']:<14} zone {target.get('zone', '-')}  "
            f"{target.get('state', '?'):<9} flows {target.get('flows', 0):>5}  "
            f"sent {target.get('sent', 0):>7}  back {target.get('verified', 0):>7}"
        )
    checks = apps.get("checks", {})
    parts = [
        f"{k} {v.get('ok', v.get('blocked', 0))}/{v.get('fail', v.get('leaked', 0))}"
        for k, v in sorted(checks.items())
    ]
    lines.append("  traffic ok/failed (blocked/leaked): " + "  ".join(parts))
    broken = sum(bool(c.get("broken")) for c in apps.get("long", []))
    lines.append(f"  long-lived connections: {len(apps.get('long', []))}, broken {broken}")
    return lines


def run_fleet_live(config: FleetConfig, out: TextIO) -> int:
    """Bring up the fleet, drive traffic and show it until Ctrl-C (for gwlbtop)."""
    from appliance.lab.run import _Live  # noqa: PLC0415

    problem = fleet_preflight()
    if problem is not None:
        print(problem, file=out)
        return 1
    try:
        with _Interrupts(), FleetLab(config) as lab:
            print("building the fleet lab (moto, GWLB simulator, lifecycle service)", file=out)
            lab.build()
            lab.start()
            ready, detail = lab.wait_cloud()
            if not ready:
                print(f"gwlbd lab: {detail}\n{lab.log_tail('cloud')}", file=out)
                return 1
            lab.start_instances()
            context = Context(lab)
            problems = context.ensure_fleet()
            if problems:
                print(render_summary(problems), file=out)
                return 1
            print(f"open gwlbtop on this fleet:\n  {lab.gwlbtop_command()}", file=out, flush=True)
            live, started = _Live(out), time.monotonic()
            while lab.dead_process() is None:
                live.show(fleet_lines(lab, time.monotonic() - started))
                time.sleep(1.0)
            print(f"{lab.dead_process()} exited", file=out)
            return 1
    except KeyboardInterrupt:
        print("gwlbd lab: stopped; everything it created was removed", file=out)
        return 0
