"""``gwlbd install-service``: an idempotent production setup for systemd hosts.

Writes (under ``--root``, ``/`` by default):

- ``/etc/systemd/system/gwlbd.service``: ``Restart=always``, only the capabilities the
  daemon needs (CAP_NET_ADMIN for TUN devices, routes and sysctls, CAP_NET_RAW for the
  raw reply socket, CAP_NET_BIND_SERVICE for the health port 80), SIGHUP reload, a
  stop timeout that covers the shutdown grace and the destroy hooks, logs to journald;
- ``/etc/sysctl.d/90-gwlbd.conf``: socket buffer limits and, in tun mode, forwarding
  (the daemon sets the per-device values itself, and re-asserts them);
- ``/etc/gwlbd/gwlbd.toml``: every setting with its help as a comment, the chosen
  ones set (JSON logs: journald keeps one event per line);
- ``/etc/gwlbd/recipes/``: the shipped tun-mode recipes, ready to edit.

A file whose content is already right is left alone; an existing config file or
recipe that differs is kept (it was edited), never overwritten. ``--dry-run`` prints
what would be written and done, and touches nothing. ``--enable`` also runs
``systemctl daemon-reload``, ``sysctl --system`` and ``systemctl enable --now gwlbd``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance import __version__
from appliance.config import DEFAULT_CONFIG_PATH, FIELDS
from appliance.recipes import RECIPES, shipped_files

UNIT_PATH = "etc/systemd/system/gwlbd.service"
SYSCTL_PATH = "etc/sysctl.d/90-gwlbd.conf"
CONFIG_PATH = DEFAULT_CONFIG_PATH.lstrip("/")
RECIPES_DIR = "etc/gwlbd/recipes"
CAPABILITIES = "CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE"


@dataclass(frozen=True, slots=True)
class Planned:
    """One file the installer manages."""

    path: str
    """Relative to the root."""
    content: str
    mode: int = 0o644
    keep_edits: bool = False
    """An existing file with other content was edited by someone: keep it."""


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


def config_file(settings: dict[str, Any]) -> str:
    """A TOML config with every field: the help as a comment, unset ones commented out."""
    lines = [
        f"# gwlbd configuration (written by gwlbd {__version__} install-service).",
        "# Precedence: command-line flag > GWLBD_<NAME> environment variable > this file >",
        "# default. After an edit: systemctl reload gwlbd (SIGHUP applies gwlb_cidrs,",
        "# deny_cidrs and log_level live; other settings need systemctl restart gwlbd).",
        "",
    ]
    for field in FIELDS:
        lines.append(f"# {field.help}")
        if field.name in settings:
            lines.append(f"{field.name} = {_toml_value(settings[field.name])}")
        elif field.default is None:
            lines.append(f"# {field.name} =")
        else:
            lines.append(f"# {field.name} = {_toml_value(field.default)}")
        lines.append("")
    return "\n".join(lines)


def unit_file(exec_start: Sequence[str], stop_timeout: float) -> str:
    """The systemd unit."""
    command = " ".join(shlex.quote(a) for a in exec_start)
    return f"""# written by gwlbd {__version__} install-service
[Unit]
Description=gwlbd: appliance behind an AWS Gateway Load Balancer
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
ExecStart={command} run --config /{CONFIG_PATH}
ExecReload=/bin/kill -HUP $MAINPID
Restart=always
RestartSec=2
KillMode=mixed
TimeoutStopSec={int(stop_timeout)}
# root's uid (it writes /proc/sys/net and runs hooks) but only these capabilities
CapabilityBoundingSet={CAPABILITIES}
AmbientCapabilities={CAPABILITIES}
NoNewPrivileges=yes
ProtectHome=yes
PrivateTmp=yes
RuntimeDirectory=gwlbd
StateDirectory=gwlbd
LimitNOFILE=65536
Environment=PYTHONUNBUFFERED=1
StandardOutput=journal
StandardError=journal
SyslogIdentifier=gwlbd

