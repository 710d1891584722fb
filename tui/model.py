"""What one refresh of the data source yields: plain values, no I/O.

A :class:`Snapshot` holds one :class:`Member` per appliance (one for ``--appliance``,
one per instance of the fleet) with what AWS says about it (:class:`InstanceInfo`)
and what its status API said (the ``gwlbd.status/v1`` and ``gwlbd.flows/v1``
documents of ``docs/status-api.md``), plus the fleet-wide lifecycle state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Json = dict[str, Any]
"""A decoded JSON object."""

ActionKind = Literal["drain", "undrain", "reload_policy", "clear_flows"]
"""The write actions gwlbtop can ask an appliance for."""


@dataclass(frozen=True, slots=True)
class InstanceInfo:
    """What the AWS APIs (or the command line) say about one appliance."""

    instance_id: str
    """EC2 instance id, or the status API target for a lone appliance."""
    target: str
    """Status API URL or unix socket path."""
    az: str | None = None
    """Availability zone."""
    private_ip: str | None = None
    """Private IPv4 address."""
    lifecycle_state: str | None = None
    """ASG lifecycle state (``InService``, ``Pending:Wait``, ...)."""
    managed_state: str | None = None
    """State recorded by the lifecycle service in its state table."""
    last_action: str | None = None
    """Last action the lifecycle service took for this instance."""
    target_health: str | None = None
    """GWLB target group health (``healthy``, ``draining``, ...)."""
    src_dst_check: bool | None = None
    """EC2 source/destination check (must be False for an appliance)."""
    desired_policy: str | None = None
    """Desired policy version from the lifecycle state table."""


@dataclass(frozen=True, slots=True)
class Member:
    """One appliance: AWS facts and its status API answer (or why there is none)."""

    info: InstanceInfo
    status: Json | None = None
    """The ``gwlbd.status/v1`` document, None when unreachable."""
    flows: Json | None = None
    """The ``gwlbd.flows/v1`` document when flows were asked for."""
    error: str | None = None
    """Why the status API could not be read."""
    latency_s: float = 0.0
    """How long the status request took."""

    @property
    def reachable(self) -> bool:
        """Whether the status API answered."""
        return self.status is not None


@dataclass(frozen=True, slots=True)
class LifecycleEvent:
    """One entry of an instance's history in the lifecycle state table."""

    at: float
    instance_id: str
    state: str
    reason: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one refresh saw."""

    taken_at: float
    """Unix time at which the refresh started."""
    source: str
    """Human description of the data source (``appliance http://...``, ``asg web-gwlb``)."""
    members: tuple[Member, ...] = ()
    lifecycle_events: tuple[LifecycleEvent, ...] = ()
    policy_state: Json | None = None
    """The ``POLICY#`` item of the lifecycle state table, if any."""
    warnings: tuple[str, ...] = field(default=())
    """Partial failures of the source (e.g. target health could not be read)."""

    def member(self, instance_id: str | None) -> Member | None:
        """The member with this id, or the first reachable one when None or unknown."""
        for m in self.members:
            if m.info.instance_id == instance_id:
                return m
        for m in self.members:
            if m.reachable:
                return m
        return self.members[0] if self.members else None


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """What a refresh should read besides every member's ``/status``."""

    flows_of: str | None = None
    """Instance id whose ``/flows`` to read (None: no flows)."""
    flows_limit: int = 10_000
    """``limit`` for ``/flows``."""


@dataclass(frozen=True, slots=True)
class AdminAction:
    """A write action for one appliance."""

    kind: ActionKind
    instance_id: str
    params: dict[str, str] = field(default_factory=dict)
    """Query parameters (``endpoint``, ``addr``, ``port`` for ``clear_flows``)."""

    @property
    def path(self) -> str:
        """The admin endpoint path."""
        return {
            "drain": "/admin/drain",
            "undrain": "/admin/undrain",
            "reload_policy": "/admin/policy/reload",
            "clear_flows": "/admin/flows/clear",
        }[self.kind]

    def describe(self) -> str:
        """One line saying what the action will do."""
        what = {
            "drain": "Drain",
            "undrain": "Undrain",
            "reload_policy": "Reload the policy of",
            "clear_flows": "Clear flows on",
        }[self.kind]
        extra = " ".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{what} {self.instance_id}{' (' + extra + ')' if extra else ''}"
