"""ActionTree: the live tree of a run's actions, groups and trace checkpoints.

The tree is built lazily and updated incrementally, so a 10,000-action run stays
responsive: a container (the top, an action, a group) materializes its children only
once expanded, and then at most `PAGE` of them at a time behind a "… N more" node;
updates relabel only the nodes whose record changed. Node data is a key: an action id,
a group key (`flyte_tui.data.group_key`), or `more:<container>`.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, ClassVar

from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Tree

from flyte import _present
from flyte._models import Phase
from flyte_tui import _format
from flyte_tui.data import ROOT, RunActions, is_group_key

if TYPE_CHECKING:
    from textual.widgets.tree import TreeNode

    from flyte._models import ActionRecord
    from flyte_tui.data import ActionDiff

__all__ = ["ActionTree"]

PAGE = 500
"""Children materialized per container at a time; the rest wait behind a "more" node."""

AUTO_EXPAND = 300
"""Runs with at most this many actions open every node as it appears."""

_MORE = "more:"


class ActionTree(Tree[str]):
    """The action tree of one run, fed by `RunActions` diffs.

    Example:
        tree = ActionTree(id="tree")
        model = RunActions(run)
        tree.show_model(model)
        tree.apply(model.update(store.list_actions(run)))
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Expand", show=False),
        Binding("space", "toggle_node", "Fold / unfold", show=False),
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        *Tree.COMPONENT_CLASSES,
        "action-tree--queued",
        "action-tree--running",
        "action-tree--succeeded",
        "action-tree--failed",
        "action-tree--timed-out",
        "action-tree--aborted",
        "action-tree--dim",
        "action-tree--trace",
        "action-tree--group",
        "action-tree--cache-hit",
        "action-tree--cache-miss",
        "action-tree--recovered",
        "action-tree--report",
        "action-tree--attempts",
        "action-tree--more",
        "action-tree--root",
        "action-tree--error",
    }

    class Highlighted(Message):
        """The cursor moved to an action (`key` is its id) or a group (a group key)."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("run", id=id, classes=classes)
        self.show_root = False
        self.guide_depth = 3
        self.model = RunActions("")
        self._by_key: dict[str, TreeNode[str]] = {}
        self._loaded: dict[str, int] = {}
        self._limit: dict[str, int] = {}
        self._more: dict[str, TreeNode[str]] = {}

    # -- building ------------------------------------------------------------------

    def show_model(self, model: RunActions) -> None:
        """Forget every node and show `model` from scratch."""
        self.model = model
        self.clear()
        self._by_key = {ROOT: self.root}
        self._loaded.clear()
        self._limit.clear()
        self._more.clear()
        self.root.expand()
        self._sync(ROOT)

    def apply(self, diff: ActionDiff) -> None:
        """Add new nodes and relabel changed ones; rebuild only when actions vanished."""
        if diff.removed:
            self.show_model(self.model)
            return
        containers = {self.model.container_of(a) for a in diff.added}
        containers |= {RunActions.parent_of_group(c) for c in containers if is_group_key(c)}
        for container in sorted(containers, key=lambda c: len(self.model.path_to(c))):
            self._sync(container)
        for action in diff.changed:
            node = self._by_key.get(action.id)
            if node is not None:
                node.set_label(self.action_label(action))
        for key in diff.groups:
            node = self._by_key.get(key)
            if node is not None:
                node.set_label(self.group_label(key))

    def tick(self) -> None:
        """Relabel the visible running actions, whose durations grow with the clock.

        Only the lines on screen: a fan-out keeps hundreds of actions running, and
        relabelling every materialized one each second kept the dashboard busy.
        """
        top = int(self.scroll_offset.y)
        for line in range(top, top + self.scrollable_content_region.height):
            node = self.get_node_at_line(line)
            if node is None:
                break
            action = self.model.actions.get(node.data) if node.data is not None else None
            if action is not None and action.phase is Phase.RUNNING:
                label = self.action_label(action)
                if label == node._label:
                    continue
                if label.cell_len != node._label.cell_len or not hasattr(node, "_updates"):
                    node.set_label(label)  # the tree's width may change: the full way
                    continue
                # `set_label` repaints every line under the node (all of them, for the
                # root of a fan-out) each second; only this line's text moved.
                node._label = label
                node._updates += 1
                self._refresh_line(line)

    def _sync(self, container: str) -> None:
        """Materialize the next children of `container`, up to its page limit."""
        node = self._by_key.get(container)
        if node is None:
            return
        kids = self.model.children.get(container, [])
        if container not in self._loaded:
            if kids and not node.allow_expand:
                node.allow_expand = True
            if not node.is_expanded:
                return  # populated when the user expands it
            self._loaded[container] = 0
        start = self._loaded[container]
        end = min(len(kids), self._limit.get(container, PAGE))
        if end > start:
            more = self._more.pop(container, None)
            if more is not None:
                more.remove()
            for key in kids[start:end]:
                self._add(node, key)
            self._loaded[container] = end
        remaining = len(kids) - self._loaded[container]
        more = self._more.get(container)
        if remaining <= 0:
            if more is not None:
                more.remove()
                del self._more[container]
            return
        label = self._more_label(remaining)
        if more is None:
            self._more[container] = node.add_leaf(label, data=_MORE + container)
        else:
            more.set_label(label)

    def _add(self, parent: TreeNode[str], key: str) -> None:
        if key in self._by_key:
            return
        kids = self.model.children.get(key, [])
        expand = len(self.model) <= AUTO_EXPAND or key == "a0"
        if is_group_key(key):
            label = self.group_label(key)
        else:
            label = self.action_label(self.model.actions[key])
        node = parent.add(label, data=key, expand=expand, allow_expand=bool(kids))
        self._by_key[key] = node
        if expand:
            self._sync(key)

    def show_more(self, container: str) -> None:
        """Materialize one more page of `container`'s children."""
        self._limit[container] = self._loaded.get(container, 0) + PAGE
        self._sync(container)

    def reveal(self, key: str) -> TreeNode[str] | None:
        """Expand the way down to `key` and return its node; None if it is too far down.

        Never materializes more than one extra page per container, so following the
        newest action of a huge fan-out cannot build the whole tree.
        """
        path = [*self.model.path_to(key), key]
        if len(path) < 2:
            return None
        for container, child in itertools.pairwise(path):
            node = self._by_key.get(container)
            if node is None:
                return None
            if child not in self._by_key:
                kids = self.model.children.get(container, [])
                try:
                    index = kids.index(child)
                except ValueError:
                    return None
                if index >= self._loaded.get(container, 0) + PAGE:
                    return None  # checked before expanding, so nothing opens half-way
                self._limit[container] = max(self._limit.get(container, PAGE), index + 1)
            if not node.is_expanded:
                node.expand()
            self._sync(container)
        return self._by_key.get(key)

    def move_to(self, key: str) -> bool:
        """Put the cursor on `key` (revealing it); False when it cannot be shown."""
        node = self.reveal(key)
        if node is None:
            return False
        # A new node has no line number until the tree lays its lines out again, so the
        # move waits for that; if the user moved the cursor meanwhile, theirs wins.
        before = self.cursor_node

        def place() -> None:
            if self.cursor_node is before:
                self.move_cursor(node)

        self.call_after_refresh(place)
        return True

    # -- labels --------------------------------------------------------------------

    def _style(self, name: str) -> Style:
        try:
            return self.get_component_rich_style(f"action-tree--{name}", partial=True)
        except KeyError:
            return Style()

    def _more_label(self, remaining: int) -> Text:
        shown = min(remaining, PAGE)
        return Text(f"… {remaining:,} more (enter shows {shown:,})", style=self._style("more"))

    def _segments(self, segments: list[_present.Segment]) -> Text:
        text = Text()
        for part, role in segments:
            text.append(part, self._style(role) if role != "name" else "")
        return text

    def action_label(self, action: ActionRecord) -> Text:
        """One line for an action, in the words of `flyte._present` (the CLI's too)."""
        return self._segments(_present.action_segments(action, now=_format.now()))

    def group_label(self, key: str) -> Text:
        """One line for a group: aggregate phase, name and member counts."""
        return self._segments(
            _present.group_segments(RunActions.group_name(key), self.model.group_actions(key))
        )

    def get_label_width(self, node: TreeNode[str]) -> int:
        """Label width without rendering it (the tree asks for every visible line)."""
        return node._label.cell_len + (2 if node.allow_expand else 0)

    # -- events --------------------------------------------------------------------

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[str]) -> None:
        key = event.node.data
        if key is not None and key not in self._loaded:
            self._sync(key)

    def on_tree_node_selected(self, event: Tree.NodeSelected[str]) -> None:
        key = event.node.data
        if key is not None and key.startswith(_MORE):
            event.stop()
            self.show_more(key[len(_MORE) :])

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[str]) -> None:
        event.stop()
        key = event.node.data
        if key is not None and not key.startswith(_MORE):
            self.post_message(self.Highlighted(key))

    @property
    def selected_key(self) -> str | None:
        """The key under the cursor (an action id or a group key), if any."""
        node = self.cursor_node
        if node is None or node.data is None or node.data.startswith(_MORE):
            return None
        return node.data

    def materialized(self) -> int:
        """How many action and group nodes exist (for tests of lazy building)."""
        return len(self._by_key) - 1
