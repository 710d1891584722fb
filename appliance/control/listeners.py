"""HTTP listeners of the control plane: a TCP one and a unix-socket one.

Both are stdlib ``socketserver`` servers with one thread per connection and the
``http.server`` request handler: what ``ThreadingHTTPServer`` is, minus its
``server_bind``, which resolves the bind address with ``socket.getfqdn`` (a reverse
DNS lookup that can stall start-up) and cannot bind a unix socket. No asyncio: the
supervisor is not on the packet path, and a thread per connection keeps one slow
client from delaying a health check. Each connection
carries one request (HTTP/1.0 semantics, ``Connection: close``), has a socket
timeout, and the number of connections served at once is bounded: beyond it
new connections are closed at once.

The handler turns every request into a call of
:func:`appliance.control.routes.dispatch`, bounds request bodies (413 beyond the
limit, 411 for chunked bodies), answers malformed requests with a JSON error and
logs each request at debug level through :mod:`logging`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import socketserver
import stat
import threading
import time
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from appliance.control.errors import ListenerError
from appliance.control.provider import StatusProvider
from appliance.control.routes import BODY_PATHS, Response, dispatch, error_response, split_target

logger = logging.getLogger(__name__)

SMALL_BODY_LIMIT = 64 * 1024
"""Largest body accepted (and discarded) on endpoints that take none."""

_UNIX_PATH_MAX = 107


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds of one listener."""

    max_body: int
    """Largest request body accepted on endpoints that take one (413 beyond)."""
    request_timeout: float
    """Socket timeout of one connection, in seconds."""
    max_connections: int
    """Connections served at once; more are closed at once."""


class ControlHandler(BaseHTTPRequestHandler):
    """Serves one request on a control listener."""

    server: _ControlServerMixin  # type: ignore[assignment]
    protocol_version = "HTTP/1.0"
    server_version = "gwlbd"

    def version_string(self) -> str:
        """The ``Server`` header: just ``gwlbd`` (no Python version to fingerprint)."""
        return self.server_version

    def setup(self) -> None:
        """Apply the listener's socket timeout before reading the request."""
        super().setup()
        self.connection.settimeout(self.server.limits.request_timeout)

    def address_string(self) -> str:
        """The peer, for logs (``unix`` on the admin socket)."""
        if isinstance(self.client_address, tuple) and self.client_address:
            return str(self.client_address[0])
        return "unix"

    def log_message(self, format: str, *args: Any) -> None:
        """Log through :mod:`logging` at debug level (never to stderr)."""
        logger.debug("control %s %s: %s", self.server.name, self.address_string(), format % args)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Answer a malformed request with a JSON error instead of the stdlib's HTML page."""
        short = self.responses.get(code, ("error", ""))[0]
        self.log_error("code %d, message %s", code, message or short)
        self.close_connection = True
        response = error_response(code, message or short)
        self._send(response)

    def do_GET(self) -> None:
        """Serve a GET."""
        self._serve()

    def do_HEAD(self) -> None:
        """Serve a HEAD (a GET without the body)."""
        self._serve()

    def do_POST(self) -> None:
        """Serve a POST (admin actions)."""
        self._serve()

    def do_PUT(self) -> None:
        """Refused by :func:`dispatch` with 405 (or 404)."""
        self._serve()

    def do_DELETE(self) -> None:
        """Refused by :func:`dispatch` with 405 (or 404)."""
        self._serve()

    def do_PATCH(self) -> None:
        """Refused by :func:`dispatch` with 405 (or 404)."""
        self._serve()

    def _serve(self) -> None:
        body = self._read_body()
        if body is None:
            return
        response = dispatch(
            self.server.provider, self.command, self.path, body, admin=self.server.admin
        )
        self._send(response)

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering 4xx for an unacceptable one."""
        if self.headers.get("Transfer-Encoding"):
            self.send_error(HTTPStatus.LENGTH_REQUIRED, "send the body with a Content-Length")
            return None
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        raw = raw.strip()
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 15:
            self.send_error(HTTPStatus.BAD_REQUEST, f"bad Content-Length: {raw!r}")
            return None
        length = int(raw)
        path, _ = split_target(self.path)
        limit = self.server.limits.max_body if path in BODY_PATHS else SMALL_BODY_LIMIT
        if length > limit:
            self.send_error(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body of {length} bytes exceeds {limit}"
            )
            return None
        body = self.rfile.read(length)
        if len(body) != length:
            self.send_error(HTTPStatus.BAD_REQUEST, "body shorter than its Content-Length")
            return None
        return body

    def _send(self, response: Response) -> None:
        # Answer HTTP/0.9-style requests ("GET /") with a status line and headers anyway:
        # no real client speaks 0.9, and a bare body would be impossible to interpret.
        self.request_version = self.protocol_version
        head_only = self.command == "HEAD" or response.status < 200
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Connection", "close")
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if not head_only:
                self.wfile.write(response.body)
        except OSError as exc:
            logger.debug("control %s: client went away: %s", self.server.name, exc)
            self.close_connection = True


class _ControlServerMixin(socketserver.ThreadingMixIn):
    """What both listeners share: the provider, limits and connection tracking."""

    daemon_threads = True
    block_on_close = False  # close() waits for in-flight requests itself, with a deadline
    name = "listener"
    provider: StatusProvider
    admin: bool
    limits: Limits

    def _setup_control(
        self,
        name: str,
        provider: StatusProvider,
        *,
        admin: bool,
        limits: Limits,
    ) -> None:
        self.name = name
        self.provider = provider
        self.admin = admin
        self.limits = limits
        self._slots = threading.BoundedSemaphore(limits.max_connections)
        self._active: set[threading.Thread] = set()
        self._active_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve the connection in a thread, or close it when too many are open."""
        if not self._slots.acquire(blocking=False):
            logger.debug("control %s: too many connections, closing one", self.name)
            self.shutdown_request(request)  # type: ignore[attr-defined]
            return
        try:
            super().process_request(request, client_address)
        except Exception:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """Track the connection while it is served."""
        current = threading.current_thread()
        with self._active_lock:
            self._active.add(current)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._active_lock:
                self._active.discard(current)
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A request crashed its handler: log it (the listener keeps serving)."""
        logger.debug("control %s: error while serving a request", self.name, exc_info=True)

    def wait_idle(self, deadline: float) -> None:
        """Wait until in-flight connections are done, or ``deadline`` (monotonic) passes."""
        with self._active_lock:
            active = [t for t in self._active if t is not threading.current_thread()]
        for thread in active:
            thread.join(max(0.0, deadline - time.monotonic()))


class TCPListener(_ControlServerMixin, socketserver.TCPServer):
    """A control listener on a TCP address (IPv4 or IPv6)."""

    allow_reuse_address = True

    def __init__(
        self,
        host: str,
        port: int,
        provider: StatusProvider,
        *,
        admin: bool,
        limits: Limits,
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._setup_control(
            f"tcp {host}:{port}",
            provider,
            admin=admin,
            limits=limits,
        )
        try:
            super().__init__((host, port), ControlHandler)
        except OSError as exc:
            raise ListenerError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
        bound = self.socket.getsockname()
        self.name = f"tcp {host}:{bound[1]}"

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port); the port is the real one when 0 was asked for."""
        bound = self.socket.getsockname()
        return str(bound[0]), int(bound[1])


