"""The code version of a task: its code plus the user code it reaches (DESIGN.md section 5).

`code_version` hashes the normalized AST of a task function plus every function, class
and literal constant it reaches in the user's own modules, so editing a helper
invalidates exactly the tasks that use it, while comments and whitespace do not count.
Code without source (notebooks, `exec`) is hashed from its compiled bytecode.
"""

from __future__ import annotations

import ast
import dataclasses
import dis
import functools
import importlib
import importlib.util
import inspect
import linecache
import os
import sys
import types
import weakref
from collections.abc import Callable
from typing import Any

from flyte._hashing import (
    _enc_str,
    _encode,
    _hex,
    _is_literal,
    _module_label,
    _qualname,
    stable_hash,
)

__all__ = ["CodeVersion", "clear_code_version_cache", "code_version"]

# --- code version ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CodeVersion:
    """The code version of a task: one digest, and the per-object digests behind it.

    Example:
        version = code_version(my_task)
        version.digest                       # "3f1c9a..."
        version.parts["pipeline.helper_a"]   # digest of one helper the task reaches
    """

    digest: str
    parts: dict[str, str]


# (kind, root, attrs): kind "g" is a global name, "d" a closure cell and "i" a module the
# function imports itself (root is its dotted name, with leading dots when relative).
_Ref = tuple[str, str, tuple[str, ...]]
_VERSIONS: dict[int, tuple[Callable[[], object], CodeVersion]] = {}
_OWN: dict[int, tuple[object, str, tuple[_Ref, ...]]] = {}  # id -> (object, digest, refs)
_REFS: dict[types.CodeType, tuple[_Ref, ...]] = {}
_USER_MODULES: dict[str, bool] = {}
_OWN_PACKAGES = frozenset({"flyte", "flyte_cli", "flyte_tui"})
_MAX_WRAPPED = 16  # bounds __wrapped__ chains of objects that invent attributes (mocks)


def code_version(func: Callable[..., object]) -> CodeVersion:
    """Return the code version of a task function, memoized per function object.

    The version covers the function's normalized AST (without decorators, comments or
    whitespace) and, transitively, the functions, classes and literal constants it reaches
    in the user's own modules; installed packages, the stdlib and flyte are not followed.
    Without source (notebooks, `exec`), code objects are hashed instead.

    Args:
        func: The task function, or a wrapper exposing it as `__wrapped__`.

    Returns:
        The overall digest, and the digest of each reached object by qualified name.
    """
    entry = _VERSIONS.get(id(func))
    if entry is not None and entry[0]() is func:
        return entry[1]
    parts = dict(sorted(_Walker(func).parts.items()))
    joined = b"".join([_enc_str(k) + _enc_str(v) for k, v in parts.items()])
    version = CodeVersion(_hex(joined), parts)
    key = id(func)
    ref: Callable[[], object]
    try:
        ref = weakref.ref(func, lambda _dead: _VERSIONS.pop(key, None))
    except TypeError:  # not weak-referenceable: keep it alive so that its id stays unique
        ref = functools.partial(lambda obj: obj, func)
    _VERSIONS[key] = (ref, version)
    return version


def clear_code_version_cache() -> None:
    """Forget memoized code versions, e.g. after user modules were edited and reloaded.

    This also clears `linecache`, so that source edited on disk is read again.
    """
    for cache in (_VERSIONS, _OWN, _REFS, _USER_MODULES):
        cache.clear()
    linecache.clearcache()


