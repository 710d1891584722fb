"""The ``gwlbtop`` command line: arguments, the data source they name, ``--once``, launch.

No UI here: :func:`run` gets the app factory from :func:`tui.app.main`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from appliance.policy.matcher import CompiledPolicy
from tui.appliance_source import ApplianceSource
from tui.errors import SourceError, TuiError
from tui.explain import ExplainError, load_policy
from tui.fake import DEMO_POLICY, FakeSource
from tui.fleet_source import FleetSettings, FleetSource
from tui.logs import configure_logging
from tui.once import once, render_json, render_text
from tui.source import DataSource
from tui.views import VIEW_NAMES

log = logging.getLogger("gwlbtop")


def parser() -> argparse.ArgumentParser:
    """The ``gwlbtop`` argument parser."""
    p = argparse.ArgumentParser(
        prog="gwlbtop",
        description="Terminal UI for gwlbd appliances (one daemon, or a whole fleet via AWS).",
    )
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--appliance",
        metavar="URL_OR_SOCKET",
        help="status API of one gwlbd: http://host:port or the admin socket path",
    )
    where.add_argument("--asg", metavar="NAME", help="every instance of this Auto Scaling group")
    where.add_argument("--stack", metavar="NAME", help="the ASG of this gwlbd CloudFormation stack")
    where.add_argument("--demo", action="store_true", help="a simulated fleet (no network)")
    p.add_argument("--state-table", help="lifecycle state table (default: stack output)")
    p.add_argument("--region", help="AWS region (default: from the AWS config)")
    p.add_argument("--endpoint-url", help="AWS endpoint URL (moto server, LocalStack)")
    p.add_argument("--health-port", type=int, default=80, help="status API port on instances")
    p.add_argument(
        "--target-group",
        action="append",
        default=[],
        metavar="ARN_OR_NAME",
        help="GWLB target group to read target health from (besides the ASG's)",
    )
    p.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="INSTANCE=URL",
        help="reach one instance's status API at URL (e.g. an SSH port forward)",
    )
    p.add_argument("--timeout", type=float, default=2.0, help="seconds per status request")
    p.add_argument("--concurrency", type=int, default=16, help="instances read in parallel")
    p.add_argument("--interval", type=float, default=2.0, help="refresh interval (floor 1 s)")
    p.add_argument("--view", choices=VIEW_NAMES, help="first view (or the view --once prints)")
    p.add_argument(
        "--write",
        action="store_true",
        help="allow actions (drain, undrain, reload policy, clear flow)",
    )
    p.add_argument(
        "--policy-file", type=Path, help="policy document for the explain form (policy view, key e)"
    )
    p.add_argument("--theme", help="Textual theme name (NO_COLOR is honoured)")
    p.add_argument("--log-file", type=Path, help="log file (default $XDG_STATE_HOME/gwlbtop)")
    p.add_argument("--once", action="store_true", help="print one view and exit")
    p.add_argument("--json", action="store_true", help="with --once: JSON instead of text")
    return p


def build_source(args: argparse.Namespace) -> DataSource:
    """The data source the arguments name.

    Raises:
        SourceError: the arguments do not name a usable source.
    """
    if args.appliance:
        return ApplianceSource(args.appliance, timeout=args.timeout)
    if args.demo:
        return FakeSource.fleet_of(5, flows=200, unreachable=(3,))
    return FleetSource(
        FleetSettings(
            asg=args.asg,
            stack=args.stack,
            state_table=args.state_table,
            region=args.region,
            endpoint_url=args.endpoint_url,
            health_port=args.health_port,
            timeout=args.timeout,
            concurrency=args.concurrency,
            target_groups=tuple(args.target_group),
            targets=tuple(_target(t) for t in args.target),
        )
    )


def _target(text: str) -> tuple[str, str]:
    instance_id, sep, url = text.partition("=")
    if not sep or not instance_id or not url:
        raise SourceError(f"--target wants INSTANCE=URL, got {text!r}")
    return instance_id.strip(), url.strip()


def load_policy_file(path: Path | None, *, demo: bool = False) -> tuple[CompiledPolicy | None, str]:
    """The compiled ``--policy-file`` (or the demo fleet's policy) and a note for the form."""
    if path is None and demo:
        return load_policy(DEMO_POLICY, "demo"), "the demo fleet's policy v7"
    if path is None:
        return None, "no policy document given (start with --policy-file)"
    try:
        policy = load_policy(path.read_text(encoding="utf-8"), str(path))
    except OSError as exc:
        return None, f"cannot read {path}: {exc.strerror}"
    except ExplainError as exc:
        return None, f"{path} is invalid: {exc}"
    return policy, f"policy {policy.version} from {path}"


def default_view(args: argparse.Namespace) -> str:
    """``--view``, else tunnels for one appliance and fleet for a fleet."""
    if args.view:
        return str(args.view)
    return "tunnels" if args.appliance else "fleet"


class AppRunner(Protocol):
    """What :func:`run` needs from the app (``textual.app.App.run``)."""

    def run(self) -> object:
        """Run until the operator quits."""
        ...


def run(argv: list[str] | None, make_app: Callable[..., AppRunner]) -> int:
    """Parse ``argv``, then print one view (``--once``) or run the app ``make_app`` builds.

    Args:
        argv: the arguments (None: ``sys.argv[1:]``).
        make_app: ``create_app(source, **options)``.

    Returns:
        The exit status: 0, 1 when ``--once`` could not read the source, 2 for bad arguments.
    """
    args = parser().parse_args(argv)
    try:
        source = build_source(args)
    except TuiError as exc:
        sys.stderr.write(f"gwlbtop: {exc}\n")
        return 2
    view = default_view(args)
    if args.once:
        try:
            table, taken_at, label = once(source, view)
        except TuiError as exc:
            sys.stderr.write(f"gwlbtop: {exc}\n")
            return 1
        finally:
            source.close()
        text = render_json(view, table, taken_at, label) if args.json else render_text(view, table)
        sys.stdout.write(text + "\n")
        return 0
    log_file = configure_logging(args.log_file)
    policy, note = load_policy_file(args.policy_file, demo=args.demo)
    app = make_app(
        source,
        write=args.write,
        interval=args.interval,
        view=view,
        policy=policy,
        policy_note=note,
        theme=args.theme,
    )
    log.info("gwlbtop started", extra={"source": source.label, "write": args.write})
    try:
        app.run()
    finally:
        source.close()
        log.info("gwlbtop stopped")
    sys.stderr.write(f"gwlbtop: log in {log_file}\n")
    return 0


__all__ = ["build_source", "default_view", "load_policy_file", "parser", "run"]
