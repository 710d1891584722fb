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
import time
from collections.abc import Callable, Mapping
from typing import Any

from appliance import config as config_module
from appliance import logs
from appliance.config import Config
from appliance.control.http import ControlServer, ControlSettings
from appliance.errors import ApplianceError, ConfigError
from appliance.policy.static import StaticPolicy
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


class Daemon:
    """One running gwlbd."""

    def __init__(
        self,
        config: Config,
        *,
        reload_config: Callable[[], Config] | None = None,
    ) -> None:
        self.config = config
        self.supervisor = Supervisor(config)
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

    def run(self) -> int:
        """Serve until told to stop; returns the exit code."""
        self.install_signals()
        self.supervisor.start()
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
            self.supervisor.stop(STOP_TIMEOUT)
            self.control.close()
        return 0


def start_from_flags(flags: Mapping[str, Any], config_file: str | None) -> Daemon:
    """Load the configuration (flag > environment > file > default) and build the daemon."""
    config = config_module.load(flags, config_file=config_file)
    logs.configure(config.log_level, config.log_format)
    return Daemon(config, reload_config=lambda: config_module.load(flags, config_file=config_file))
