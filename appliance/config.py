"""The daemon's configuration: one table of fields, four layers, errors that name the field.

Precedence, highest first: command-line flag, environment variable
(``GWLBD_<FIELD>``, lists comma-separated), the TOML config file (``--config``),
the default. Every field is declared once in :data:`FIELDS`; the CLI flags, the
environment names, ``--print-config`` and validation all come from that table.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from appliance.control.http import parse_listen_address
from appliance.errors import ConfigError

ENV_PREFIX = "GWLBD_"
DEFAULT_CONFIG_PATH = "/etc/gwlbd/gwlbd.toml"


def _int_range(low: int, high: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool):
            raise ValueError(f"expected a whole number, got {value!r}")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValueError(f"expected a whole number, got {value!r}") from None
        if not low <= number <= high:
            raise ValueError(f"must be between {low} and {high}, got {number}")
        return number

    return parse


def _float_range(low: float, high: float) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        if isinstance(value, bool):
            raise ValueError(f"expected a number, got {value!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"expected a number, got {value!r}") from None
        if not low <= number <= high:
            raise ValueError(f"must be between {low:g} and {high:g}, got {number:g}")
        return number

    return parse


def _choice(*options: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = str(value).lower()
        if text not in options:
            raise ValueError(f"must be one of {', '.join(options)}, got {value!r}")
        return text

    return parse


def _ipv4_address(value: Any) -> str:
    try:
        return str(ipaddress.IPv4Address(str(value)))
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 address") from None


def _optional_listen(value: Any) -> str | None:
    if value in (None, ""):
        return None
    try:
        host, port = parse_listen_address(str(value))
    except ConfigError as exc:
        raise ValueError(exc.message) from None
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _text(value: Any) -> str:
    return str(value)


def _optional_text(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _networks(version: int | None) -> Callable[[Any], tuple[str, ...]]:
    def parse(value: Any) -> tuple[str, ...]:
        items = value.split(",") if isinstance(value, str) else list(value)
        out = []
        for index, item in enumerate(items):
            text = str(item).strip()
            if not text:
                continue
            try:
                net = ipaddress.ip_network(text, strict=False)
            except ValueError:
                raise ValueError(f"[{index}] {text!r} is not a network (CIDR)") from None
            if version is not None and net.version != version:
                raise ValueError(f"[{index}] {text!r} is not an IPv{version} network")
            out.append(str(net))
        return tuple(out)

    return parse


def _workers(value: Any) -> int:
    if value in (None, "", "auto", 0, "0"):
        return os.cpu_count() or 1
    return _int_range(1, 256)(value)


@dataclass(frozen=True, slots=True)
class Field:
    """One configuration field: how to parse it, its default and its help."""

    name: str
    parse: Callable[[Any], Any]
    default: Any
    help: str
    repeatable: bool = False
    """The flag may be given several times (lists)."""


FIELDS: tuple[Field, ...] = (
    Field(
        "mode",
        _choice("inline", "tun"),
        "inline",
        "data path: inline (in-process verdicts) or tun (gwi-/gwo- devices to the kernel)",
    ),
    Field("listen", _ipv4_address, "0.0.0.0", "address to receive GENEVE on"),
    Field("port", _int_range(1, 65535), 6081, "UDP port of GENEVE"),
    Field(
        "gwlb_cidrs",
        _networks(4),
        (),
        "GWLB source networks accepted (repeatable; required)",
        repeatable=True,
    ),
    Field("workers", _workers, "auto", "data-plane worker processes (auto = one per CPU)"),
    Field("health_listen", _ipv4_address, "0.0.0.0", "address of the health/status HTTP port"),
    Field("health_port", _int_range(1, 65535), 80, "TCP port of /healthz, /status, /metrics"),
    Field("admin_socket", _text, "/run/gwlbd/admin.sock", "unix socket of the admin channel"),
    Field("admin_listen", _optional_listen, None, "also serve admin on this loopback host:port"),
    Field(
        "deny_cidrs",
        _networks(None),
        (),
        "static deny list used until a policy is loaded (repeatable)",
        repeatable=True,
    ),
    Field("policy_file", _optional_text, None, "policy document file (reloaded on change)"),
    Field("policy_ssm_parameter", _optional_text, None, "SSM parameter holding the policy"),
    Field("policy_ssm_label", _optional_text, "live", "SSM parameter label or version"),
    Field("policy_poll_seconds", _float_range(1, 3600), 30.0, "policy source poll interval"),
    Field("state_dir", _text, "/var/lib/gwlbd", "where the last good policy is kept"),
    Field(
        "flow_log",
        _optional_text,
        None,
        "EVE flow log: a file path, or - for standard output (off when unset)",
    ),
    Field(
        "flow_log_scope",
        _choice("all", "flagged"),
        "all",
        "flows logged when they end: all, or only rules with log: true (denied flows always)",
    ),
    Field("flow_log_rate", _float_range(1, 1_000_000), 1000.0, "flow log records per second"),
    Field("flow_log_max_bytes", _int_range(1 << 20, 1 << 40), 100 << 20, "rotate the flow log at"),
    Field("flow_log_backups", _int_range(0, 100), 5, "rotated flow log files kept"),
    Field(
        "no_policy",
        _choice("fail-open", "fail-closed"),
        "fail-open",
        "verdict while no policy is loaded (fail-open forwards, minus the deny list)",
    ),
    Field("tcp_timeout", _float_range(60, 6000), 350.0, "TCP flow idle timeout, seconds"),
    Field("other_timeout", _float_range(10, 6000), 120.0, "non-TCP flow idle timeout, seconds"),
    Field("max_flows", _int_range(1000, 50_000_000), 1_000_000, "flows per worker before eviction"),
    Field("batch_size", _int_range(1, 1024), 64, "datagrams per recvmmsg/sendmmsg"),
    Field("io", _choice("auto", "mmsg", "plain"), "auto", "packet I/O: batched syscalls or plain"),
    Field(
        "worker_priority",
        _int_range(0, 99),
        0,
        "SCHED_FIFO priority of the data-plane workers (0: normal scheduling)",
    ),
    Field(
        "shutdown_grace",
        _float_range(0, 600),
        5.0,
        "seconds of unhealthy-but-forwarding after SIGTERM before exiting",
    ),
    Field(
        "tun_recipe",
        _choice("none", "route-back", "nat-egress", "suricata"),
        "none",
        "tun mode: shipped recipe used as create/destroy hook unless hooks are given",
    ),
    Field(
        "tun_create_hook", _optional_text, None, "tun mode: command run as HOOK CREATE gwi gwo id"
    ),
    Field(
        "tun_destroy_hook", _optional_text, None, "tun mode: command run as HOOK DESTROY gwi gwo id"
    ),
    Field("tun_hook_timeout", _float_range(1, 3600), 30.0, "tun mode: seconds a hook may run"),
    Field(
        "tun_idle_timeout",
        _float_range(0, 86400),
        0.0,
        "tun mode: remove an endpoint's devices after this idle time (0 = never)",
    ),
    Field("log_level", _choice("debug", "info", "warning", "error"), "info", "log level"),
    Field("log_format", _choice("json", "text"), "json", "log format (json for journald)"),
)

_BY_NAME = {f.name: f for f in FIELDS}


@dataclass(frozen=True, slots=True)
class Config:
    """The effective configuration of one daemon."""

    mode: str
    listen: str
    port: int
    gwlb_cidrs: tuple[str, ...]
    workers: int
    health_listen: str
    health_port: int
    admin_socket: str
    admin_listen: str | None
    deny_cidrs: tuple[str, ...]
    policy_file: str | None
    policy_ssm_parameter: str | None
    policy_ssm_label: str | None
    policy_poll_seconds: float
    state_dir: str
    flow_log: str | None
    flow_log_scope: str
    flow_log_rate: float
    flow_log_max_bytes: int
    flow_log_backups: int
    no_policy: str
    tcp_timeout: float
    other_timeout: float
    max_flows: int
    batch_size: int
    io: str
    worker_priority: int
    shutdown_grace: float
    tun_recipe: str
    tun_create_hook: str | None
    tun_destroy_hook: str | None
    tun_hook_timeout: float
    tun_idle_timeout: float
    log_level: str
    log_format: str
    config_file: str | None = None
    """The file this configuration was read from, if any."""

    def as_dict(self) -> dict[str, Any]:
        """Plain values, lists as lists (for JSON and ``--print-config``)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


