"""The simulated GWLB target group: registration, health, draining and flow placement (pure).

What it plays (PROTOCOL.md, "Health checks" and "Target group attributes", and the
Elastic Load Balancing user guide for Gateway Load Balancers):

- a registered target starts ``initial``; it becomes ``healthy`` after
  ``healthy_threshold`` passing checks in a row and ``unhealthy`` after
  ``unhealthy_threshold`` failures in a row (a pass is HTTP 200-399);
- a deregistered target is ``draining`` for ``deregistration_delay`` seconds, then leaves
  the group; while draining it gets no new flows but keeps its existing ones;
- new flows go only to healthy targets, in the flow's own zone unless cross-zone load
  balancing is on. When no target qualifies the node fails open to every registered,
  non-draining target it may use (the lab's choice, as other Elastic Load Balancing
  load balancers do);
- the target of a new flow is chosen by the stickiness key (5-tuple, 3-tuple
  ``source_ip_dest_ip_proto`` or 2-tuple ``source_ip_dest_ip``): flows sharing a key go
  to the same target while it stays eligible;
- existing flows follow ``target_failover``: with ``no_rebalance`` (the default) they
  stay on their target even when it fails or is deregistered; with ``rebalance`` they
  are rehashed to a healthy target when theirs turns unhealthy (``on_unhealthy``) or
  once its deregistration delay is over (``on_deregistration``).
"""

from __future__ import annotations

import enum
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

MAX_AFFINITY = 100_000
"""Stickiness keys remembered; the oldest is forgotten beyond it."""


class Failover(enum.StrEnum):
    """``target_failover.on_deregistration`` / ``on_unhealthy``."""

    NO_REBALANCE = "no_rebalance"
    REBALANCE = "rebalance"


class Stickiness(enum.StrEnum):
    """What a flow's target is chosen by."""

    FIVE_TUPLE = "5-tuple"
    THREE_TUPLE = "3-tuple"
    """``stickiness.type`` ``source_ip_dest_ip_proto``."""
    TWO_TUPLE = "2-tuple"
    """``stickiness.type`` ``source_ip_dest_ip``."""


def stickiness_key(canonical: bytes, stickiness: Stickiness) -> bytes:
    """The part of a direction-agnostic flow key (see :mod:`appliance.wire.flowkey`) that
    picks the target.

    Args:
        canonical: ``endpoint(8) | proto(1) | src | dst | sport(2) | dport(2)``, already the
            smaller of the key and its reverse.
        stickiness: which tuple counts.
    """
    if stickiness is Stickiness.FIVE_TUPLE:
        return canonical
    width = (len(canonical) - 13) // 2
    a, b = canonical[9 : 9 + width], canonical[9 + width : 9 + 2 * width]
    low, high = min(a, b), max(a, b)
    if stickiness is Stickiness.THREE_TUPLE:
        return canonical[:9] + low + high
    return canonical[:8] + low + high


@dataclass(frozen=True, slots=True)
class GroupSettings:
    """Target group attributes and health check settings."""

    healthy_threshold: int = 2
    unhealthy_threshold: int = 2
    deregistration_delay: float = 300.0
    """Seconds a deregistered target drains."""
    on_deregistration: Failover = Failover.NO_REBALANCE
    on_unhealthy: Failover = Failover.NO_REBALANCE
    stickiness: Stickiness = Stickiness.FIVE_TUPLE
    cross_zone: bool = False
    """Cross-zone load balancing: a node may pick targets of every zone."""

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> GroupSettings:
        """Settings from their JSON form (missing keys keep their defaults).

        Raises:
            ValueError: a value is out of range or unknown.
        """
        base = cls()
        settings = cls(
            healthy_threshold=int(doc.get("healthy_threshold", base.healthy_threshold)),
            unhealthy_threshold=int(doc.get("unhealthy_threshold", base.unhealthy_threshold)),
            deregistration_delay=float(doc.get("deregistration_delay", base.deregistration_delay)),
            on_deregistration=Failover(doc.get("on_deregistration", base.on_deregistration)),
            on_unhealthy=Failover(doc.get("on_unhealthy", base.on_unhealthy)),
            stickiness=Stickiness(doc.get("stickiness", base.stickiness)),
            cross_zone=bool(doc.get("cross_zone", base.cross_zone)),
        )
        if not (1 <= settings.healthy_threshold <= 10 and 1 <= settings.unhealthy_threshold <= 10):
            raise ValueError("thresholds must be between 1 and 10")
        if not 0 <= settings.deregistration_delay <= 3600:
            raise ValueError("deregistration_delay must be between 0 and 3600 seconds")
        return settings

    def as_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "healthy_threshold": self.healthy_threshold,
            "unhealthy_threshold": self.unhealthy_threshold,
            "deregistration_delay": self.deregistration_delay,
            "on_deregistration": self.on_deregistration.value,
            "on_unhealthy": self.on_unhealthy.value,
            "stickiness": self.stickiness.value,
            "cross_zone": self.cross_zone,
        }


