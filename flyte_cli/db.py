"""`flyte db stats | vacuum | check | query`: look after the run store and ask it questions."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from flyte_cli._command import ExamplesCommand, sub_app
from flyte_cli._errors import CliError
from flyte_cli._options import JsonOpt, get_store
from flyte_cli._output import Column, console, emit, emit_json, fmt_ago, fmt_bytes

if TYPE_CHECKING:
    from flyte._store import RunStore

__all__ = ["app", "check", "query", "stats", "vacuum"]

app = sub_app(
    help="Look after the run store: sizes, integrity, vacuum, read-only SQL.",
    epilog="""Examples:

\b
  flyte db stats
  flyte db check
  flyte db vacuum
  flyte db query "select phase, count(*) from runs_v1 group by phase"
""",
)


def _sqlite_path(store: RunStore, verb: str) -> str:
    if store.path == ":memory:":
        raise CliError(f"flyte db {verb} needs a SQLite store; this one is in memory")
    return store.path


@app.command(cls=ExamplesCommand)
def stats(
    biggest: Annotated[
        int,
        typer.Option("--biggest", metavar="N", min=0, help="How many of the biggest runs to list."),
    ] = 5,
    json_: JsonOpt = False,
) -> None:
    """Show row counts, stored bytes, file and log sizes, and the biggest runs.

    Examples:

    \b
      flyte db stats
      flyte db stats --biggest 10 --json
    """
    from flyte._store.stats import stats as collect

    result = collect(get_store(), biggest=biggest)
    if json_:
        emit_json(result.to_dict())
        return
    out = console()
    phases = ", ".join(f"{n:,} {p.lower()}" for p, n in sorted(result.runs_by_phase.items()))
    lines = [("Store", result.path)]
    if result.file_bytes is not None:
        lines.append(
            (
                "File",
                f"{fmt_bytes(result.file_bytes)} + {fmt_bytes(result.wal_bytes)} write-ahead log; "
                f"{fmt_bytes(result.data_bytes)} in use, {fmt_bytes(result.free_bytes)} free"
                + (
                    ""
                    if result.incremental_vacuum
                    else " (run `flyte db vacuum` once to let gc shrink it)"
                ),
            )
        )
    lines += [
        (
            "Runs",
            f"{result.runs:,}"
            + (f" ({phases})" if phases else "")
            + f"; {result.active:,} in progress",
        ),
        ("Actions", f"{result.actions:,}"),
        ("Attempts", f"{result.attempts:,}"),
        ("Log lines", f"{result.logs:,}"),
        ("Cache", f"{result.cache_entries:,} entries"),
        ("Deployed", f"{result.deployed:,} task versions"),
        (
            "Values",
            f"{fmt_bytes(result.blob_bytes)} of stored inputs, outputs and code"
            + (
                f" (+ {fmt_bytes(result.offloaded_bytes)} in {result.offloaded_files} files in blobs/)"
                if result.offloaded_files
                else ""
            ),
        ),
    ]
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        out.print(f"[bold]{key.ljust(width)}[/]  {value}", markup=True, highlight=False)
    if result.biggest:
        out.print()
        out.print("[bold]Biggest runs[/]")
        emit(
            result.biggest,
            [
                Column(key="name", header="RUN", style="cyan"),
                Column(key="task", header="TASK"),
                Column(key="phase", header="PHASE"),
                Column(key="created_at", header="CREATED", fmt=fmt_ago),
                Column(key="actions", header="ACTIONS", justify="right"),
                Column(key="logs", header="LOG LINES", justify="right"),
                Column(key="bytes", header="SIZE", justify="right", fmt=fmt_bytes),
            ],
            as_json=False,
        )


@app.command(cls=ExamplesCommand)
def vacuum(
    force: Annotated[
        bool, typer.Option("--force", help="Vacuum even while a run is in progress (it stalls).")
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Rewrite the store file compactly, so it gives back all free space.

    VACUUM holds the store's write lock while it copies the file, so runs in progress
    would wait: it refuses to start while one is, unless --force. It also turns on
    incremental vacuum for a store created before it, so `flyte gc` can shrink the file
    from then on without blocking anyone.

    Examples:

    \b
      flyte db vacuum
      flyte db vacuum --json
    """
    from flyte._store.upkeep import vacuum as run_vacuum

    store = get_store()
    _sqlite_path(store, "vacuum")
    report = run_vacuum(store, force=force)
    if json_:
        emit_json(
            {
                "size_before": report.size_before,
                "size_after": report.size_after,
                "seconds": round(report.seconds, 3),
            }
        )
        return
    freed = (report.size_before or 0) - (report.size_after or 0)
    console().print(
        f"Vacuumed {store.path}: {fmt_bytes(report.size_before)} → {fmt_bytes(report.size_after)} "
        f"(freed {fmt_bytes(max(freed, 0))}) in {report.seconds:.1f}s."
    )


