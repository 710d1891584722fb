"""Fixtures: a real ControlServer on an ephemeral loopback port and a unix socket."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from appliance.control.client import AdminClient
from appliance.control.fake import FakeStatusProvider
from appliance.control.http import ControlServer, ControlSettings


@pytest.fixture
def provider() -> FakeStatusProvider:
    return FakeStatusProvider()


@pytest.fixture
def socket_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # tmp_path_factory keeps the path short: unix socket paths are limited to 107 bytes.
    return tmp_path_factory.mktemp("ctl") / "run" / "admin.sock"


@pytest.fixture
def server(provider: FakeStatusProvider, socket_path: Path) -> Iterator[ControlServer]:
    settings = ControlSettings(
        health_host="127.0.0.1", health_port=0, admin_socket=str(socket_path)
    )
    control = ControlServer(provider, settings)
    control.start()
    try:
        yield control
    finally:
        control.close()


@pytest.fixture
def tcp(server: ControlServer) -> AdminClient:
    """A client of the health/status listener."""
    address = server.health_address
    assert address is not None
    return AdminClient(f"http://{address[0]}:{address[1]}")


@pytest.fixture
def admin(server: ControlServer) -> AdminClient:
    """A client of the admin socket."""
    assert server.admin_socket is not None
    return AdminClient(server.admin_socket)


RawExchange = Callable[[bytes], bytes]


@pytest.fixture
def raw(server: ControlServer) -> RawExchange:
    """Send raw bytes to the health/status listener and read the whole answer."""
    address = server.health_address
    assert address is not None

    def exchange(data: bytes) -> bytes:
        with socket.create_connection(address, timeout=5) as sock:
            sock.sendall(data)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)

    return exchange
