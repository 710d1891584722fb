"""What the control plane needs from the daemon: the interface the supervisor implements.

The HTTP endpoints, the admin channel and the metrics exposition only ever talk to
a :class:`StatusProvider`; tests drive them with an in-memory one.
Documents returned follow ``docs/status-api.md`` (schema v1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

FlowSort = Literal["bytes", "packets", "recent"]


@dataclass(frozen=True, slots=True)
class FlowQuery:
    """A filter over flows, shared by ``GET /flows`` and ``POST /admin/flows/clear``."""

    limit: int = 100
    sort: FlowSort = "bytes"
    endpoint: int | None = None
    """GWLB endpoint id to match."""
    addr: str | None = None
    """Address matching either side of the flow."""
    port: int | None = None
    """Port matching either side of the flow."""


class StatusProvider(Protocol):
    """The daemon as the control plane sees it."""

    def health(self) -> tuple[bool, str]:
        """(healthy, reason): reason is ``ok`` or one of starting/draining/degraded/stopping."""
        ...

    def status(self) -> dict[str, Any]:
        """The ``gwlbd.status/v1`` document."""
        ...

    def flows(self, query: FlowQuery) -> dict[str, Any]:
        """The ``gwlbd.flows/v1`` document for ``query``."""
        ...

    def drain(self) -> str:
        """Start draining (health 503, traffic still flows); returns a message."""
        ...

    def undrain(self) -> str:
        """Stop draining; returns a message."""
        ...

    def apply_policy(self, text: str) -> str:
        """Apply a pushed policy document; raises ``ApplianceError`` if refused."""
        ...

    def reload_policy(self) -> str:
        """Re-read the policy source now; raises ``ApplianceError`` if refused."""
        ...

    def clear_flows(self, query: FlowQuery) -> str:
        """Forget matching flows so they are decided again; returns a message."""
        ...
