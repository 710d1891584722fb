"""The state table's item layout (pure: builds and reads items, no I/O).

One DynamoDB table, partition key ``pk`` only (no sort key). ``gwlbtop`` reads it; the
layout is documented in ``docs/deploy.md`` ("What the state table holds").

- ``INSTANCE#<instance id>``: ``instance_id``, ``asg_name``, ``state`` (an
  :class:`InstanceState`), ``last_action`` (``CONTINUE``/``ABANDON`` or the step),
  ``reason``, ``lifecycle_token`` (when known), ``updated_at`` (ISO 8601 UTC),
  ``history`` (the last :data:`HISTORY_LIMIT` ``{at, state, reason}``), plus the
  service's own bookkeeping: ``revision``, ``unhealthy_since``, ``waiting_seen_at``,
  ``execution``, ``restarted_by``, ``warm_pool``, and ``expires_at`` (Unix seconds, the
  table's TTL attribute, set on terminated and abandoned instances).
- ``POLICY#<parameter name>``: ``parameter``, ``desired_version`` (SSM version number as a
  string), ``desired_label`` (the document's ``version``), ``live_version``, ``updated_at``,
  ``last_error`` (absent when the last version was accepted), ``last_rejected_version``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

HISTORY_LIMIT = 20
INSTANCE_PREFIX = "INSTANCE#"
POLICY_PREFIX = "POLICY#"


class InstanceState(enum.StrEnum):
    """Where an instance is in its life, as the service sees it."""

    LAUNCHING = "launching"
    REGISTERING = "registering"
    WAITING_HEALTHY = "waiting-healthy"
    IN_SERVICE = "in-service"
    DRAINING = "draining"
    TERMINATED = "terminated"
    ABANDONED = "abandoned"
    UNHEALTHY = "unhealthy"


ACTIVE_LAUNCH = frozenset(
    {InstanceState.LAUNCHING, InstanceState.REGISTERING, InstanceState.WAITING_HEALTHY}
)
"""States in which a launch workflow is running for the instance."""


def iso(ts: float) -> str:
    """Unix seconds to ISO 8601 UTC with a ``Z``, to the second."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_iso(text: str) -> float:
    """ISO 8601 (as written by :func:`iso`) to Unix seconds."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def instance_pk(instance_id: str) -> str:
    """Partition key of an instance item."""
    return INSTANCE_PREFIX + instance_id


def policy_pk(parameter: str) -> str:
    """Partition key of a policy item."""
    return POLICY_PREFIX + parameter


@dataclass(frozen=True, slots=True)
class InstanceRecord:
    """An instance item, read back."""

    instance_id: str
    asg_name: str
    state: str
    last_action: str
    reason: str
    updated_at: str
    lifecycle_token: str | None = None
    history: tuple[dict[str, str], ...] = ()
    revision: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    """Bookkeeping attributes (``unhealthy_since``, ``waiting_seen_at``, ``execution``)."""

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> InstanceRecord:
        """Read an item as DynamoDB returns it."""
        known = {"pk", "instance_id", "asg_name", "state", "last_action", "reason"}
        known |= {"updated_at", "lifecycle_token", "history", "revision"}
        return cls(
            instance_id=str(item["instance_id"]),
            asg_name=str(item.get("asg_name", "")),
            state=str(item.get("state", "")),
            last_action=str(item.get("last_action", "")),
            reason=str(item.get("reason", "")),
            updated_at=str(item.get("updated_at", "")),
            lifecycle_token=item.get("lifecycle_token"),
            history=tuple({str(k): str(v) for k, v in h.items()} for h in item.get("history", [])),
            revision=int(item.get("revision", 0)),
            extra={k: v for k, v in item.items() if k not in known},
        )


def next_instance_item(
    old: InstanceRecord | None,
    *,
    instance_id: str,
    asg_name: str,
    state: InstanceState,
    reason: str,
    last_action: str,
    now: float,
    token: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The item after a state change: history appended and bounded, revision bumped.

    ``extra`` values of None remove those attributes.
    """
    at = iso(now)
    history = [*(old.history if old else ()), {"at": at, "state": state.value, "reason": reason}]
    item: dict[str, Any] = dict(old.extra) if old else {}
    item.update(
        pk=instance_pk(instance_id),
        instance_id=instance_id,
        asg_name=asg_name or (old.asg_name if old else ""),
        state=state.value,
        last_action=last_action,
        reason=reason,
        updated_at=at,
        history=history[-HISTORY_LIMIT:],
        revision=(old.revision if old else 0) + 1,
    )
    keep_token = token if token is not None else (old.lifecycle_token if old else None)
    if keep_token:
        item["lifecycle_token"] = keep_token
    for key, value in (extra or {}).items():
        if value is None:
            item.pop(key, None)
        else:
            item[key] = value
    return item


def policy_item(
    *,
    parameter: str,
    desired_version: str,
    desired_label: str,
    live_version: str,
    now: float,
    last_error: str | None,
    last_rejected_version: str | None = None,
) -> dict[str, Any]:
    """A policy item."""
    item: dict[str, Any] = {
        "pk": policy_pk(parameter),
        "parameter": parameter,
        "desired_version": desired_version,
        "desired_label": desired_label,
        "live_version": live_version,
        "updated_at": iso(now),
    }
    if last_error:
        item["last_error"] = last_error
    if last_rejected_version:
        item["last_rejected_version"] = last_rejected_version
    return item
