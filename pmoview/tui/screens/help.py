"""The key reference."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

from pmoview.tui.views import VIEWS

VIEW_KEYS = f"`1`..`{len(VIEWS)}`"
VIEW_NAMES = " · ".join(v.name for v in VIEWS)
HELP = f"""\
# pmoview

| key | action |
|---|---|
| `g` | go to a VA: expand the tree to its leaf, or to where the walk stops |
| `p` | find a PA: every VA that maps it |
| `/` | filter the mappings (`rw`, `ro`, `x`, `nx`, `user`, `kernel`, `4k`/`2m`/`1g`, `START-END`, `notbacked`) |
| `m` | mark the entry (or mapping) as wrong |
| `M` | mark a VA range with no mapping as missing |
| `o` | mark the entry as ok (expected as it is) |
| `n` | add a note to the entry |
| `e` | export a report (Markdown and JSON) of findings and marks |
| `i` | show or hide the entry inspector (below 120 columns it opens under the tree) |
| {VIEW_KEYS} | {VIEW_NAMES} |
| `enter` | in findings, marks and coverage: jump to the evidence in the tree |
| `delete` | in marks: remove the mark |
| `ctrl+p` | command palette ("go:", "mark:", "export:", "view:") |
| `?` | this help |
| `q` | quit |

Marks are saved at once beside the dump (`DUMP.pmoview-marks.json`, or `--marks FILE`) and come back
when the dump is opened again. In the tree, `✗` is wrong, `∅` missing, `✓` ok, `✎` a note; red and
yellow nodes have error or warning findings under them.
"""


class HelpScreen(ModalScreen[None]):
    """Keys and symbols. `escape`, `q` or `?` close it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close", id="help.close"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Markdown(HELP)

    def action_close(self) -> None:
        self.dismiss(None)
