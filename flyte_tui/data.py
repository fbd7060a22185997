"""The dashboard's model: plain data read from the run store, apart from any widget.

`RunFeed` is the only object that talks to the store. Screens poll
`RunFeed.version()` (the store's change counter: one indexed read) a few times a second
and only re-read runs, actions or logs when it moved. `RunActions` turns successive
`list_actions` snapshots into a tree model plus a diff (added / changed actions), so the
tree widget updates only the nodes that changed, even on a 10,000-action run.

The TUI never imports the engine: everything here reads through `flyte.store` (the
store's public read API), except `request_abort`, which only sets a flag the driving
process polls.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flyte._models import ActionKind, ActionRecord, CacheStatus, Phase
from flyte._present import call_order, group_parts
from flyte.store import live_signature

if TYPE_CHECKING:
    from flyte._models import AttemptRecord, LogLine, RunRecord
    from flyte.store import RunStore

__all__ = [
    "ROOT",
    "ActionDetails",
    "ActionDiff",
    "Counts",
    "RunActions",
    "RunFeed",
    "count_keys",
    "group_key",
    "is_group_key",
]

ROOT = ""
"""Container key of the top of the tree (the root action "a0" lives under it)."""

_GROUP_PREFIX = "group:"


def group_key(parent: str | None, group: str) -> str:
    """The container key of group `group` under action `parent`."""
    return f"{_GROUP_PREFIX}{parent or ''}:{group}"


def is_group_key(key: str) -> bool:
    """Whether a tree key names a group (not an action id)."""
    return key.startswith(_GROUP_PREFIX)


@dataclass(frozen=True, kw_only=True)
class Counts:
    """How many actions are in each state; shown in the run header and on group nodes."""

    total: int = 0
    queued: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    aborted: int = 0
    cached: int = 0
    recovered: int = 0
    """Task actions reused from the run being recovered."""
    replayed: int = 0
    """Trace checkpoints whose recorded result was returned."""
    traces: int = 0

    @property
    def done(self) -> int:
        """Actions that reached a terminal phase."""
        return self.succeeded + self.failed + self.aborted

    @classmethod
    def of(cls, actions: list[ActionRecord]) -> Counts:
        """Count `actions` by phase, cache hit, recovery and kind."""
        return cls.from_tally(Counter(key for a in actions for key in count_keys(a)))

    @classmethod
    def from_tally(cls, tally: Counter[str]) -> Counts:
        """The counts of a `Counter` of `count_keys` (kept up to date action by action)."""
        return cls(
            total=tally["total"],
            queued=tally[Phase.QUEUED.value],
            running=tally[Phase.RUNNING.value],
            succeeded=tally[Phase.SUCCEEDED.value],
            failed=tally[Phase.FAILED.value] + tally[Phase.TIMED_OUT.value],
            aborted=tally[Phase.ABORTED.value],
            cached=tally["cached"],
            recovered=tally["recovered"],
            replayed=tally["replayed"],
            traces=tally["traces"],
        )


def count_keys(action: ActionRecord) -> list[str]:
    """What `action` adds to `Counts`: "total", its phase, "cached", "recovered", ..."""
    keys = ["total", action.phase.value]
    if action.cache_status is CacheStatus.HIT:
        keys.append("cached")
    if action.kind is ActionKind.TRACE:
        keys.append("traces")
        if action.recovered:
            keys.append("replayed")
    elif action.recovered and action.kind is ActionKind.TASK:
        keys.append("recovered")
    return keys


@dataclass(frozen=True, kw_only=True)
class ActionDiff:
    """What changed between two snapshots of a run's actions."""

    added: list[ActionRecord] = field(default_factory=list)
    changed: list[ActionRecord] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    """Group keys whose members were added or changed (their labels need a refresh)."""

    @property
    def empty(self) -> bool:
        """True when nothing changed."""
        return not (self.added or self.changed or self.removed)


