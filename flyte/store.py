"""Reading the run store: the small public API the CLI, the TUI and shell completion use.

Everything here reads; nothing starts the engine. Importing it costs only the store's own
modules (stdlib + `flyte._models`), so a shell completion may use it.

Example:
    from flyte import store

    db = store.existing_store()            # None when nothing ran yet
    if db is not None:
        for name, task, phase in store.run_choices(db, "swift"):
            print(name, task, phase)
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flyte._store import RunStore, default_store, flyte_home, open_store

if TYPE_CHECKING:
    from flyte._models import ActionRecord

__all__ = [
    "RunStore",
    "action_choices",
    "count_runs",
    "decode_json",
    "default_store",
    "did_you_mean",
    "existing_store",
    "flyte_home",
    "matching_actions",
    "open_store",
    "run_choices",
    "store_location",
]

_MEMORY = ("memory", ":memory:", "memory://")


def decode_json(text: str | None) -> Any:
    """Decode a stored JSON form (`inputs_json`, ...); None stays None, bad JSON stays text."""
    from flyte._store._rows import decode_json as decode

    return decode(text)


def store_location(url: str | None = None) -> Path | None:
    """The file a store URL names (default `$FLYTE_STORE`, else `$FLYTE_HOME/runs.db`).

    Returns:
        The path, or None for an in-memory store.
    """
    url = url or os.environ.get("FLYTE_STORE")
    if url in _MEMORY:
        return None
    if url:
        return Path(url).expanduser()
    return flyte_home() / "runs.db"


def existing_store(url: str | None = None) -> RunStore | None:
    """The store at `url` (see `store_location`) if its file exists; never creates one.

    Returns:
        The store, or None when there is no file (or the store is in memory) or it cannot
        be read (corrupt, newer version): callers that only offer suggestions stay quiet.
    """
    from flyte.errors import StoreError

    path = store_location(url)
    if path is None or not path.is_file():
        return None
    try:
        return open_store(path)
    except StoreError:
        return None


def run_choices(
    store: RunStore, prefix: str = "", *, limit: int = 100
) -> list[tuple[str, str, str]]:
    """(name, task, phase) of runs whose name starts with `prefix`, newest first."""
    found = store.list_runs(search=prefix or None, limit=None if prefix else limit)
    rows = [(r.name, r.task, str(r.phase)) for r in found if r.name.startswith(prefix)]
    return rows[:limit]


def action_choices(store: RunStore, run: str, prefix: str = "") -> list[tuple[str, str]]:
    """What may name an action of `run`, with a description: ids, then short task names.

    A task name stands for every action of that task (`flyte logs RUN say_hello`).
    """
    actions = store.list_actions(run)
    out: list[tuple[str, str]] = []
    counts: dict[str, int] = {}
    for action in actions:
        short = action.name.rsplit(".", 1)[-1]
        counts[short] = counts.get(short, 0) + 1
        if action.id.startswith(prefix):
            out.append((action.id, f"{short} {action.phase}"))
    for short, count in counts.items():
        if short.startswith(prefix) and short not in {a for a, _ in out}:
            out.append((short, f"{count} action{'s' if count != 1 else ''}"))
    return out


def matching_actions(actions: Iterable[ActionRecord], ref: str) -> list[ActionRecord]:
    """The actions `ref` names: an id, a unique id prefix, or a task's full or short name.

    An exact id wins; then an id prefix; then every action of a task of that name.
    """
    actions = list(actions)
    exact = [a for a in actions if a.id == ref]
    if exact:
        return exact
    by_name = [a for a in actions if ref in (a.name, a.name.rsplit(".", 1)[-1])]
    by_prefix = [a for a in actions if a.id.startswith(ref)]
    if len(by_prefix) == 1 or (by_prefix and not by_name):
        return by_prefix
    return by_name


def count_runs(
    store: RunStore,
    *,
    phase: str | None = None,
    task: str | None = None,
    since: float | None = None,
    search: str | None = None,
) -> int:
    """How many runs match the filters of `RunStore.list_runs` (no limit)."""
    counter = getattr(store, "count_runs", None)
    if counter is not None:
        return int(counter(phase=phase, task=task, since=since, search=search))
    return len(store.list_runs(phase=phase, task=task, since=since, search=search, limit=None))


def did_you_mean(name: str, names: Iterable[str], *, cutoff: float = 0.5) -> str:
    """`; did you mean 'x' or 'y'?` for the names closest to `name`, or an empty string."""
    matches = difflib.get_close_matches(name, list(dict.fromkeys(names)), n=3, cutoff=cutoff)
    if not matches:
        return ""
    return "; did you mean " + " or ".join(repr(m) for m in matches) + "?"
