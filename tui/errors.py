"""Errors raised by gwlbtop.

The hierarchy, drawn once::

    TuiError                  base of everything gwlbtop raises on purpose
    ├── SourceError           the data source cannot be read at all (AWS call failed, bad target)
    ├── FetchError            one appliance's status API could not be read (unreachable, timeout,
    │                         not JSON, wrong schema); the fleet shows that instance as unreachable
    └── ActionError           a write action was refused (read-only mode, daemon said no)
"""

from __future__ import annotations


class TuiError(Exception):
    """Base class of gwlbtop's own errors."""


class SourceError(TuiError):
    """The data source as a whole cannot be read."""


class FetchError(TuiError):
    """One appliance's status API could not be read.

    Attributes:
        target: the URL or socket path that was asked.
    """

    def __init__(self, target: str, message: str) -> None:
        super().__init__(f"{target}: {message}")
        self.target = target
        self.message = message


class ActionError(TuiError):
    """A write action could not be performed."""
