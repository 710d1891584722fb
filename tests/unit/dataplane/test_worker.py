"""Pure helpers of the worker process."""

from __future__ import annotations

import multiprocessing
import os
import socket
from concurrent.futures import ProcessPoolExecutor

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


def _policy_after(priority: int) -> tuple[int, str | None]:
    refused = apply_priority(priority)
    return os.sched_getscheduler(0), refused


@pytest.mark.skipif(os.geteuid() != 0, reason="SCHED_FIFO needs CAP_SYS_NICE (run as root)")
def test_a_worker_priority_puts_the_process_under_sched_fifo() -> None:
    # in a child process: the test runner's own scheduling must not change
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        assert pool.submit(_policy_after, 0).result() == (os.SCHED_OTHER, None)
        assert pool.submit(_policy_after, 5).result() == (os.SCHED_FIFO, None)


def test_a_refused_priority_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setscheduler", refuse)
    refused = apply_priority(5)
    assert refused is not None
    assert "CAP_SYS_NICE" in refused
