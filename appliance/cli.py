"""The ``gwlbd`` command: one subcommand per module in :mod:`appliance.commands`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from appliance import __version__
from appliance.commands import bench, install, lab, policy, run, status

COMMANDS = (run, status, policy, lab, bench, install)
"""Modules that each add their subcommands with ``register(subparsers)``."""


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser."""
    parser = argparse.ArgumentParser(
        prog="gwlbd",
        description="gwlbd: an appliance behind an AWS Gateway Load Balancer.",
    )
    parser.add_argument("--version", action="version", version=f"gwlbd {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
