"""The page-table tree: one top node per root, each table loaded when its node is first expanded."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode
from textual.worker import WorkerCancelled, WorkerFailed, get_current_worker

from pmoview.memory.base import NOT_IN_DUMP
from pmoview.sizes import size_short
from pmoview.tui.rows import Row, split_run, table_rows
from pmoview.tui.widgets.marks_table import MARK_LOOK


@dataclass(eq=False, repr=False)
class NodeData:
    """What a node stands for. A root node has ``row`` None; an entry node the table ``view`` holding
    it and its ``row`` (one entry or a run). ``child`` is the table it points to, once loaded."""

    space: int
    view: Any = None
    row: Row | None = None
    child: Any = None
    loaded: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def __repr__(self) -> str:
        return f"NodeData(space={self.space}, path={self.path_key()}, kind={self.row.kind if self.row else 'root'})"

    def path_key(self) -> tuple[tuple[int, int], ...]:
        if self.row is None or self.view is None:
            return ()
        return (*((e.level, e.index) for e in self.view.path), (self.view.level, self.row.first))

    def entry_refs(self) -> tuple[Any, ...]:
        if self.row is None or self.view is None:
            return ()
        return (*self.view.path, self.view.entry(self.row.first))


class PageTableTree(Tree[NodeData]):
    """Page tables as a tree, loaded lazily in worker threads.

    A node's table is read and decoded when the node is first expanded (a "loading…" placeholder
    shows meanwhile); leaf tables show runs of contiguous pages and of empty entries, not 512 rows.
    Each node shows index, VA range, target, flags and page size; findings under a node colour it.

    | Key | Action |
    | :- | :- |
    | `enter`, `space` | expand / collapse |
    | `left` / `right` | parent / expand |

    Messages: ``TableLoaded`` (a table's rows are in the tree), ``Revealed`` (``reveal`` finished).

    | Class | Description |
    | :- | :- |
    | `pt-tree--error` | a node with error findings under it |
    | `pt-tree--warning` | a node with warning findings under it |
    | `pt-tree--dim` | empty entries |
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("right", "expand_cursor", "Expand", show=False, id="tree.expand"),
        Binding("left", "parent_or_collapse", "Collapse", show=False, id="tree.collapse"),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {"pt-tree--error", "pt-tree--warning", "pt-tree--dim"}

    class TableLoaded(Message):
        def __init__(self, node: TreeNode[NodeData]) -> None:
            super().__init__()
            self.node = node

    class Revealed(Message):
        """``reveal`` stopped at ``node``; ``complete`` when it reached the entry the path ends at."""

        def __init__(self, node: TreeNode[NodeData] | None, complete: bool) -> None:
            super().__init__()
            self.node = node
            self.complete = complete

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("roots", **kwargs)
        self.show_root = False
        self.guide_depth = 3
        self.session: Any = None
        self.narrow = False  # labels for a tree as wide as a small terminal (see ``set_narrow``)
        self._queue: asyncio.Queue[TreeNode[NodeData]] = asyncio.Queue()

    # -- content ---------------------------------------------------------------------------------
    def set_session(self, session: Any) -> None:
        self.session = session
        self.clear()
        for i, (root, space) in enumerate(zip(session.roots, session.spaces, strict=False)):
            top = space.mode.levels[0].name
            source = re.sub(r"\S*/([^/\s]+)", r"\1", root.source)  # file names, not whole paths
            # The table address first: a long source (a kernel path) may be cut, the address never.
            label = Text.assemble((f"{top} @ {root.table:#x}", "bold"), f"  {root.mode}  {source}")
            node = self.root.add(label, NodeData(i), allow_expand=True)
            if i == 0:
                node.expand()
                self.move_cursor(node, animate=False)
        self._loader()

    def _row_label(self, data: NodeData) -> Text:
        row = data.row
        assert row is not None
        s = self.session
        text = Text(no_wrap=True, overflow="ellipsis")
        style = ""
        sev = self._severity(data)
        if sev >= 3:
            style = "bold red"
        elif sev == 2:
            style = "yellow"
        text.append(f"{row.index_text():>9} ", style or "bold")
        if row.va_start is not None and row.va_end is not None:
            # Narrow: the start only (the size follows); an address is never cut, a range end can go.
            va = f"{row.va_start:016x}" if self.narrow else f"{row.va_start:016x}-{row.va_end:016x}"
            text.append(va + " ", style or "cyan")
        if row.kind == "none":
            size = size_short(row.va_end - row.va_start) if row.va_start is not None and row.va_end is not None else ""
            text.append(f"not present ({size})", "dim")
        elif row.kind == "table":
            name = s.spaces[data.space].mode.levels[_depth(s, data) + 1].name if row.target is not None else "?"
            text.append(f"→ {name} @ {row.target:#x}")
            if row.recursive:
                text.append("  recursive", "bold yellow")
            if row.backed is False:
                text.append("  not in dump", "bold red")
        elif row.kind == "leaf":
            assert row.target is not None
            end = row.target + row.count * row.span
            text.append(f"→ {row.target:#x}" + (f"-{end:#x}" if row.count > 1 and not self.narrow else ""))
            text.append(f"  {size_short(row.span)}" + (f"×{row.count}" if row.count > 1 else ""), "green")
            if row.flags is not None:
                text.append("  " + " ".join(row.flags.text(row.span).split()), "italic")
            if row.backed is False:
                why = s.spaces[data.space].mem.absent_reason(row.target, end)
                text.append("  frame not in dump" + ("" if why == NOT_IN_DUMP else f" ({why})"), "yellow")
        else:
            text.append(f"fault: {row.reason}", "bold red")
        marks = s.marks.for_path(s.roots[data.space].table, data.path_key()) if s.marks is not None else []
        if row.va_start is not None and row.va_end is not None:
            # A range mark shows on the rows it contains and on leaves and gaps it meets, not on tables above.
            marks += [
                m
                for m in s.marks.for_range(s.roots[data.space].table, row.va_start, row.va_end)
                if m.path is None
                and m not in marks
                and m.va_start is not None
                and m.va_end is not None
                and ((m.va_start <= row.va_start and row.va_end <= m.va_end) or row.kind in ("leaf", "none"))
            ]
        for m in marks:
            glyph, mstyle = MARK_LOOK[m.kind]
            text.append(f" {glyph}", mstyle)
        return text

    def _severity(self, data: NodeData) -> int:
        row, s = data.row, self.session
        index = s.finding_index  # built by the checks' worker, once per set of findings
        if row is None or index is None or row.kind == "none":
            return 0
        rank: int = index.severity(data.path_key(), row.va_start, row.va_end)
        return rank

    def set_narrow(self, narrow: bool) -> None:
        if narrow != self.narrow:
            self.narrow = narrow
            self.refresh_labels()

    def refresh_labels(self) -> None:
        """Redraw every loaded label (after marks or findings change)."""

        def visit(node: TreeNode[NodeData]) -> None:
            for child in node.children:
                if child.data is not None and child.data.row is not None:
                    child.set_label(self._row_label(child.data))
                visit(child)

        if self.session is not None:
            visit(self.root)

    # -- loading ---------------------------------------------------------------------------------
    def _on_tree_node_expanded(self, event: Tree.NodeExpanded[NodeData]) -> None:
        event.stop()
        self.ensure_loaded(event.node)

    def ensure_loaded(self, node: TreeNode[NodeData]) -> asyncio.Event:
        data = node.data
        assert data is not None
        if not data.loaded:
            data.loaded = True
            node.add_leaf(Text("loading…", "dim italic"))
            self._queue.put_nowait(node)
        return data.done

    @work(thread=True, exit_on_error=False, group="tree-table")
    def _load_table(self, node: TreeNode[NodeData]) -> tuple[Any, list[Row]]:
        data = node.data
        assert data is not None
        s = self.session
        space = s.spaces[data.space]
        with s.lock:
            if get_current_worker().is_cancelled:
                return None, []
            view = space.root_table() if data.row is None else space.children(data.view, data.row.first)
            rows = table_rows(space, view) if view is not None else []
        return view, rows

    @work(exclusive=True, group="tree-loader")
    async def _loader(self) -> None:
        """Take nodes off the queue one at a time; a thread reads and decodes each table."""
        worker = get_current_worker()
        while not worker.is_cancelled:
            node = await self._queue.get()
            try:
                loaded: tuple[Any, list[Row]] = await self._load_table(node).wait()
                view, rows = loaded
            except WorkerCancelled:
                break
            except WorkerFailed as exc:
                node.remove_children()
                node.add_leaf(Text(f"cannot load: {exc.error}", "bold red"))
                assert node.data is not None
                node.data.done.set()
                continue
            finally:
                self._queue.task_done()
            self._populate(node, view, rows)

    def _populate(self, node: TreeNode[NodeData], view: Any, rows: list[Row]) -> None:
        data = node.data
        assert data is not None
        data.child = view
        node.remove_children()
        if view is None or not view.backed:
            node.add_leaf(
                Text(
                    f"table at {getattr(view, 'pa', data.row.target if data.row else 0):#x} is not in the dump",
                    "bold red",
                )
            )
        for row in rows:
            child = NodeData(data.space, view, row)
            expandable = row.kind == "table" and bool(row.backed)
            node.add(self._row_label(child), child, allow_expand=expandable)
        data.done.set()
        self.post_message(self.TableLoaded(node))

    # -- navigation ------------------------------------------------------------------------------
    def node_for(self, node: TreeNode[NodeData], level: int, index: int) -> TreeNode[NodeData] | None:
        for child in node.children:
            d = child.data
            if d is not None and d.row is not None and d.view.level == level and d.row.first <= index <= d.row.last:
                return child
        return None

    @work(exclusive=True, group="tree-reveal")
    async def reveal(self, space: int, path: list[tuple[int, int]]) -> None:
        """Expand root ``space`` down the entry path, loading tables on the way; put the cursor on the
        deepest node reached (the leaf, or where the walk stops)."""
        node = next((n for n in self.root.children if n.data is not None and n.data.space == space), None)
        if node is None:
            self.post_message(self.Revealed(None, False))
            return
        complete = True
        for level, index in path:
            node.expand()
            await self.ensure_loaded(node).wait()
            child = self.node_for(node, level, index)
            if child is None:
                complete = False
                break
            node = self.isolate(child, index)
        self.select_quietly(node)
        self.post_message(self.Revealed(node, complete))

    def isolate(self, node: TreeNode[NodeData], index: int) -> TreeNode[NodeData]:
        """The node of entry ``index`` alone: a run node that holds it is replaced by the part before,
        the entry and the part after, so the cursor and the inspector are on the entry itself."""
        data, parent = node.data, node.parent
        if data is None or data.row is None or data.row.count == 1 or parent is None:
            return node
        space = self.session.spaces[data.space]
        found = node
        anchor = node
        for part in split_run(space, data.row, index):
            part_data = NodeData(data.space, data.view, part)
            added = parent.add(self._row_label(part_data), part_data, after=anchor, allow_expand=False)
            anchor = added
            if part.first == index:
                found = added
        node.remove()
        return found

    def select_quietly(self, node: TreeNode[NodeData]) -> None:
        self.move_cursor(node, animate=False)
        # A node added just now (a run cut by ``isolate``) has its line only after the next refresh.
        self.call_after_refresh(self._select_after_refresh, node)

    def _select_after_refresh(self, node: TreeNode[NodeData]) -> None:
        if self.cursor_node is not node:
            self.move_cursor(node, animate=False)
        self.scroll_to_node(node, animate=False)

    def action_expand_cursor(self) -> None:
        node = self.cursor_node
        if node is not None and node.allow_expand:
            if node.is_expanded and node.children:
                self.move_cursor(node.children[0])
            else:
                node.expand()

    def action_parent_or_collapse(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node.is_expanded:
            node.collapse()
        elif node.parent is not None and node.parent is not self.root:
            self.move_cursor(node.parent)


def _depth(session: Any, data: NodeData) -> int:
    levels = [r.level for r in session.spaces[data.space].mode.levels]
    return levels.index(data.view.level)
