"""``gwlbd lab``: build a GWLB lab in network namespaces, drive traffic, check it."""

from __future__ import annotations

import argparse
import sys

from appliance.lab.fleet import FleetConfig
from appliance.lab.layout import APPLIANCE_KINDS, LabConfig
from appliance.lab.run import run_lab
from appliance.lab.scenarios import ALL as SCENARIOS

DEFAULT_HEADLESS_DURATION = 10.0


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``lab`` subcommand."""
    parser = subparsers.add_parser(
        "lab",
        help="run a GWLB lab in network namespaces (needs root)",
        description=(
            "Build a client, a server, a simulated Gateway Load Balancer and a gwlbd "
            "appliance in network namespaces (198.18.0.0/15 only), drive TCP, UDP and "
            "ICMP traffic through it, some of it denied, show live counters and check "
            "that every packet came back as GWLB expects. Everything created is removed "
            "at the end, also on Ctrl-C."
        ),
    )
    parser.add_argument(
        "--headless",
        action="store_true",
        help="no live counters; print a per-check summary, exit 1 if a check failed",
    )
    parser.add_argument(
        "--duration",
        type=_positive,
        help=f"seconds of traffic (default: until Ctrl-C; {DEFAULT_HEADLESS_DURATION:g} headless)",
    )
    parser.add_argument(
        "--appliance",
        choices=APPLIANCE_KINDS,
        default="gwlbd",
        help="what sits behind the simulated GWLB: gwlbd (default) or a plain GENEVE reflector",
    )
    parser.add_argument(
        "--appliances",
        type=int,
        choices=range(1, 11),
        default=1,
        metavar="N",
        help="appliances behind the GWLB, flows spread by 5-tuple (1-10, default 1)",
    )
    parser.add_argument("--workers", type=int, default=1, help="gwlbd worker processes")
    parser.add_argument(
        "--health-port", type=int, default=8080, help="gwlbd health port inside the lab"
    )
    parser.add_argument(
        "--startup-timeout",
        type=_positive,
        default=30.0,
        help="seconds to wait for the appliance to become healthy",
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=[*SCENARIOS, "all"],
        metavar="NAME",
        help=(
            "run a scripted scenario on a whole fleet (moto, lifecycle service, three "
            f"gwlbd appliances): {', '.join(SCENARIOS)}, or all (repeatable)"
        ),
    )
    parser.add_argument(
        "--fleet",
        action="store_true",
        help=(
            "bring up the whole fleet (moto, lifecycle service, three gwlbd) with traffic "
            "and keep it running until Ctrl-C; prints the gwlbtop command to watch it"
        ),
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Handler of ``gwlbd lab``."""
    if args.scenario:
        from appliance.lab.fleet_run import run_scenarios  # noqa: PLC0415

        names = list(SCENARIOS) if "all" in args.scenario else list(dict.fromkeys(args.scenario))
        return run_scenarios(names, FleetConfig(), sys.stdout)
    if args.fleet:
        from appliance.lab.fleet_run import run_fleet_live  # noqa: PLC0415

        return run_fleet_live(FleetConfig(), sys.stdout)
    duration = args.duration
    if duration is None and args.headless:
        duration = DEFAULT_HEADLESS_DURATION
    config = LabConfig(
        duration=duration,
        headless=args.headless,
        appliance=args.appliance,
        appliances=args.appliances,
        workers=args.workers,
        health_port=args.health_port,
        startup_timeout=args.startup_timeout,
    )
    return run_lab(config, sys.stdout)
