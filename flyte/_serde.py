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
    """JSON text of `display(values)`."""
    kind = type(values)
    # Fast path: the common dict of small scalars, or one scalar, needs no rebuilding.
    plain = kind in _PLAIN_SCALARS or (
        kind is dict
        and all(type(v) in _PLAIN_SCALARS and type(k) is str for k, v in values.items())
    )
    if plain and not any(type(v) is str and len(v) > _MAX_DISPLAY_STR for v in _scalars(values)):
        return _dumps(values)
    return _dumps(display(values))


_PLAIN_SCALARS = frozenset({str, int, bool, type(None)})
_dumps = json.JSONEncoder(allow_nan=True).encode


def _scalars(values: Any) -> Any:
    return values.values() if type(values) is dict else (values,)


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
