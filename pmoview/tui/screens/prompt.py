"""A one-line question in a modal dialog."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class PromptScreen(ModalScreen[str | None]):
    """Ask for one value (a VA, a PA, a filter, a note). Dismisses with the text, or None on escape.

    ``check`` returns an error message for a value that cannot be used; the dialog then stays open.

    | Key | Action |
    | :- | :- |
    | `enter` | accept |
    | `escape` | cancel |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="prompt.cancel"),
    ]

    def __init__(
        self,
        title: str,
        value: str = "",
        placeholder: str = "",
        help_text: str = "",
        check: Callable[[str], str | None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.title_text = title
        self.value = value
        self.placeholder = placeholder
        self.help_text = help_text
        self.check = check

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-box"):
            yield Label(self.title_text, id="prompt-title")
            yield Input(self.value, placeholder=self.placeholder, id="prompt-input")
            yield Label(self.help_text, id="prompt-help")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if self.check is not None:
            problem = self.check(text)
            if problem:
                self.query_one("#prompt-help", Label).update(f"[b red]{problem}[/]")
                return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)
