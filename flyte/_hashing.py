"""Stable hashing for cache keys: values, task inputs, and the code a task reaches.

These are the pure functions behind the cache key of DESIGN.md section 5:

- `stable_hash` gives a digest of a value that is the same in every process (no `hash()`,
  no `id()`, no set iteration order), with type tags so `1`, `True` and `1.0` differ.
- `hash_inputs` gives one digest per task input and one for all of them.
- `code_version` hashes the normalized AST of a task function plus every function, class
  and literal constant it reaches in the user's own modules, so editing a helper
  invalidates exactly the tasks that use it, while comments and whitespace do not count.
- `explain_difference` says which part of two cache keys differs, to explain a miss.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime as _dt
import decimal
import dis
import enum
import functools
import hashlib
import importlib
import importlib.util
import inspect
import linecache
import os
import sys
import sysconfig
import textwrap
import types
import uuid
import weakref
from collections.abc import Callable, Iterable, Mapping
from pathlib import PurePath

__all__ = [
    "CodeVersion",
    "clear_code_version_cache",
    "code_version",
    "explain_difference",
    "hash_inputs",
    "stable_hash",
]

_blake = hashlib.blake2b
_MISSING = object()


def stable_hash(value: object) -> str:
    """Return a canonical, process-independent hex digest of `value`.

    Plain data, dataclasses and pydantic models hash by content; objects with a
    `__flyte_hash__()` method (File, Dir) by the string it returns; anything else by its
    cloudpickle bytes, as a last resort.

    Args:
        value: Any value; containers may nest and even refer to themselves.

    Returns:
        32 hex characters (blake2b, 16-byte digest).

    Raises:
        flyte.errors.SerializationError: the value falls through to pickling and cannot
            be pickled.
    """
    return _blake(_encode(value), digest_size=16).hexdigest()


def hash_inputs(
    inputs: Mapping[str, object], ignored: Iterable[str] = ()
) -> tuple[str, dict[str, str]]:
    """Hash the inputs of a task call, one digest per input and one overall.

    Args:
        inputs: Input name to value.
        ignored: Names left out of both results (`Cache.ignored_inputs`).

    Returns:
        The overall digest, which does not depend on input order, and the per-input
        digests (each equal to `stable_hash(value)`).
    """
    if ignored:
        skip = ignored if isinstance(ignored, (set, frozenset)) else frozenset(ignored)
        items = [(k, v) for k, v in inputs.items() if k not in skip]
    else:
        items = list(inputs.items())
    per = {name: _blake(_encode(value), digest_size=16).hexdigest() for name, value in items}
    joined = b"".join([_enc_str(name) + per[name].encode() for name in sorted(per)])
    return _blake(joined, digest_size=16).hexdigest(), per


# --- canonical value encoding ----------------------------------------------------------
# Every encoding starts with a one-byte type tag and is self-delimiting (lengths or
# terminators), so concatenating encodings inside containers is unambiguous.


def _enc_str(text: str) -> bytes:
    data = text.encode("utf-8", "surrogatepass")
    return b"s%d:" % len(data) + data


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _encode(value: object, active: list[int] | None = None) -> bytes:
    kind = type(value)
    if kind is str:
        return _enc_str(value)  # type: ignore[arg-type]
    if kind is int:
        return b"i%x;" % value  # type: ignore[str-format]  # hex: no int->str digit limit
    if kind is bool:
        return b"T" if value else b"F"
    if value is None:
        return b"N"
    if kind is float:
        return b"f" + value.hex().encode() + b";"  # type: ignore[attr-defined]
    return _encode_other(value, [] if active is None else active)


_PLAIN_CONTAINERS = frozenset({list, tuple, dict, set, frozenset})


def _encode_other(value: object, active: list[int]) -> bytes:
    kind = type(value)
    if kind not in _PLAIN_CONTAINERS:
        special = _encode_special(value, kind, active)
        if special is not None:
            return special
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
            tag = b"S" if isinstance(value, set) else b"Z"
            body = sorted(_encode(item, active) for item in value)
            return tag + b"%d{" % len(body) + b"".join(body) + b"}"
        if dataclasses.is_dataclass(kind):
            fields = [(f.name, getattr(value, f.name, _MISSING)) for f in dataclasses.fields(kind)]
            body = [_enc_str(name) + _encode(field, active) for name, field in fields]
            return b"D" + _enc_str(_qualname(kind)) + b"%d(" % len(body) + b"".join(body) + b")"
        return b"p" + _pickled(value)
    finally:
        active.pop()


def _encode_special(value: object, kind: type, active: list[int]) -> bytes | None:
    """Encode the non-container types with a canonical form, or return None."""
    if hasattr(kind, "__flyte_hash__"):
        return b"H" + _enc_str(str(value.__flyte_hash__()))  # type: ignore[attr-defined]
    if isinstance(value, enum.Enum):
        return b"E" + _enc_str(kind.__qualname__) + _encode(value.value, active)
    # pydantic v2, duck-typed; model_fields is read on the class (instance access warns).
    if hasattr(kind, "model_fields") and hasattr(kind, "model_dump"):
        dumped = value.model_dump(mode="json")  # type: ignore[attr-defined]
        return b"P" + _enc_str(kind.__qualname__) + _encode(dumped, active)
    # Subclasses of the scalars hash as the scalar (the dunder calls skip overrides).
    if isinstance(value, str):
        return _enc_str(value)
    if isinstance(value, int):
        return _encode(int.__int__(value), active)
    if isinstance(value, float):
        return _encode(float.__float__(value), active)
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        return b"b%d:" % len(data) + data
    if value is Ellipsis:
        return b"."
    if isinstance(value, type):
        return b"y" + _enc_str(_qualname(value))
    if isinstance(value, types.CodeType):
        return b"c" + _encode(_code_fields(value), active)
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return b"x" + _enc_str(kind.__name__) + _enc_str(value.isoformat())
    if isinstance(value, _dt.timedelta):
        parts = (value.days, value.seconds, value.microseconds)
        return b"x" + _enc_str("timedelta") + _encode(parts, active)
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return b"x" + _enc_str(kind.__name__) + _enc_str(str(value))
    if isinstance(value, PurePath):
        return b"x" + _enc_str("path") + _enc_str(value.as_posix())
    if isinstance(value, complex):
        return b"x" + _enc_str("complex") + _encode((value.real, value.imag), active)
    return None


def _pickled(value: object) -> bytes:
    import cloudpickle  # only the last resort needs it; keeps `import flyte` cheap

    try:
        data = cloudpickle.dumps(value, protocol=5)
    except Exception as exc:  # pickling failures come in every exception type
        from flyte.errors import SerializationError

        raise SerializationError(
            f"cannot hash a value of type {_qualname(type(value))}: {exc}"
        ) from exc
    return b"%d:" % len(data) + data


def _code_fields(code: types.CodeType) -> tuple[object, ...]:
    # Deliberately not co_filename, co_firstlineno or the line tables: moving code must
    # not change its version. co_consts recurses into nested code objects via _encode.
    return (
        code.co_name,
        code.co_argcount,
        code.co_posonlyargcount,
        code.co_kwonlyargcount,
        code.co_flags,
        code.co_code,
        code.co_consts,
        code.co_names,
        code.co_varnames,
        code.co_freevars,
        code.co_cellvars,
        getattr(code, "co_exceptiontable", b""),
    )


def _is_literal(value: object) -> bool:
    kind = type(value)
    if kind in (int, float, str, bytes, bool, type(None)) or isinstance(value, enum.Enum):
        return True
    if kind is tuple or kind is frozenset:
        return all(_is_literal(item) for item in value)  # type: ignore[attr-defined]
    return False


# --- code version ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CodeVersion:
    """The code version of a task: one digest, and the per-object digests behind it.

    Example:
        v = code_version(my_task)
        v.digest                      # "3f1c..."
        v.parts["pipeline.helper"]    # digest of one helper the task reaches
    """

    digest: str
    parts: dict[str, str]


# (kind, root, attrs): kind "g" is a global name, "d" a closure cell, "i" a module imported
# inside the function (root is a dotted name, leading dots for relative imports).
_Ref = tuple[str, str, tuple[str, ...]]

_VERSIONS: dict[int, tuple[Callable[[], object], CodeVersion]] = {}
_OWN: dict[int, tuple[object, str, tuple[_Ref, ...]]] = {}  # id -> (object, digest, refs)
_REFS: dict[types.CodeType, tuple[_Ref, ...]] = {}
_USER_MODULES: dict[str, bool] = {}
_OWN_PACKAGES = frozenset({"flyte", "flyte_cli", "tui"})
_ATTR_OPS = frozenset({"LOAD_ATTR", "LOAD_METHOD"})
_GLOBAL_OPS = frozenset({"LOAD_GLOBAL", "LOAD_NAME"})
_DEREF_OPS = frozenset({"LOAD_DEREF", "LOAD_CLASSDEREF"})
_MAX_WRAPPED = 16  # bounds __wrapped__ chains of objects that invent attributes (mocks)


def code_version(func: Callable[..., object]) -> CodeVersion:
    """Return the code version of a task function, memoized per function object.

    The version covers the function's normalized AST (decorators, comments and whitespace
    excluded) and, transitively, the functions, classes and literal constants it reaches in
    the user's own modules; installed packages, the stdlib and flyte itself are not
    followed. Without source (notebooks, `exec`), code objects are hashed instead.

    Args:
        func: The task function, or a wrapper exposing it as `__wrapped__`.

    Returns:
        The digest and the per-object parts, keyed by qualified name.
    """
    entry = _VERSIONS.get(id(func))
    if entry is not None and entry[0]() is func:
        return entry[1]
    walker = _Walker(func)
    parts = dict(sorted(walker.parts.items()))
    joined = b"".join([_enc_str(k) + _enc_str(v) for k, v in parts.items()])
    version = CodeVersion(_blake(joined, digest_size=16).hexdigest(), parts)
    key = id(func)
    ref: Callable[[], object]
    try:
        ref = weakref.ref(func, lambda _dead, key=key: _VERSIONS.pop(key, None))
    except TypeError:  # not weak-referenceable: keep it alive so its id stays unique
        ref = functools.partial(lambda obj: obj, func)
    _VERSIONS[key] = (ref, version)
    return version


def clear_code_version_cache() -> None:
    """Forget memoized code versions, e.g. after user modules were reloaded or edited.

    Also clears `linecache`, so source edited on disk is read again.
    """
    for cache in (_VERSIONS, _OWN, _REFS, _USER_MODULES):
        cache.clear()
    linecache.clearcache()


class _Walker:
    """Breadth of the user code a function reaches; fills `parts` while walking."""

    def __init__(self, func: object) -> None:
        self.parts: dict[str, str] = {}
        self.seen: set[int] = set()
        self.keep: list[object] = []  # keeps visited objects alive so ids stay unique
        try:
            self.root: object = inspect.unwrap(func)  # type: ignore[arg-type]
        except ValueError:  # a __wrapped__ cycle
            self.root = func
        self.todo: list[tuple[object, bool, int]] = []
        self.push(func)
        while self.todo:
            self.visit(*self.todo.pop())

    def push(self, obj: object, as_part: bool = True, depth: int = 0) -> None:
        if id(obj) not in self.seen and depth <= _MAX_WRAPPED:
            self.seen.add(id(obj))
            self.keep.append(obj)
            self.todo.append((obj, as_part, depth))

    def visit(self, obj: object, as_part: bool, depth: int) -> None:
        if isinstance(obj, types.FunctionType):
            self.function(obj, as_part)
        elif isinstance(obj, type):
            self.cls(obj)
            return
        elif isinstance(obj, (types.MethodType, staticmethod, classmethod)):
            self.push(obj.__func__, as_part)
        elif isinstance(obj, functools.partial):
            self.push(obj.func, as_part)
        elif isinstance(obj, property):
            for accessor in (obj.fget, obj.fset, obj.fdel):
                self.push(accessor, as_part)
        elif isinstance(obj, functools.cached_property):
            self.push(obj.func, as_part)
        elif isinstance(obj, (types.ModuleType, types.BuiltinFunctionType)):
            return
        elif _is_user_module(type(obj).__module__):
            self.push(type(obj))
        try:
            wrapped = getattr(obj, "__wrapped__", None)
        except Exception:  # user __getattr__ may raise anything; no wrapper then
            wrapped = None
        if wrapped is not None:
            self.push(wrapped, True, depth + 1)

    def function(self, fn: types.FunctionType, as_part: bool) -> None:
        module = fn.__module__
        if not _is_user_module(module) and fn is not self.root:
            return
        name = f"{module or '<exec>'}.{fn.__qualname__}"
        if as_part:
            self.parts[name] = _function_digest(fn)
        code = fn.__code__
        cells: dict[str, object] = {}
        for var, cell in zip(code.co_freevars, fn.__closure__ or ()):
            try:
                cells[var] = cell.cell_contents
            except ValueError:  # an empty cell (name not bound yet)
                continue
            self.resolve(cells[var], (), f"{name}.<closure>.{var}")
        package = fn.__globals__.get("__package__") or (module or "").rpartition(".")[0]
        for kind, root, attrs in _code_refs(code):
            if kind == "g" and root in fn.__globals__:
                self.resolve(fn.__globals__[root], attrs, f"{module or '<exec>'}.{root}")
            elif kind == "d" and root in cells:
                self.resolve(cells[root], attrs, f"{name}.<closure>.{root}")
            elif kind == "i":
                imported = _import_user_module(root, package)
                # `from pkg import sub` names a submodule that may not be imported yet.
                while imported is not None and attrs and hasattr(imported, "__path__"):
                    if attrs[0] in vars(imported):
                        break
                    imported = _import_user_module(f"{imported.__name__}.{attrs[0]}", "")
                    attrs = attrs[1:]
                if imported is not None:
                    self.resolve(imported, attrs, imported.__name__)
        for default in (*(fn.__defaults__ or ()), *(fn.__kwdefaults__ or {}).values()):
            if not _is_literal(default):  # literal defaults are part of the own digest
                self.push(default)

    def cls(self, cls: type) -> None:
        if not _is_user_module(cls.__module__):
            return
        digest, refs = _class_digest(cls)
        self.parts[_qualname(cls)] = digest
        namespace = vars(sys.modules[cls.__module__]) if cls.__module__ in sys.modules else {}
        for _kind, root, attrs in refs:
            if root in namespace:
                self.resolve(namespace[root], attrs, f"{cls.__module__}.{root}")
        for base in cls.__bases__:
            self.push(base)
        for member in vars(cls).values():
            if isinstance(member, type):
                self.push(member)
            elif isinstance(member, _MEMBER_TYPES):  # already in the class's own digest
                self.push(member, as_part=False)

    def resolve(self, value: object, attrs: tuple[str, ...], label: str) -> None:
        """Follow `value.a.b` through user modules, then record or queue what it names."""
        for attr in attrs:
            if not isinstance(value, types.ModuleType):
                break
            if not _is_user_module(value.__name__) or attr not in vars(value):
                return
            label, value = f"{value.__name__}.{attr}", vars(value)[attr]
        if isinstance(value, types.ModuleType):
            return
        if _is_literal(value):
            self.parts[label] = stable_hash(value)
        else:
            self.push(value)


_MEMBER_TYPES = (
    types.FunctionType,
    staticmethod,
    classmethod,
    property,
    functools.cached_property,
)


def _function_digest(fn: types.FunctionType) -> str:
    code = fn.__code__
    cached = _OWN.get(id(code))
    if cached is None or cached[0] is not code:
        node = _parse_def(fn)
        body = b"c" + _encode(code) if node is None else b"a" + _dump(node)
        cached = _OWN[id(code)] = (code, _blake(body, digest_size=16).hexdigest(), ())
    defaults = (*(fn.__defaults__ or ()), *(fn.__kwdefaults__ or {}).items())
    if not defaults:
        return cached[1]
    # Default values are evaluated where the function is defined, so their values (not
    # just the expressions in the source) belong to the function's version.
    marks = tuple(d if _is_literal(d) else ("<object>", _qualname(type(d))) for d in defaults)
    return stable_hash((cached[1], marks))


def _class_digest(cls: type) -> tuple[str, tuple[_Ref, ...]]:
    cached = _OWN.get(id(cls))
    if cached is not None and cached[0] is cls:
        return cached[1], cached[2]
    node = _parse_def(cls)
    if node is not None:
        body, refs = b"a" + _dump(node), _ast_refs(node)
    else:  # no source: hash the members' code and literal attributes instead
        members = list(vars(cls).items())
        codes = {k: _member_code(v) for k, v in members}
        body = b"c" + _encode(
            (
                [_qualname(base) for base in cls.__bases__],
                {k: c for k, c in codes.items() if c is not None},
                {k: v for k, v in members if _is_literal(v)},
            )
        )
        refs = ()
    digest = _blake(body, digest_size=16).hexdigest()
    _OWN[id(cls)] = (cls, digest, refs)
    return digest, refs


def _member_code(member: object) -> tuple[types.CodeType, ...] | None:
    if isinstance(member, (staticmethod, classmethod)):
        member = member.__func__
    if isinstance(member, property):
        return tuple(f.__code__ for f in (member.fget, member.fset, member.fdel) if f)  # type: ignore[attr-defined]
    if isinstance(member, functools.cached_property):
        member = member.func
    return (member.__code__,) if isinstance(member, types.FunctionType) else None


def _parse_def(obj: object) -> ast.stmt | None:
    try:
        source = inspect.getsource(obj)  # type: ignore[arg-type]
        tree = ast.parse(textwrap.dedent(source))
    except (OSError, TypeError, SyntaxError):  # no source, or a lambda mid-expression
        return None
    if not tree.body:
        return None
    node = tree.body[0]
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        node.decorator_list = []  # `@env.task(...)` options are not code
    return node


def _dump(node: ast.AST) -> bytes:
    return ast.dump(node, annotate_fields=False, include_attributes=False).encode()


def _ast_refs(node: ast.ClassDef) -> tuple[_Ref, ...]:
    """Names a class body uses outside its methods (bases, defaults, field factories)."""
    refs: list[_Ref] = []
    todo: list[ast.AST] = [*node.bases, *node.keywords, *node.body]
    while todo:
        item = todo.pop()
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            todo.extend(item.args.defaults)  # method bodies are walked as code instead
            todo.extend(d for d in item.args.kw_defaults if d is not None)
            continue
        attrs: list[str] = []
        while isinstance(item, ast.Attribute):
            attrs.insert(0, item.attr)
            item = item.value
        if isinstance(item, ast.Name) and isinstance(item.ctx, ast.Load):
            refs.append(("g", item.id, tuple(attrs)))
        elif not isinstance(item, ast.Lambda):
            todo.extend(ast.iter_child_nodes(item))
    return tuple(refs)


def _code_refs(code: types.CodeType) -> tuple[_Ref, ...]:
    """Global names, closure names and local imports used by `code` and nested code.

    Attribute chains are kept (`mod.helper` is ("g", "mod", ("helper",))), so only the
    attributes actually used on a user module are followed.
    """
    cached = _REFS.get(code)
    if cached is not None:
        return cached
    refs: list[_Ref] = []
    bound: dict[str, tuple[str, tuple[str, ...]]] = {}  # local name -> imported module path
    todo = [code]
    while todo:
        co = todo.pop()
        todo.extend(c for c in co.co_consts if isinstance(c, types.CodeType))
        chain: list[str] | None = None
        kind, consts = "", [None, None]
        base, from_list, pending = "", False, None
        for ins in dis.get_instructions(co):
            op, arg = ins.opname, ins.argval
            if chain is not None and op in _ATTR_OPS:
                chain.append(arg)
                continue
            if chain is not None:
                refs.append((kind, chain[0], tuple(chain[1:])))
                chain = None
            if op in ("LOAD_CONST", "LOAD_SMALL_INT"):
                consts = [consts[-1], arg]
            elif op == "IMPORT_NAME":  # LOAD_CONST level; LOAD_CONST fromlist; IMPORT_NAME
                base = "." * (consts[0] or 0) + arg
                from_list = consts[1] is not None
                pending = (base, ()) if from_list else (base.split(".")[0], ())
            elif op in ("IMPORT_STAR", "CALL_INTRINSIC_1"):
                pending = None
            elif op == "IMPORT_FROM" and base:
                pending = (base, (arg,)) if from_list else (base, ())
            elif op.startswith("STORE_") and pending is not None:
                bound[arg] = pending
                refs.append(("i", *pending))
                pending = None
            if isinstance(arg, str) and arg in bound and op.startswith(("LOAD_FAST", "LOAD_D")):
                root, attrs = bound[arg]
                kind, chain = "i", [root, *attrs]
            elif op in _GLOBAL_OPS or op in _DEREF_OPS:
                kind, chain = ("g" if op in _GLOBAL_OPS else "d"), [arg]
        if chain is not None:
            refs.append((kind, chain[0], tuple(chain[1:])))
    result = _REFS[code] = tuple(dict.fromkeys(refs))
    return result


# --- what counts as the user's own code ------------------------------------------------


@functools.lru_cache(maxsize=1)
def _system_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    dirs.update(paths.get(key, "") for key in ("stdlib", "platstdlib", "purelib", "platlib"))
    real = (os.path.realpath(d) for d in dirs if d)
    # Never treat "/" as an install location, or everything would be "installed".
    return tuple(d.rstrip(os.sep) + os.sep for d in real if os.path.dirname(d) != d)


def _is_user_path(path: str) -> bool:
    real = os.path.realpath(path)
    names = real.split(os.sep)
    if "site-packages" in names or "dist-packages" in names:
        return False
    return not real.startswith(_system_dirs())


def _is_user_module(name: str | None) -> bool:
    if name is None:  # exec'd code without a __name__
        return True
    known = _USER_MODULES.get(name)
    if known is None:
        known = _USER_MODULES[name] = _classify_module(name)
    return known


def _classify_module(name: str) -> bool:
    if name.partition(".")[0] in _OWN_PACKAGES or name in sys.builtin_module_names:
        return False
    module = sys.modules.get(name)
    file = getattr(module, "__file__", None)
    if not file:  # notebooks and exec'd code count as the user's; built-in/frozen do not
        origin = getattr(getattr(module, "__spec__", None), "origin", None)
        return origin not in ("built-in", "frozen")
    return _is_user_path(file)


def _import_user_module(name: str, package: str) -> types.ModuleType | None:
    """The user module a function imports locally; imported now if it is not yet.

    Importing it is what the task body would do; installed packages are never imported
    here (their top-level spec is checked first, which does not execute them).
    """
    try:
        name = importlib.util.resolve_name(name, package or None)
        module = sys.modules.get(name)
        if module is None:
            top = name.partition(".")[0]
            spec = importlib.util.find_spec(top)
            if spec is None or top in _OWN_PACKAGES:
                return None
            where = [spec.origin] if spec.has_location and spec.origin else []
            where = where or list(spec.submodule_search_locations or ())
            if not where or not all(_is_user_path(path) for path in where):
                return None
            module = importlib.import_module(name)
    except (ImportError, ValueError):
        return None
    return module if _is_user_module(module.__name__) else None


# --- explaining a miss -----------------------------------------------------------------


def explain_difference(
    old_parts: Mapping[str, object], new_parts: Mapping[str, object]
) -> list[str]:
    """Say, one line per reason, why two cache keys' parts differ.

    Args:
        old_parts: Parts of the older key: `task`, `interface`, `inputs` (name to
            digest), `code` (qualified name to digest), `code_version` and `salt`.
            Missing keys are tolerated.
        new_parts: Parts of the newer key, same shape.

    Returns:
        Reasons such as ``"input 'x' changed"`` or ``"code of mymod.helper changed"``;
        empty when the parts are the same.
    """
    reasons: list[str] = []
    old, new = dict(old_parts), dict(new_parts)
    if old.get("task") != new.get("task"):
        reasons.append(f"task changed ({old.get('task')!r} -> {new.get('task')!r})")
    if old.get("interface") != new.get("interface"):
        reasons.append("interface changed")
    reasons += _diff_map(old.get("inputs"), new.get("inputs"), _input_reason)
    code_reasons = _diff_map(old.get("code"), new.get("code"), _code_reason)
    reasons += code_reasons
    if old.get("code_version") != new.get("code_version") and not code_reasons:
        reasons.append(
            f"code version changed ({old.get('code_version')!r} -> {new.get('code_version')!r})"
        )
    if old.get("salt") != new.get("salt"):
        reasons.append(f"salt changed ({old.get('salt')!r} -> {new.get('salt')!r})")
    return reasons


def _diff_map(old: object, new: object, reason: Callable[[str, str], str]) -> list[str]:
    before = old if isinstance(old, Mapping) else {}
    after = new if isinstance(new, Mapping) else {}
    out = []
    for name in sorted(set(before) | set(after), key=str):
        if name not in after:
            out.append(reason(str(name), "removed"))
        elif name not in before:
            out.append(reason(str(name), "added"))
        elif before[name] != after[name]:
            out.append(reason(str(name), "changed"))
    return out


def _input_reason(name: str, change: str) -> str:
    return f"input {name!r} {change}"


def _code_reason(name: str, change: str) -> str:
    if change == "added":
        return f"{name} is now reached"
    if change == "removed":
        return f"{name} no longer reached"
    return f"code of {name} changed"
