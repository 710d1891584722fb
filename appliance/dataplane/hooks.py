"""Create and destroy hooks of tun mode, with gwlbtun's arguments, run off the data path.

A hook is a command (split like a shell would, but run without one) called as::

    <command> CREATE|DESTROY gwi-<X> gwo-<X> <endpoint id, 17 hex digits>

exactly as ``gwlbtun -c``/``-r`` call theirs, so existing scripts keep working. Unlike
gwlbtun, hooks never stall packets: the worker creates and configures the devices
itself, tells the supervisor, and the supervisor runs the hook in a thread, with a
timeout (the process group is killed when it runs out) and its output logged. Hooks
of one endpoint run in order (a DESTROY waits for its CREATE); hooks of different
endpoints run side by side.

:class:`TunnelHooks` keeps the supervisor's list of live tunnels, so DESTROY also
runs when a worker dies (its devices went with it), on endpoint idle timeout (the
worker reports it) and at shutdown (SIGTERM), where the daemon waits for the hooks.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence

from appliance.dataplane.tun import endpoint_hex

log = logging.getLogger(__name__)

OUTPUT_LIMIT = 8192
"""Bytes of a hook's output that are logged."""

Event = Callable[[str, str], None]
"""Records a daemon event: ``(kind, message)``."""


def hook_argv(command: str, action: str, gwi: str, gwo: str, endpoint_id: int) -> list[str]:
    """The argv of one hook call (gwlbtun's four arguments after the command's own)."""
    return [*shlex.split(command), action, gwi, gwo, endpoint_hex(endpoint_id)]


class HookRunner:
    """Runs hook commands in threads, ordered per endpoint.

    Args:
        create: command for CREATE (None: none).
        destroy: command for DESTROY (None: none).
        timeout: seconds a hook may run before its process group is killed.
        on_event: where results are reported (the supervisor's event list).
    """

    def __init__(
        self, create: str | None, destroy: str | None, timeout: float, on_event: Event
    ) -> None:
        self.commands = {"CREATE": create, "DESTROY": destroy}
        self.timeout = timeout
        self.on_event = on_event
        self._last: dict[int, threading.Thread] = {}
        self._lock = threading.Lock()
        self.results: collections.deque[tuple[str, int, int | None]] = collections.deque(maxlen=100)
        """``(action, endpoint id, exit status or None on timeout)`` of the last hooks."""

    def submit(self, action: str, endpoint_id: int, gwi: str, gwo: str) -> None:
        """Run the ``action`` hook of an endpoint after its previous hook (if any) ended."""
        command = self.commands.get(action)
        if not command:
            return
        argv = hook_argv(command, action, gwi, gwo, endpoint_id)
        with self._lock:
            previous = self._last.get(endpoint_id)
            thread = threading.Thread(
                target=self._run,
                args=(argv, action, endpoint_id, gwi, previous),
                name=f"hook-{action.lower()}-{gwi}",
                daemon=True,
            )
            self._last[endpoint_id] = thread
        thread.start()

    def _run(
        self,
        argv: Sequence[str],
        action: str,
        endpoint_id: int,
        gwi: str,
        previous: threading.Thread | None,
    ) -> None:
        if previous is not None:
            previous.join()
        started = time.monotonic()
        status: int | None
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            self.results.append((action, endpoint_id, None))
            self.on_event("hook-failed", f"{action} hook for {gwi} could not start: {exc}")
            return
        try:
            output, _ = proc.communicate(timeout=self.timeout)
            status = proc.returncode
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
            status = None
        took = time.monotonic() - started
        text = output[:OUTPUT_LIMIT].decode(errors="replace").rstrip()
        if text:
            log.info(
                "%s hook output for %s:\n%s",
                action,
                gwi,
                text,
                extra={"event": "hook-output", "hook": action, "interface": gwi},
            )
        self.results.append((action, endpoint_id, status))
        if status is None:
            self.on_event("hook-failed", f"{action} hook for {gwi} killed after {self.timeout:g} s")
        elif status != 0:
            self.on_event("hook-failed", f"{action} hook for {gwi} exited {status}")
        else:
            self.on_event("hook", f"{action} hook for {gwi} done in {took:.2f} s")

    def wait(self, timeout: float) -> bool:
        """Wait for every submitted hook; True if all ended within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._last.values())
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in threads)


class TunnelHooks:
    """The supervisor's list of live tunnels and the hooks their changes trigger."""

    def __init__(self, runner: HookRunner, on_event: Event) -> None:
        self.runner = runner
        self.on_event = on_event
        self.live: dict[int, tuple[int, str, str]] = {}
        """Endpoint id -> (worker index, gwi name, gwo name)."""
        self._lock = threading.Lock()

    def on_message(self, worker: int, action: str, endpoint_id: int, gwi: str, gwo: str) -> None:
        """A worker created (``CREATE``) or removed (``DESTROY``) an endpoint's devices."""
        with self._lock:
            if action == "CREATE":
                self.live[endpoint_id] = (worker, gwi, gwo)
            elif self.live.pop(endpoint_id, None) is None:
                return
        verb = "created" if action == "CREATE" else "removed (idle)"
        self.on_event("tunnel", f"interfaces {gwi} and {gwo} {verb}")
        self.runner.submit(action, endpoint_id, gwi, gwo)

    def worker_gone(self, worker: int) -> None:
        """A worker exited: its devices went with it, so their DESTROY hooks run."""
        with self._lock:
            gone = [(e, v) for e, v in self.live.items() if v[0] == worker]
            for endpoint_id, _ in gone:
                del self.live[endpoint_id]
        for endpoint_id, (_, gwi, gwo) in gone:
            self.on_event("tunnel", f"interfaces {gwi} and {gwo} gone with worker {worker}")
            self.runner.submit("DESTROY", endpoint_id, gwi, gwo)

    def shutdown(self, timeout: float) -> bool:
        """Run DESTROY for every live tunnel and wait for all hooks (SIGTERM path)."""
        with self._lock:
            gone = list(self.live.items())
            self.live.clear()
        for endpoint_id, (_, gwi, gwo) in gone:
            self.runner.submit("DESTROY", endpoint_id, gwi, gwo)
        return self.runner.wait(timeout)
