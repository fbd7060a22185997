"""Options defined once: process state (--store, -v), the store accessor, shared aliases.

Completion callbacks live here too. They must stay fast: a completion call may not import
`flyte` (its facade costs more than the whole completion budget), so run names and action
ids are read straight from the SQLite file with a read-only stdlib connection. If the
schema ever differs, completion offers nothing instead of failing. Against a server
(`--endpoint` / `$FLYTE_ENDPOINT`) they ask its API with the stdlib's urllib (no httpx).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from flyte_cli._errors import CliError

if TYPE_CHECKING:
    from flyte._models import ActionRecord, RunRecord
    from flyte._store import RunStore

__all__ = [
    "ActionArg",
    "JsonOpt",
    "RunArg",
    "State",
    "complete_action",
    "complete_py_file",
    "complete_run",
    "get_store",
    "store_url",
    "require_action",
    "require_run",
    "state",
]


@dataclass
class State:
    """Process-wide settings from the root callback (`--store`, `--verbose`)."""

    store: str | None = None
    verbose: bool = False

    def reset(self) -> None:
        self.store = None
        self.verbose = False


state = State()


def get_store() -> RunStore:
    """The run store for this invocation: `--store`, else whatever the SDK would use.

    `--store` works through `$FLYTE_STORE` (set for the duration of the invocation), so the
    SDK calls made for the CLI (deploy, deployed tasks) and any child process (the watch
    loop's runs) use the same store. Without it this is `flyte._run.current_store()`, so
    `flyte.init(store=...)` (tests) and `$FLYTE_HOME` are respected, and `--endpoint` /
    `$FLYTE_ENDPOINT` give the server's store, read over HTTP.

    Raises:
        flyte.errors.StoreError: the store file is corrupt or from a newer version.
    """
    if state.store is not None:
        from flyte._store import default_store

        return default_store()
    from flyte._run import current_store

    return current_store()


def store_url(value: str) -> str:
    """`--store` as an absolute path (or `memory`), so child processes find the same file."""
    if value in ("memory", ":memory:", "memory://"):
        return value
    return str(Path(value).expanduser().resolve())


def _close(name: str, names: Sequence[str]) -> str:
    """`; did you mean 'x'?` for the nearest names, or an empty string."""
    import difflib

    matches = difflib.get_close_matches(name, list(names), n=3, cutoff=0.5)
    if not matches:
        return ""
    return "; did you mean " + " or ".join(repr(m) for m in matches) + "?"


def require_run(store: RunStore, name: str) -> RunRecord:
    """The run named `name`.

    Raises:
        CliError: there is no such run (the message suggests close names).
    """
    record = store.get_run(name)
    if record is None:
        names = [r.name for r in store.list_runs(limit=200)]
        raise CliError(f"no run named {name!r}{_close(name, names)} (`flyte get runs` lists runs)")
    return record


def require_action(actions: Sequence[ActionRecord], run: str, ref: str) -> ActionRecord:
    """The action of `run` whose id, id prefix, full task name or short name is `ref`.

    Raises:
        CliError: nothing matches, or a task name matches several actions.
    """
    by_id = [a for a in actions if a.id == ref] or [a for a in actions if a.id.startswith(ref)]
    if len(by_id) == 1:
        return by_id[0]
    by_name = [a for a in actions if ref in (a.name, a.name.rsplit(".", 1)[-1])]
    if len(by_name) == 1:
        return by_name[0]
    if len(by_name) > 1 or len(by_id) > 1:
        found = by_name or by_id
        ids = ", ".join(a.id for a in found[:5])
        more = ", ..." if len(found) > 5 else ""
        raise CliError(
            f"{ref!r} matches {len(found)} actions of run {run} ({ids}{more}); give an action id"
        )
    names = sorted({a.id for a in actions} | {a.name.rsplit(".", 1)[-1] for a in actions})
    raise CliError(
        f"no action {ref!r} in run {run}{_close(ref, names)} (`flyte get actions {run}`)"
    )


# -- completion (no flyte import) ----------------------------------------------------


def _remote(ctx: typer.Context) -> tuple[str, str | None] | None:
    """The server completion should ask (endpoint, api key), if any."""
    root = ctx.find_root()
    if root.params.get("store"):
        return None
    endpoint = root.params.get("endpoint") or os.environ.get("FLYTE_ENDPOINT")
    if not endpoint:
        return None
    return str(endpoint), root.params.get("api_key") or os.environ.get("FLYTE_API_KEY")


def _ask(remote: tuple[str, str | None], path: str, params: dict[str, Any]) -> Any:
    """GET an API path of the server with urllib; None on any failure (completion is best effort)."""
    import json
    import urllib.error
    import urllib.parse
    import urllib.request

    endpoint, key = remote
    if "://" not in endpoint:
        endpoint = "http://" + endpoint
    url = f"{endpoint.rstrip('/')}/api/v1{path}?{urllib.parse.urlencode(params)}"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return json.loads(response.read())
    except (OSError, ValueError, urllib.error.URLError):
        return None


def _db_path(ctx: typer.Context) -> Path | None:
    root = ctx.find_root()
    url = root.params.get("store") or os.environ.get("FLYTE_STORE")
    if url in ("memory", ":memory:", "memory://"):
        return None
    if url:
        return Path(url).expanduser()
    home = Path(os.environ.get("FLYTE_HOME") or "~/.flyte").expanduser()
    return home / "runs.db"


def _query(ctx: typer.Context, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    import sqlite3

    path = _db_path(ctx)
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


def complete_run(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """Run names starting with `incomplete`, newest first, with task and phase as help."""
    remote = _remote(ctx)
    if remote is not None:
        data = _ask(remote, "/runs", {"search": incomplete, "limit": 500})
        runs = data.get("runs", []) if isinstance(data, dict) else []
        return [
            (str(r["name"]), f"{r.get('task')} {r.get('phase')}")
            for r in runs[:100]
            if str(r.get("name", "")).startswith(incomplete)
        ]
    rows = _query(
        ctx,
        "SELECT name, task, phase FROM runs WHERE name LIKE ? ORDER BY created_at DESC LIMIT 100",
        (incomplete.replace("%", "") + "%",),
    )
    return [(str(name), f"{task} {phase}") for name, task, phase in rows]


def complete_action(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """Action ids of the run given earlier on the command line, with task names as help."""
    run = ctx.params.get("run")
    if not run:
        return []
    remote = _remote(ctx)
    if remote is not None:
        import urllib.parse

        data = _ask(remote, f"/runs/{urllib.parse.quote(str(run), safe='')}/actions", {})
        found = data.get("actions", []) if isinstance(data, dict) else []
        return [
            (str(a["id"]), f"{a.get('name')} {a.get('phase')}")
            for a in found
            if str(a.get("id", "")).startswith(incomplete)
        ][:200]
    rows = _query(
        ctx,
        "SELECT id, name, phase FROM actions WHERE run = ? AND id LIKE ? ORDER BY started_at LIMIT 200",
        (run, incomplete.replace("%", "") + "%"),
    )
    return [(str(aid), f"{name} {phase}") for aid, name, phase in rows]


def complete_py_file(incomplete: str) -> list[str]:
    """Python files and folders (ending in `/`) that start with `incomplete`."""
    folder, _, _ = incomplete.rpartition("/")
    base = Path(folder or ".").expanduser()
    try:
        entries = sorted(base.iterdir())
    except OSError:
        return []
    found = []
    for entry in entries:
        text = f"{folder}/{entry.name}" if folder else entry.name
        if entry.name.startswith((".", "__")) or not text.startswith(incomplete):
            continue
        if entry.is_dir():
            found.append(text + "/")
        elif entry.suffix == ".py":
            found.append(text)
    return found


# -- shared option aliases -------------------------------------------------------------

JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print JSON (for scripts) instead of a table.")
]
RunArg = Annotated[
    str,
    typer.Argument(
        help="The run's name (`flyte get runs` lists them).",
        autocompletion=complete_run,
        show_default=False,
        metavar="RUN",
    ),
]
ActionArg = Annotated[
    Optional[str],
    typer.Argument(
        help="An action id (or id prefix) or a task name; default: the whole run.",
        autocompletion=complete_action,
        show_default=False,
        metavar="[ACTION]",
    ),
]
