"""gwlbtop against a real status API server: appliance.control's HTTP server (health port and
admin unix socket) serving its in-memory StatusProvider.

The real gwlbd daemon was not runnable when this was written; this exercises the same HTTP
code the daemon serves, over real sockets.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Static

from appliance.control.fake import FakeStatusProvider, sample_flow
from appliance.control.http import ControlServer, ControlSettings
from tests.tui.conftest import SIZE, AppFactory, refresh, settle
from tui.appliance_source import ApplianceSource
from tui.errors import ActionError
from tui.model import AdminAction, FetchRequest


@pytest.fixture
def provider() -> FakeStatusProvider:
    p = FakeStatusProvider()
    p.flow_records = [sample_flow(i, packets=10 + i) for i in range(25)]
    return p


@pytest.fixture
def server(provider: FakeStatusProvider) -> Iterator[ControlServer]:
    with tempfile.TemporaryDirectory(prefix="gwlbtop-") as tmp:
        settings = ControlSettings(
            health_host="127.0.0.1", health_port=0, admin_socket=str(Path(tmp) / "admin.sock")
        )
        control = ControlServer(provider, settings)
        control.start()
        try:
            yield control
        finally:
            control.close()


def http_url(server: ControlServer) -> str:
    address = server.health_address
    assert address is not None
    return f"http://{address[0]}:{address[1]}"


def test_reads_status_and_flows_over_http(server: ControlServer) -> None:
    source = ApplianceSource(http_url(server))
    snapshot = source.fetch(FetchRequest(flows_of="any"))
    (member,) = snapshot.members
    assert member.error is None
    assert member.status is not None
    assert member.status["policy"]["version"] == "static"
    assert member.flows is not None
    assert member.flows["total"] == 25


def test_actions_refused_on_the_health_port(server: ControlServer) -> None:
    source = ApplianceSource(http_url(server))
    with pytest.raises(ActionError):
        source.perform(AdminAction("drain", "x"))


async def test_app_on_admin_socket_drains(
    make_app: AppFactory, server: ControlServer, provider: FakeStatusProvider
) -> None:
    assert server.admin_socket is not None
    app = make_app(ApplianceSource(server.admin_socket), write=True, view="tunnels")
    async with app.run_test(size=SIZE) as pilot:
        await refresh(pilot)
        screen = app.screen
        assert "0x0123456789abcdef" in screen.query_one("#table").order  # type: ignore[attr-defined]
        await pilot.press("3")
        await refresh(pilot)
        assert app.screen.query_one("#table").row_count == 25  # type: ignore[attr-defined]
        await pilot.press("2", "D", "y")
        await settle(pilot)
        await refresh(pilot)
        assert provider.actions == ["drain"]
        assert provider.state == "draining"
        assert "draining" in str(app.screen.query_one("#summary", Static).render())
