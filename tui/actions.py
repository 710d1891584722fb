"""Write actions and the explain document, without the UI: build, deliver, log, record.

The app asks for confirmation and runs these on a worker thread; everything that
reaches an appliance or AWS is here, and every outcome is logged.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Final

from appliance.policy.matcher import CompiledPolicy
from tui.errors import TuiError
from tui.explain import load_policy
from tui.model import ActionKind, AdminAction, Json
from tui.source import DataSource, PolicyDocumentSource

log = logging.getLogger("gwlbtop")

KINDS: Final[dict[str, ActionKind]] = {
    "drain": "drain",
    "undrain": "undrain",
    "reload_policy": "reload_policy",
    "clear_flows": "clear_flows",
}
"""Action names the key bindings use, to their kind."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What came of an action."""

    action: AdminAction
    ok: bool
    message: str
    at: float

    def event(self) -> Json:
        """The entry the events view shows (origin ``gwlbtop``)."""
        kind = self.action.kind if self.ok else f"{self.action.kind} failed"
        return {
            "at": self.at,
            "instance": self.action.instance_id,
            "kind": kind,
            "message": self.message,
        }


def make_action(kind: str, instance_id: str, params: dict[str, str] | None = None) -> AdminAction:
    """Build an action.

    Raises:
        ValueError: ``kind`` is not a write action.
    """
    if kind not in KINDS:
        raise ValueError(f"not a write action: {kind!r}")
    return AdminAction(KINDS[kind], instance_id, dict(params or {}))


def carry_out(source: DataSource, action: AdminAction) -> Outcome:
    """Deliver ``action`` through ``source`` and log the outcome (blocking: use a worker)."""
    log.info("action: %s", action.describe())
    try:
        message, ok = source.perform(action), True
    except TuiError as exc:
        message, ok = str(exc), False
    log.info(
        "action %s: %s",
        "done" if ok else "failed",
        message,
        extra={"action": action.kind, "instance": action.instance_id},
    )
    return Outcome(action, ok, message, time.time())


def read_policy(source: DataSource, note: str) -> tuple[CompiledPolicy | None, str]:
    """The policy document the source names (e.g. the fleet's SSM parameter), compiled.

    Blocking: use a worker. Returns ``(None, why)`` when there is none or it is invalid.
    """
    if not isinstance(source, PolicyDocumentSource):
        return None, note
    try:
        found = source.policy_document()
        if found is None:
            return None, note
        text, where = found
        policy = load_policy(text, where)
    except TuiError as exc:
        log.warning("explain document: %s", exc)
        return None, str(exc)
    log.info("explain document: policy %s from %s", policy.version, where)
    return policy, f"policy {policy.version} from {where}"
