"""Reading the run store: the small public API the CLI, the TUI and shell completion use.

Everything here reads; nothing starts the engine, and importing it costs only a few
stdlib modules, so a shell completion may use it.

Example:
    from flyte import store

    for name, task, phase in store.run_choices("swift"):   # what `flyte logs sw<TAB>` offers
        print(name, task, phase)
    db = store.existing_store()            # a RunStore, or None when nothing ran yet
"""

from __future__ import annotations

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
    "action_cursor",
    "actions_version",
    "changed_actions",
    "live_signature",
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


def _read_only(url: str | None, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """Rows of `sql` from the store file, through a read-only stdlib connection.

    Shell completion has a 0.10 s budget for the whole process: opening a `RunStore`
    imports the records, the migrations and the writer (~20-40 ms), so the two completion
    readers below query the file directly. The SQL stays here, next to the schema; if the
    schema ever differs, completion offers nothing instead of failing.
    """
    import sqlite3

    path = store_location(url)
    if path is None or not path.is_file():
        return []
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.5)
        try:
            return list(conn.execute(sql, params))
        finally:
            conn.close()
    except sqlite3.Error:
        return []


def _like(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def run_choices(
    prefix: str = "", *, url: str | None = None, limit: int = 100
) -> list[tuple[str, str, str]]:
    """(name, task, phase) of runs whose name starts with `prefix`, newest first.

    For shell completion: reads the store file at `url` (default: as `store_location`)
    without creating it; nothing when there is none.
    """
    rows = _read_only(
        url,
        "SELECT name, task, phase FROM runs WHERE name LIKE ? ESCAPE '\\' "
        "ORDER BY created_at DESC LIMIT ?",
        (_like(prefix), limit),
    )
    return [(str(n), str(t), str(p)) for n, t, p in rows]


def action_choices(run: str, prefix: str = "", *, url: str | None = None) -> list[tuple[str, str]]:
    """What may name an action of `run`, with a description: ids, then short task names.

    A task name stands for every action of that task (`flyte logs RUN say_hello`). For
    shell completion, like `run_choices`.
    """
    rows = _read_only(
        url, "SELECT id, name, phase FROM actions WHERE run = ? ORDER BY started_at", (run,)
    )
    out: list[tuple[str, str]] = []
    counts: dict[str, int] = {}
    for action_id, name, phase in rows:
        short = str(name).rsplit(".", 1)[-1]
        counts[short] = counts.get(short, 0) + 1
        if str(action_id).startswith(prefix):
            out.append((str(action_id), f"{short} {phase}"))
    taken = {value for value, _ in out}
    for short, count in counts.items():
        if short.startswith(prefix) and short not in taken:
            out.append((short, f"{count} action{'s' if count != 1 else ''}"))
    return out


# What a run's actions look like in a few numbers: every change the engine records to an
# action moves one of them (a new action the count, a start or an end a timestamp sum and
# a phase count, a retry the attempts, a cache hit or a recovery its count).
_ACTIONS_VERSION = (
    "SELECT count(*), total(started_at), total(ended_at), total(attempts), "
    "sum(phase = 'QUEUED'), sum(phase = 'RUNNING'), sum(phase = 'SUCCEEDED'), "
    "sum(phase = 'FAILED'), sum(phase = 'TIMED_OUT'), sum(phase = 'ABORTED'), "
    "sum(cache_status = 'hit'), sum(recovered != 0) FROM actions WHERE run = ?"
)


def actions_version(store: RunStore, run: str) -> tuple[Any, ...] | None:
    """A cheap fingerprint of `run`'s actions: equal values mean nothing to re-read.

    The store's change counter moves on every write (a run's heartbeat too); a dashboard
    re-reading a 100,000-action run on each move used most of a core. One aggregate
    query instead tells whether the actions themselves changed.

    Returns:
        The fingerprint, or None when this store cannot tell (read the actions).
    """
    from flyte._store.sqlite import SqliteRunStore

    if not isinstance(store, SqliteRunStore):
        return None
    rows = store._query(_ACTIONS_VERSION, (run,))
    return tuple(rows[0]) if rows else None


def live_signature(action: ActionRecord) -> str:
    """What may still change on an action that has not ended: `changed_actions` re-reads
    an action whose stored signature differs from this one."""
    return f"{action.phase.value}:{action.attempts}:{action.cache_status.value}"


def changed_actions(
    store: RunStore, run: str, *, after: int, live: dict[str, str]
) -> tuple[list[ActionRecord], int] | None:
    """The actions of `run` recorded after row `after`, and those of `live` that changed.

    A dashboard following a busy 5,000-action run re-read every action on each change;
    this reads only the new rows and the unfinished actions whose phase, attempt count or
    cache status moved (each found by its key). An action that already ended is not
    looked at: callers read everything now and then to see those rare changes too.

    Args:
        run: the run.
        after: the highest row id already read (`changed_actions` returns the next one;
            0 reads every action).
        live: id -> `live_signature` of the actions read before that had not ended.

    Returns:
        The actions (new first) and the highest row id read, or None when this store
        cannot tell (read every action instead).
    """
    from flyte._store._rows import action_from_row
    from flyte._store.sqlite import SqliteRunStore, action_read_columns

    if not isinstance(store, SqliteRunStore):
        return None
    import json

    rows = store._query(
        # The new rows by the row id's range (`+run`: not by the run's index, which
        # would visit all of its rows); the live ones one key each (CROSS JOIN keeps
        # json_each outside, else SQLite scans it once per action of the run).
        f"SELECT rowid AS row_id, {action_read_columns()} FROM actions "
        "WHERE rowid > ?1 AND +run = ?2 "
        f"UNION ALL SELECT a.rowid, {action_read_columns('a')} "
        "FROM json_each(?3) AS j CROSS JOIN actions AS a ON a.run = ?2 AND a.id = j.key "
        "WHERE a.phase || ':' || a.attempts || ':' || a.cache_status IS NOT j.value",
        (after, run, json.dumps(live)),
    )
    return [action_from_row(r) for r in rows], max((r["row_id"] for r in rows), default=after)


def action_cursor(store: RunStore, run: str) -> int:
    """The highest row id of `run`'s actions (0 when none, or for a store without them):
    read it before reading every action, then `changed_actions(after=...)` goes on."""
    from flyte._store.sqlite import SqliteRunStore

    if not isinstance(store, SqliteRunStore):
        return 0
    rows = store._query("SELECT max(rowid) FROM actions WHERE run = ?", (run,))
    return int(rows[0][0] or 0) if rows else 0


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
    import difflib

    matches = difflib.get_close_matches(name, list(dict.fromkeys(names)), n=3, cutoff=cutoff)
    if not matches:
        return ""
    return "; did you mean " + " or ".join(repr(m) for m in matches) + "?"
