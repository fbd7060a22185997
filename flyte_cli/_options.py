"""Options defined once: process state (--store, -v), the store accessor, shared aliases.

Completion callbacks live here too. They read the store through `flyte.store` (the public
read API, cheap to import) and never create a store file: with no store yet, or one that
cannot be read, completion offers nothing instead of failing. Against a server
(`--endpoint` / `$FLYTE_ENDPOINT`) they read its API with the stdlib's urllib (importing
httpx would cost more than a completion may take).
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
    from flyte.store import RunStore

__all__ = [
    "ActionArg",
    "JsonOpt",
    "RunArg",
    "State",
    "YesOpt",
    "complete_action",
    "complete_py_file",
    "complete_run",
    "confirm",
    "get_store",
    "store_url",
    "require_action",
    "require_actions",
    "require_run",
    "state",
]


@dataclass
class State:
    """Process-wide settings from the root callback (`--store`, `--verbose`)."""

    store: str | None = None
    verbose: bool = False
    # The store/server flags given on the command line, repeated in the commands we hint.
    target: str = ""

    def reset(self) -> None:
        self.store = None
        self.verbose = False
        self.target = ""


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
        from flyte.store import default_store

        return default_store()
    from flyte._run import current_store

    return current_store()


def store_url(value: str) -> str:
    """`--store` as an absolute path (or `memory`), so child processes find the same file."""
    if value in ("memory", ":memory:", "memory://"):
        return value
    return str(Path(value).expanduser().resolve())


def require_run(store: RunStore, name: str) -> RunRecord:
    """The run named `name`.

    Raises:
        CliError: there is no such run (the message suggests close names).
    """
    from flyte.store import did_you_mean

    record = store.get_run(name)
    if record is None:
        names = [r.name for r in store.list_runs(limit=200)]
        raise CliError(
            f"no run named {name!r}{did_you_mean(name, names)} (`flyte get runs` lists runs)"
        )
    return record


def require_actions(actions: Sequence[ActionRecord], run: str, ref: str) -> list[ActionRecord]:
    """The actions of `run` that `ref` names: an id, an id prefix, or a task name (all of
    that task's actions).

    Raises:
        CliError: nothing matches (the message suggests close ids and task names).
    """
    from flyte.store import did_you_mean, matching_actions

    found = matching_actions(actions, ref)
    if found:
        return found
    names = sorted({a.id for a in actions} | {a.name.rsplit(".", 1)[-1] for a in actions})
    raise CliError(
        f"no action {ref!r} in run {run}{did_you_mean(ref, names)} (`flyte get actions {run}`)"
    )


def require_action(actions: Sequence[ActionRecord], run: str, ref: str) -> ActionRecord:
    """The one action of `run` that `ref` (an id, id prefix or task name) names.

    Raises:
        CliError: nothing matches, or a task name matches several actions (the message
            lists their ids with their inputs, each one a working choice).
    """
    from flyte import _present

    found = require_actions(actions, run, ref)
    if len(found) == 1:
        return found[0]
    choices = ", ".join(
        f"{a.id} ({_present.short_task(a.name)}({_present.inputs_preview(a.inputs_json, 24)}))"
        for a in found[:4]
    )
    more = f" and {len(found) - 4} more" if len(found) > 4 else ""
    raise CliError(
        f"{ref!r} matches {len(found)} actions of run {run}; give one id: {choices}{more}"
    )


def _interactive() -> bool:
    """Whether a person can answer a prompt (stdin is a terminal)."""
    import sys

    return sys.stdin.isatty()


def confirm(question: str, *, yes: bool) -> None:
    """Ask `question` (y/N) unless `--yes` was given; stop when the answer is no.

    Raises:
        CliError: no terminal to ask on and no `--yes` (exit 2).
        typer.Abort: the answer was no (exit 130, "Aborted.").
    """
    if yes:
        return
    if not _interactive():
        raise CliError(
            f"{question.rstrip('?')}: needs confirmation; add --yes (no terminal to ask)"
        )
    typer.confirm(question, abort=True)


YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


# -- completion --------------------------------------------------------------------------


class _ServerReader:
    """The part of the store protocol completion reads, from a server, with urllib."""

    def __init__(self, endpoint: str, api_key: str | None) -> None:
        if "://" not in endpoint:
            endpoint = "http://" + endpoint
        self.endpoint = endpoint.rstrip("/")
        self.api_key = api_key

    def _get(self, path: str, params: dict[str, Any]) -> Any:
        """GET an API path; None on any failure (completion is best effort)."""
        import json
        import urllib.parse
        import urllib.request

        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        url = f"{self.endpoint}/api/v1{path}?{query}"
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            with urllib.request.urlopen(
                urllib.request.Request(url, headers=headers), timeout=2
            ) as r:
                return json.loads(r.read())
        except (OSError, ValueError):
            return None

    def list_runs(
        self, *, search: str | None = None, limit: int | None = None, **_: Any
    ) -> list[RunRecord]:
        from flyte._models import RunRecord
        from flyte.remote._wire import decode_list

        data = self._get("/runs", {"search": search, "limit": limit or 0})
        return decode_list(RunRecord, data["runs"]) if isinstance(data, dict) else []

    def list_actions(self, run: str) -> list[ActionRecord]:
        import urllib.parse

        from flyte._models import ActionRecord
        from flyte.remote._wire import decode_list

        data = self._get(f"/runs/{urllib.parse.quote(run, safe='')}/actions", {})
        return decode_list(ActionRecord, data["actions"]) if isinstance(data, dict) else []


def _completion_server(ctx: typer.Context) -> _ServerReader | None:
    """The server completion asks (`--endpoint` / `$FLYTE_ENDPOINT`), unless `--store`."""
    root = ctx.find_root()
    if root.params.get("store"):
        return None
    endpoint = root.params.get("endpoint") or os.environ.get("FLYTE_ENDPOINT")
    if not endpoint:
        return None
    return _ServerReader(
        str(endpoint), root.params.get("api_key") or os.environ.get("FLYTE_API_KEY")
    )


def _completion_url(ctx: typer.Context) -> str | None:
    url = ctx.find_root().params.get("store")
    return store_url(url) if url else None


def complete_run(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """Run names starting with `incomplete`, newest first, with task and phase as help."""
    from flyte.store import run_choices

    server = _completion_server(ctx)
    if server is not None:
        runs = server.list_runs(search=incomplete or None, limit=None if incomplete else 100)
        return [(r.name, f"{r.task} {r.phase}") for r in runs if r.name.startswith(incomplete)][
            :100
        ]
    found = run_choices(incomplete, url=_completion_url(ctx))
    return [(name, f"{task} {phase}") for name, task, phase in found]


def complete_action(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """Action ids and task names of the run given earlier, with what each one names."""
    from flyte.store import action_choices

    run = ctx.params.get("run")
    if not run:
        return []
    server = _completion_server(ctx)
    if server is None:
        return action_choices(run, incomplete, url=_completion_url(ctx))
    # The same choices as `action_choices` (ids, then short task names), from the server.
    actions = server.list_actions(run)
    out = [
        (a.id, f"{a.name.rsplit('.', 1)[-1]} {a.phase}")
        for a in actions
        if a.id.startswith(incomplete)
    ]
    counts: dict[str, int] = {}
    for a in actions:
        short = a.name.rsplit(".", 1)[-1]
        counts[short] = counts.get(short, 0) + 1
    taken = {value for value, _ in out}
    for short, count in counts.items():
        if short.startswith(incomplete) and short not in taken:
            out.append((short, f"{count} action{'s' if count != 1 else ''}"))
    return out


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
        metavar="ACTION",
    ),
]
