"""``gwlbd run``: start the daemon in the foreground."""

from __future__ import annotations

import argparse
import json
import sys

from appliance import config as config_module
from appliance.daemon import start_from_flags
from appliance.errors import ApplianceError, ConfigError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``run`` subcommand."""
    parser = subparsers.add_parser(
        "run",
        help="run the appliance daemon in the foreground",
        description=(
            "Receive GENEVE from a Gateway Load Balancer on UDP 6081, apply a verdict to "
            "every flow and return allowed packets exactly as the GWLB expects. Settings "
            "come from flags, then GWLBD_* environment variables, then the TOML file, "
            "then defaults."
        ),
    )
    config_module.add_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Validate the configuration and serve until SIGTERM/SIGINT."""
    flags = {f.name: getattr(args, f.name, None) for f in config_module.FIELDS}
    try:
        if args.print_config:
            config = config_module.load(flags, config_file=args.config)
            print(json.dumps(config.as_dict(), indent=2))
            return 0
        daemon = start_from_flags(flags, args.config)
    except ConfigError as exc:
        print(f"gwlbd: configuration error: {exc}", file=sys.stderr)
        return 2
    try:
        return daemon.run()
    except ApplianceError as exc:
        print(f"gwlbd: {exc}", file=sys.stderr)
        return 1
