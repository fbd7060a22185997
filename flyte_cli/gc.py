"""`flyte gc`: delete old runs and stale cache entries, then give the space back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Optional

import typer

from flyte_cli._errors import CliError
from flyte_cli._options import JsonOpt, YesOpt, confirm, get_store
from flyte_cli._output import Column, console, emit, emit_json, fmt_ago, fmt_bytes

if TYPE_CHECKING:
    from flyte._store.upkeep import GcPlan, GcPolicy, GcReport

__all__ = ["gc"]


def _policy(
    older_than: str | None,
    keep: int | None,
    failed_only: bool,
    cache_older_than: str | None,
) -> GcPolicy:
    """The policy from the options, else the config file's [retention] section."""
    from flyte._store.retention import config_path, load_retention
    from flyte._store.upkeep import GcPolicy, parse_age

    if older_than is None and keep is None and not failed_only and cache_older_than is None:
        retention = load_retention()
        if retention is None:
            raise CliError(
                "say what to delete: --older-than 30d, --keep N, --failed-only and/or "
                f"--cache-older-than 7d (or set a [retention] policy in {config_path()})"
            )
        return retention.policy
    return GcPolicy(
        older_than=None if older_than is None else parse_age(older_than),
        keep=keep,
        failed_only=failed_only,
        cache_older_than=None if cache_older_than is None else parse_age(cache_older_than),
    )


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def _summary(runs: int, rows: dict[str, int], cache: int) -> str:
    parts = [_plural(rows.get("actions", 0), "action")]
    if rows.get("attempts"):
        parts.append(_plural(rows["attempts"], "attempt"))
    parts.append(_plural(rows.get("logs", 0), "log line"))
    parts += [
        _plural(n, t.rstrip("s") + " row")
        for t, n in sorted(rows.items())
        if n and t not in ("actions", "attempts", "logs")
    ]
    return f"{_plural(runs, 'run')} ({', '.join(parts)}) and {_plural(cache, 'cache entry', 'cache entries')}"


def gc(
    older_than: Annotated[
        Optional[str],
        typer.Option(
            "--older-than",
            metavar="AGE",
            help="Runs created more than AGE ago (30d, 12h, 2w).",
            show_default=False,
        ),
    ] = None,
    keep: Annotated[
        Optional[int],
        typer.Option(
            "--keep",
            metavar="N",
            min=0,
            help="Never the N newest runs (of those --failed-only considers).",
            show_default=False,
        ),
    ] = None,
    failed_only: Annotated[
        bool,
        typer.Option(
            "--failed-only", help="Only runs that did not succeed (failed, timed out, aborted)."
        ),
    ] = False,
    cache_older_than: Annotated[
        Optional[str],
        typer.Option(
            "--cache-older-than",
            metavar="AGE",
            help="Also cache entries written more than AGE ago that no kept run reads.",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be deleted; delete nothing.")
    ] = False,
    yes: YesOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Delete old runs (actions, attempts, logs) and stale cache entries, then shrink the file.

    A run goes when it meets every condition given. Runs in progress, and runs being
    recovered, are never touched. Other programs keep using the store while gc works
    (it writes in short transactions). With no options, the [retention] policy of the
    config file ($FLYTE_HOME/config.toml) applies; with `auto = true` there, it also
    runs by itself once a day after `flyte run`.

    Examples:

    \b
      flyte gc --older-than 30d --dry-run
      flyte gc --older-than 30d --keep 100 --yes
      flyte gc --failed-only --older-than 1d
      flyte gc --cache-older-than 7d --yes --json
    """
    from flyte._store.upkeep import gc as collect
    from flyte._store.upkeep import plan_gc

    policy = _policy(older_than, keep, failed_only, cache_older_than)
    store = get_store()
    plan = plan_gc(store, policy)
    if dry_run:
        _show(collect(store, policy, dry_run=True, plan=plan), plan, json_)
        return
    if not plan.runs and not plan.cache_keys:
        _show(collect(store, policy, plan=plan), plan, json_)
        return
    rows = {"actions": sum(c.actions for c in plan.runs), "logs": sum(c.logs for c in plan.runs)}
    confirm(f"Delete {_summary(len(plan.runs), rows, len(plan.cache_keys))}?", yes=yes)
    _show(collect(store, policy, plan=plan), plan, json_)


def _show(report: GcReport, plan: GcPlan, as_json: bool) -> None:
    if as_json:
        emit_json(report.to_dict())
        return
    out = console()
    if report.dry_run and plan.runs:
        emit(
            [
                {
                    "name": c.name,
                    "task": c.task,
                    "phase": c.phase,
                    "created_at": c.created_at,
                    "actions": c.actions,
                    "logs": c.logs,
                }
                for c in plan.runs
            ],
            [
                Column(key="name", header="RUN", style="cyan"),
                Column(key="task", header="TASK"),
                Column(key="phase", header="PHASE"),
                Column(key="created_at", header="CREATED", fmt=fmt_ago),
                Column(key="actions", header="ACTIONS", justify="right"),
                Column(key="logs", header="LOG LINES", justify="right"),
            ],
            as_json=False,
        )
    total = _summary(len(report.runs), report.rows, report.cache_entries)
    if report.dry_run:
        out.print(f"Would delete {total}.")
    elif not report.runs and not report.cache_entries and not report.blob_files:
        out.print("Nothing to delete.")
    else:
        line = f"Deleted {total}"
        if report.blob_files:
            line += f", {_plural(report.blob_files, 'value file')} ({fmt_bytes(report.blob_bytes)})"
        if report.bytes_freed:  # whole pages: deleting a little may free none
            line += f"; freed {fmt_bytes(report.bytes_freed)}"
        if report.size_before is not None:
            line += f"; file {fmt_bytes(report.size_before)} → {fmt_bytes(report.size_after)}"
        out.print(line + ".")
    if report.protected:
        out.print(
            f"[dim]Kept {_plural(len(report.protected), 'run')} in progress or being "
            f"recovered: {', '.join(report.protected[:5])}{' ...' if len(report.protected) > 5 else ''}[/]"
        )
    if report.skipped:
        out.print(
            f"[dim]Skipped {_plural(len(report.skipped), 'run')} that started or began "
            f"recovering meanwhile: {', '.join(report.skipped[:5])}[/]"
        )
    if report.cache_kept:
        out.print(
            f"[dim]Kept {_plural(report.cache_kept, 'stale cache entry', 'stale cache entries')}"
            " that kept runs read their outputs from.[/]"
        )
    if report.note:
        out.print(f"[dim]Note: {report.note}.[/]")
