"""Errors of the control plane.

The hierarchy, drawn once (below :class:`appliance.errors.ApplianceError`)::

    ControlError              the control plane cannot do what was asked
    ├── ParameterError        a request parameter is invalid; names the parameter
    └── ListenerError         a listener (TCP port, admin socket) cannot be set up

Client-side failures (daemon unreachable, timeout, an answer that is not JSON, an
answer ``{"ok": false}``) are plain :class:`ControlError`, with ``status`` set when
the daemon answered with an HTTP status.
"""

from __future__ import annotations

from appliance.errors import ApplianceError


class ControlError(ApplianceError):
    """The control plane failed, or a control request could not be served.

    Attributes:
        status: HTTP status of the answer, when there was one.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class ParameterError(ControlError):
    """A query parameter or request field is invalid.

    Attributes:
        parameter: name of the offending parameter (``limit``, ``endpoint``).
    """

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}", status=400)
        self.parameter = parameter


class ListenerError(ControlError):
    """A control listener could not be bound (port in use, socket path taken, ...)."""
