"""The data source interface: where gwlbtop's snapshots come from.

Implementations: :class:`tui.appliance_source.ApplianceSource` (one daemon over HTTP
or its unix socket), :class:`tui.fleet_source.FleetSource` (an Auto Scaling group
found through the AWS APIs) and :class:`tui.fake.FakeSource` (in memory, for tests,
screenshots and the benchmark).

Sources are synchronous and are called from a worker thread, never from the UI
thread; a source bounds every network wait with a timeout.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from tui.model import AdminAction, FetchRequest, Snapshot


class DataSource(Protocol):
    """Where snapshots come from and where write actions go."""

    @property
    def label(self) -> str:
        """Human description shown in the title bar."""
        ...

    def fetch(self, request: FetchRequest) -> Snapshot:
        """Read everything once; unreachable appliances become members with ``error`` set.

        Raises:
            SourceError: the source as a whole cannot be read.
        """
        ...

    def perform(self, action: AdminAction) -> str:
        """Carry out a write action; returns the daemon's message.

        Raises:
            ActionError: the action was refused or could not be delivered.
        """
        ...

    def close(self) -> None:
        """Release connections and thread pools."""
        ...


@runtime_checkable
class PolicyDocumentSource(Protocol):
    """A source that can also read the policy document its appliances should run."""

    def policy_document(self) -> tuple[str, str] | None:
        """``(document text, where it came from)``, or None when there is none to read.

        Raises:
            SourceError: the document exists but cannot be read.
        """
        ...
