"""A small synchronous JSON client for the gwlbd status API and admin channel.

Speaks HTTP/1.1 over TCP (``http://host:port``) or a unix socket (a filesystem
path, or ``unix:/path``), with a timeout on connect and on every read. Used from
worker threads only.
"""

from __future__ import annotations

import http.client
import json
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from tui.errors import FetchError


class _UnixConnection(http.client.HTTPConnection):
    """An HTTP connection to a unix socket path."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


@dataclass(frozen=True, slots=True)
class Target:
    """Where a status API lives."""

    text: str
    """As given: URL or socket path."""
    unix_path: str | None
    host: str
    port: int
    prefix: str
    """Path prefix of an http URL (usually empty)."""

    @classmethod
    def parse(cls, text: str) -> Target:
        """Parse ``http://host[:port][/prefix]``, ``unix:/path`` or ``/path``.

        Raises:
            FetchError: neither an http URL nor a socket path.
        """
        if text.startswith("unix:"):
            return cls(text, text.removeprefix("unix:"), "", 0, "")
        if text.startswith(("/", "./")):
            return cls(text, text, "", 0, "")
        parts = urlsplit(text)
        if parts.scheme != "http" or not parts.hostname:
            raise FetchError(text, "expected http://host:port or a unix socket path")
        try:
            port = parts.port or 80
        except ValueError as exc:
            raise FetchError(text, f"bad port: {exc}") from exc
        return cls(text, None, parts.hostname, port, parts.path.rstrip("/"))


class JsonClient:
    """GET and POST JSON documents on one status API target.

    Args:
        target: ``http://host:port``, ``unix:/path`` or a socket path.
        timeout: seconds allowed for connecting and for each read.
    """

    def __init__(self, target: str, timeout: float = 2.0) -> None:
        self.target = Target.parse(target)
        self.timeout = timeout

    def _connection(self) -> http.client.HTTPConnection:
        t = self.target
        if t.unix_path is not None:
            return _UnixConnection(t.unix_path, self.timeout)
        return http.client.HTTPConnection(t.host, t.port, timeout=self.timeout)

    def request(
        self, method: str, path: str, params: dict[str, str] | None = None, body: bytes = b""
    ) -> dict[str, Any]:
        """Send one request and decode the JSON object answered.

        Raises:
            FetchError: unreachable, timed out, HTTP error status, or not a JSON object.
                For an ``{"ok": false, "error": ...}`` answer the message is that error.
        """
        url = self.target.prefix + path + (f"?{urlencode(params)}" if params else "")
        conn = self._connection()
        try:
            conn.request(method, url, body=body or None, headers={"Accept": "application/json"})
            response = conn.getresponse()
            raw = response.read()
        except TimeoutError as exc:
            raise FetchError(self.target.text, "timeout") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise FetchError(self.target.text, f"unreachable ({exc})") from exc
        finally:
            conn.close()
        try:
            doc = json.loads(raw)
        except ValueError as exc:
            raise FetchError(
                self.target.text, f"HTTP {response.status}: answer is not JSON"
            ) from exc
        if not isinstance(doc, dict):
            raise FetchError(self.target.text, "answer is not a JSON object")
        if response.status >= 400 or doc.get("ok") is False:
            raise FetchError(self.target.text, str(doc.get("error") or f"HTTP {response.status}"))
        return doc

    def get(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        """GET ``path`` (see :meth:`request`)."""
        return self.request("GET", path, params)

    def post(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        """POST to ``path`` with an empty body (see :meth:`request`)."""
        return self.request("POST", path, params)


def check_schema(doc: dict[str, Any], kind: str, target: str) -> dict[str, Any]:
    """Return ``doc`` if it is a ``gwlbd.<kind>/v1`` document.

    Raises:
        FetchError: another schema (readers must refuse a version they do not know).
    """
    schema = doc.get("schema")
    if schema != f"gwlbd.{kind}/v1":
        raise FetchError(target, f"unsupported schema {schema!r} (expected gwlbd.{kind}/v1)")
    return doc