def _probe_live(path: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(0.5)
    try:
        probe.connect(path)
    except OSError:
        return False
    else:
        return True
    finally:
        probe.close()


def _prepare_socket_path(path: Path) -> None:
    """Create the parent directory; refuse a path held by a live daemon or a non-socket."""
    try:
        path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ListenerError(f"cannot prepare admin socket {path}: {exc.strerror or exc}") from exc
    if not stat.S_ISSOCK(mode):
        raise ListenerError(f"admin socket path {path} exists and is not a socket")
    if _probe_live(str(path)):
        raise ListenerError(f"admin socket {path} is in use by another running gwlbd")


class UnixListener(_ControlServerMixin, socketserver.UnixStreamServer):
    """A control listener on a unix socket, created with mode 0600.

    The socket is bound under a temporary name, restricted to mode 0600 and renamed
    onto ``path`` before it listens, so it is never reachable with wider permissions
    and a stale socket file is replaced atomically. :meth:`server_close` removes it
    (unless something else has replaced it since).
    """

    def __init__(
        self,
        path: str,
        provider: StatusProvider,
        *,
        admin: bool,
        limits: Limits,
    ) -> None:
        self.path = Path(path)
        self._inode: int | None = None
        self._setup_control(
            f"unix {path}",
            provider,
            admin=admin,
            limits=limits,
        )
        if len(os.fsencode(path)) + 7 > _UNIX_PATH_MAX:
            raise ListenerError(f"admin socket path is too long for a unix socket: {path}")
        _prepare_socket_path(self.path)
        super().__init__(path, ControlHandler)

    def server_bind(self) -> None:
        """Bind under a temporary name, chmod 0600, rename onto the final path."""
        temporary = f"{self.path}.{secrets.token_hex(3)}"
        try:
            self.socket.bind(temporary)
            try:
                os.chmod(temporary, 0o600)
                os.rename(temporary, self.path)
            except OSError:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
                raise
            self._inode = self.path.stat().st_ino
        except OSError as exc:
            self.socket.close()
            raise ListenerError(
                f"cannot create admin socket {self.path}: {exc.strerror or exc}"
            ) from exc
        self.server_address = str(self.path)

    def server_close(self) -> None:
        """Close the socket and remove its file if it is still ours."""
        super().server_close()
        if self._inode is None:
            return
        with contextlib.suppress(OSError):
            if self.path.lstat().st_ino == self._inode:
                self.path.unlink()
        self._inode = None
