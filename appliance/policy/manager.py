"""The policy manager: source polling, compile, last-good store, refusals and back-off.

Lives in the supervisor. The rules it keeps:

* A new version is used only when it parses and compiles; otherwise it is
  *refused*: counted, kept as ``last_error`` for ``/status`` and logged once per
  version (a source that keeps serving the same bad version is not re-parsed
  and not re-logged on every poll).
* An unreachable source never replaces anything; polls back off exponentially
  (``poll_interval * 2**failures``, capped at ``max_backoff``) and return to the
  normal interval after the next success.
* Every accepted document is saved to the store (atomically) and, when there is
  no policy yet and the source cannot give a usable one, the stored last good
  document is loaded instead.
* An admin push (:meth:`PolicyManager.apply_text`) replaces the policy until the
  source next *changes*; an unchanged source does not undo a push.

Time is passed in (``now``) or read from an injected clock, so tests need no sleeps.
Thread-safe: updates (poll, reload, push) are serialised, and :meth:`PolicyManager.status`
and :meth:`PolicyManager.current` never wait for a slow fetch or compile.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from appliance.policy.compiler import compile_policy
from appliance.policy.document import parse_document
from appliance.policy.errors import PolicyError, PolicySourceError
from appliance.policy.matcher import CompiledPolicy
from appliance.policy.sources import PolicySource
from appliance.policy.store import PolicyStore, StoredPolicy

log = logging.getLogger("gwlbd.policy")

_ACTION_NAMES = {0: "allow", 1: "drop", 2: "reject"}


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class PolicyManager:
    """Owns the policy source, the last-good store and the current compiled snapshot."""

    def __init__(
        self,
        source: PolicySource | None,
        store: PolicyStore | None = None,
        *,
        poll_interval: float = 30.0,
        max_backoff: float = 600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Create a manager.

        Args:
            source: where documents come from; None when only admin pushes are used.
            store: where the last good document is kept.
            poll_interval: seconds between polls while the source answers.
            max_backoff: longest wait between polls while the source fails.
            clock: wall-clock time for pushes and status (tests inject a fake).
        """
        self.source = source
        self.store = store
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self._clock = clock
        self._current: CompiledPolicy | None = None
        self._digest: str | None = None
        self._origin = "none"
        self._loaded_at: float | None = None
        self._revision: str | None = None
        """Revision of the last document fetched from the source, used or refused."""
        self._next_poll = float("-inf")
        self._failures = 0
        self._store_tried = False
        self.refused = 0
        """Documents refused (invalid) or fetches failed, since start."""
        self.last_error: dict[str, Any] | None = None
        self._logged: set[tuple[str, str]] = set()
        self._updating = threading.Lock()
        """Held by poll, reload and apply_text (slow: fetch and compile)."""
        self._state = threading.Lock()
        """Held briefly while the current policy or the error bookkeeping changes or is read."""

    # -- the supervisor's calls ------------------------------------------------------

    def current(self) -> CompiledPolicy | None:
        """The snapshot in use, or None before any policy was loaded."""
        return self._current

    def poll(self, now: float) -> CompiledPolicy | None:
        """Poll the source if due; a new snapshot when it changed and compiled, else None.

        Never raises for source or document problems: they are recorded instead.
        """
        with self._updating:
            if self.source is None or now < self._next_poll:
                return self._from_store_if_empty(now) if self.source is None else None
            try:
                return self._fetch_and_use(now, known=self._revision)
            except PolicyError:
                return self._from_store_if_empty(now)

    def reload(self, now: float) -> CompiledPolicy | None:
        """Read the source now, even if unchanged (SIGHUP, ``POST /admin/policy/reload``).

        Returns the new snapshot, or None when the document is the one in use.

        Raises:
            PolicyError: the source is unreachable or the document invalid (recorded too).
        """
        if self.source is None:
            raise PolicySourceError("no policy source is configured (only admin pushes)")
        with self._updating:
            return self._fetch_and_use(now, known=None)

    def apply_text(self, text: str, origin: str) -> CompiledPolicy:
        """Use a pushed document (``gwlbd policy apply``); the last good one stays on error.

        Raises:
            PolicyError: the document is invalid (recorded as a refusal too).
        """
        with self._updating:
            now = self._clock()
            try:
                compiled = compile_policy(parse_document(text, source=origin))
            except PolicyError as exc:
                self._refuse(now, _digest(text), _version_hint(text), exc)
                raise
            self._use(compiled, text, origin, now, persist=True)
            return compiled

    def status(self, hits: Mapping[str, tuple[int, int, int]]) -> dict[str, Any]:
        """The ``policy`` section of ``/status`` (docs/status-api.md).

        Args:
            hits: rule id -> (flows, packets, bytes) aggregated over the workers.
        """
        with self._state:
            policy, origin, loaded_at = self._current, self._origin, self._loaded_at
            last_error, refused = self.last_error, self.refused
        rules: list[dict[str, Any]] = []
        listed: set[str] = set()
        summaries = list(policy.rules) if policy is not None else []
        for rule in summaries:
            flows, packets, size = hits.get(rule.id, (0, 0, 0))
            rules.append(
                {
                    "id": rule.id,
                    "action": _ACTION_NAMES[int(rule.action)],
                    "log": rule.log,
                    "flows": flows,
                    "packets": packets,
                    "bytes": size,
                }
            )
            listed.add(rule.id)
        extra = [rule_id for rule_id in hits if rule_id not in listed]
        if policy is not None and "default" not in extra:
            extra.insert(0, "default")
        for rule_id in extra:
            flows, packets, size = hits.get(rule_id, (0, 0, 0))
            action = (
                _ACTION_NAMES[int(policy.default_action)]
                if policy is not None and rule_id == "default"
                else None
            )
            rules.append(
                {"id": rule_id, "action": action, "log": False, "flows": flows}
                | {"packets": packets, "bytes": size}
            )
        return {
            "version": policy.version if policy is not None else None,
            "source": origin,
            "loaded_at": loaded_at,
            "default_action": (
                _ACTION_NAMES[int(policy.default_action)] if policy is not None else None
            ),
            "rules": rules,
            "last_error": last_error,
            "refused": refused,
            "configured_source": self.source.name if self.source is not None else None,
        }

    # -- internals -------------------------------------------------------------------

    def _fetch_and_use(self, now: float, known: str | None) -> CompiledPolicy | None:
        assert self.source is not None
        try:
            fetched = self.source.fetch(known)
        except PolicySourceError as exc:
            self._failures += 1
            delay = min(self.max_backoff, self.poll_interval * 2 ** (self._failures - 1))
            self._next_poll = now + delay
            self._refuse(now, "unreachable:" + str(exc), None, exc)
            raise
        self._failures = 0
        self._next_poll = now + self.poll_interval
        self._logged = {entry for entry in self._logged if entry[0] != "unreachable"}
        if fetched is None:
            return None
        self._revision = fetched.revision
        digest = _digest(fetched.text)
        if digest == self._digest:
            with self._state:
                self._origin = fetched.origin
            return None
        try:
            compiled = compile_policy(parse_document(fetched.text, source=fetched.origin))
        except PolicyError as exc:
            self._refuse(now, digest, _version_hint(fetched.text), exc)
            raise
        self._use(compiled, fetched.text, fetched.origin, now, persist=True)
        return compiled

    def _from_store_if_empty(self, now: float) -> CompiledPolicy | None:
        """At start, with no usable source document: the last good one, if any."""
        if self._current is not None or self._store_tried or self.store is None:
            return None
        self._store_tried = True
        stored = self.store.load()
        if stored is None:
            return None
        try:
            compiled = compile_policy(parse_document(stored.text, source=stored.origin))
        except PolicyError as exc:
            log.warning(
                "stored last good policy is not usable",
                extra={"event": "policy_store_invalid", "problems": exc.problems},
            )
            return None
        self._use(compiled, stored.text, f"store (last good, from {stored.origin})", now, False)
        return compiled

    def _use(
        self, compiled: CompiledPolicy, text: str, origin: str, now: float, persist: bool
    ) -> None:
        with self._state:
            self._current = compiled
            self._digest = _digest(text)
            self._origin = origin
            self._loaded_at = now
            self._store_tried = True
        log.info(
            "policy %s loaded from %s (%d rules)",
            compiled.version,
            origin,
            len(compiled.rules),
            extra={"event": "policy_loaded", "version": compiled.version, "source": origin},
        )
        if persist and self.store is not None:
            try:
                self.store.save(StoredPolicy(text, origin, now))
            except PolicyError as exc:
                log.warning(str(exc), extra={"event": "policy_store_failed"})

    def _refuse(self, now: float, key: str, version: str | None, exc: PolicyError) -> None:
        message = "; ".join(exc.problems[:5])
        if len(exc.problems) > 5:
            message += f"; and {len(exc.problems) - 5} more"
        with self._state:
            self.refused += 1
            self.last_error = {"at": now, "version": version, "message": message}
        kind = "unreachable" if isinstance(exc, PolicySourceError) else "invalid"
        if (kind, key) in self._logged:
            return
        self._logged.add((kind, key))
        log.error(
            "policy %s refused: %s",
            version or "(unknown version)",
            message,
            extra={"event": f"policy_{kind}", "version": version, "problems": exc.problems[:20]},
        )


def _version_hint(text: str) -> str | None:
    """The ``version`` label of a document that failed validation, if it can be seen."""
    for line in text.splitlines()[:50]:
        stripped = line.strip().strip(",")
        for prefix in ("version:", '"version":'):
            if stripped.startswith(prefix):
                return stripped[len(prefix) :].strip().strip("\"'") or None
    return None
