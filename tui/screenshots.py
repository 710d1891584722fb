"""Export an SVG screenshot of every view from the app itself (for docs/tui.md).

``python -m tui.screenshots docs/img`` drives gwlbtop headless over the simulated
fleet (:class:`tui.fake.FakeSource`) and saves ``gwlbtop-<view>.svg`` per view, plus
the grouped flows, the help and the confirmation dialog.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from textual.pilot import Pilot

from tui.app import GwlbtopApp, create_app
from tui.cli import load_policy_file
from tui.fake import EPOCH, FakeSource

SIZE = (150, 32)
SHOTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("fleet", "fleet", ()),
    ("tunnels", "tunnels", ()),
    ("flows", "flows", ()),
    ("flows-grouped", "flows", ("b", "b", "b")),
    ("policy", "policy", ()),
    ("explain", "policy", ("e", "tab", "tab", "tab", "ctrl+u", *"22", "enter")),
    ("events", "events", ()),
    ("help", "flows", ("question_mark",)),
    ("confirm-drain", "fleet", ("j", "D")),
)


async def _settle(pilot: Pilot[None]) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def shoot(directory: Path, name: str, view: str, keys: tuple[str, ...]) -> Path:
    """Save one screenshot after a few refreshes and ``keys``."""
    source = FakeSource.fleet_of(5, flows=60, unreachable=(3,))
    policy, note = load_policy_file(None, demo=True)
    app: GwlbtopApp = create_app(
        source,
        view=view,
        write=True,
        autorefresh=False,
        clock=lambda: EPOCH + 4,
        policy=policy,
        policy_note=note,
    )
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(3):
            await _settle(pilot)
            app.refresh_now()
            await _settle(pilot)
        if keys:
            await pilot.press(*keys)
            await _settle(pilot)
        path = app.save_screenshot(f"gwlbtop-{name}.svg", str(directory))
    return Path(path)


def main(argv: list[str] | None = None) -> int:
    """Write every screenshot into the directory given (default ``docs/img``)."""
    args = sys.argv[1:] if argv is None else argv
    directory = Path(args[0] if args else "docs/img")
    directory.mkdir(parents=True, exist_ok=True)
    for name, view, keys in SHOTS:
        path = asyncio.run(shoot(directory, name, view, keys))
        sys.stdout.write(f"{path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
