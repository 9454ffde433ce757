"""Pick one of several addresses (the VAs that map a PA)."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option


class ChoiceScreen(ModalScreen[int | None]):
    """A list of (value, text) choices; dismisses with the value chosen, None on escape.

    | Key | Action |
    | :- | :- |
    | `enter` | choose |
    | `escape` | cancel |
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="choice.cancel")]

    def __init__(self, title: str, choices: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.title_text = title
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical(id="choice-box"):
            yield Label(self.title_text, id="choice-title")
            yield OptionList(*[Option(text, id=str(i)) for i, (_, text) in enumerate(self.choices)], id="choice-list")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(self.choices[int(event.option.id or 0)][0])

    def action_cancel(self) -> None:
        self.dismiss(None)