class _Walker:
    """Walks the user code a function reaches, recording each object's digest in `parts`."""

    def __init__(self, func: object) -> None:
        self.parts: dict[str, str] = {}
        self.seen: dict[int, bool] = {}  # id -> visited as a part of its own
        self.keep: list[object] = []  # visited objects stay alive, so their ids stay unique
        self.todo: list[tuple[object, bool, int]] = []
        try:
            self.root: object = inspect.unwrap(func)  # type: ignore[arg-type]
        except ValueError:  # a __wrapped__ cycle
            self.root = func
        self.push(func)
        while self.todo:
            self.visit(*self.todo.pop())

    def push(self, obj: object, as_part: bool = True, depth: int = 0) -> None:
        seen = self.seen.get(id(obj))
        # Visit once, or twice when a method first seen in its class is also reached alone.
        if depth > _MAX_WRAPPED or seen is True or (seen is False and not as_part):
            return
        self.seen[id(obj)] = as_part
        self.keep.append(obj)
        self.todo.append((obj, as_part, depth))

    def visit(self, obj: object, as_part: bool, depth: int) -> None:
        if isinstance(obj, type):
            self.cls(obj)
            return
        if isinstance(obj, types.FunctionType):
            self.function(obj, as_part)
        elif functions := _member_functions(obj):
            for fn in functions:
                self.push(fn, as_part)
        elif _is_user_module(type(obj).__module__):  # an instance of a user class
            self.push(type(obj))
        try:
            wrapped = getattr(obj, "__wrapped__", None)
        except Exception:  # a user __getattr__ may raise anything; then there is no wrapper
            wrapped = None
        if wrapped is not None:
            self.push(wrapped, as_part, depth + 1)

    def function(self, fn: types.FunctionType, as_part: bool) -> None:
        # Not fn.__module__/__qualname__: functools.wraps copies those from the wrapped
        # function, while the globals and the code object tell where the code really is.
        module = fn.__globals__.get("__name__")
        if not _is_user_module(module) and fn is not self.root:
            return
        name = f"{_module_label(module)}.{getattr(fn.__code__, 'co_qualname', fn.__qualname__)}"
        if as_part:
            self.parts[name] = _function_digest(fn)
        cells: dict[str, object] = {}
        for var, cell in zip(fn.__code__.co_freevars, fn.__closure__ or (), strict=False):
            try:
                cells[var] = cell.cell_contents
            except ValueError:  # an empty cell: the name is not bound yet
                continue
            if as_part or not _is_literal(cells[var]):  # else in its owner's digest
                self.resolve(cells[var], (), f"{name}.<closure>.{var}")
        package = fn.__globals__.get("__package__") or (module or "").rpartition(".")[0]
        for kind, root, attrs in _code_refs(fn.__code__):
            if kind == "g" and root in fn.__globals__:
                self.resolve(fn.__globals__[root], attrs, f"{_module_label(module)}.{root}")
            elif kind == "d" and isinstance(cells.get(root), types.ModuleType):
                self.resolve(cells[root], attrs, f"{name}.<closure>.{root}")
            elif kind == "i" and (imported := _import_user_module(root, package)):
                # `from pkg import sub` may name a submodule that is not imported yet.
                while attrs and hasattr(imported, "__path__") and attrs[0] not in vars(imported):
                    sub = _import_user_module(f"{imported.__name__}.{attrs[0]}", "")
                    if sub is None:
                        break
                    imported, attrs = sub, attrs[1:]
                self.resolve(imported, attrs, _module_label(imported.__name__))
        for default in (*(fn.__defaults__ or ()), *(fn.__kwdefaults__ or {}).values()):
            if not _is_literal(default):  # literal defaults are in the function's digest
                self.push(default)

    def cls(self, cls: type) -> None:
        if not _is_user_module(cls.__module__):
            return
        digest, refs = _class_digest(cls)
        self.parts[_qualname(cls)] = digest
        namespace = getattr(sys.modules.get(cls.__module__), "__dict__", {})
        for _kind, root, attrs in refs:
            if root in namespace:
                self.resolve(namespace[root], attrs, f"{_module_label(cls.__module__)}.{root}")
        for base in cls.__bases__:
            self.push(base)
        for member in vars(cls).values():
            if isinstance(member, type):
                self.push(member)
            for fn in _member_functions(member):  # their code is in the class's digest
                self.push(fn, as_part=False)

    def resolve(self, value: object, attrs: tuple[str, ...], label: str) -> None:
        """Follow `value.a.b` through user modules, then record or queue what it names."""
        for attr in attrs:
            if not isinstance(value, types.ModuleType):
                break
            if not _is_user_module(value.__name__) or attr not in vars(value):
                return
            label, value = f"{_module_label(value.__name__)}.{attr}", vars(value)[attr]
        if _is_literal(value):
            self.parts[label] = stable_hash(value)
        elif not isinstance(value, types.ModuleType):
            self.push(value)


def _member_functions(member: object) -> list[types.FunctionType]:
    """The functions behind a method, static/class method, property or partial."""
    if isinstance(member, (staticmethod, classmethod, types.MethodType)):
        member = member.__func__
    if isinstance(member, (functools.cached_property, functools.partial)):
        member = member.func
    found = [member.fget, member.fset, member.fdel] if isinstance(member, property) else [member]
    return [fn for fn in found if isinstance(fn, types.FunctionType)]


def _function_digest(fn: types.FunctionType) -> str:
    code = fn.__code__
    cached = _OWN.get(id(code))
    if cached is None or cached[0] is not code:
        node = _parse_def(fn)
        body = b"c" + _encode(code) if node is None else b"a" + _dump(node)
        cached = _OWN[id(code)] = (code, _hex(body), ())
    defaults = (*(fn.__defaults__ or ()), *(fn.__kwdefaults__ or {}).items())
    if not defaults:
        return cached[1]
    # Defaults are evaluated where the function is defined: their values, not only the
    # expressions in the source, belong to its version.
    marks = [d if _is_literal(d) else ("<object>", _qualname(type(d))) for d in defaults]
    return stable_hash((cached[1], marks))


def _class_digest(cls: type) -> tuple[str, tuple[_Ref, ...]]:
    cached = _OWN.get(id(cls))
    if cached is None or cached[0] is not cls:
        node = _parse_def(cls)
        if isinstance(node, ast.ClassDef):
            body, refs = b"a" + _dump(node), _class_body_refs(node)
        else:  # no source: hash the bases, the members' code and the literal attributes
            members = {
                k: [fn.__code__ for fn in _member_functions(v)] or v
                for k, v in vars(cls).items()
                if _member_functions(v) or _is_literal(v)
            }
            body, refs = b"c" + _encode(([_qualname(b) for b in cls.__bases__], members)), ()
        cached = _OWN[id(cls)] = (cls, _hex(body), refs)
    return cached[1], cached[2]