@app.command(cls=ExamplesCommand)
def check(
    quick: Annotated[
        bool, typer.Option("--quick", help="Skip SQLite's page-by-page integrity check.")
    ] = False,
    json_: JsonOpt = False,
) -> None:
    """Check the store: SQLite integrity, foreign keys, and flyte's own invariants.

    Exit code 1 and a list of problems when anything is wrong, 0 when the store is sound.

    Examples:

    \b
      flyte db check
      flyte db check --quick --json
    """
    from flyte._store.stats import check as run_check

    result = run_check(get_store(), integrity=not quick)
    if json_:
        emit_json(
            {
                "ok": result.ok,
                "problems": result.problems,
                "notes": result.notes,
                "checks": result.checks,
            }
        )
    else:
        out = console()
        if result.ok:
            out.print(f"[green]✓[/] The store is sound ({len(result.checks)} checks).")
        else:
            out.print(f"[red]✗[/] {len(result.problems)} problem(s):")
            for problem in result.problems:
                out.print(f"  - {problem}", markup=False)
        for note in result.notes:
            out.print(f"[dim]Note: {note}[/]")
    if not result.ok:
        raise typer.Exit(1)


@app.command(cls=ExamplesCommand)
def query(
    sql: Annotated[
        str,
        typer.Argument(metavar="SQL", help="One SQL statement (read-only).", show_default=False),
    ],
    json_: Annotated[bool, typer.Option("--json", help="Print a JSON array of objects.")] = False,
    csv_: Annotated[bool, typer.Option("--csv", help="Print CSV with a header row.")] = False,
    table: Annotated[bool, typer.Option("--table", help="Print a table (the default).")] = False,
    fmt: Annotated[
        Optional[str],
        typer.Option(
            "--fmt",
            metavar="FORMAT",
            help="Table format for --table: simple, github, grid, plain, ... (tabulate's).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run a read-only SQL query on the store (the connection cannot write).

    Query the public views runs_v1, actions_v1, attempts_v1, logs_v1 and cache_v1: they
    keep their columns across versions (docs/store-schema.md). Tables may change.

    Examples:

    \b
      flyte db query "select name, phase, duration from runs_v1 order by created_at desc limit 5"
      flyte db query "select name, count(*) n from actions_v1 group by name order by n desc" --csv
      flyte db query "select * from logs_v1 where run = 'RUN'" --json
    """
    from flyte._store.query import query as run_query

    if sum((json_, csv_, table)) > 1:
        raise CliError("choose one of --json, --csv and --table")
    import tabulate  # sqlite-utils' table renderer (`sqlite-utils query --table`)

    if fmt is not None and fmt not in tabulate.tabulate_formats:
        raise CliError(
            f"unknown table format {fmt!r}; choose one of {', '.join(tabulate.tabulate_formats)}"
        )
    result = run_query(_sqlite_path(get_store(), "query"), sql)
    try:
        if json_:
            _write_json(result.columns, result.rows)
        elif csv_:
            _write_csv(result.columns, result.rows)
        else:
            _write_table(result.columns, result.rows, fmt or "simple")
    finally:
        result.close()


def _cell(value: Any) -> Any:
    if isinstance(value, bytes):  # as sqlite-utils prints blobs
        import base64

        return {"$base64": True, "encoded": base64.b64encode(value).decode("ascii")}
    return value


def _write_json(columns: list[str], rows: Any) -> None:
    import json

    # Streamed: one object per line inside the array, so any result size fits in memory.
    out = sys.stdout
    first = True
    out.write("[")
    for row in rows:
        out.write("\n " if first else ",\n ")
        out.write(json.dumps({c: _cell(v) for c, v in zip(columns, row, strict=True)}, default=str))
        first = False
    out.write("\n]\n" if not first else "]\n")


def _write_csv(columns: list[str], rows: Any) -> None:
    import csv

    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([f"<{len(v)} bytes>" if isinstance(v, bytes) else v for v in row])


def _write_table(columns: list[str], rows: Any, fmt: str) -> None:
    import tabulate

    cells = [[f"<{len(v)} bytes>" if isinstance(v, bytes) else v for v in row] for row in rows]
    sys.stdout.write(tabulate.tabulate(cells, headers=columns, tablefmt=fmt) + "\n")
