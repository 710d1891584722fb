"""Fixtures for gwlbtop tests: fake sources, an app factory with a fixed clock, refresh helpers."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from tui.app import GwlbtopApp, create_app
from tui.fake import FakeSource
from tui.source import DataSource


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests in a fresh event loop (no asyncio plugin needed)."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    asyncio.run(pyfuncitem.obj(**kwargs))
    return True


SIZE = (150, 30)
"""Terminal size of pilot and snapshot tests."""

AppFactory = Callable[..., GwlbtopApp]


@pytest.fixture
def fleet() -> FakeSource:
    """Four instances: index 2 unreachable, the last one pending with an old policy."""
    return FakeSource.fleet_of(4, flows=30, unreachable=(2,))


@pytest.fixture
def make_app() -> AppFactory:
    """Build an app over a source with a fixed clock and no timer-driven refresh."""

    def build(source: DataSource, **options: Any) -> GwlbtopApp:
        options.setdefault("clock", lambda: 1_764_433_600.0)
        options.setdefault("autorefresh", False)
        return create_app(source, **options)

    return build


async def settle(pilot: Pilot[None]) -> None:
    """Wait until every worker finished and the UI processed what they posted."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def refresh(pilot: Pilot[None], times: int = 1) -> None:
    """Run ``times`` complete refreshes."""
    app = pilot.app
    assert isinstance(app, GwlbtopApp)
    for _ in range(times):
        await settle(pilot)
        app.refresh_now()
        await settle(pilot)
