"""The data source for one appliance: its status API over HTTP or the admin socket."""

from __future__ import annotations

import time

from tui.errors import ActionError, FetchError
from tui.http import JsonClient, check_schema
from tui.model import AdminAction, FetchRequest, InstanceInfo, Member, Snapshot


class ApplianceSource:
    """Reads ``/status`` (and ``/flows`` when asked) from one gwlbd.

    Args:
        target: ``http://host:port`` (the health port, read-only unless the daemon
            serves admin there) or the admin unix socket path.
        timeout: seconds allowed per request.
    """

    def __init__(self, target: str, timeout: float = 2.0) -> None:
        self._client = JsonClient(target, timeout)
        self._target = target
        self._instance_id = target
        """Replaced by the daemon's instance id once known."""

    @property
    def label(self) -> str:
        """``appliance <target>``."""
        return f"appliance {self._target}"

    def fetch(self, request: FetchRequest) -> Snapshot:
        """Read ``/status`` and, if asked for this appliance, ``/flows``."""
        started = time.time()
        status = flows = None
        error = None
        try:
            status = check_schema(self._client.get("/status"), "status", self._target)
            self._instance_id = str(status.get("instance_id") or self._target)
            if request.flows_of is not None:
                flows = check_schema(
                    self._client.get("/flows", {"limit": str(request.flows_limit)}),
                    "flows",
                    self._target,
                )
        except FetchError as exc:
            error = exc.message
        info = InstanceInfo(instance_id=self._instance_id, target=self._target)
        member = Member(info, status, flows, error, time.time() - started)
        return Snapshot(taken_at=started, source=self.label, members=(member,))

    def perform(self, action: AdminAction) -> str:
        """POST the action to the admin channel."""
        try:
            answer = self._client.post(action.path, action.params or None)
        except FetchError as exc:
            raise ActionError(f"{action.describe()}: {exc.message}") from exc
        return str(answer.get("message", "ok"))

    def close(self) -> None:
        """Nothing to release: one connection per request."""
