"""``gwlbd status | drain | undrain | flows``: look at and steer a running daemon.

Every subcommand talks to the daemon through its admin channel (or any status-API
URL) with :class:`~appliance.control.client.AdminClient`. The target is, in order:
``--target``, the ``GWLBD_ADMIN`` environment variable, ``/run/gwlbd/admin.sock``.
An unreachable daemon is a one-line error on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from appliance.control.client import (
    ADMIN_TARGET_ENV,
    DEFAULT_ADMIN_TARGET,
    DEFAULT_TIMEOUT,
    AdminClient,
)
from appliance.control.provider import FlowQuery
from appliance.control.query import MAX_LIMIT, SORTS, parse_endpoint_id, query_params
from appliance.control.report import render_flows, render_status
from appliance.errors import ApplianceError

DEFAULT_FLOWS_LIMIT = 20
"""Rows ``gwlbd flows`` shows unless ``--limit`` says otherwise."""


def _endpoint(text: str) -> int:
    try:
        return parse_endpoint_id(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an endpoint id like 0x0123456789abcdef, got {text!r}"
        ) from None


def _address(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an IPv4 or IPv6 address, got {text!r}"
        ) from None


def _bounded(name: str, maximum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not (text.isascii() and text.isdigit()) or int(text) > maximum:
            raise argparse.ArgumentTypeError(f"{name} must be from 0 to {maximum}, got {text!r}")
        return int(text)

    return parse


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def _add_target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--target",
        metavar="SOCKET|URL",
        help=(
            f"admin socket path or http://host:port of the daemon "
            f"(default: ${ADMIN_TARGET_ENV}, else {DEFAULT_ADMIN_TARGET})"
        ),
    )
    parser.add_argument(
        "--timeout",
        type=_positive,
        default=DEFAULT_TIMEOUT,
        help=f"seconds to wait for the daemon (default {DEFAULT_TIMEOUT:g})",
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``status``, ``drain``, ``undrain`` and ``flows`` subcommands."""
    parser = subparsers.add_parser(
        "status",
        help="show the state of the running daemon",
        description="Show state, health, uptime, workers, counters, drops and tunnels.",
    )
    _add_target(parser)
    parser.add_argument("--json", action="store_true", help="print the raw status document")
    parser.set_defaults(handler=run_status)

    parser = subparsers.add_parser(
        "drain",
        help="make health checks fail (503 draining) while traffic keeps flowing",
        description=(
            "Start draining: /healthz answers 503 so the GWLB stops sending new flows; "
            "existing flows are still forwarded."
        ),
    )
    _add_target(parser)
    parser.set_defaults(handler=run_drain)

    parser = subparsers.add_parser(
        "undrain", help="stop draining", description="Stop draining: health answers 200 again."
    )
    _add_target(parser)
    parser.set_defaults(handler=run_undrain)

    parser = subparsers.add_parser(
        "flows",
        help="show the top flows",
        description="Show the flows the daemon tracks, top N by bytes, packets or recency.",
    )
    _add_target(parser)
    parser.add_argument("--json", action="store_true", help="print the raw flows document")
    parser.add_argument(
        "--sort", choices=SORTS, default="bytes", help="order of the flows (default bytes)"
    )
    parser.add_argument(
        "--endpoint", type=_endpoint, help="only flows of this GWLB endpoint id (hex)"
    )
    parser.add_argument("--addr", type=_address, help="only flows with this address on either side")
    parser.add_argument(
        "--port", type=_bounded("port", 65535), help="only flows with this port on either side"
    )
    parser.add_argument(
        "--limit",
        type=_bounded("limit", MAX_LIMIT),
        default=DEFAULT_FLOWS_LIMIT,
        help=f"number of flows to show (default {DEFAULT_FLOWS_LIMIT}, at most {MAX_LIMIT})",
    )
    parser.set_defaults(handler=run_flows)


def resolve_target(explicit: str | None) -> str:
    """The daemon to talk to: explicit argument, then ``GWLBD_ADMIN``, then the default."""
    return explicit or os.environ.get(ADMIN_TARGET_ENV) or DEFAULT_ADMIN_TARGET


def _client(args: argparse.Namespace) -> AdminClient:
    return AdminClient(resolve_target(args.target), timeout=args.timeout)


def _guarded(command: str, action: Callable[[], None]) -> int:
    try:
        action()
    except ApplianceError as exc:
        print(f"gwlbd {command}: {exc}", file=sys.stderr)
        return 1
    return 0


def _print_json(document: dict[str, Any]) -> None:
    print(json.dumps(document, indent=2, sort_keys=False))


def run_status(args: argparse.Namespace) -> int:
    """Handler of ``gwlbd status``."""

    def show() -> None:
        document = _client(args).get("/status")
        if args.json:
            _print_json(document)
        else:
            print(render_status(document))

    return _guarded("status", show)


def run_drain(args: argparse.Namespace) -> int:
    """Handler of ``gwlbd drain``."""
    return _guarded("drain", lambda: print(_client(args).post("/admin/drain").get("message", "")))


def run_undrain(args: argparse.Namespace) -> int:
    """Handler of ``gwlbd undrain``."""
    return _guarded(
        "undrain", lambda: print(_client(args).post("/admin/undrain").get("message", ""))
    )


def run_flows(args: argparse.Namespace) -> int:
    """Handler of ``gwlbd flows``."""
    query = FlowQuery(
        limit=args.limit, sort=args.sort, endpoint=args.endpoint, addr=args.addr, port=args.port
    )

    def show() -> None:
        document = _client(args).get("/flows", query_params(query))
        if args.json:
            _print_json(document)
        else:
            print(render_flows(document, sort=args.sort))

    return _guarded("flows", show)
