"""gwlbtop: the Textual app, its factory and the ``gwlbtop`` console script.

:func:`create_app` takes any :class:`~tui.source.DataSource`, so tests inject
:class:`~tui.fake.FakeSource`. Live data comes from one thread worker at a time
that fetches, computes rates and builds the active view's rows, then re-arms a
timer: polls never overlap, and the UI thread only arranges rows and updates the
table by key.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.timer import Timer

from appliance.policy.matcher import CompiledPolicy
from tui import format as fmt
from tui.actions import Outcome, carry_out, make_action, read_policy
from tui.cli import run
from tui.errors import TuiError
from tui.model import AdminAction, FetchRequest, Json, Member, Snapshot
from tui.rates import WINDOWS, RateTracker
from tui.screens.explain import ExplainScreen
from tui.screens.modals import ConfirmScreen, HelpScreen
from tui.screens.view import ViewScreen
from tui.screens.views import SCREENS
from tui.source import DataSource, PolicyDocumentSource
from tui.table import ChangeMarks, ViewTable
from tui.views import BUILDERS, VIEW_NAMES, RenderContext
from tui.views.context import GROUPINGS, GroupBy, observe

log = logging.getLogger("gwlbtop")

REFRESH_FLOOR = 1.0
"""Seconds: the shortest refresh interval gwlbtop accepts (protects the appliances)."""
GC_THRESHOLD = 20_000
"""Allocations between young-generation collections while the app runs (CPython: 700)."""


class GwlbtopApp(App[None]):
    """The on-call terminal UI for gwlbd appliances."""

    TITLE = "gwlbtop"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "quit"),
        Binding("question_mark", "help", "help"),
        Binding("colon", "command_line", "view…"),
        Binding("p", "pause", "pause"),
        Binding("w", "window", "rate window"),
        Binding("ctrl+r", "refresh_now", "refresh now", show=False),
        *(
            Binding(str(i + 1), f"view('{name}')", name, show=False)
            for i, name in enumerate(VIEW_NAMES)
        ),
    ]

    def __init__(
        self,
        source: DataSource,
        *,
        write: bool = False,
        interval: float = 2.0,
        view: str = "fleet",
        policy: CompiledPolicy | None = None,
        policy_note: str = "no policy document given (--policy-file)",
        clock: Callable[[], float] = time.time,
        theme: str | None = None,
        autorefresh: bool = True,
    ) -> None:
        super().__init__()
        self.source = source
        self.write = write
        self.interval = max(REFRESH_FLOOR, interval)
        self.start_view = view if view in VIEW_NAMES else "fleet"
        self.policy = policy
        self.policy_note = policy_note
        self.clock = clock
        self.autorefresh = autorefresh
        if theme:
            self.theme = theme
        self.snapshot: Snapshot | None = None
        self.instance_id: str | None = None
        self.group_by: GroupBy | None = None
        self.window = WINDOWS[1]
        self.paused = False
        self.copied: str | None = None
        self.local_events: list[Json] = []
        self.rates = RateTracker()
        self.marks: dict[str, ChangeMarks] = {name: ChangeMarks() for name in VIEW_NAMES}
        self.last_ok: float | None = None
        """clock() of the last successful refresh."""
        self.last_error: str | None = None
        self.stale_since: float | None = None
        self.refreshes = 0
        self._build_lock = threading.Lock()
        self._timer: Timer | None = None
        self._polling = False
        self._poll_again = False
        self._retired: list[object] = []
        self._gc_thresholds = gc.get_threshold()

    # --- views -------------------------------------------------------------------------

    def on_mount(self) -> None:
        """Install one screen per view, show the first, start polling."""
        # A refresh of 10,000 flows allocates ~300,000 short-lived, acyclic objects in
        # the worker; with CPython's default thresholds that triggers hundreds of young
        # and several full collections per refresh, often on the UI thread. Collect
        # less often, and keep everything alive at start-up out of the collections.
        self._gc_thresholds = gc.get_threshold()
        gc.set_threshold(GC_THRESHOLD, *self._gc_thresholds[1:])
        gc.freeze()
        for name, screen_type in SCREENS.items():
            self.install_screen(screen_type(), name)
        self.push_screen(self.start_view)
        self.set_interval(1.0, self._tick_status)
        self.refresh_now()

    def on_unmount(self) -> None:
        """Give the interpreter its collection thresholds back."""
        gc.set_threshold(*self._gc_thresholds)
        gc.unfreeze()

    @property
    def view_screen(self) -> ViewScreen | None:
        """The active view screen (None while a dialog is on top)."""
        screen = self.screen
        return screen if isinstance(screen, ViewScreen) else None

    @property
    def active_view(self) -> str:
        """Name of the view on screen (or under the dialog on top)."""
        for screen in reversed(self.screen_stack):
            if isinstance(screen, ViewScreen):
                return screen.VIEW
        return self.start_view

    def switch_view(self, name: str, *, filter_text: str | None = None) -> None:
        """Show view ``name`` (optionally with a filter)."""
        if name not in VIEW_NAMES:
            self.notify(f"no view named {name!r}", severity="warning")
            return
        screen = self.get_screen(name)
        if filter_text is not None and isinstance(screen, ViewScreen):
            screen.set_filter(filter_text)
        if self.view_screen is not None and name == self.view_screen.VIEW:
            return
        while len(self.screen_stack) > 2 and not isinstance(self.screen, ViewScreen):
            self.pop_screen()
        self.switch_screen(name)

    def view_shown(self, screen: ViewScreen) -> None:
        """A view came on screen: show its last table and rebuild it (flows: fetch them)."""
        if screen.table_data is not None:
            screen.redraw()
        if screen.VIEW == "flows":
            self.refresh_now()
        elif self.snapshot is not None:
            self.rebuild()

    def action_view(self, name: str) -> None:
        """Switch view (number keys)."""
        self.switch_view(name)

    def action_command_line(self) -> None:
        """Open the ``:`` line."""
        if self.view_screen is not None:
            self.view_screen.action_open_line(":")

    def run_command_line(self, text: str) -> None:
        """Run a ``:`` command: a view name (or unique prefix), ``help``, ``pause``, ``quit``."""
        word, _, arg = text.strip().lstrip(":").partition(" ")
        word = word.lower()
        commands: dict[str, Callable[[], Any]] = {
            "help": self.action_help,
            "pause": self.action_pause,
            "quit": self.exit,
            "q": self.exit,
            "window": self.action_window,
        }
        if word in ("instance", "i") and arg:
            self.select_instance(arg.strip())
            return
        names = [n for n in VIEW_NAMES if n.startswith(word)] if word else []
        if word in VIEW_NAMES:
            names = [word]
        if len(names) == 1:
            self.switch_view(names[0])
        elif word in commands:
            commands[word]()
        else:
            self.notify(f"unknown or ambiguous command {text!r}", severity="warning")

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The command palette: views, refresh controls and (with ``--write``) actions."""
        yield from super().get_system_commands(screen)
        for name in VIEW_NAMES:
            yield SystemCommand(
                f"View: {name}", f"Show the {name} view", _bind(self.switch_view, name)
            )
        yield SystemCommand("Pause / resume", "Stop or restart live refresh", self.action_pause)
        yield SystemCommand("Rate window", "Cycle rates over 2 s / 10 s / 40 s", self.action_window)
        yield SystemCommand("Help", "List the live key bindings", self.action_help)
        member = self.current_member()
        if self.write and member is not None:
            iid = member.info.instance_id
            for kind in ("drain", "undrain", "reload_policy"):
                yield SystemCommand(
                    f"Action: {kind} {iid}",
                    "Asks for confirmation first",
                    _bind(lambda k: self.request_action(k, iid), kind),
                )

    def action_help(self) -> None:
        """List the key bindings live on the current screen."""
        view = self.active_view
        rows = []
        seen = set()
        for key, active in self.screen.active_bindings.items():
            if not active.enabled or active.binding.description in seen:
                continue
            seen.add(active.binding.description)
            rows.append((self.get_key_display(active.binding), active.binding.description or key))
        rows.sort(key=lambda r: r[1])
        self.push_screen(HelpScreen(view, rows))

    # --- refresh ------------------------------------------------------------------------

    def refresh_now(self) -> None:
        """Start a poll now (or right after the one in flight)."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if self._polling:
            self._poll_again = True
            return
        self._polling = True
        self._poll(self._request())

    @property
    def refreshing(self) -> bool:
        """Whether a refresh is in flight."""
        return self._polling

    def action_refresh_now(self) -> None:
        """Refresh now."""
        self.refresh_now()

    def _request(self) -> FetchRequest:
        flows_of = None
        if self.active_view == "flows":
            member = self.current_member()
            flows_of = member.info.instance_id if member else None
            if flows_of is None and self.snapshot is None:
                flows_of = "*"
        return FetchRequest(flows_of=flows_of)

    @work(thread=True, exclusive=False, group="poll")
    def _poll(self, request: FetchRequest) -> None:
        # Drop what the UI thread replaced last time here, off the UI thread.
        retired, self._retired = self._retired, []
        retired.clear()
        view = self.active_view
        try:
            snapshot = self.source.fetch(request)
            if request.flows_of == "*" and snapshot.members:
                first = snapshot.member(None)
                if first is not None:
                    request = FetchRequest(flows_of=first.info.instance_id)
                    snapshot = self.source.fetch(request)
            with self._build_lock:
                observe(snapshot, self.rates)
                table = self._build(view, snapshot)
        except TuiError as exc:
            log.warning("refresh failed: %s", exc)
            self.call_from_thread(self._failed, str(exc))
            return
        except Exception as exc:
            log.exception("refresh crashed")
            self.call_from_thread(self._failed, f"{type(exc).__name__}: {exc}")
            return
        self.call_from_thread(self._deliver, snapshot, view, table)

    def _build(self, view: str, snapshot: Snapshot) -> ViewTable:
        ctx = RenderContext(
            snapshot,
            self.rates,
            self.window,
            self.instance_id,
            self.group_by if view == "flows" else None,
            tuple(self.local_events),
        )
        return self.marks[view].apply(BUILDERS[view](ctx))

    def _deliver(self, snapshot: Snapshot, view: str, table: ViewTable) -> None:
        self._retired.append(self.snapshot)
        self.snapshot = snapshot
        self.refreshes += 1
        self.last_ok = self.clock()
        self.last_error = None
        self.stale_since = None
        for w in snapshot.warnings:
            log.warning("source warning: %s", w)
        self._show(view, table)
        self._poll_done()

    def _show(self, view: str, table: ViewTable) -> None:
        screen = self.get_screen(view)
        if isinstance(screen, ViewScreen):
            self._retired.append(screen.table_data)
            screen.show(table)
            self._retired.append(screen.table.retired[:])
            screen.table.retired.clear()

    def _failed(self, message: str) -> None:
        self.last_error = message
        if self.stale_since is None:
            self.stale_since = self.last_ok if self.last_ok is not None else self.clock()
        self._tick_status()
        self._poll_done()

    def _poll_done(self) -> None:
        self._polling = False
        if self._poll_again:
            self._poll_again = False
            self.refresh_now()
        elif not self.paused and self.autorefresh:
            self._timer = self.set_timer(self.interval, self.refresh_now)

    @work(thread=True, group="render")
    def rebuild(self) -> None:
        """Rebuild the active view from the last snapshot (a setting changed)."""
        snapshot = self.snapshot
        if snapshot is None:
            return
        view = self.active_view
        with self._build_lock:
            table = self._build(view, snapshot)
        self.call_from_thread(self._show, view, table)

    def freshness(self) -> tuple[str, bool]:
        """The status line's "updated / stale since" text and whether data is stale."""
        now = self.clock()
        if self.paused:
            state = "PAUSED"
        elif self.last_error is not None or (
            self.last_ok is not None and now - self.last_ok > max(3 * self.interval, 5.0)
        ):
            state = "STALE"
        else:
            state = "live"
        if self.snapshot is None or self.last_ok is None:
            text = f"{state} · waiting for first data"
        else:
            ago = fmt.age(now - self.last_ok)
            text = f"{state} · updated {fmt.clock(self.snapshot.taken_at)} UTC ({ago} ago)"
            if state == "STALE":
                text = f"STALE since {fmt.clock(self.snapshot.taken_at)} UTC ({ago} ago)"
        if self.last_error:
            text += f" · error: {self.last_error}"
        return f"{text} · every {self.interval:g}s", state == "STALE"

    def _tick_status(self) -> None:
        screen = self.view_screen
        if screen is not None:
            screen.refresh_bars()

    def action_pause(self) -> None:
        """Pause or resume live refresh."""
        self.paused = not self.paused
        log.info("refresh %s", "paused" if self.paused else "resumed")
        if self.paused and self._timer is not None:
            self._timer.stop()
            self._timer = None
        elif not self.paused:
            self.refresh_now()
        self._tick_status()

    def action_window(self) -> None:
        """Cycle the rate window: 2 s, 10 s, 40 s."""
        self.window = WINDOWS[(WINDOWS.index(self.window) + 1) % len(WINDOWS)]
        self.rebuild()
        self._tick_status()

    # --- instance, grouping -----------------------------------------------------------

    def current_member(self) -> Member | None:
        """The appliance the per-appliance views show."""
        return None if self.snapshot is None else self.snapshot.member(self.instance_id)

    def select_instance(self, instance_id: str) -> None:
        """Make ``instance_id`` the appliance shown by tunnels, flows and policy."""
        self.instance_id = instance_id
        log.info("instance selected: %s", instance_id)

    def set_group_by(self, group_by: GroupBy | None) -> None:
        """Group flows (None: one row per flow)."""
        self.group_by = group_by
        screen = self.get_screen("flows")
        if isinstance(screen, ViewScreen):
            default = "bytes"
            screen.sort_by(default, reverse=False)
        self.rebuild()

    def cycle_group_by(self) -> None:
        """Next grouping: none, source, destination, rule."""
        self.set_group_by(GROUPINGS[(GROUPINGS.index(self.group_by) + 1) % len(GROUPINGS)])

    # --- write actions and explain -----------------------------------------------------

    def request_action(
        self, kind: str, instance_id: str, params: dict[str, str] | None = None
    ) -> None:
        """Ask for confirmation, then perform a write action (``--write`` only)."""
        if not self.write:
            self.notify("read-only: start gwlbtop with --write for actions", severity="warning")
            return
        action = make_action(kind, instance_id, params)

        def answered(yes: bool | None) -> None:
            if yes:
                self._perform(action)
            else:
                log.info("action cancelled: %s", action.describe())

        self.push_screen(ConfirmScreen(f"{action.describe()}?"), answered)

    @work(thread=True, group="action")
    def _perform(self, action: AdminAction) -> None:
        self.call_from_thread(self._performed, carry_out(self.source, action))

    def _performed(self, outcome: Outcome) -> None:
        self.local_events.append(outcome.event())
        text = f"{outcome.action.describe()}: {outcome.message}"
        self.notify(text, severity="information" if outcome.ok else "error")
        self.refresh_now()

    def open_explain(self) -> None:
        """Open the explain form: ``--policy-file``, else the document the source names."""
        if self.policy is None and isinstance(self.source, PolicyDocumentSource):
            self._load_policy()
        else:
            self.push_screen(ExplainScreen(self.policy, self.policy_note))

    @work(thread=True, group="policy")
    def _load_policy(self) -> None:
        policy, note = read_policy(self.source, self.policy_note)
        self.call_from_thread(self.push_screen, ExplainScreen(policy, note))


def _bind(function: Callable[[str], Any], arg: str) -> Callable[[], None]:
    def call() -> None:
        function(arg)

    return call


def create_app(source: DataSource, **options: Any) -> GwlbtopApp:
    """Build the app for ``source`` (see :class:`GwlbtopApp` for the options)."""
    return GwlbtopApp(source, **options)


def main(argv: list[str] | None = None) -> int:
    """The ``gwlbtop`` console script (see ``gwlbtop --help``)."""
    return run(argv, create_app)
