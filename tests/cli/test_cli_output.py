"""The one renderer's formats: JSON of any record, times, sizes."""

from __future__ import annotations

import dataclasses
import enum
import json
import time

import pytest

from flyte_cli._output import emit_json, emit_json_array, fmt_ago, fmt_bytes, fmt_time


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Row:
    name: str
    color: Color


def test_json_output_writes_enums_records_and_bytes_readably(
    capsys: pytest.CaptureFixture[str],
) -> None:
    emit_json({"color": Color.RED, "row": Row("a", Color.RED), "blob": b"xyz", "when": time})
    data = json.loads(capsys.readouterr().out)
    assert data["color"] == "red"
    assert data["row"] == {"name": "a", "color": "red"}
    assert data["blob"] == "<3 bytes>"
    assert data["when"].startswith("<module 'time'")
    emit_json_array([[Row("b", Color.RED)], [], [{"n": 1}]])
    assert json.loads(capsys.readouterr().out) == [{"name": "b", "color": "red"}, {"n": 1}]
    emit_json_array([])
    assert json.loads(capsys.readouterr().out) == []


def test_times_and_sizes_read_naturally() -> None:
    assert fmt_time(None) == fmt_ago(None) == fmt_bytes(None) == "-"
    now = time.time()
    assert len(fmt_time(now)) == len("14:03:12")
    assert fmt_time(now - 3 * 86400).count("-") == 2  # another day: with its date
    assert fmt_ago(now - 3 * 3600) == "3h ago"
    assert fmt_ago(now + 60) == "0s ago"  # a clock a little ahead is not the future
    assert fmt_bytes(812) == "812 B"
    assert fmt_bytes(4096) == "4.0 KB"
    assert fmt_bytes(int(12.3 * 1024**2)) == "12.3 MB"
    assert fmt_bytes(int(1.2 * 1024**3)) == "1.20 GB"
