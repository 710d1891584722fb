"""``gwlbd run``: the supervisor, the control plane and the signals, tied together.

Signals: SIGTERM and SIGINT start a drain (health 503, traffic still forwarded)
for ``shutdown_grace`` seconds so the GWLB can move new flows away, then stop the
workers and exit 0; a second SIGTERM/SIGINT skips the rest of the grace. SIGHUP
re-reads the configuration (what can change live: GWLB source networks, the deny
list, the log level) and reloads the policy source.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from appliance import config as config_module
from appliance import logs
from appliance.config import Config
from appliance.control.http import ControlServer, ControlSettings
from appliance.errors import ApplianceError, ConfigError
from appliance.flowlog import FlowLogError, FlowLogWriter, open_flow_log
from appliance.policy.manager import PolicyManager
from appliance.policy.sources import source_from_settings
from appliance.policy.static import StaticPolicy
from appliance.policy.store import FileStore
from appliance.supervisor import Supervisor

log = logging.getLogger(__name__)

TICK = 0.25
"""Seconds between supervision rounds of the main loop."""
STOP_TIMEOUT = 5.0
"""Seconds workers get to stop once the grace is over."""


def control_settings(config: Config) -> ControlSettings:
    """Where the control plane listens, from the daemon's configuration."""
    return ControlSettings(
        health_host=config.health_listen,
        health_port=config.health_port,
        admin_socket=config.admin_socket or None,
        admin_listen=config.admin_listen,
    )


POLICY_TICK = 1.0
"""Seconds between looks at the policy source (the manager decides when a poll is due)."""
FILE_POLL_SECONDS = 2.0
"""A policy file is checked for changes this often (SSM uses ``policy_poll_seconds``)."""


def build_policy_manager(config: Config) -> PolicyManager:
    """The policy manager the configuration asks for (file, SSM, or pushes only)."""
    source = source_from_settings(
        config.policy_file, config.policy_ssm_parameter, config.policy_ssm_label
    )
    interval = config.policy_poll_seconds
    if config.policy_file:
        interval = min(interval, FILE_POLL_SECONDS)
    return PolicyManager(source, FileStore(config.state_dir), poll_interval=interval)


def build_flow_log(config: Config) -> FlowLogWriter | None:
    """The EVE flow log writer, or None when flow logging is off."""
    if not config.flow_log:
        return None
    try:
        return open_flow_log(
            config.flow_log,
            max_bytes=config.flow_log_max_bytes,
            backups=config.flow_log_backups,
            rate=config.flow_log_rate,
        )
    except FlowLogError as exc:
        raise ConfigError("flow_log", str(exc)) from exc


class PolicyLoop:
    """Polls the policy source off the main loop (a slow SSM call never delays supervision)."""

    def __init__(self, supervisor: Supervisor, manager: PolicyManager) -> None:
        self.supervisor = supervisor
        self.manager = manager
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._reload = False
        self._thread = threading.Thread(target=self._run, name="policy", daemon=True)

    def start(self) -> None:
        """Begin polling (the first poll also loads the stored last good policy)."""
        self._thread.start()

    def request_reload(self) -> None:
        """Read the source now (SIGHUP)."""
        self._reload = True
        self._wake.set()

    def stop(self) -> None:
        """Stop polling."""
        self._stop.set()
        self._wake.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self._reload and self.manager.source is not None:
                    self._reload = False
                    message = self.supervisor.reload_policy()
                    self.supervisor.event("policy-reload", message)
                else:
                    compiled = self.manager.poll(time.time())
                    if compiled is not None:
                        self.supervisor.install(compiled, self.manager.status({})["source"])
            except ApplianceError as exc:
                self.supervisor.event("policy-refused", f"policy reload refused: {exc}")
            except Exception:  # never let the policy thread die silently
                log.exception("policy loop failed; retrying")
            self._wake.wait(POLICY_TICK)
            self._wake.clear()


