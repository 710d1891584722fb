"""The five view screens and the keys each adds to :class:`~tui.screens.view.ViewScreen`."""

from __future__ import annotations

import re
from typing import ClassVar

from textual.binding import Binding, BindingType

from tui.screens.view import ViewScreen


class FleetScreen(ViewScreen):
    """Instances of the fleet; Enter opens the instance's tunnels."""

    VIEW = "fleet"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "enter", "tunnels of instance"),
        Binding("D", "admin('drain')", "drain"),
        Binding("U", "admin('undrain')", "undrain"),
        Binding("L", "admin('reload_policy')", "reload policy"),
    ]

    def action_enter(self) -> None:
        """Show the selected instance's tunnels."""
        row = self.current()
        if row is not None:
            self.gwlbtop.select_instance(row.key)
            self.gwlbtop.switch_view("tunnels")

    def action_admin(self, kind: str) -> None:
        """Ask for a write action on the selected instance."""
        row = self.current()
        if row is not None:
            self.gwlbtop.request_action(kind, row.key)


class TunnelsScreen(ViewScreen):
    """GWLB endpoints of one appliance; Enter shows the endpoint's flows."""

    VIEW = "tunnels"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "enter", "flows of endpoint"),
        Binding("D", "admin('drain')", "drain"),
        Binding("U", "admin('undrain')", "undrain"),
    ]

    def action_enter(self) -> None:
        """Show flows filtered to the selected endpoint."""
        row = self.current()
        if row is not None:
            self.gwlbtop.switch_view("flows", filter_text=row.key)

    def action_admin(self, kind: str) -> None:
        """Ask for a write action on this appliance."""
        member = self.gwlbtop.current_member()
        if member is not None:
            self.gwlbtop.request_action(kind, member.info.instance_id)


class FlowsScreen(ViewScreen):
    """Flows of one appliance; Enter drills down; ``b`` groups."""

    VIEW = "flows"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "enter", "drill down"),
        Binding("b", "group", "group by"),
        Binding("X", "clear_flow", "clear flow"),
    ]

    def action_enter(self) -> None:
        """A flow: show all its fields; a group: show the group's flows."""
        row = self.current()
        if row is None:
            return
        if self.gwlbtop.group_by:
            self.gwlbtop.set_group_by(None)
            value = str(row.record.get("group", ""))
            self.set_filter(_literal(value))
        else:
            self.action_describe()

    def action_group(self) -> None:
        """Cycle grouping: none, source, destination, rule."""
        self.gwlbtop.cycle_group_by()

    def action_clear_flow(self) -> None:
        """Ask to forget the selected flow (it is decided again)."""
        row = self.current()
        member = self.gwlbtop.current_member()
        if row is None or member is None or self.gwlbtop.group_by:
            return
        f = row.record
        params = {
            "endpoint": str(f.get("endpoint_id")),
            "addr": str(f.get("src")),
            "port": str(f.get("sport")),
        }
        self.gwlbtop.request_action("clear_flows", member.info.instance_id, params)


class PolicyScreen(ViewScreen):
    """Rules and hit counters; ``e`` explains a flow; ``L`` reloads."""

    VIEW = "policy"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("e", "explain", "explain"),
        Binding("L", "admin('reload_policy')", "reload policy"),
    ]

    def action_explain(self) -> None:
        """Open the explain form."""
        self.gwlbtop.open_explain()

    def action_admin(self, kind: str) -> None:
        """Ask for a policy reload on this appliance."""
        member = self.gwlbtop.current_member()
        if member is not None:
            self.gwlbtop.request_action(kind, member.info.instance_id)


class EventsScreen(ViewScreen):
    """Lifecycle, daemon and gwlbtop events, newest first."""

    VIEW = "events"


def _literal(value: str) -> str:
    """A filter matching one whole cell (or an address cell's host part)."""
    return rf"(^|\t){re.escape(value)}(\t|:|$)"


SCREENS: dict[str, type[ViewScreen]] = {
    s.VIEW: s for s in (FleetScreen, TunnelsScreen, FlowsScreen, PolicyScreen, EventsScreen)
}
