"""The action tree of a run as a rich `Tree`: the live view of `flyte run` and `get actions`.

Labels, icons, durations and order come from `flyte._present`, which the TUI uses too, so
both show one action the same way. Children are drawn in call order, groups (nested
`flyte.group`s nested) where their first member was called. Big fan-outs are summarised:
a node shows at most `max_children` actions (failed and running ones first) and one line
counting the rest, so a 10,000-action run renders as fast as a small one.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Union

from flyte import _present
from flyte_cli._output import ROLE_STYLE, segments_text

if TYPE_CHECKING:
    from rich.text import Text
    from rich.tree import Tree

    from flyte._models import ActionRecord, AttemptRecord, RunRecord
    from flyte._store import RunStore

__all__ = ["action_label", "placements", "run_tree"]

_PRIORITY = {"FAILED": 0, "TIMED_OUT": 0, "RUNNING": 1, "ABORTED": 2, "QUEUED": 3}

_Group = tuple[str, list["ActionRecord"]]
_Entry = Union["ActionRecord", _Group]


def action_label(
    action: ActionRecord,
    *,
    now: float | None = None,
    with_id: bool = False,
    where: str | None = None,
) -> Text:
    """One line for an action, as `flyte._present.action_segments` words it.

    `where` (`AttemptRecord.where` of its last attempt) is added for worker processes.
    """
    text = segments_text(_present.action_segments(action, now=now, with_id=with_id))
    if where and where != "inline":
        text.append(f"  {where}", style="dim")
    return text


def placements(store: RunStore, run: str) -> dict[str, str]:
    """Where the last attempt of each action of `run` ran (`AttemptRecord.where`)."""
    found: dict[str, tuple[int, str]] = {}
    for attempt in store.list_attempts(run):
        if attempt.action not in found or attempt.attempt >= found[attempt.action][0]:
            found[attempt.action] = (attempt.attempt, attempt.where)
    return {action: where for action, (_, where) in found.items()}


def _pick(
    children: list[ActionRecord], limit: int | None
) -> tuple[list[ActionRecord], list[ActionRecord]]:
    """Children to show (failed, running and queued first, then the earliest called) and
    the hidden rest; both stay in call order."""
    if limit is None or len(children) <= limit:
        return children, []
    ranked = sorted(
        range(len(children)),
        key=lambda i: (_PRIORITY.get(_present.phase_name(children[i].phase), 4), i),
    )
    keep = set(ranked[:limit])
    shown = [c for i, c in enumerate(children) if i in keep]
    hidden = [c for i, c in enumerate(children) if i not in keep]
    return shown, hidden


def _summary(hidden: Sequence[ActionRecord]) -> Text:
    from rich.text import Text

    counts = Counter(_present.phase_name(a.phase) for a in hidden)
    text = Text(f"… {len(hidden)} more", style="dim")
    for phase in ("SUCCEEDED", "RUNNING", "QUEUED", "FAILED", "TIMED_OUT", "ABORTED"):
        if counts.get(phase):
            text.append(
                f"  {counts[phase]} {_present.phase_icon(phase)}",
                style=ROLE_STYLE[_present.phase_role(phase)],
            )
    return text


def _layout(kids: list[ActionRecord], depth: int) -> list[_Entry]:
    """`kids` (in call order) as actions and groups at nesting `depth`, in call order.

    A group takes the place of its first member; members of nested groups stay inside.
    """
    entries: list[_Entry] = []
    index: dict[str, int] = {}
    for kid in kids:
        parts = _present.group_parts(kid.group)
        if len(parts) <= depth:
            entries.append(kid)
            continue
        path = parts[depth]
        if path not in index:
            index[path] = len(entries)
            entries.append((path, []))
        group = entries[index[path]]
        assert isinstance(group, tuple)
        group[1].append(kid)
    return entries


def run_tree(
    run: RunRecord | None,
    actions: Sequence[ActionRecord],
    *,
    max_children: int | None = 20,
    logs: Mapping[str, Sequence[str]] | None = None,
    latest: Mapping[str, str] | None = None,
    attempts: Mapping[str, Sequence[AttemptRecord]] | None = None,
    with_ids: bool = False,
    now: float | None = None,
    where: Mapping[str, str] | None = None,
) -> Tree:
    """The run's actions as a tree rooted at the root action.

    Args:
        run: the run record (its name heads the tree); None to omit it.
        actions: every action of the run, in any order.
        max_children: how many actions of one node to draw; None for all.
        logs: the last lines each failed action printed, by action id, drawn under it.
        latest: the last line each action printed, shown after running actions (live view).
        attempts: the attempts of retried actions, by action id, drawn under them.
        with_ids: show action ids (for commands that take one).
        now: the time to measure running actions against (default: now).
        where: where each action's last attempt ran, by action id (see `placements`).

    Returns:
        A rich Tree, ready to print or to put in a `Live`.
    """
    from rich.text import Text
    from rich.tree import Tree

    now = now or time.time()
    children: dict[str | None, list[ActionRecord]] = {}
    ids = {a.id for a in actions}
    for action in sorted(actions, key=_present.call_order):
        parent = action.parent if action.parent in ids else None
        if action.parent is None:
            parent = "<root>"
        children.setdefault(parent, []).append(action)
    roots = children.get("<root>", [])

    header = Text()
    if run is not None:
        role = _present.phase_role(run.phase)
        header.append(f"{_present.phase_icon(run.phase)} ", style=ROLE_STYLE[role])
        header.append("Run ", style="bold")
        header.append(run.name, style="bold cyan")
        header.append(f"  {run.task}  {_present.phase_name(run.phase)}", style=ROLE_STYLE[role])
        took = _present.duration(_present.elapsed(run.started_at, run.ended_at, now))
        if took:
            header.append(f"  {took}", style="dim")
    tree = Tree(header, guide_style="dim")

    def add(node: Tree, action: ActionRecord) -> None:
        label = action_label(action, now=now, with_id=with_ids, where=(where or {}).get(action.id))
        line = (latest or {}).get(action.id)
        if line and _present.phase_name(action.phase) == "RUNNING":
            label.append(f"  » {line[:80]}", style="dim")
        branch = node.add(label)
        tries = (attempts or {}).get(action.id, ())
        if len(tries) > 1:
            for attempt in tries:
                branch.add(_attempt_label(attempt))
        for line in (logs or {}).get(action.id, ()):
            branch.add(Text(f"» {line}", style="dim"))
        add_children(branch, children.get(action.id, []), 0)

    def add_children(node: Tree, kids: list[ActionRecord], depth: int) -> None:
        entries = _layout(kids, depth)
        plain = [e for e in entries if not isinstance(e, tuple)]
        shown, hidden = _pick(plain, max_children)
        keep = {id(a) for a in shown}
        for entry in entries:
            if isinstance(entry, tuple):
                path, members = entry
                group_node = node.add(segments_text(_present.group_segments(path, members)))
                add_children(group_node, members, depth + 1)
            elif id(entry) in keep:
                add(node, entry)
        if hidden:
            node.add(_summary(hidden))

    for root in roots:
        add(tree, root)
    orphans = children.get(None, [])
    if orphans:
        add_children(tree, orphans, 0)
    return tree


def _attempt_label(attempt: AttemptRecord) -> Text:
    """`attempt 1 ✗ 12ms  RuntimeError: transient failure` under a retried action."""
    segments: list[_present.Segment] = [
        (f"attempt {attempt.attempt} ", "dim"),
        (_present.phase_icon(attempt.phase), _present.phase_role(attempt.phase)),
    ]
    took = _present.duration(_present.elapsed(attempt.started_at, attempt.ended_at))
    if took:
        segments.append((f" {took}", "dim"))
    if attempt.where and attempt.where != "inline":
        segments.append((f"  {attempt.where}", "dim"))
    error = _present.error_preview(attempt.error_type, attempt.error_message, width=80)
    if error:
        segments.append((f"  {error}", "error"))
    return segments_text(segments)