def _parse_def(obj: object) -> ast.stmt | None:
    import textwrap

    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(obj)))  # type: ignore[arg-type]
    except (OSError, TypeError, SyntaxError):  # no source, or a lambda mid-expression
        return None
    node = tree.body[0] if tree.body else None
    # `@env.task(...)` options are configuration, not code. A class keeps its decorators:
    # `@dataclass(order=True)` changes what the class does, and no task decorates a class.
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        node.decorator_list = []
    return node


def _dump(node: ast.AST) -> bytes:
    return ast.dump(node, annotate_fields=False, include_attributes=False).encode()


def _class_body_refs(node: ast.ClassDef) -> tuple[_Ref, ...]:
    """Names a class body uses outside its methods: bases, defaults, field factories."""
    refs: list[_Ref] = []
    todo: list[ast.AST] = [*node.decorator_list, *node.bases, *node.keywords, *node.body]
    while todo:
        item = todo.pop()
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            todo += item.decorator_list
            todo += [d for d in (*item.args.defaults, *item.args.kw_defaults) if d is not None]
            continue  # method bodies are walked as code objects instead
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
    """Globals, closure names and local imports used by `code` and its nested code.

    Attribute chains are kept (`mod.helper` gives ("g", "mod", ("helper",))), so that only
    the attributes actually used on a user module are followed.
    """
    if code in _REFS:  # code objects compare by content, which fixes their references
        return _REFS[code]
    refs: list[_Ref] = []
    bound: dict[str, tuple[str, tuple[str, ...]]] = {}  # local name -> what it imported
    todo = [code]
    while todo:
        co = todo.pop()
        todo += [c for c in co.co_consts if isinstance(c, types.CodeType)]
        kind, chain, consts, base, from_list = "", [""], [None, None], "", False
        pending: tuple[str, tuple[str, ...]] | None = None
        arg: Any
        for ins in [*dis.get_instructions(co), None]:  # None flushes the last chain
            op, arg = (ins.opname, ins.argval) if ins else ("", None)
            if chain[0] and op in ("LOAD_ATTR", "LOAD_METHOD"):
                chain.append(arg)
                continue
            if chain[0]:
                refs.append((kind, chain[0], tuple(chain[1:])))
                chain = [""]
            if op in ("LOAD_CONST", "LOAD_SMALL_INT"):
                consts = [consts[1], arg]
            elif op == "IMPORT_NAME":  # preceded by LOAD_CONST level, LOAD_CONST fromlist
                base, from_list = "." * (consts[0] or 0) + arg, consts[1] is not None
                pending = (base if from_list else base.partition(".")[0], ())
            elif op == "IMPORT_FROM" and base:  # `from m import x`, or `import a.b as c`
                pending = (base, (arg,) if from_list else ())
            elif op.startswith("STORE_") and pending:
                bound[arg] = pending
                refs.append(("i", *pending))
                pending = None
            elif op in ("IMPORT_STAR", "CALL_INTRINSIC_1"):
                pending = None
            if isinstance(arg, str) and arg in bound and op.startswith(("LOAD_FAST", "LOAD_D")):
                kind, chain = "i", [bound[arg][0], *bound[arg][1]]
            elif op in ("LOAD_GLOBAL", "LOAD_NAME", "LOAD_DEREF", "LOAD_CLASSDEREF"):
                kind, chain = ("d" if "DEREF" in op else "g"), [arg]
    _REFS[code] = result = tuple(dict.fromkeys(refs))
    return result


# --- what counts as the user's own code ------------------------------------------------


@functools.lru_cache(maxsize=1)
def _system_dirs() -> tuple[str, ...]:
    import sysconfig  # only code versions need it; keeps `import flyte` cheap

    paths = sysconfig.get_paths()
    dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    dirs.update(paths.get(key, "") for key in ("stdlib", "platstdlib", "purelib", "platlib"))
    real = {os.path.realpath(d) for d in dirs if d}
    # Never treat "/" as an install location, or nothing would be user code.
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
        known = _classify_module(name)
        if name in sys.modules:  # a name not imported yet may still turn out installed
            _USER_MODULES[name] = known
    return known


def _classify_module(name: str) -> bool:
    if name.partition(".")[0] in _OWN_PACKAGES or name in sys.builtin_module_names:
        return False
    module = sys.modules.get(name)
    file = getattr(module, "__file__", None)
    if file:
        return _is_user_path(file)
    if paths := list(getattr(module, "__path__", ())):  # a namespace package
        return all(_is_user_path(path) for path in paths)
    # Notebooks and exec'd code are the user's; built-in and frozen modules are not.
    return getattr(getattr(module, "__spec__", None), "origin", None) not in ("built-in", "frozen")


def _import_user_module(name: str, package: str) -> types.ModuleType | None:
    """Return the user module a function imports in its body, importing it if needed.

    Importing it is what the task body would do anyway. Installed packages are never
    imported here: the top-level spec is checked first, which executes nothing.
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