@dataclass(slots=True)
class Target:
    """One registered target."""

    address: str
    zone: str = "a"
    healthy: bool | None = None
    """None until the first verdict (``initial``)."""
    passes_in_row: int = 0
    failures_in_row: int = 0
    checks: int = 0
    last_code: int | None = None
    last_error: str | None = None
    draining_since: float | None = None
    """When it was deregistered (None while registered)."""

    @property
    def state(self) -> str:
        """``initial``, ``healthy``, ``unhealthy`` or ``draining`` (DescribeTargetHealth)."""
        if self.draining_since is not None:
            return "draining"
        if self.healthy is None:
            return "initial"
        return "healthy" if self.healthy else "unhealthy"

    def record(self, code: int | None, error: str | None, settings: GroupSettings) -> None:
        """Account one health check (``code`` None when the request failed)."""
        self.checks += 1
        self.last_code, self.last_error = code, error
        if code is not None and 200 <= code < 400:
            self.passes_in_row += 1
            self.failures_in_row = 0
            if self.passes_in_row >= settings.healthy_threshold:
                self.healthy = True
        else:
            self.failures_in_row += 1
            self.passes_in_row = 0
            if self.failures_in_row >= settings.unhealthy_threshold:
                self.healthy = False

    def as_json(self) -> dict[str, Any]:
        """JSON-ready view."""
        return {
            "address": self.address,
            "zone": self.zone,
            "state": self.state,
            "healthy": self.healthy,
            "checks": self.checks,
            "last_code": self.last_code,
            "last_error": self.last_error,
        }


def _score(key: bytes, address: str) -> int:
    """Rendezvous hashing weight of ``address`` for ``key``."""
    return zlib.crc32(address.encode(), zlib.crc32(key))


@dataclass
class TargetGroup:
    """Targets, their health and where each flow goes."""

    settings: GroupSettings = field(default_factory=GroupSettings)
    targets: dict[str, Target] = field(default_factory=dict)
    affinity: dict[bytes, str] = field(default_factory=dict)
    """Stickiness key -> target of the flows sharing it."""

    def register(self, address: str, zone: str = "a") -> Target:
        """Register ``address`` (again): a draining target stops draining."""
        target = self.targets.get(address)
        if target is None:
            target = self.targets[address] = Target(address, zone)
        target.zone = zone
        target.draining_since = None
        return target

    def deregister(self, address: str, now: float) -> None:
        """Start draining ``address`` (no error if unknown or already draining)."""
        target = self.targets.get(address)
        if target is not None and target.draining_since is None:
            target.draining_since = now

    def sync(self, wanted: Iterable[tuple[str, str]], now: float) -> None:
        """Make the registered set ``wanted`` (address, zone): register the new ones,
        deregister (drain) the ones no longer listed."""
        zones = dict(wanted)
        for address, zone in zones.items():
            target = self.targets.get(address)
            if target is None or target.draining_since is not None or target.zone != zone:
                self.register(address, zone)
        for address in list(self.targets):
            if address not in zones:
                self.deregister(address, now)

    def expire(self, now: float) -> list[str]:
        """Remove targets whose deregistration delay is over; returns their addresses."""
        done = [
            t.address
            for t in self.targets.values()
            if t.draining_since is not None
            and now - t.draining_since >= self.settings.deregistration_delay
        ]
        for address in done:
            del self.targets[address]
        return done

    def record(self, address: str, code: int | None, error: str | None = None) -> None:
        """Account a health check of ``address`` (ignored when it is not registered)."""
        target = self.targets.get(address)
        if target is not None:
            target.record(code, error, self.settings)

    def eligible(self, zone: str) -> list[str]:
        """Targets a new flow entering in ``zone`` may go to (fail-open when none healthy)."""
        usable = [
            t
            for t in self.targets.values()
            if t.draining_since is None and (self.settings.cross_zone or t.zone == zone)
        ]
        healthy = [t.address for t in usable if t.healthy]
        return healthy or [t.address for t in usable]

    def choose(self, key: bytes, zone: str) -> str | None:
        """The target of a new flow with stickiness key ``key`` entering in ``zone``."""
        candidates = self.eligible(zone)
        if not candidates:
            return None
        known = self.affinity.get(key)
        if known in candidates:
            return known
        chosen = max(candidates, key=lambda address: _score(key, address))
        if len(self.affinity) >= MAX_AFFINITY:
            del self.affinity[next(iter(self.affinity))]
        self.affinity[key] = chosen
        return chosen

    def route(self, current: str, key: bytes, zone: str) -> str:
        """Where the next packet of an existing flow on ``current`` goes (target failover).

        Returns:
            ``current``, or a healthy target the flow is rebalanced to.
        """
        target = self.targets.get(current)
        if target is None:
            rebalance = self.settings.on_deregistration is Failover.REBALANCE
        elif target.draining_since is not None:
            rebalance = False  # existing flows finish on a draining target
        elif target.healthy is False:
            rebalance = self.settings.on_unhealthy is Failover.REBALANCE
        else:
            rebalance = False
        if not rebalance:
            return current
        healthy = [a for a in self.eligible(zone) if self.targets[a].healthy]
        if not healthy:
            return current
        self.affinity.pop(key, None)
        return self.choose(key, zone) or current

    def status(self) -> list[dict[str, Any]]:
        """Every target, JSON-ready."""
        return [t.as_json() for t in self.targets.values()]
