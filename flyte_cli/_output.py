"""One renderer: rich tables for people, JSON for scripts, and the shared value formatting.

Every list command builds plain dicts plus a list of `Column`s and calls `emit`, so the
table and the `--json` form always show the same records.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

__all__ = [
    "ROLE_STYLE",
    "STREAM_PAGE",
    "Column",
    "console",
    "emit",
    "emit_json",
    "emit_json_array",
    "fmt_ago",
    "fmt_bytes",
    "fmt_duration",
    "fmt_time",
    "loads_json",
    "parse_since",
    "phase_text",
    "segments_text",
    "to_data",
]

ROLE_STYLE: dict[str, str] = {
    # The roles of `flyte._present` segments as rich styles (the TUI maps them in .tcss).
    "queued": "dim",
    "running": "yellow",
    "succeeded": "green",
    "failed": "red",
    "timed-out": "red",
    "aborted": "magenta",
    "name": "",
    "root": "bold",
    "trace": "blue",
    "group": "bold blue",
    "dim": "dim",
    "attempts": "yellow",
    "cache-hit": "cyan",
    "cache-miss": "yellow",
    "recovered": "magenta",
    "report": "green",
    "error": "red",
}

STREAM_PAGE = 200
"""Rows per page when a command streams a run's actions or log lines: a page of the
store's default 2,000 log lines of 10 KB each held 20 MB at once (three copies of it
as rows, records and text), so memory grew with the lines' length."""

_PIPE_WIDTH = 200
"""Columns of a table printed into a pipe or file without $COLUMNS: wide enough not to cut."""


def console(*, stderr: bool = False) -> Console:
    """A rich Console on stdout (or stderr).

    On a terminal it takes the terminal's width; into a pipe or a file `$COLUMNS` when set,
    else 200 columns, so `flyte get cache | less` does not cut the table to 80 columns.
    """
    import os

    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None
    if not stream.isatty():
        columns = os.environ.get("COLUMNS", "")
        width = int(columns) if columns.isdigit() and int(columns) > 0 else _PIPE_WIDTH
    return Console(file=stream, width=width, highlight=False, soft_wrap=False)


def segments_text(segments: Sequence[tuple[str, str]]) -> Text:
    """`flyte._present` segments as a rich Text, each styled by its role."""
    from rich.text import Text

    text = Text()
    for part, role in segments:
        text.append(part, style=ROLE_STYLE.get(role, ""))
    return text


@dataclass(frozen=True, kw_only=True)
class Column:
    """One table column: which key of the record it shows and how."""

    key: str
    header: str
    fmt: Callable[[Any], str | Text] | None = None
    justify: str = "left"
    style: str | None = None


def emit(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[Column],
    *,
    as_json: bool,
    empty: str = "Nothing to show.",
) -> None:
    """Print `rows` as a rich table (only `columns`) or as a JSON array (every key)."""
    if as_json:
        emit_json(list(rows))
        return
    out = console()
    if not rows:
        out.print(f"[dim]{empty}[/]")
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for col in columns:
        table.add_column(col.header, justify=col.justify, style=col.style, no_wrap=True)  # type: ignore[arg-type]
    for row in rows:
        cells: list[Any] = []
        for col in columns:
            value = row.get(col.key)
            cells.append(col.fmt(value) if col.fmt else ("-" if value is None else str(value)))
        table.add_row(*cells)
    out.print(table)


def emit_json(data: Any) -> None:
    """Print `data` as indented JSON on stdout (plain text, no colors)."""
    sys.stdout.write(json.dumps(data, indent=2, default=_json_default) + "\n")