class RunActions:
    """The actions of one run as a tree: containers (tree root, actions, groups) -> children.

    Children keep their arrival order, so a container's materialized prefix in the tree
    widget stays valid as more children arrive (append-only, no re-sorting).

    Example:
        model = RunActions("swift-otter-4f2a9c")
        diff = model.update(store.list_actions(model.run))
        for action in diff.added:
            print(model.container_of(action), action.name)
    """

    def __init__(self, run: str) -> None:
        self.run = run
        self.actions: dict[str, ActionRecord] = {}
        self.children: dict[str, list[str]] = {ROOT: []}
        self.group_members: dict[str, list[str]] = {}
        self.counts = Counts()
        self.live: dict[str, str] = {}
        """id -> `flyte.store.live_signature` of the actions that have not ended."""
        self.trace_children: dict[str, list[str]] = {}
        """Container key -> the trace checkpoints among its children."""
        self._tally: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self.actions)

    @staticmethod
    def container_of(action: ActionRecord) -> str:
        """The key of the tree node `action` hangs under: its group, its parent, or ROOT."""
        if action.group:
            return group_key(action.parent, action.group)
        return action.parent or ROOT

    @staticmethod
    def parent_of_group(key: str) -> str:
        """The container a group node hangs under: its enclosing group (a nested
        `flyte.group`), else its parent action, or ROOT."""
        parent, _, name = key[len(_GROUP_PREFIX) :].partition(":")
        if "/" in name:
            return group_key(parent or None, name.rsplit("/", 1)[0])
        return parent or ROOT

    @staticmethod
    def group_name(key: str) -> str:
        """The user's name of a group key (`outer/inner` for a nested group)."""
        return key[len(_GROUP_PREFIX) :].split(":", 1)[1]

    def group_actions(self, key: str) -> list[ActionRecord]:
        """Every action in group `key`, nested groups' members included."""
        return [self.actions[a] for a in self.group_members.get(key, ())]

    def group_counts(self, key: str) -> Counts:
        """Counts over the members of group `key` (nested groups' members included)."""
        return Counts.of(self.group_actions(key))

    def path_to(self, key: str) -> list[str]:
        """Container keys from the top down to (excluding) `key`; [] if unknown."""
        path: list[str] = []
        current = key
        for _ in range(10_000):  # guards against a malformed parent cycle
            if is_group_key(current):
                container = self.parent_of_group(current)
            elif current in self.actions:
                container = self.container_of(self.actions[current])
            else:
                return []
            path.append(container)
            if container == ROOT:
                return list(reversed(path))
            current = container
        return []

    def update(self, records: list[ActionRecord], *, partial: bool = False) -> ActionDiff:
        """Replace the snapshot with `records`; return what was added, changed or removed.

        Args:
            records: every action of the run, as `RunStore.list_actions` returns them;
                with `partial`, only some (`flyte.store.changed_actions`): the others
                stay as they were.
        """
        added: list[ActionRecord] = []
        changed: list[ActionRecord] = []
        groups: set[str] = set()
        seen: set[str] = set()
        for record in records:
            seen.add(record.id)
            old = self.actions.get(record.id)
            if old is None:
                added.append(record)
            elif old != record:
                changed.append(record)
                groups.update(group_key(record.parent, p) for p in group_parts(record.group))
                self._tally.subtract(count_keys(old))
            else:
                continue
            self._tally.update(count_keys(record))
            self.actions[record.id] = record
            if record.phase.is_terminal:
                self.live.pop(record.id, None)
            else:
                self.live[record.id] = live_signature(record)
        removed = (
            [a for a in self.actions if a not in seen]
            if not partial and len(seen) < len(self.actions)
            else []
        )
        if removed:  # only a deleted run loses actions: rebuild the model from scratch
            self.actions.clear()
            self.children = {ROOT: []}
            self.group_members.clear()
            self.live.clear()
            self.trace_children.clear()
            self._tally.clear()
            self.counts = Counts()
            return ActionDiff(removed=removed)
        # Siblings in call order (the CLI's order too); not started yet after the started.
        added.sort(key=call_order)
        for record in added:
            container = self.container_of(record)
            # A member of `outer/inner` counts in `outer` too; each level is a node.
            for path in group_parts(record.group):
                key = group_key(record.parent, path)
                members = self.group_members.setdefault(key, [])
                if not members:
                    self.children.setdefault(self.parent_of_group(key), []).append(key)
                members.append(record.id)
                groups.add(key)
            self.children.setdefault(container, []).append(record.id)
            if record.kind is ActionKind.TRACE:
                self.trace_children.setdefault(container, []).append(record.id)
        if added or changed:  # kept action by action: a busy 5,000-action run changes often
            self.counts = Counts.from_tally(self._tally)
        return ActionDiff(added=added, changed=changed, groups=sorted(groups))

    def newest_running(self) -> ActionRecord | None:
        """The most recently started RUNNING action (what "follow" jumps to)."""
        running = [a for a in self.actions.values() if a.phase is Phase.RUNNING and a.started_at]
        return max(running, key=lambda a: a.started_at or 0.0, default=None)


