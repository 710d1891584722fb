"""``gwlbd lab``: a GWLB, a client, a server and an appliance on one machine.

The run: build the layout (:mod:`appliance.lab.layout`), start simulator, echo server
and appliance(s), wait until the simulator's health checks see every appliance healthy,
drive traffic while showing live counters, then check everything
(:mod:`appliance.lab.report`) and remove what was built, also on Ctrl-C, SIGTERM and
SIGHUP.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import time
from types import FrameType
from typing import Any, TextIO

from appliance.lab import report
from appliance.lab.layout import Lab, LabConfig
from appliance.lab.netns import remove_stale_namespaces
from appliance.lab.statusfile import read_status


def preflight() -> str | None:
    """Why the lab cannot run here, or None if it can."""
    if os.geteuid() != 0:
        return "gwlbd lab needs root to create network namespaces (try: sudo gwlbd lab)"
    for tool in ("ip", "ping"):
        if shutil.which(tool) is None:
            return f"gwlbd lab needs the '{tool}' command (install iproute2 and iputils-ping)"
    if not os.path.exists("/dev/net/tun"):
        return "gwlbd lab needs /dev/net/tun (load the tun kernel module)"
    return None


def daemon_available() -> bool:
    """True when this build has ``gwlbd run``."""
    try:
        return importlib.util.find_spec("appliance.commands.run") is not None
    except ImportError:
        return False


class _Interrupts:
    """SIGINT, SIGTERM and SIGHUP become KeyboardInterrupt in this process only.

    SIGHUP matters when the terminal goes away: the lab must still clean up.

    pyroute2 forks short-lived children (to open netlink sockets inside a namespace)
    and may SIGTERM them; such a child must exit on the spot instead of unwinding into
    the lab's cleanup code, which would tear the lab down from the wrong process.
    """

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.previous: dict[int, Any] = {}

    def handler(self, signum: int, frame: FrameType | None) -> None:
        if os.getpid() != self.pid:
            os._exit(128 + signum)
        raise KeyboardInterrupt

    def __enter__(self) -> _Interrupts:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            self.previous[sig] = signal.signal(sig, self.handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


class _Live:
    """Redraws the live counter block (in place on a terminal)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self.shown = 0

    def show(self, lines: list[str]) -> None:
        try:
            if self.tty and self.shown:
                self.out.write(f"\x1b[{self.shown}F\x1b[J")
            self.out.write("\n".join(lines) + "\n")
            self.out.flush()
        except OSError:  # the terminal went away; the run goes on and cleans up
            self.tty = False
            return
        # rows actually used, counting lines the terminal wrapped
        width = max(1, shutil.get_terminal_size().columns)
        self.shown = sum(max(1, -(-len(line) // width)) for line in lines)


def run_lab(config: LabConfig, out: TextIO) -> int:
    """Run the lab; returns the process exit status (0 when every check passed)."""
    problem = preflight()
    if problem is None and config.appliance == "gwlbd" and not daemon_available():
        problem = "gwlbd lab: this build has no 'gwlbd run'; try --appliance reflector"
    if problem is not None:
        print(problem, file=out)
        return 1
    try:
        with _Interrupts():
            return _run(config, out)
    except KeyboardInterrupt:
        print("gwlbd lab: interrupted; everything it created was removed", file=out)
        return 130


def _run(config: LabConfig, out: TextIO) -> int:
    for name in remove_stale_namespaces(config.prefix):
        print(f"removed namespace {name} left by an earlier run", file=out)
    with Lab(config) as lab:
        print("building the lab topology", file=out, flush=True)
        lab.build()
        lab.start()
        ready, ready_detail = lab.wait_ready()
        print(f"appliance: {ready_detail}", file=out, flush=True)
        if ready:
            what = f"for {config.duration:g} s" if config.duration is not None else "(Ctrl-C ends)"
            print(f"driving traffic {what}", file=out, flush=True)
            _drive(lab, config, out)
        sim, traffic, daemon = lab.settle() if ready else lab.snapshot()
        lab.topology.stop(lab.procs["gwlb-sim"])
        sim = read_status(lab.sim_status_file) or sim
        checks = report.evaluate(
            sim=sim,
            traffic=traffic,
            daemon=daemon,
            with_policy=lab.with_policy,
            ready=ready,
            ready_detail=ready_detail,
        )
        print(report.render_summary(checks), file=out)
        if report.failed(checks):
            exited = [n for n, p in lab.procs.items() if p.returncode not in (None, 0, -15)]
            for name in dict.fromkeys([*exited, "appl1", "gwlb-sim"]):
                tail = lab.log_tail(name)
                if tail:
                    print(f"--- last lines of {name}'s output ---\n{tail}", file=out)
            return 1
        return 0


def _drive(lab: Lab, config: LabConfig, out: TextIO) -> None:
    """Run traffic until it ends (duration) or Ctrl-C; show live counters unless headless."""
    lab.start_traffic()
    live = _Live(out)
    started = time.monotonic()
    try:
        while lab.procs["traffic"].poll() is None:
            if not config.headless:
                sim, traffic, daemon = lab.snapshot()
                live.show(
                    report.render_live(
                        elapsed=time.monotonic() - started,
                        sim=sim,
                        traffic=traffic,
                        daemon=daemon,
                        with_policy=lab.with_policy,
                    )
                )
            dead = lab.dead_process()
            if dead is not None:
                print(f"{dead} exited during the run", file=out)
                break
            time.sleep(1.0)
    except KeyboardInterrupt:
        if config.headless:
            raise
    finally:
        with contextlib.suppress(KeyboardInterrupt):
            lab.stop_traffic()
