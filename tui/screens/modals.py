"""Modal dialogs: confirmation, text (describe / raw JSON) and the key-binding help."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static


def modal_css(name: str) -> str:
    """The dialog layout, for the screen class ``name`` (DEFAULT_CSS is scoped per class)."""
    return f"""
{name} {{ align: center middle; }}
{name} > Vertical {{
    width: 90%; max-width: 110; height: auto; max-height: 90%;
    border: round $accent; background: $surface; padding: 0 1;
}}
{name} .title {{ text-style: bold; padding-bottom: 1; }}
{name} VerticalScroll {{ height: auto; max-height: 30; }}
{name} Horizontal.buttons {{ height: auto; align-horizontal: right; padding-top: 1; }}
{name} Button {{ margin-left: 2; }}
"""


class ConfirmScreen(ModalScreen[bool]):
    """Ask before a write action: ``y``/Enter on Yes confirms, ``n``/Escape cancels."""

    DEFAULT_CSS = modal_css("ConfirmScreen")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "yes"),
        Binding("n,escape", "answer(False)", "no"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static("Confirm write action", classes="title")
            yield Static(Text(self.question), id="question")
            with Horizontal(classes="buttons"):
                yield Button("No (n)", id="no", variant="primary")
                yield Button("Yes (y)", id="yes", variant="error")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """A button answers the question."""
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        """Answer from the keyboard."""
        self.dismiss(yes)


class TextScreen(ModalScreen[None]):
    """A scrollable block of text (describe, raw JSON); Escape or ``q`` closes it."""

    DEFAULT_CSS = modal_css("TextScreen")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,d,y", "dismiss", "close"),
        Binding("j", "scroll(1)", "down", show=False),
        Binding("k", "scroll(-1)", "up", show=False),
    ]

    def __init__(self, title: str, body: str) -> None:
        super().__init__()
        self.title_text = title
        self.body = body

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.title_text), classes="title")
            with VerticalScroll():
                yield Static(Text(self.body), id="body")

    def action_scroll(self, lines: int) -> None:
        """Scroll the text with vim keys."""
        self.query_one(VerticalScroll).scroll_relative(y=lines, animate=False)


class HelpScreen(ModalScreen[None]):
    """The key bindings live on the screen below, with what they do."""

    DEFAULT_CSS = modal_css("HelpScreen")
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "dismiss", "close")]

    def __init__(self, view: str, bindings: Iterable[tuple[str, str]]) -> None:
        super().__init__()
        self.view = view
        self.bindings = list(bindings)

    def compose(self) -> ComposeResult:
        lines = Text()
        for key, description in self.bindings:
            lines.append(f"{key:>12}", style="bold")
            lines.append(f"  {description}\n")
        with Vertical():
            yield Static(f"Keys active in the {self.view} view", classes="title")
            with VerticalScroll():
                yield Static(lines, id="keys")
