"""A client of the status API and the admin channel (stdlib only).

Used by ``gwlbd status``/``drain``/``flows``, the policy CLI and ``gwlbtop``::

    client = AdminClient("/run/gwlbd/admin.sock")     # or "http://198.18.0.5:80"
    status = client.get("/status")
    client.post("/admin/drain")

Every failure is a :class:`~appliance.control.errors.ControlError` with a one-line
message: nothing listening, a timeout, an answer that is not JSON, or an answer
``{"ok": false, "error": ...}`` / an HTTP error status.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlencode, urlsplit

from appliance.control.errors import ControlError

DEFAULT_ADMIN_TARGET: Final = "/run/gwlbd/admin.sock"
"""The admin socket of a daemon started with default settings."""

ADMIN_TARGET_ENV: Final = "GWLBD_ADMIN"
"""Environment variable naming the target when none is given explicitly."""

DEFAULT_TIMEOUT: Final = 5.0
"""Seconds allowed for connecting, and for each read."""

MAX_ANSWER: Final = 64 * 1024 * 1024
"""Largest answer body read (a flows document with 10000 flows is a few MB)."""


class UnixHTTPConnection(http.client.HTTPConnection):
    """An ``HTTPConnection`` over a unix stream socket."""

    def __init__(self, path: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        """Connect to the unix socket (bounded by the timeout)."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def _reason(exc: OSError) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, FileNotFoundError):
        return "no such socket"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, PermissionError):
        return "permission denied (the admin socket is root's)"
    return exc.strerror or str(exc) or type(exc).__name__


class AdminClient:
    """Talks to one gwlbd.

    Args:
        target: a unix socket path, or an ``http://host:port`` URL.
        timeout: seconds allowed to connect, and for each read.

    Raises:
        ControlError: ``target`` is neither a path nor an ``http://`` URL.
    """

    def __init__(self, target: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.target = target
        self.timeout = timeout
        self._unix_path: str | None = None
        self._host = ""
        self._port = 80
        if "://" in target:
            parts = urlsplit(target)
            if parts.scheme != "http" or not parts.hostname:
                raise ControlError(
                    f"unsupported target {target!r}: use a socket path or http://host:port"
                )
            try:
                self._port = parts.port or 80
            except ValueError:
                raise ControlError(f"bad port in target {target!r}") from None
            self._host = parts.hostname
        elif target:
            self._unix_path = target
        else:
            raise ControlError("empty target: give a socket path or http://host:port")

    def _connection(self) -> http.client.HTTPConnection:
        if self._unix_path is not None:
            return UnixHTTPConnection(self._unix_path, timeout=self.timeout)
        return http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)

    def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | int] | None = None,
        body: bytes | None = None,
    ) -> tuple[int, str, bytes]:
        """Send one request; return (status, content type, body) whatever the status.

        Raises:
            ControlError: the daemon cannot be reached, times out or answers garbage.
        """
        url = path + ("?" + urlencode(params) if params else "")
        where = f"{method} {path}"
        connection = self._connection()
        try:
            headers = {"Content-Type": "application/octet-stream"} if body else {}
            connection.request(method, url, body=body, headers=headers)
            answer = connection.getresponse()
            data = answer.read(MAX_ANSWER + 1)
            status, content_type = answer.status, answer.getheader("Content-Type", "")
        except OSError as exc:
            raise ControlError(f"cannot reach gwlbd at {self.target}: {_reason(exc)}") from exc
        except http.client.HTTPException as exc:
            raise ControlError(
                f"gwlbd at {self.target} gave no valid HTTP answer to {where}: {type(exc).__name__}"
            ) from exc
        finally:
            connection.close()
        if len(data) > MAX_ANSWER:
            raise ControlError(
                f"gwlbd at {self.target} answered {where} with over {MAX_ANSWER} bytes"
            )
        return status, content_type, data

    def _json(self, method: str, path: str, status: int, data: bytes) -> dict[str, Any]:
        try:
            document = json.loads(data)
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise ControlError(
                f"gwlbd at {self.target} answered {method} {path} with HTTP {status} "
                "and a body that is not a JSON object",
                status=status,
            )
        if document.get("ok") is False or status >= 400:
            error = document.get("error") or f"HTTP {status}"
            raise ControlError(f"{method} {path} failed: {error}", status=status)
        return document

    def get(self, path: str, params: Mapping[str, str | int] | None = None) -> dict[str, Any]:
        """GET a JSON document (``/status``, ``/flows``).

        Raises:
            ControlError: unreachable, timeout, not JSON, or an error answer.
        """
        status, _, data = self.request("GET", path, params)
        return self._json("GET", path, status, data)

    def post(
        self, path: str, body: bytes = b"", params: Mapping[str, str | int] | None = None
    ) -> dict[str, Any]:
        """POST an admin action; return its ``{"ok": true, "message": ...}`` answer.

        Raises:
            ControlError: unreachable, timeout, not JSON, or ``{"ok": false}``.
        """
        status, _, data = self.request("POST", path, params, body)
        return self._json("POST", path, status, data)

    def health(self) -> tuple[bool, str]:
        """``GET /healthz``: (healthy, reason).

        Raises:
            ControlError: unreachable or timeout.
        """
        status, _, data = self.request("GET", "/healthz")
        return status == 200, data.decode("utf-8", "replace").strip()

    def metrics(self) -> str:
        """``GET /metrics``: the Prometheus text exposition.

        Raises:
            ControlError: unreachable, timeout, or an HTTP error status.
        """
        status, _, data = self.request("GET", "/metrics")
        if status != 200:
            raise ControlError(f"GET /metrics failed: HTTP {status}", status=status)
        return data.decode("utf-8", "replace")
