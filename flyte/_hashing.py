"""Stable hashing for cache keys: values, task inputs, and the code a task reaches.

These are the pure functions behind the cache key (DESIGN.md section 5):

- `stable_hash`: a digest of a value that is the same in every process (no `hash()`, no
  `id()`, no set iteration order), with type tags so that `1`, `True` and `1.0` differ.
- `hash_inputs`: one digest per task input, and one for all of them.
- `flyte._codeversion.code_version` (its own module) versions the code a task reaches.
- `explain_difference`: which parts of two cache keys differ, to explain a miss.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import hashlib
import os
import sys
import types
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import PurePath
from typing import Any

__all__ = [
    "combine_digests",
    "explain_difference",
    "hash_inputs",
    "stable_hash",
]

_BLAKE = hashlib.blake2b(digest_size=16)  # copied, never updated: copy() is the cheap way


def _hex(data: bytes) -> str:
    hasher = _BLAKE.copy()
    hasher.update(data)
    return hasher.hexdigest()


def stable_hash(value: object) -> str:
    """Return a canonical, process-independent hex digest of `value`.

    Plain data, dataclasses and pydantic models hash by content, objects with a
    `__flyte_hash__()` method (File, Dir) by the string it returns, and anything else by
    its cloudpickle bytes, as a last resort.

    Args:
        value: Any value; containers may nest and even contain themselves.

    Returns:
        32 hex characters (blake2b with a 16-byte digest).

    Raises:
        flyte.errors.SerializationError: the value had to be pickled and cannot be.
    """
    return _digest(value)


def hash_inputs(
    inputs: Mapping[str, object], ignored: Iterable[str] = ()
) -> tuple[str, dict[str, str]]:
    """Hash the inputs of a task call: one digest per input, and one overall.

    Args:
        inputs: Input name to value.
        ignored: Names left out of both results (`Cache.ignored_inputs`).

    Returns:
        The overall digest, which does not depend on the order of `inputs`, and the
        per-input digests, each equal to `stable_hash(value)`.
    """
    if not ignored and len(inputs) == 1:  # the common case, without the comprehension
        ((name, value),) = inputs.items()
        per = {name: _digest(value)}
        return combine_digests(per), per
    if ignored:
        skip = ignored if isinstance(ignored, (set, frozenset)) else frozenset(ignored)
        items = [(k, v) for k, v in inputs.items() if k not in skip]
    else:
        items = list(inputs.items())
    per = {name: _digest(value) for name, value in items}
    return combine_digests(per), per


def combine_digests(per_input: Mapping[str, str], ignored: Iterable[str] = ()) -> str:
    """The overall inputs digest from per-input digests (as `hash_inputs` returns them).

    Lets the cache reuse the digests computed for the action id, dropping ignored inputs.
    """
    if not ignored and len(per_input) == 1:  # the common case, without the sort and join
        ((name, digest),) = per_input.items()
        return _hex(f"{len(name)}:{name}{digest}".encode("utf-8", "surrogatepass"))
    names = sorted(n for n in per_input if n not in ignored) if ignored else sorted(per_input)
    # Digests have a fixed length, so "<len>:<name><digest>" records cannot run together.
    joined = "".join([f"{len(name)}:{name}{per_input[name]}" for name in names])
    return _hex(joined.encode("utf-8", "surrogatepass"))


_SMALL: dict[tuple[type, object], str] = {}  # (type, value) -> digest of small scalars
_SMALL_TYPES = frozenset({str, int, bool, bytes, type(None)})


def _digest(value: object) -> str:
    # Task inputs repeat (a re-run, a retry), and a blake2b call costs about as much as a
    # dict lookup plus the encoding, so small scalars keep their digest. The type is part of
    # the key: (int, 1) and (bool, True) are different keys, though 1 == True.
    kind = type(value)
    if kind not in _SMALL_TYPES or (kind in (str, bytes) and len(value) > 256):  # type: ignore[arg-type]
        return _hex(_encode(value))
    digest = _SMALL.get((kind, value))
    if digest is None:
        if len(_SMALL) >= 4096:
            _SMALL.clear()
        digest = _SMALL[kind, value] = _hex(_encode(value))
    return digest


# --- canonical value encoding ----------------------------------------------------------
# Each encoding opens with a type tag and is self-delimiting (a length or a terminator),
# so the encodings of container items can simply be concatenated.


def _enc_str(text: str) -> bytes:
    data = text.encode("utf-8", "surrogatepass")
    return b"s%d:" % len(data) + data


def _module_label(name: str | None) -> str:
    """How a module is named in code-version parts: by file stem when it has a file.

    One file is `__main__` under `python hello.py`, `hello` when imported, and
    `examples.hello` when `flyte run` loads it from the project root; the stem is the same
    in all three, so the same code gets the same version however it was started.
    """
    if name is None:
        return "<exec>"
    module = sys.modules.get(name)
    file = getattr(module, "__file__", None)
    if isinstance(file, str) and file.endswith(".py") and not file.endswith("__init__.py"):
        return os.path.splitext(os.path.basename(file))[0]
    return name


def _qualname(cls: type) -> str:
    return f"{_module_label(cls.__module__)}.{cls.__qualname__}"


def _encode(value: Any, active: list[int] | None = None) -> bytes:
    kind = type(value)
    if kind is str:
        return _enc_str(value)
    if kind is int:
        return b"i%x;" % value  # hex: decimal str() of huge ints is length-limited
    if kind is bool:
        return b"T" if value else b"F"
    if value is None:
        return b"N"
    if kind is float:
        return b"f" + value.hex().encode() + b";"
    if kind not in _PLAIN_CONTAINERS:
        special = _encode_special(value, kind, [] if active is None else active)
        if special is not None:
            return special
    return _encode_container(value, kind, [] if active is None else active)


_PLAIN_CONTAINERS = frozenset({list, tuple, dict, set, frozenset})
_TEXT_FORMS: tuple[tuple[Any, str, Callable[[Any], str]], ...] = (
    ((_dt.datetime, _dt.date, _dt.time), "", lambda v: v.isoformat()),
    (_dt.timedelta, "timedelta", lambda v: f"{v.days},{v.seconds},{v.microseconds}"),
    (uuid.UUID, "", str),
    (PurePath, "path", lambda v: v.as_posix()),
    (complex, "complex", lambda v: f"{v.real.hex()},{v.imag.hex()}"),
)


def _encode_special(value: Any, kind: type, active: list[int]) -> bytes | None:
    """Encode a non-container value that has a canonical form, else return None."""
    if hasattr(kind, "__flyte_hash__"):
        return b"H" + _enc_str(str(value.__flyte_hash__()))
    if isinstance(value, enum.Enum):
        return b"E" + _enc_str(kind.__qualname__) + _encode(value.value, active)
    # pydantic v2, duck-typed; model_fields is read on the class (instance access warns).
    if hasattr(kind, "model_fields") and hasattr(kind, "model_dump"):
        dumped = value.model_dump(mode="json")
        return b"P" + _enc_str(kind.__qualname__) + _encode(dumped, active)
    if isinstance(value, str):  # subclasses of the scalars hash as the scalar
        return _enc_str(value)
    if isinstance(value, (int, float)):
        plain = int.__int__(value) if isinstance(value, int) else float.__float__(value)
        return _encode(plain, active)
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        return b"b%d:" % len(data) + data
    if value is Ellipsis:
        return b"."
    if isinstance(value, type):
        return b"y" + _enc_str(_qualname(value))
    if isinstance(value, types.CodeType):
        # Not co_filename, co_firstlineno or line tables: moving code keeps its version.
        fields = tuple(getattr(value, name, None) for name in _CODE_FIELDS)
        return b"c" + _encode(fields, active)
    decimal = sys.modules.get("decimal")  # not imported here: `import flyte` stays cheap
    if decimal is not None and isinstance(value, decimal.Decimal):
        return b"x" + _enc_str("Decimal") + _enc_str(str(value))
    for classes, name, form in _TEXT_FORMS:
        if isinstance(value, classes):
            return b"x" + _enc_str(name or kind.__name__) + _enc_str(form(value))
    return None


_CODE_FIELDS = (
    *("co_name", "co_argcount", "co_posonlyargcount", "co_kwonlyargcount", "co_flags"),
    *("co_code", "co_consts", "co_names", "co_varnames", "co_freevars", "co_cellvars"),
    "co_exceptiontable",
)


def _encode_container(value: Any, kind: type, active: list[int]) -> bytes:
    if id(value) in active:  # a container that contains itself: refer back by depth
        return b"R%d;" % active.index(id(value))
    active.append(id(value))
    try:
        if isinstance(value, (list, tuple)):
            tag = b"l" if isinstance(value, list) else b"t"
            if tag == b"t" and kind is not tuple:  # namedtuples keep their class
                tag = b"u" + _enc_str(_qualname(kind))
            body = [_encode(item, active) for item in value]
            return tag + b"%d[" % len(body) + b"".join(body) + b"]"
        if isinstance(value, Mapping):
            pairs = sorted((_encode(k, active), _encode(v, active)) for k, v in value.items())
            return b"d%d{" % len(pairs) + b"".join(k + v for k, v in pairs) + b"}"
        if isinstance(value, (set, frozenset)):
            body = sorted(_encode(item, active) for item in value)
            tag = b"S" if isinstance(value, set) else b"Z"
            return tag + b"%d{" % len(body) + b"".join(body) + b"}"
        if dataclasses.is_dataclass(kind):
            # An unset field (init=False, no default) encodes as Ellipsis.
            fields = [(f.name, getattr(value, f.name, ...)) for f in dataclasses.fields(kind)]
            body = [_enc_str(name) + _encode(item, active) for name, item in fields]
            return b"D" + _enc_str(_qualname(kind)) + b"%d(" % len(body) + b"".join(body) + b")"
        return b"p" + _pickled(value)
    finally:
        active.pop()


def _pickled(value: object) -> bytes:
    import cloudpickle  # only the last resort needs it; keeps importing this module cheap

    try:
        data = cloudpickle.dumps(value, protocol=5)
    except Exception as exc:  # pickling fails with every kind of exception
        from flyte.errors import SerializationError

        message = f"cannot hash a value of type {_qualname(type(value))}: {exc}"
        raise SerializationError(message) from exc
    return b"%d:" % len(data) + data


def _is_literal(value: object) -> bool:
    kind = type(value)
    if kind in (int, float, str, bytes, bool, type(None)) or isinstance(value, enum.Enum):
        return True
    return (kind is tuple or kind is frozenset) and all(map(_is_literal, value))  # type: ignore[call-overload]


# --- explaining a miss -----------------------------------------------------------------

_CODE_REASONS = {
    "added": "{} is now reached",
    "removed": "{} no longer reached",
    "changed": "code of {} changed",
}


def explain_difference(
    old_parts: Mapping[str, object], new_parts: Mapping[str, object]
) -> list[str]:
    """Say, one line per reason, why two cache keys differ.

    Args:
        old_parts: Parts of the older key: `task`, `interface`, `inputs` (name to
            digest), `code` (qualified name to digest), `code_version` and `salt`.
            Missing keys are tolerated.
        new_parts: Parts of the newer key, in the same shape.

    Returns:
        Reasons such as `"input 'x' changed"` or `"code of mymod.helper changed"`, in
        key order; empty when the parts are the same.
    """
    old, new = dict(old_parts), dict(new_parts)
    reasons = [_changed("task", old, new)] if old.get("task") != new.get("task") else []
    if old.get("interface") != new.get("interface"):
        reasons.append("interface changed")
    reasons += [f"input {n!r} {c}" for n, c in _diff(old.get("inputs"), new.get("inputs"))]
    code = [_CODE_REASONS[c].format(n) for n, c in _diff(old.get("code"), new.get("code"))]
    reasons += code
    if old.get("code_version") != new.get("code_version") and not code:
        reasons.append(_changed("code_version", old, new))
    if old.get("salt") != new.get("salt"):
        reasons.append(_changed("salt", old, new))
    return reasons


def _changed(key: str, old: Mapping[str, object], new: Mapping[str, object]) -> str:
    return f"{key.replace('_', ' ')} changed ({old.get(key)!r} -> {new.get(key)!r})"


def _diff(old: object, new: object) -> list[tuple[str, str]]:
    before = old if isinstance(old, Mapping) else {}
    after = new if isinstance(new, Mapping) else {}
    changes = []
    for name in sorted(set(before) | set(after), key=str):
        if name not in after:
            changes.append((str(name), "removed"))
        elif name not in before:
            changes.append((str(name), "added"))
        elif before[name] != after[name]:
            changes.append((str(name), "changed"))
    return changes