class Daemon:
    """One running gwlbd."""

    def __init__(
        self,
        config: Config,
        *,
        reload_config: Callable[[], Config] | None = None,
    ) -> None:
        self.config = config
        self.manager = build_policy_manager(config)
        self.flow_log = build_flow_log(config)
        self.supervisor = Supervisor(config, manager=self.manager, flow_log=self.flow_log)
        self.policy_loop = PolicyLoop(self.supervisor, self.manager)
        self.control = ControlServer(self.supervisor, control_settings(config))
        self._reload_config = reload_config
        self._stop_requested = 0
        self._hup = False

    def _on_stop(self, signum: int, _frame: Any) -> None:
        self._stop_requested += 1
        log.info("received %s", signal.Signals(signum).name)

    def _on_hup(self, _signum: int, _frame: Any) -> None:
        self._hup = True

    def install_signals(self) -> None:
        """Route SIGTERM/SIGINT/SIGHUP to the main loop."""
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hup)

    def reload(self) -> None:
        """Apply a re-read configuration (SIGHUP); fields that need a restart are reported."""
        if self._reload_config is None:
            return
        try:
            new = self._reload_config()
        except ConfigError as exc:
            self.supervisor.event("config-refused", f"configuration reload refused: {exc}")
            return
        old = self.config
        if new.gwlb_cidrs != old.gwlb_cidrs:
            self.supervisor.set_sources(new.gwlb_cidrs)
        if new.deny_cidrs != old.deny_cidrs and self.supervisor.policy.source.startswith("builtin"):
            self.supervisor.set_policy(
                StaticPolicy(new.deny_cidrs, version="static"),
                "builtin (deny list)" if new.deny_cidrs else "builtin",
                reevaluate=True,
                default="allow",
            )
        if new.log_level != old.log_level:
            logging.getLogger("appliance").setLevel(new.log_level.upper())
        live = {"gwlb_cidrs", "deny_cidrs", "log_level"}
        old_values, new_values = old.as_dict(), new.as_dict()
        pending = sorted(k for k in new_values if k not in live and new_values[k] != old_values[k])
        self.config = new
        message = "configuration reloaded"
        if pending:
            message += f"; restart to apply: {', '.join(pending)}"
        self.supervisor.event("config-reloaded", message)
        self.policy_loop.request_reload()
        reopen = getattr(self.flow_log.sink, "reopen", None) if self.flow_log else None
        if reopen is not None:
            reopen()  # after logrotate moved the file

    def run(self) -> int:
        """Serve until told to stop; returns the exit code."""
        self.install_signals()
        self.supervisor.start()
        self.policy_loop.start()
        try:
            self.control.start()
        except (OSError, ApplianceError) as exc:
            log.error("control plane could not start: %s", exc)
            self.supervisor.stop(STOP_TIMEOUT)
            return 1
        grace_until: float | None = None
        try:
            while True:
                if self._hup:
                    self._hup = False
                    self.reload()
                if self._stop_requested and grace_until is None:
                    grace_until = time.monotonic() + self.config.shutdown_grace
                    self.supervisor.leaving = True
                    self.supervisor.event(
                        "stopping",
                        f"stopping: health 503, forwarding for {self.config.shutdown_grace:g} s",
                    )
                if grace_until is not None and (
                    time.monotonic() >= grace_until or self._stop_requested > 1
                ):
                    break
                self.supervisor.supervise_once()
                time.sleep(TICK)
        finally:
            self.policy_loop.stop()
            self.supervisor.stop(STOP_TIMEOUT)
            self.control.close()
            if self.flow_log is not None:
                self.flow_log.close()
        return 0


def start_from_flags(flags: Mapping[str, Any], config_file: str | None) -> Daemon:
    """Load the configuration (flag > environment > file > default) and build the daemon."""
    config = config_module.load(flags, config_file=config_file)
    logs.configure(config.log_level, config.log_format)
    return Daemon(config, reload_config=lambda: config_module.load(flags, config_file=config_file))
