"""The control plane's HTTP server: the health/status listener and the admin channel.

:class:`ControlServer` runs in the supervisor process, beside (never inside) the data
plane. It answers from the :class:`~appliance.control.provider.StatusProvider`, which
answers from cached state, so ``/healthz`` never waits on a worker.

Listeners (see ``docs/status-api.md``):

- the health/status listener on ``health_host:health_port`` (default ``0.0.0.0:80``):
  ``GET`` endpoints only; admin actions are refused with 403;
- the admin channel, a unix socket (default ``/run/gwlbd/admin.sock``, mode 0600):
  ``GET`` endpoints and the ``POST /admin/...`` actions;
- optionally a second admin channel on TCP, ``admin_listen`` (``127.0.0.1:8081``,
  ``[::1]:8081``), which must be a loopback address.

Usage::

    server = ControlServer(provider, ControlSettings(health_port=80))
    server.start()      # binds every listener, serves in background threads
    ...
    server.close()      # stops serving, bounded by ``timeout``
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Final

from appliance.control.errors import ListenerError
from appliance.control.listeners import Limits, TCPListener, UnixListener
from appliance.control.provider import StatusProvider
from appliance.errors import ConfigError

logger = logging.getLogger(__name__)

DEFAULT_ADMIN_SOCKET: Final = "/run/gwlbd/admin.sock"
"""Where the admin channel listens unless configured otherwise."""

DEFAULT_HEALTH_PORT: Final = 80
"""The GWLB target group's default health-check port."""

POLICY_BODY_LIMIT: Final = 8 * 1024 * 1024
"""Largest policy document ``POST /admin/policy`` accepts (413 beyond)."""


@dataclass(frozen=True, slots=True)
class ControlSettings:
    """Where and how the control plane listens."""

    health_host: str = "0.0.0.0"
    """Bind address of the health/status listener (``::`` for IPv6 and IPv4)."""
    health_port: int | None = DEFAULT_HEALTH_PORT
    """Port of the health/status listener; 0 picks a free port; None disables it."""
    admin_socket: str | None = DEFAULT_ADMIN_SOCKET
    """Path of the admin unix socket; None disables it."""
    admin_listen: str | None = None
    """``host:port`` of an extra admin channel on TCP; the host must be loopback."""
    max_body: int = POLICY_BODY_LIMIT
    """Largest request body (a policy document) accepted."""
    request_timeout: float = 10.0
    """Socket timeout of one connection, in seconds."""
    max_connections: int = 64
    """Connections served at once per listener; more are closed at once."""


def parse_listen_address(text: str, field: str = "admin_listen") -> tuple[str, int]:
    """Parse ``host:port`` (``[v6]:port`` for IPv6) where host must be a loopback address.

    ``localhost`` means ``127.0.0.1``.

    Raises:
        ConfigError: naming ``field``, when malformed or not loopback.
    """
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not host:
        raise ConfigError(field, f"expected host:port, got {text!r}")
    host = host.removeprefix("[").removesuffix("]")
    if host == "localhost":
        host = "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError(field, f"{host!r} is not an IP address") from None
    if not address.is_loopback:
        raise ConfigError(field, f"{host} is not a loopback address: admin actions are local-only")
    if not (port_text.isascii() and port_text.isdigit()) or not 0 <= int(port_text) <= 65535:
        raise ConfigError(field, f"port must be an integer from 0 to 65535, got {port_text!r}")
    return str(address), int(port_text)


class ControlServer:
    """Every control listener of one daemon, started and stopped together.

    Args:
        provider: the daemon's state and actions.
        settings: listen addresses and limits.

    Raises:
        ConfigError: ``admin_listen`` is malformed or not loopback.
    """

    def __init__(self, provider: StatusProvider, settings: ControlSettings | None = None) -> None:
        self._provider = provider
        self._settings = settings or ControlSettings()
        self._admin_tcp = (
            parse_listen_address(self._settings.admin_listen)
            if self._settings.admin_listen is not None
            else None
        )
        self._health: TCPListener | None = None
        self._admin_unix: UnixListener | None = None
        self._admin_loopback: TCPListener | None = None
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    @property
    def settings(self) -> ControlSettings:
        """The settings this server was made with."""
        return self._settings

    @property
    def health_address(self) -> tuple[str, int] | None:
        """The bound (host, port) of the health/status listener, once started."""
        return self._health.address if self._health else None

    @property
    def admin_socket(self) -> str | None:
        """The admin socket path, once started."""
        return str(self._admin_unix.path) if self._admin_unix else None

    @property
    def admin_address(self) -> tuple[str, int] | None:
        """The bound (host, port) of the loopback admin listener, once started."""
        return self._admin_loopback.address if self._admin_loopback else None

    def start(self) -> None:
        """Bind every configured listener and serve each in a background thread.

        Raises:
            ListenerError: a listener cannot be bound; none is left running.
            ControlError: the server is already started.
        """
        with self._lock:
            if self._threads:
                raise ListenerError("control server is already started")
            s = self._settings
            limits = Limits(s.max_body, s.request_timeout, s.max_connections)
            try:
                if s.health_port is not None:
                    self._health = TCPListener(
                        s.health_host, s.health_port, self._provider, admin=False, limits=limits
                    )
                if s.admin_socket is not None:
                    self._admin_unix = UnixListener(
                        s.admin_socket, self._provider, admin=True, limits=limits
                    )
                if self._admin_tcp is not None:
                    host, port = self._admin_tcp
                    self._admin_loopback = TCPListener(
                        host, port, self._provider, admin=True, limits=limits
                    )
            except BaseException:
                self._close_listeners()
                raise
            for listener in self._listeners():
                thread = threading.Thread(
                    target=listener.serve_forever,
                    kwargs={"poll_interval": 0.1},
                    name=f"gwlbd-control {listener.name}",
                    daemon=True,
                )
                thread.start()
                self._threads.append(thread)
                logger.info("control plane listening on %s", listener.name)

    def close(self, timeout: float = 3.0) -> None:
        """Stop serving, wait up to ``timeout`` seconds for requests in flight, remove the socket.

        Safe to call more than once, and from any thread other than a request handler.
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            listeners = self._listeners()
            threads, self._threads = self._threads, []
            if threads:
                for listener in listeners:
                    listener.shutdown()
                for thread in threads:
                    thread.join(max(0.0, deadline - time.monotonic()))
            for listener in listeners:
                listener.wait_idle(deadline)
            self._close_listeners()

    def _listeners(self) -> list[TCPListener | UnixListener]:
        found: list[TCPListener | UnixListener | None] = [
            self._health,
            self._admin_unix,
            self._admin_loopback,
        ]
        return [listener for listener in found if listener is not None]

    def _close_listeners(self) -> None:
        for listener in self._listeners():
            listener.server_close()
        self._health = self._admin_unix = self._admin_loopback = None

    def __enter__(self) -> ControlServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
