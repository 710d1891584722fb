"""Pure helpers of the worker process."""

from __future__ import annotations

import socket

import pytest

from appliance.dataplane.worker import reply_source


@pytest.mark.parametrize(
    ("listen", "expected"),
    [("0.0.0.0", None), ("198.18.0.2", socket.inet_aton("198.18.0.2"))],
)
def test_replies_come_from_the_listen_address_unless_it_is_the_wildcard(
    listen: str, expected: bytes | None
) -> None:
    assert reply_source(listen) == expected