[Install]
WantedBy=multi-user.target
"""


def sysctl_file(mode: str) -> str:
    """Kernel settings that belong in sysctl.d (the per-device ones the daemon owns)."""
    lines = [
        f"# written by gwlbd {__version__} install-service",
        "# room for the daemon's 16 MiB socket buffers",
        "net.core.rmem_max = 16777216",
        "net.core.wmem_max = 16777216",
    ]
    if mode == "tun":
        lines += [
            "# tun mode forwards between gwi-*/gwo-* and the uplink. rp_filter and",
            "# accept_local of gwi-*/gwo-* are set by gwlbd itself when it creates them",
            "# (and re-checked every few seconds), so nothing here has to race it.",
            "net.ipv4.ip_forward = 1",
            "net.ipv6.conf.all.forwarding = 1",
        ]
    return "\n".join(lines) + "\n"


def plan(args: argparse.Namespace) -> list[Planned]:
    """Every file to write, from the command line."""
    settings: dict[str, Any] = {"mode": args.mode, "log_format": "json"}
    if args.gwlb_cidr:
        settings["gwlb_cidrs"] = list(args.gwlb_cidr)
    if args.health_port is not None:
        settings["health_port"] = args.health_port
    if args.mode == "tun" and args.tun_recipe != "none":
        # the installed copy, so that local edits of the recipe take effect
        script = f"/{RECIPES_DIR}/{args.tun_recipe}.sh"
        settings["tun_create_hook"] = settings["tun_destroy_hook"] = script
    exec_start = [args.gwlbd] if args.gwlbd else _default_exec()
    files = [
        Planned(UNIT_PATH, unit_file(exec_start, 5 + 30 + 15)),
        Planned(SYSCTL_PATH, sysctl_file(args.mode)),
        Planned(CONFIG_PATH, config_file(settings), 0o640, keep_edits=True),
    ]
    for name, content in sorted(shipped_files().items()):
        mode = 0o755 if name.endswith(".sh") else 0o644
        files.append(Planned(f"{RECIPES_DIR}/{name}", content.decode(), mode, keep_edits=True))
    return files


def _default_exec() -> list[str]:
    found = shutil.which("gwlbd")
    return [found] if found else [sys.executable, "-m", "appliance.cli"]


def apply(files: Sequence[Planned], root: Path, *, dry_run: bool) -> list[str]:
    """Write what differs; returns one report line per file."""
    report = []
    for item in files:
        target = root / item.path
        current = target.read_text() if target.is_file() else None
        if current == item.content:
            report.append(f"unchanged {target}")
            continue
        if current is not None and item.keep_edits:
            report.append(f"kept      {target} (edited; the shipped version was not written)")
            continue
        verb = "would write" if dry_run else "wrote    "
        report.append(f"{verb} {target}")
        if dry_run:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".gwlbd-new")
        tmp.write_text(item.content)
        tmp.chmod(item.mode)
        tmp.replace(target)
    return report


ENABLE_COMMANDS = (
    ("systemctl", "daemon-reload"),
    ("sysctl", "--system"),
    ("systemctl", "enable", "--now", "gwlbd"),
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``install-service`` subcommand."""
    parser = subparsers.add_parser(
        "install-service",
        help="install gwlbd as a systemd service (idempotent; --dry-run shows what it does)",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    add = parser.add_argument
    add("--dry-run", action="store_true", help="print the files and commands, change nothing")
    add("--print", action="store_true", help="with --dry-run: also print every file's content")
    add("--root", default="/", help="install below this directory (default /)")
    add("--mode", choices=("inline", "tun"), default="inline", help="data path to configure")
    add("--tun-recipe", choices=("none", *RECIPES), default="none", help="tun mode recipe")
    add("--gwlb-cidr", action="append", default=[], help="GWLB source network (repeatable)")
    add("--health-port", type=int, help="health/status port (default 80)")
    add("--gwlbd", help="path of the gwlbd executable for ExecStart (default: found on PATH)")
    add("--enable", action="store_true", help="then reload systemd, apply sysctls, start gwlbd")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Plan, write (or print), and optionally enable."""
    files = plan(args)
    root = Path(args.root)
    for line in apply(files, root, dry_run=args.dry_run):
        print(line)
    if args.dry_run and args.print:
        for item in files:
            print(f"\n===== {root / item.path} (mode {item.mode:o}) =====\n{item.content}")
    if args.enable:
        for command in ENABLE_COMMANDS:
            if args.dry_run:
                print("would run", " ".join(command))
                continue
            done = subprocess.run(command, check=False)
            if done.returncode != 0:
                print(f"gwlbd: {' '.join(command)} exited {done.returncode}", file=sys.stderr)
                return 1
    return 0
