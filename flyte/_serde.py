"""Two forms of every input and output: JSON for display, pickled bytes for exact replay.

The exact form is sealed: `MAGIC + MAC + pickle`, the MAC keyed by this home's secret
(`flyte._store._key`). `loads` checks it before unpickling, so a value planted in a store
by someone without the key is refused and never runs (issue 13). A plain value whose JSON
is exact (an int, a bool, None, a str) may instead be kept as `JSON_FORM + JSON`
(`exact_json`): it is never executed, so it needs no seal; `loads` reads both forms.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import hmac
import json
import os
import pickle
from typing import Any

from flyte.errors import SerializationError, StoreIntegrityError

__all__ = [
    "adopt",
    "display",
    "dumps",
    "channel_loads",
    "encode_json",
    "exact_json",
    "is_sealed",
    "loads",
    "reseal",
    "seal",
    "trusted_loads",
    "unsealed",
]

MAGIC = b"FLYTE\x01"
JSON_FORM = b"FLYTEJ"
_JSON_HEADER = len(JSON_FORM)
_MAC_BYTES = 32
_HEADER = len(MAGIC) + _MAC_BYTES
_keys_by_env: dict[str, bytes] = {}

_MAX_DISPLAY_STR = 4000
_MAX_INT_BITS = 13_000  # about 3,900 decimal digits; str() of an int allows 4,300
_SIMPLE = (str, int, float, bool, type(None))


def display(value: Any) -> Any:
    """A JSON-safe rendering of `value` for people and the CLI (not for replay)."""
    if type(value) is int and value.bit_length() > _MAX_INT_BITS:
        return f"<an int of {value.bit_length()} bits>"  # str() refuses that many digits
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
        try:
            return int.__repr__(value)
        except ValueError:  # more digits than str() allows: displayed, not written out
            return None
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    return None


_enc_str = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]
_dumps = json.JSONEncoder(allow_nan=True).encode


def exact_json(value: Any, text: str) -> bytes | None:
    """`value`'s exact form as JSON (`text` is its `encode_json`), when JSON holds it exactly:
    an int, a bool, None, or a str short enough to be displayed whole. Else None.
    """
    kind = type(value)
    if (
        (kind is int and text[-1:].isdigit())  # not a huge int's description
        or kind is bool
        or value is None
        or (kind is str and len(value) <= _MAX_DISPLAY_STR)
    ):
        return JSON_FORM + text.encode()
    return None


def dumps(value: Any, *, what: str = "value", key: bytes | None = None) -> bytes:
    """Pickle `value` exactly (stdlib pickle first, cloudpickle for closures and lambdas).

    `key`: this home's key when the caller holds it (`home_key()`), saving its look-up.

    Raises:
        SerializationError: neither can pickle it; the message names `what`.
    """
    try:
        payload = pickle.dumps(value, protocol=5)
        if key is not None:
            return MAGIC + _mac(key, payload) + payload
        return seal(payload)
    except RecursionError as exc:
        raise SerializationError(_too_deep(what, value)) from exc
    except Exception:
        pass
    try:
        import cloudpickle

        return seal(bytes(cloudpickle.dumps(value, protocol=5)))
    except RecursionError as exc:
        raise SerializationError(_too_deep(what, value)) from exc
    except Exception as exc:
        raise SerializationError(
            f"{what} of type {type(value).__name__} cannot be stored: {exc}. "
            "Return plain data, dataclasses or flyte.io.File instead"
        ) from exc


def _too_deep(what: str, value: Any) -> str:
    return (
        f"{what} of type {type(value).__name__} cannot be stored: it is nested too deeply "
        "(more levels than Python's recursion limit allows); flatten it"
    )


def home_key() -> bytes:
    """The key values of this home are sealed with (FLYTE_HOME as set now)."""
    return _key()


def _key() -> bytes:
    env = os.environ.get("FLYTE_HOME") or ""
    key = _keys_by_env.get(env)
    if key is None:
        from flyte._store import flyte_home
        from flyte._store._key import home_key

        key = _keys_by_env[env] = home_key(flyte_home())
    return key


def _mac(key: bytes, payload: bytes | memoryview) -> bytes:
    return hashlib.blake2b(payload, key=key, digest_size=_MAC_BYTES).digest()


def seal(payload: bytes) -> bytes:
    """`payload` (pickled bytes) authenticated with this home's key."""
    return MAGIC + _mac(_key(), payload) + payload


