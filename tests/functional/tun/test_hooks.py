"""Hooks run real commands off the data path: arguments, order, timeout, bookkeeping."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from appliance.dataplane.hooks import HookRunner, TunnelHooks


class Events:
    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def __call__(self, kind: str, message: str) -> None:
        with self.lock:
            self.items.append((kind, message))


def script(tmp: Path, body: str) -> str:
    path = tmp / "hook.sh"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def test_hooks_get_gwlbtuns_arguments_in_order_per_endpoint(tmp_path: Path) -> None:
    # GIVEN a hook that is slow on CREATE and records its arguments
    log = tmp_path / "calls"
    hook = script(tmp_path, f'[ "$1" = CREATE ] && sleep 0.3\necho "$@" >> {log}\necho did $1\n')
    events = Events()
    runner = HookRunner(hook, hook, 10, events)
    # WHEN CREATE and DESTROY of one endpoint are submitted back to back
    runner.submit("CREATE", 0x2A, "gwi-G", "gwo-G")
    runner.submit("DESTROY", 0x2A, "gwi-G", "gwo-G")
    assert runner.wait(10)
    # THEN DESTROY ran after CREATE ended, both with gwlbtun's four arguments
    assert log.read_text().splitlines() == [
        "CREATE gwi-G gwo-G 0000000000000002a",
        "DESTROY gwi-G gwo-G 0000000000000002a",
    ]
    assert [k for k, _ in events.items] == ["hook", "hook"]
    assert list(runner.results) == [("CREATE", 0x2A, 0), ("DESTROY", 0x2A, 0)]


def test_a_hook_that_overruns_is_killed_and_reported(tmp_path: Path) -> None:
    hook = script(tmp_path, "sleep 30\n")
    events = Events()
    runner = HookRunner(hook, None, 0.5, events)
    started = time.monotonic()
    runner.submit("CREATE", 1, "gwi-1", "gwo-1")
    assert runner.wait(10)
    assert time.monotonic() - started < 10
    assert list(runner.results) == [("CREATE", 1, None)]
    assert events.items[-1][0] == "hook-failed"
    assert "killed after 0.5 s" in events.items[-1][1]


def test_failures_and_missing_commands_are_reported_not_raised(tmp_path: Path) -> None:
    events = Events()
    runner = HookRunner(script(tmp_path, "exit 3\n"), str(tmp_path / "missing"), 5, events)
    runner.submit("CREATE", 1, "gwi-1", "gwo-1")
    runner.submit("DESTROY", 1, "gwi-1", "gwo-1")
    assert runner.wait(5)
    messages = [m for _, m in events.items]
    assert "CREATE hook for gwi-1 exited 3" in messages
    assert any(m.startswith("DESTROY hook for gwi-1 could not start") for m in messages)


def test_tunnel_bookkeeping_runs_destroy_for_dead_workers_and_at_shutdown(tmp_path: Path) -> None:
    log = tmp_path / "calls"
    hook = script(tmp_path, f'echo "$1 $2" >> {log}\n')
    events = Events()
    tunnels = TunnelHooks(HookRunner(hook, hook, 5, events), events)
    tunnels.on_message(0, "CREATE", 1, "gwi-1", "gwo-1")
    tunnels.on_message(0, "CREATE", 2, "gwi-2", "gwo-2")
    tunnels.on_message(1, "CREATE", 3, "gwi-3", "gwo-3")
    # a DESTROY for an endpoint nobody created is ignored
    tunnels.on_message(0, "DESTROY", 9, "gwi-9", "gwo-9")
    tunnels.worker_gone(1)  # worker 1 died with gwi-3
    tunnels.on_message(0, "DESTROY", 2, "gwi-2", "gwo-2")  # idle timeout
    assert tunnels.shutdown(5)  # SIGTERM: gwi-1 is still live
    lines = sorted(log.read_text().splitlines())
    assert lines == [
        "CREATE gwi-1",
        "CREATE gwi-2",
        "CREATE gwi-3",
        "DESTROY gwi-1",
        "DESTROY gwi-2",
        "DESTROY gwi-3",
    ]
    assert tunnels.live == {}