assert {f.name for f in fields(Config)} - {"config_file"} == set(_BY_NAME), (
    "FIELDS and Config differ"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one flag per field (all default to None so unset flags fall through)."""
    parser.add_argument(
        "--config", help=f"TOML config file (default {DEFAULT_CONFIG_PATH} if present)"
    )
    parser.add_argument(
        "--print-config", action="store_true", help="print the effective configuration and exit"
    )
    for f in FIELDS:
        flag = "--" + f.name.replace("_", "-")
        if f.name == "gwlb_cidrs":
            flag = "--gwlb-cidr"
        elif f.name == "deny_cidrs":
            flag = "--deny-cidr"
        env = ENV_PREFIX + f.name.upper()
        text = f"{f.help} [env {env}; default {f.default!r}]"
        if f.repeatable:
            parser.add_argument(flag, dest=f.name, action="append", default=None, help=text)
        else:
            parser.add_argument(flag, dest=f.name, default=None, help=text)


def _read_file(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError("config", f"file {path} does not exist") from None
    except PermissionError:
        raise ConfigError("config", f"file {path} is not readable") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("config", f"{path}: {exc}") from exc
    unknown = sorted(set(data) - set(_BY_NAME))
    if unknown:
        raise ConfigError(unknown[0], f"unknown setting in {path}")
    return data


def load(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_file: str | None = None,
) -> Config:
    """Merge the layers and validate every field.

    Args:
        flags: values from the command line (None = not given).
        environ: the environment (``os.environ`` when None).
        config_file: explicit file; else ``GWLBD_CONFIG``, else the default path if it exists.

    Raises:
        ConfigError: naming the first invalid field.
    """
    flags = flags or {}
    environ = os.environ if environ is None else environ
    path = config_file or environ.get(ENV_PREFIX + "CONFIG")
    if path is None and Path(DEFAULT_CONFIG_PATH).is_file():
        path = DEFAULT_CONFIG_PATH
    file_values = _read_file(path) if path else {}
    values: dict[str, Any] = {}
    for f in FIELDS:
        raw: Any = f.default
        source = "default"
        if f.name in file_values:
            raw, source = file_values[f.name], f"config file {path}"
        env = environ.get(ENV_PREFIX + f.name.upper())
        if env is not None:
            raw, source = env, f"environment {ENV_PREFIX + f.name.upper()}"
        flag = flags.get(f.name)
        if flag is not None:
            raw, source = flag, "command line"
        try:
            values[f.name] = f.parse(raw)
        except ValueError as exc:
            raise ConfigError(f.name, f"{exc} (from {source})") from None
    config = Config(**values, config_file=path)
    if not config.gwlb_cidrs:
        raise ConfigError(
            "gwlb_cidrs",
            "no GWLB source network configured; give --gwlb-cidr with the GWLB's subnet "
            "(packets from anywhere else are dropped)",
        )
    return config
