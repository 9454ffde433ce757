"""Command palette: every action of the main screen under a namespaced name ("go: VA…", "mark: wrong")."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

from pmoview.tui.views import VIEWS, view_action

# (command text, screen action, help). The action's check_action decides whether it is offered.
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("go: VA…", "goto", "Expand the tree to the leaf mapping a virtual address"),
    ("find: PA…", "find_pa", "List every VA that maps a physical address"),
    ("filter: mappings…", "filter", "Filter mappings by attributes and VA range"),
    ("mark: wrong", "mark_wrong", "Mark the entry or mapping under the cursor as wrong"),
    ("mark: missing", "mark_missing", "Mark the VA range under the cursor (no mapping) as missing"),
    ("mark: ok", "mark_ok", "Mark the entry under the cursor as expected"),
    ("mark: note…", "note", "Attach a note to the entry or range under the cursor"),
    ("export: report", "export", "Write findings and marks as Markdown and JSON"),
    *((f"view: {v.name}", view_action(v), v.help) for v in VIEWS),
    ("help: keys", "app.help", "Keys and symbols"),
)


class PmoviewProvider(Provider):
    """Offers the main screen's actions that apply now (``check_action`` is not False/None)."""

    def _commands(self) -> list[tuple[str, Callable[[], Any], str]]:
        from pmoview.tui.screens.main import MainScreen

        screen = self.screen
        if not isinstance(screen, MainScreen):
            # The palette is a screen of its own: the main screen is below it.
            stack = self.app.screen_stack
            screen = next((s for s in reversed(stack) if isinstance(s, MainScreen)), None)  # type: ignore[misc, arg-type]
        out: list[tuple[str, Callable[[], Any], str]] = []
        for text, action, help_text in COMMANDS:
            if action.startswith("app."):
                out.append((text, partial(self.app.run_action, action[4:]), help_text))
                continue
            if screen is None:
                continue
            name = action.split("(", 1)[0]
            if screen.check_action(name, ()) is not True:
                continue
            out.append((text, partial(screen.run_action, action), help_text))
        return out

    async def discover(self) -> Hits:
        for text, callback, help_text in self._commands():
            yield DiscoveryHit(text, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, callback, help_text in self._commands():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), callback, help=help_text)
