"""The action tree of a run as a rich `Tree`: the live view of `flyte run` and `get actions`.

Each node shows the phase icon, the task, the action id, the duration and what the cache,
retries and recovery did. Big fan-outs are summarised: a node shows at most
`max_children` children (failed and running ones first) and one line counting the rest,
so a 10,000-action run renders as fast as a small one.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from flyte_cli._output import PHASE_STYLE, fmt_duration

if TYPE_CHECKING:
    from rich.text import Text
    from rich.tree import Tree

    from flyte._models import ActionRecord, RunRecord
    from flyte._store import RunStore

__all__ = ["action_label", "placements", "run_tree"]

_PRIORITY = {"FAILED": 0, "TIMED_OUT": 0, "RUNNING": 1, "ABORTED": 2, "QUEUED": 3}


def _phase(value: object) -> str:
    return str(getattr(value, "value", value))


def action_label(
    action: ActionRecord, *, now: float | None = None, where: str | None = None
) -> Text:
    """One line for an action: icon, task, id, duration, cache / retry / recovery notes.

    `where` (`AttemptRecord.where` of its last attempt) is shown for worker processes.
    """
    from rich.text import Text

    phase = _phase(action.phase)
    icon, style = PHASE_STYLE.get(phase, ("?", ""))
    text = Text()
    text.append(f"{icon} ", style=style)
    kind = _phase(action.kind)
    text.append(action.name, style="bold" if action.parent is None else "")
    text.append(f" {action.id}", style="dim")
    if kind == "trace":
        text.append(" trace", style="blue")
    if action.started_at is not None:
        end = action.ended_at if action.ended_at is not None else (now or time.time())
        text.append(f"  {fmt_duration(max(0.0, end - action.started_at))}", style="dim")
    if phase not in ("SUCCEEDED", "RUNNING"):
        text.append(f"  {phase}", style=style)
    cache = _phase(action.cache_status)
    if cache == "hit":
        text.append("  cache hit", style="cyan")
    if action.recovered:
        text.append("  replayed" if kind == "trace" else "  recovered", style="magenta")
    if action.attempts > 1:
        text.append(f"  attempt {action.attempts}", style="yellow")
    if where and where != "inline":
        text.append(f"  {where}", style="dim")
    if phase in ("FAILED", "TIMED_OUT") and action.error_type:
        message = (action.error_message or "").splitlines()[0] if action.error_message else ""
        text.append(f"  {action.error_type}: {message}", style="red")
    return text


def placements(store: RunStore, run: str) -> dict[str, str]:
    """Where the last attempt of each action of `run` ran (`AttemptRecord.where`)."""
    found: dict[str, tuple[int, str]] = {}
    for attempt in store.list_attempts(run):
        if attempt.action not in found or attempt.attempt >= found[attempt.action][0]:
            found[attempt.action] = (attempt.attempt, attempt.where)
    return {action: where for action, (_, where) in found.items()}


def _order(action: ActionRecord) -> tuple[float, int]:
    return (action.started_at if action.started_at is not None else float("inf"), action.seq)


def _pick(
    children: list[ActionRecord], limit: int | None
) -> tuple[list[ActionRecord], list[ActionRecord]]:
    """Children to show (failed and running first, then the newest) and the hidden rest."""
    if limit is None or len(children) <= limit:
        return children, []
    ranked = sorted(
        range(len(children)),
        key=lambda i: (_PRIORITY.get(_phase(children[i].phase), 4), -i),
    )
    keep = set(ranked[:limit])
    shown = [c for i, c in enumerate(children) if i in keep]
    hidden = [c for i, c in enumerate(children) if i not in keep]
    return shown, hidden


def _summary(hidden: Sequence[ActionRecord]) -> Text:
    from rich.text import Text

    counts = Counter(_phase(a.phase) for a in hidden)
    text = Text(f"… {len(hidden)} more", style="dim")
    for phase in ("SUCCEEDED", "RUNNING", "QUEUED", "FAILED", "TIMED_OUT", "ABORTED"):
        if counts.get(phase):
            icon, style = PHASE_STYLE[phase]
            text.append(f"  {counts[phase]} {icon}", style=style)
    return text


def run_tree(
    run: RunRecord | None,
    actions: Sequence[ActionRecord],
    *,
    max_children: int | None = 20,
    logs: Mapping[str, Sequence[str]] | None = None,
    latest: Mapping[str, str] | None = None,
    now: float | None = None,
    where: Mapping[str, str] | None = None,
) -> Tree:
    """The run's actions as a tree rooted at the root action.

    Args:
        run: the run record (its name heads the tree); None to omit it.
        actions: every action of the run, in any order.
        max_children: how many children of one node to draw; None for all.
        logs: the last lines each failed action printed, by action id, drawn under it.
        latest: the last line each action printed, shown after running actions (live view).
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
    for action in sorted(actions, key=_order):
        parent = action.parent if action.parent in ids else None
        if action.parent is None:
            parent = "<root>"
        children.setdefault(parent, []).append(action)
    roots = children.get("<root>", [])

    header = Text()
    if run is not None:
        icon, style = PHASE_STYLE.get(_phase(run.phase), ("?", ""))
        header.append(f"{icon} ", style=style)
        header.append("Run ", style="bold")
        header.append(run.name, style="bold cyan")
        header.append(f"  {run.task}  {_phase(run.phase)}", style=style)
        if run.started_at is not None:
            end = run.ended_at if run.ended_at is not None else now
            header.append(f"  {fmt_duration(max(0.0, end - run.started_at))}", style="dim")
    tree = Tree(header, guide_style="dim")

    def add(node: Tree, action: ActionRecord) -> None:
        label = action_label(action, now=now, where=(where or {}).get(action.id))
        line = (latest or {}).get(action.id)
        if line and _phase(action.phase) == "RUNNING":
            label.append(f"  » {line[:80]}", style="dim")
        branch = node.add(label)
        for line in (logs or {}).get(action.id, ()):
            branch.add(Text(f"» {line}", style="dim"))
        add_children(branch, children.get(action.id, []))

    def add_children(node: Tree, kids: list[ActionRecord]) -> None:
        plain = [k for k in kids if not k.group]
        groups: dict[str, list[ActionRecord]] = {}
        for kid in kids:
            if kid.group:
                groups.setdefault(kid.group, []).append(kid)
        shown, hidden = _pick(plain, max_children)
        for kid in shown:
            add(node, kid)
        if hidden:
            node.add(_summary(hidden))
        for name, members in groups.items():
            group_node = node.add(Text(f"▸ {name} ({len(members)})", style="bold blue"))
            shown, hidden = _pick(members, max_children)
            for kid in shown:
                add(group_node, kid)
            if hidden:
                group_node.add(_summary(hidden))

    for root in roots:
        add(tree, root)
    orphans = children.get(None, [])
    if orphans:
        add_children(tree, orphans)
    return tree