def is_sealed(data: bytes | None) -> bool:
    """Whether `data` is a sealed value that this home's key authenticates."""
    if data is None or len(data) < _HEADER:
        return False
    view = memoryview(data)
    if data.startswith(MAGIC):
        key = _key()
    elif data.startswith(_ADOPTED) and _PROCESS_KEY:
        key = _PROCESS_KEY[0]
    else:
        return False
    return hmac.compare_digest(bytes(view[len(MAGIC) : _HEADER]), _mac(key, view[_HEADER:]))


def loads(data: bytes) -> Any:
    """Inverse of `dumps`; refuses (never unpickles) a value the key does not authenticate.

    Raises:
        StoreIntegrityError: `data` was not sealed with this home's key, or was altered.
    """
    if data[:_JSON_HEADER] == JSON_FORM:  # plain data, never executed (see exact_json)
        try:
            return _from_json(data)
        except ValueError as exc:  # not JSON: altered
            raise StoreIntegrityError(
                f"a stored value failed its integrity check ({exc}) and was not loaded"
            ) from None
    if not is_sealed(data):
        raise StoreIntegrityError(
            "a stored value failed its integrity check (it was not written with this "
            "FLYTE_HOME's key, or it was altered) and was not loaded"
        )
    return pickle.loads(memoryview(data)[_HEADER:])


def trusted_loads(data: bytes, *, what: str) -> tuple[bool, Any]:
    """`(True, value)`, or `(False, None)` with a warning when `data` fails the check.

    For look-ups (cache hit, recovery, trace replay): a refused value is a miss, and the
    action executes again instead of trusting it.
    """
    try:
        return True, loads(data)
    except StoreIntegrityError as exc:
        import logging

        logging.getLogger("flyte.store").warning("flyte: %s: %s; executing again", what, exc)
        return False, None


def own_loads(data: bytes) -> Any:
    """Unpickle a value this process sealed itself and kept in memory (no MAC check).

    Never for bytes read from a store file or received from elsewhere: `loads` is.
    """
    return channel_loads(data)


def channel_loads(data: bytes) -> Any:
    """A value from a worker or the driver over their authenticated channel (no MAC check:
    the channel is what makes it trusted), in either exact form."""
    if data[:_JSON_HEADER] == JSON_FORM:
        return _from_json(data)
    return pickle.loads(unsealed(data))


def _from_json(data: bytes) -> Any:
    """The value of `JSON_FORM + JSON` (the common cases without the JSON decoder)."""
    text = data[_JSON_HEADER:]
    first = text[:1]
    if first.isdigit() or first == b"-":
        return int(text)
    if text == b"true":
        return True
    if text == b"false":
        return False
    if text == b"null":
        return None
    return json.loads(text)


def unsealed(data: bytes) -> bytes:
    """The pickle inside `data` (sealed or not), WITHOUT checking who sealed it.

    Only for bytes that arrived over an authenticated channel (a client and the server it
    holds the token of: each side seals with its own home's key), never for bytes read
    from a store file.
    """
    if len(data) >= _HEADER and (data.startswith(MAGIC) or data.startswith(_ADOPTED)):
        return data[_HEADER:]
    return data


def reseal(data: bytes) -> bytes:
    """Bytes from an authenticated channel, sealed with this home's key, to be stored."""
    if data[:_JSON_HEADER] == JSON_FORM:
        return data  # plain data needs no seal
    return seal(bytes(unsealed(data)))


def adopt(data: bytes) -> bytes:
    """Bytes from an authenticated channel, sealed for this process only (not stored).

    A client reading through the server has no home of its own to write a key to; what it
    adopts verifies in this process and nowhere else.
    """
    if data[:_JSON_HEADER] == JSON_FORM:
        return data  # plain data needs no seal
    payload = bytes(unsealed(data))
    return _ADOPTED + _mac(_process_key(), payload) + payload


_ADOPTED = b"FLYTE\x02"
_PROCESS_KEY: list[bytes] = []


def _process_key() -> bytes:
    if not _PROCESS_KEY:
        _PROCESS_KEY.append(os.urandom(_MAC_BYTES))  # what secrets.token_bytes returns
    return _PROCESS_KEY[0]
