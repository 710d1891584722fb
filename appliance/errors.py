"""Errors raised by the appliance.

The hierarchy, drawn once::

    ApplianceError                 base of everything the appliance raises on purpose
    ├── ConfigError                bad configuration; names the field, the last good config is kept
    ├── WireError                  a datagram that cannot be forwarded; carries a DropReason
    ├── PolicyError                defined in appliance.policy.errors (a policy that cannot be used)
    └── DataplaneError             sockets, TUN devices or workers could not be set up

Packet-path code never lets these escape a batch: a WireError becomes a counted drop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for annotations: lambdas import these errors without the wire package
    from appliance.wire.drops import DropReason


class ApplianceError(Exception):
    """Base class of the appliance's own errors."""


class ConfigError(ApplianceError):
    """A configuration value is invalid.

    Attributes:
        field: dotted name of the offending field (``health_port``, ``gwlb_cidrs[2]``).
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class WireError(ApplianceError):
    """A datagram violates the wire format; ``reason`` says which rule."""

    def __init__(self, reason: DropReason, detail: str = "") -> None:
        super().__init__(f"{reason.value}{': ' + detail if detail else ''}")
        self.reason = reason


class DataplaneError(ApplianceError):
    """The data plane could not be set up (socket, TUN device, worker)."""
