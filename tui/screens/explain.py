"""The policy "explain" form: a 5-tuple (and domain) in, the deciding rule out."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from appliance.policy.matcher import CompiledPolicy
from tui.explain import ExplainError, FlowQuestion, explain
from tui.screens.modals import modal_css

FIELDS = (
    ("src", "source address", "198.18.0.10"),
    ("sport", "source port", "40000"),
    ("dst", "destination address", "198.19.0.20"),
    ("dport", "destination port", "443"),
    ("protocol", "protocol", "tcp"),
    ("domain", "domain (SNI/Host/DNS)", ""),
    ("endpoint", "GWLB endpoint id", "0x0"),
)


class ExplainScreen(ModalScreen[None]):
    """Ask the policy document which rule decides a flow."""

    DEFAULT_CSS = (
        modal_css("ExplainScreen")
        + """
    ExplainScreen Horizontal.field { height: 1; padding: 0; }
    ExplainScreen Horizontal.field Label { width: 24; }
    ExplainScreen Horizontal.field Input { width: 1fr; height: 1; border: none; padding: 0 1; }
    ExplainScreen #answer { padding-top: 1; }
    """
    )
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss", "close")]

    def __init__(self, policy: CompiledPolicy | None, note: str) -> None:
        super().__init__()
        self.policy = policy
        self.note = note

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(f"Explain a flow - {self.note}"), classes="title")
            for name, label, value in FIELDS:
                with Horizontal(classes="field"):
                    yield Label(label)
                    yield Input(value=value, id=f"q-{name}")
            with Horizontal(classes="buttons"):
                yield Button("Explain (enter)", id="explain", variant="primary")
            yield Static("", id="answer")

    def on_input_submitted(self, _: Input.Submitted) -> None:
        """Enter in any field explains."""
        self.run_explain()

    def on_button_pressed(self, _: Button.Pressed) -> None:
        """The button explains."""
        self.run_explain()

    def question(self) -> FlowQuestion:
        """The form's current values."""
        values = {name: self.query_one(f"#q-{name}", Input).value for name, _, _ in FIELDS}
        return FlowQuestion(**values)

    def run_explain(self) -> None:
        """Decide the flow and show the answer."""
        answer = self.query_one("#answer", Static)
        if self.policy is None:
            answer.update(Text(f"cannot explain: {self.note}"))
            return
        try:
            answer.update(Text(explain(self.policy, self.question()).text()))
        except ExplainError as exc:
            answer.update(Text(f"invalid: {exc}"))