@dataclass(frozen=True, kw_only=True)
class ActionDetails:
    """Everything the details pane shows for one action, read in one worker call."""

    action: ActionRecord
    attempts: list[AttemptRecord]
    cache_parts: dict[str, Any] | None = None
    cache_explanation: str | None = None
    cache_reasons: list[str] = field(default_factory=list)


class RunFeed:
    """Read-only access to a run store for the dashboard, with cheap change detection.

    Example:
        feed = RunFeed(store)
        seen = feed.version()
        ...
        if feed.version() != seen:
            runs = feed.runs(phase="RUNNING")
    """

    def __init__(self, store: RunStore, *, limit: int = 500) -> None:
        self.store = store
        self.limit = limit

    def version(self) -> int:
        """The store's change counter; it moves on every committed write."""
        return self.store.change_counter()

    def runs(
        self, *, phase: str | None = None, task: str | None = None, search: str | None = None
    ) -> list[RunRecord]:
        """Runs, newest first, filtered by phase, task and a name substring."""
        return self.store.list_runs(phase=phase, task=task, search=search or None, limit=self.limit)

    def run(self, name: str) -> RunRecord | None:
        """One run, or None if it does not exist (yet)."""
        return self.store.get_run(name)

    def newest_run(self) -> RunRecord | None:
        """The most recently created run, if any."""
        found = self.store.list_runs(limit=1)
        return found[0] if found else None

    def actions(self, run: str) -> list[ActionRecord]:
        """Every action of `run` (tasks and trace checkpoints)."""
        return self.store.list_actions(run)

    def action_cursor(self, run: str) -> int:
        """The highest row id of `run`'s actions (`flyte.store.action_cursor`)."""
        from flyte.store import action_cursor

        return action_cursor(self.store, run)

    def changed_actions(
        self, run: str, *, after: int, live: dict[str, str]
    ) -> tuple[list[ActionRecord], int] | None:
        """New and changed unfinished actions (`flyte.store.changed_actions`)."""
        from flyte.store import changed_actions

        return changed_actions(self.store, run, after=after, live=live)

    def actions_version(self, run: str) -> tuple[Any, ...] | None:
        """A fingerprint of `run`'s actions (`flyte.store.actions_version`): while it
        stays the same, they need no re-reading; None when the store cannot tell."""
        from flyte.store import actions_version

        return actions_version(self.store, run)

    def logs(
        self, run: str, action_id: str | None, *, after: int = 0, limit: int | None = None
    ) -> list[LogLine]:
        """Log lines after `after` (a `LogLine.seq`) of an action, or of the whole run."""
        return self.store.logs(run, action_id=action_id, after=after, limit=limit)

    def details(self, run: str, action_id: str) -> ActionDetails | None:
        """The action, its attempts, and its cache key parts and hit/miss explanation."""
        from flyte.errors import FlyteError

        action = self.store.get_action(run, action_id)
        if action is None:
            return None
        attempts = self.store.list_attempts(run, action_id)
        parts: dict[str, Any] | None = None
        explanation: str | None = None
        reasons: list[str] = []
        if action.cache_key is not None:
            found = self.store.cache_get(action.cache_key)
            parts = found[0].parts if found is not None else None
        if action.cache_status is not CacheStatus.DISABLED and action.kind is ActionKind.TASK:
            from flyte._cache_api import cache_api

            try:
                result = cache_api.explain(run, action_id, store=self.store)
            except FlyteError as exc:
                explanation = f"cannot explain: {exc}"
            else:
                explanation, reasons = str(result), list(result.reasons)
        return ActionDetails(
            action=action,
            attempts=attempts,
            cache_parts=parts,
            cache_explanation=explanation,
            cache_reasons=reasons,
        )

    def request_abort(self, run: str) -> bool:
        """Ask the process driving `run` to abort it; False if it already ended."""
        return self.store.request_abort(run)
