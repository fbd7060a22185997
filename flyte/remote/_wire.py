"""The JSON form of store records on the wire, shared by `flyte serve` and its client.

Records travel as their dataclass fields (enums as their values); `decode` rebuilds the
dataclass and ignores fields it does not know, so an older client can read a newer
server. Exact (pickled) values travel as base64 strings inside JSON, or as raw bytes.
Stdlib only: both sides import this without httpx or starlette.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
from typing import Any, TypeVar

from flyte._models import (
    ActionKind,
    ActionRecord,
    AttemptRecord,
    CacheEntry,
    CacheStatus,
    DeployedTask,
    LogLine,
    Phase,
    ReportRecord,
    RunRecord,
)

__all__ = ["API", "b64decode", "b64encode", "decode", "decode_list", "encode"]

API = "/api/v1"
"""The versioned prefix of every route."""

T = TypeVar("T")

_ENUMS: dict[str, type[enum.Enum]] = {
    "phase": Phase,
    "kind": ActionKind,
    "cache_status": CacheStatus,
}
_KNOWN = (
    RunRecord,
    ActionRecord,
    AttemptRecord,
    LogLine,
    CacheEntry,
    DeployedTask,
    ReportRecord,
)
_FIELDS: dict[type, frozenset[str]] = {
    cls: frozenset(f.name for f in dataclasses.fields(cls)) for cls in _KNOWN
}


def encode(record: Any) -> dict[str, Any]:
    """A record dataclass as a JSON-able dict (enums as their values)."""
    data: dict[str, Any] = {}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        data[f.name] = value.value if isinstance(value, enum.Enum) else value
    return data


def decode(cls: type[T], data: dict[str, Any]) -> T:
    """Rebuild a record dataclass from `encode`'s dict.

    Raises:
        ValueError: `data` is not an object with the record's required fields.
    """
    if not isinstance(data, dict):
        raise ValueError(f"expected a {cls.__name__} object, got {type(data).__name__}")
    known = _FIELDS[cls]
    fields = {k: v for k, v in data.items() if k in known}
    for name, kind in _ENUMS.items():
        if name in fields:
            fields[name] = kind(fields[name])
    try:
        return cls(**fields)
    except TypeError as exc:
        raise ValueError(f"malformed {cls.__name__}: {exc}") from None


def decode_list(cls: type[T], items: Any) -> list[T]:
    """`decode` over a JSON list."""
    if not isinstance(items, list):
        raise ValueError(f"expected a list of {cls.__name__}, got {type(items).__name__}")
    return [decode(cls, item) for item in items]


def b64encode(data: bytes | None) -> str | None:
    """Bytes as base64 text (None stays None)."""
    return None if data is None else base64.b64encode(data).decode("ascii")


def b64decode(text: str | None) -> bytes | None:
    """Inverse of `b64encode`.

    Raises:
        ValueError: `text` is not base64.
    """
    if text is None:
        return None
    if not isinstance(text, str):
        raise ValueError("expected base64 text")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as exc:
        raise ValueError(f"not base64: {exc}") from None
