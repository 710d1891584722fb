"""The control plane's endpoints: one request in, one :class:`Response` out.

Independent of any HTTP server: :func:`dispatch` takes the method, the path with
its query string, the body and whether the listener is an admin channel, asks the
:class:`~appliance.control.provider.StatusProvider`, and returns the status code,
content type and body to send. It never raises: invalid requests become 4xx
answers, errors of the provider 4xx/5xx answers with a JSON ``error``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from appliance.control import metrics
from appliance.control.errors import ParameterError
from appliance.control.provider import StatusProvider
from appliance.control.query import FILTER_PARAMETERS, LIST_PARAMETERS, parse_flow_query
from appliance.errors import ApplianceError

logger = logging.getLogger(__name__)

JSON: Final = "application/json"
TEXT: Final = "text/plain; charset=utf-8"

GET_PATHS: Final = frozenset({"/", "/healthz", "/status", "/flows", "/metrics"})
"""Read-only endpoints, served on every listener (``/`` answers like ``/healthz``)."""

ADMIN_PATHS: Final = frozenset(
    {
        "/admin/drain",
        "/admin/undrain",
        "/admin/policy",
        "/admin/policy/reload",
        "/admin/flows/clear",
    }
)
"""Admin actions (``POST``), served only on admin channels."""

BODY_PATHS: Final = frozenset({"/admin/policy"})
"""The only endpoints that take a request body."""


@dataclass(frozen=True, slots=True)
class Response:
    """What to answer."""

    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    """Extra headers (``Allow`` on 405)."""


def json_response(status: int, document: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer."""
    body = (json.dumps(document, separators=(",", ":")) + "\n").encode()
    return Response(status, JSON, body, headers or {})


def error_response(
    status: int, message: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    """A JSON error answer ``{"ok": false, "error": message, ...extra}``."""
    return json_response(status, {"ok": False, "error": message, **extra}, headers)


def _ok(message: str) -> Response:
    return json_response(HTTPStatus.OK, {"ok": True, "message": message})


def _text(status: int, text: str) -> Response:
    return Response(status, TEXT, (text + "\n").encode())


def _healthz(provider: StatusProvider) -> Response:
    try:
        healthy, reason = provider.health()
    except Exception:
        logger.exception("health check failed inside the provider")
        return _text(HTTPStatus.SERVICE_UNAVAILABLE, "degraded")
    if healthy:
        return _text(HTTPStatus.OK, "ok")
    return _text(HTTPStatus.SERVICE_UNAVAILABLE, reason or "degraded")


def _get(provider: StatusProvider, path: str, params: dict[str, list[str]]) -> Response:
    if path in ("/", "/healthz"):
        return _healthz(provider)
    if path == "/status":
        return json_response(HTTPStatus.OK, provider.status())
    if path == "/flows":
        return json_response(
            HTTPStatus.OK, provider.flows(parse_flow_query(params, allowed=LIST_PARAMETERS))
        )
    return Response(HTTPStatus.OK, metrics.CONTENT_TYPE, metrics.render_metrics(provider.status()))


def _post(
    provider: StatusProvider, path: str, params: dict[str, list[str]], body: bytes
) -> Response:
    if path == "/admin/flows/clear":
        return _ok(provider.clear_flows(parse_flow_query(params, allowed=FILTER_PARAMETERS)))
    if params:
        name = sorted(params)[0]
        raise ParameterError(name, f"unknown parameter ({path} takes none)")
    if path == "/admin/drain":
        return _ok(provider.drain())
    if path == "/admin/undrain":
        return _ok(provider.undrain())
    if path == "/admin/policy/reload":
        return _ok(provider.reload_policy())
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return error_response(HTTPStatus.BAD_REQUEST, "policy document is not valid UTF-8")
    if not text.strip():
        return error_response(HTTPStatus.BAD_REQUEST, "policy document is empty")
    return _ok(provider.apply_policy(text))


def _guarded(action: Callable[[], Response], method: str, path: str) -> Response:
    try:
        return action()
    except ParameterError as exc:
        return error_response(HTTPStatus.BAD_REQUEST, str(exc), parameter=exc.parameter)
    except ApplianceError as exc:
        # The daemon refused (a policy that does not validate, nothing to reload, ...).
        return error_response(HTTPStatus.UNPROCESSABLE_ENTITY, str(exc))
    except Exception as exc:
        logger.exception("control request %s %s failed", method, path)
        return error_response(
            HTTPStatus.INTERNAL_SERVER_ERROR, f"internal error: {type(exc).__name__}"
        )


def split_target(target: str) -> tuple[str, dict[str, list[str]]]:
    """Split a request target into its path and query parameters."""
    parts = urlsplit(target)
    params = parse_qs(parts.query, keep_blank_values=True)
    return parts.path or "/", params


def dispatch(
    provider: StatusProvider, method: str, target: str, body: bytes, *, admin: bool
) -> Response:
    """Answer one request.

    Args:
        provider: the daemon.
        method: HTTP method (``GET``, ``HEAD``, ``POST``; others are refused with 405).
        target: request target: path and query string.
        body: request body (already bounded by the server).
        admin: whether the request arrived on an admin channel; admin actions are
            refused with 403 elsewhere.
    """
    path, params = split_target(target)
    if path in GET_PATHS:
        if method not in ("GET", "HEAD"):
            return error_response(
                HTTPStatus.METHOD_NOT_ALLOWED,
                f"{path} accepts GET only",
                headers={"Allow": "GET, HEAD"},
            )
        return _guarded(lambda: _get(provider, path, params), method, path)
    if path in ADMIN_PATHS:
        if not admin:
            return error_response(
                HTTPStatus.FORBIDDEN, "admin actions are served only on the local admin channel"
            )
        if method != "POST":
            return error_response(
                HTTPStatus.METHOD_NOT_ALLOWED,
                f"{path} accepts POST only",
                headers={"Allow": "POST"},
            )
        return _guarded(lambda: _post(provider, path, params, body), method, path)
    return error_response(HTTPStatus.NOT_FOUND, f"no such endpoint: {path}")
