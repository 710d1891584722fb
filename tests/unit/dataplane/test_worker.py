"""Pure helpers of the worker process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from appliance.dataplane.worker import apply_priority, reply_source


@pytest.mark.parametrize(
    ("listen", "expected"),
    [("0.0.0.0", None), ("198.18.0.2", socket.inet_aton("198.18.0.2"))],
)
def test_replies_come_from_the_listen_address_unless_it_is_the_wildcard(
    listen: str, expected: bytes | None
) -> None:
    assert reply_source(listen) == expected


_CHILD = (
    "import os, sys\n"
    "from appliance.dataplane.worker import apply_priority\n"
    "refused = apply_priority(int(sys.argv[1]))\n"
    "print(os.sched_getscheduler(0), refused)\n"
)


@pytest.mark.skipif(os.geteuid() != 0, reason="SCHED_FIFO needs CAP_SYS_NICE (run as root)")
@pytest.mark.parametrize(("priority", "policy"), [(0, os.SCHED_OTHER), (5, os.SCHED_FIFO)])
def test_a_worker_priority_puts_the_process_under_sched_fifo(priority: int, policy: int) -> None:
    # in a child process: the test runner's own scheduling must not change
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(priority)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert done.stdout.split() == [str(policy), "None"]


def test_a_refused_priority_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setscheduler", refuse)
    refused = apply_priority(5)
    assert refused is not None
    assert "CAP_SYS_NICE" in refused
