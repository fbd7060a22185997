"""Two forms of every input and output: JSON for display, pickled bytes for exact replay."""

from __future__ import annotations

import dataclasses
import enum
import json
import pickle
from typing import Any

from flyte.errors import SerializationError

__all__ = ["display", "dumps", "encode_json", "loads"]

_MAX_DISPLAY_STR = 4000
_SIMPLE = (str, int, float, bool, type(None))


def display(value: Any) -> Any:
    """A JSON-safe rendering of `value` for people and the CLI (not for replay)."""
    if isinstance(value, _SIMPLE):
        if isinstance(value, str) and len(value) > _MAX_DISPLAY_STR:
            return value[:_MAX_DISPLAY_STR] + f"... ({len(value)} chars)"
        if isinstance(value, float) and value != value:  # NaN is not JSON
            return "NaN"
        return value
    if isinstance(value, dict):
        return {str(k): display(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = list(value)
        shown = [display(v) for v in items[:200]]
        if len(items) > 200:
            shown.append(f"... ({len(items)} items)")
        return shown
    if isinstance(value, enum.Enum):
        return display(value.value)
    as_json = getattr(value, "__flyte_json__", None)
    if callable(as_json):
        return as_json()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: display(getattr(value, f.name)) for f in dataclasses.fields(value)}
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return dump(mode="json")
        except Exception:  # a model that cannot dump itself still displays
            return repr(value)
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"
    text = repr(value)
    return text if len(text) <= _MAX_DISPLAY_STR else text[:_MAX_DISPLAY_STR] + "..."


def encode_json(values: Any) -> str:
    """JSON text of `display(values)`.

    The common cases (one scalar, or a dict of scalars: most task inputs and outputs) are
    written directly with the C string encoder; this runs twice per action.
    """
    kind = type(values)
    if kind is dict:
        parts = []
        for key, value in values.items():
            item = _scalar_json(value) if type(key) is str else None
            if item is None:
                break
            parts.append(f"{_enc_str(key)}: {item}")
        else:
            return "{" + ", ".join(parts) + "}"
    else:
        item = _scalar_json(values)
        if item is not None:
            return item
    return _dumps(display(values))


def _scalar_json(value: Any) -> str | None:
    kind = type(value)
    if kind is str:
        return _enc_str(value) if len(value) <= _MAX_DISPLAY_STR else None
    if kind is int:
        return int.__repr__(value)
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    return None


_enc_str = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]
_dumps = json.JSONEncoder(allow_nan=True).encode


def dumps(value: Any, *, what: str = "value") -> bytes:
    """Pickle `value` exactly (stdlib pickle first, cloudpickle for closures and lambdas).

    Raises:
        SerializationError: neither can pickle it; the message names `what`.
    """
    try:
        return pickle.dumps(value, protocol=5)
    except Exception:
        pass
    try:
        import cloudpickle

        return bytes(cloudpickle.dumps(value, protocol=5))
    except Exception as exc:
        raise SerializationError(
            f"{what} of type {type(value).__name__} cannot be stored: {exc}. "
            "Return plain data, dataclasses or flyte.io.File instead"
        ) from exc


def loads(data: bytes) -> Any:
    """Inverse of `dumps`."""
    return pickle.loads(data)