def emit_json_array(pages: Iterable[Iterable[Any]]) -> None:
    """Print the items of `pages` as one JSON array, streamed page by page, an item a line.

    One compact object per line (`[`, then `  {...},` lines, then `]`): the output of a
    100,000-action run parses as one array like any `--json`, greps line by line, and is
    encoded by the json module's C encoder (indenting every item falls back to the pure
    Python one, which made the encoding most of the command's time).
    """
    encode = json.JSONEncoder(default=_json_default).encode
    write = sys.stdout.write
    first = True
    write("[")
    for page in pages:
        chunk = ",\n  ".join(encode(item) for item in page)
        if chunk:
            write(("\n  " if first else ",\n  ") + chunk)
            first = False
    write("]\n" if first else "\n]\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_data(value)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return str(value)


def loads_json(text: str | None) -> Any:
    """Parse a stored JSON form (`flyte.store.decode_json`, imported on use)."""
    from flyte.store import decode_json

    return decode_json(text)


def to_data(record: Any) -> dict[str, Any]:
    """A record dataclass as a JSON-able dict: enums as values, `*_json` fields parsed.

    `inputs_json` becomes `inputs`, `outputs_json` becomes `outputs`; computed properties
    (`duration`) are included.
    """
    data: dict[str, Any] = {}
    values = getattr(record, "__dict__", None)
    for name, key, parse in _plan(type(record)):
        value = values[name] if values is not None else getattr(record, name)
        if parse:
            value = _decode(value)
        elif isinstance(value, enum.Enum):
            value = value.value
        data[key] = value
    if hasattr(type(record), "duration"):
        data["duration"] = record.duration
    return data


_PLANS: dict[type, tuple[tuple[str, str, bool], ...]] = {}


def _plan(cls: type) -> tuple[tuple[str, str, bool], ...]:
    """(field, key, parse JSON?) per field of a record class; `get actions --json` of a
    100,000-action run calls `to_data` per action, and `dataclasses.fields` each time
    cost more than the rest of the conversion."""
    plan = _PLANS.get(cls)
    if plan is None:
        plan = tuple(
            (f.name, f.name[: -len("_json")], True)
            if f.name.endswith("_json")
            else (f.name, f.name, False)
            for f in dataclasses.fields(cls)
        )
        _PLANS[cls] = plan
    return plan


def _decode(text: str | None) -> Any:
    # `flyte.store.decode_json` inline (hot in to_data): None stays None, bad JSON text.
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


# -- formatting ------------------------------------------------------------------------


def fmt_duration(seconds: float | None) -> str:
    """`12ms`, `3.4s`, `2m05s`, `1h02m` (`flyte._present.duration`); `-` for unknown."""
    from flyte import _present

    return _present.duration(seconds) or "-"


def fmt_time(ts: float | None) -> str:
    """Local time: `14:03:12` today, `2024-05-01 14:03` otherwise; `-` for unknown."""
    if ts is None:
        return "-"
    local = time.localtime(ts)
    if time.strftime("%Y-%m-%d", local) == time.strftime("%Y-%m-%d"):
        return time.strftime("%H:%M:%S", local)
    return time.strftime("%Y-%m-%d %H:%M", local)


def fmt_ago(ts: float | None) -> str:
    """`12s ago`, `5m ago`, `3h ago`, `2d ago`; `-` for unknown."""
    if ts is None:
        return "-"
    delta = max(0.0, time.time() - ts)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if delta >= size:
            return f"{int(delta // size)}{unit} ago"
    return f"{int(delta)}s ago"


def phase_text(phase: Any) -> Text:
    """The phase with its icon and color, e.g. a green `✓ SUCCEEDED`."""
    from rich.text import Text

    from flyte import _present

    role = _present.phase_role(phase)
    return Text(
        f"{_present.phase_icon(phase)} {_present.phase_name(phase)}", style=ROLE_STYLE.get(role, "")
    )


_SINCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(value: str) -> float:
    """`30m`, `2h`, `1d`, `1w` ago, or an ISO date/time, as a Unix timestamp.

    Raises:
        ValueError: the text is neither.
    """
    match = _SINCE.match(value)
    if match:
        return time.time() - float(match.group(1)) * _UNITS[match.group(2)]
    from datetime import datetime

    try:
        return datetime.fromisoformat(value.strip()).timestamp()
    except ValueError:
        raise ValueError(
            f"{value!r} is not a duration like 30m, 2h, 1d or an ISO date like 2024-05-01"
        ) from None


def fmt_bytes(size: int | None) -> str:
    """`812 B`, `4.0 KB`, `12.3 MB`, `1.20 GB`; `-` for unknown."""
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KB", "MB"):
        if abs(value) < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.2f} GB"
