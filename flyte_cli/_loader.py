"""Load the user's file (or `-m module`) and find its task environments and tasks.

A file is imported under a dotted name relative to the working directory
(`examples/hello.py` -> `examples.hello`) with the working directory and the file's own
directory on `sys.path`: sibling imports work as with `python file.py`, and the tasks
pickle by reference, so `flyte rerun` in another process can load them again.

Shell completion must not import user code (it may be slow, and would pull in `flyte`),
so `scan_tasks` finds task names and inputs from the file's syntax tree instead.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from flyte_cli._errors import CliError

if TYPE_CHECKING:
    from flyte import TaskEnvironment, TaskTemplate

__all__ = ["Loaded", "TaskInfo", "find_task", "load", "scan_tasks"]


@dataclass
class Loaded:
    """What a user file defines: its module, environments and tasks by name."""

    target: str
    module: ModuleType
    envs: dict[str, TaskEnvironment] = field(default_factory=dict)
    tasks: dict[str, TaskTemplate[Any, Any]] = field(default_factory=dict)


_cache: dict[tuple[str, int, int], Loaded] = {}


def _module_name(path: Path) -> str:
    """`examples.hello` for a file under the working directory, else its stem.

    A name that already means another module (a user's `types.py` or `json.py`) gets a
    suffix instead, so the file never replaces that module in `sys.modules`.
    """
    name = path.stem
    try:
        rel = path.relative_to(Path.cwd().resolve())
    except ValueError:
        rel = None
    if rel is not None:
        parts = [*rel.parts[:-1], path.stem]
        if all(p.isidentifier() for p in parts):
            name = ".".join(parts)
    if _taken(name, path):
        import hashlib

        name = f"{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    return name


def _taken(name: str, path: Path) -> bool:
    """Whether `name` already imports (or would import) a module other than `path`."""
    existing = sys.modules.get(name)
    if existing is not None:
        return Path(getattr(existing, "__file__", None) or "").resolve() != path
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return False
    origin = spec.origin if spec is not None else None
    return origin not in (None, "namespace") and Path(origin).resolve() != path


def _add_path(entry: str) -> None:
    if entry not in sys.path:
        sys.path.insert(0, entry)


def _where(exc: BaseException, path: Path) -> str:
    """`file.py:12` of the innermost frame in the user's file, if any."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == path]
    return f"{frames[-1].filename}:{frames[-1].lineno}: " if frames else ""


def load(target: str, *, module: bool = False) -> Loaded:
    """Import a Python file (or a module with `module=True`) and collect its tasks.

    Args:
        target: a path like `examples/hello.py`, or a dotted module name with `module=True`.
        module: import `target` as a module from the working directory.

    Returns:
        The module with its environments and tasks.

    Raises:
        CliError: the file does not exist, has a syntax error or fails to import.
    """
    _add_path(os.getcwd())
    if module:
        return _collect(target, _import_module(target))
    path = Path(target).expanduser()
    if not path.exists():
        raise CliError(f"file {target!r} does not exist")
    if path.is_dir() or path.suffix != ".py":
        raise CliError(f"{target!r} is not a Python file (.py); use -m for a module")
    path = path.resolve()
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    found = _cache.get(key)
    if found is not None:
        return found
    name = _module_name(path)
    _add_path(str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has a spec
        raise CliError(f"cannot import {target!r}")
    mod = importlib.util.module_from_spec(spec)
    previous = sys.modules.get(name)
    sys.modules[name] = mod
    try:
        spec.loader.exec_module(mod)
    except SyntaxError as exc:
        _restore(name, previous)
        raise CliError(f"syntax error in {target} line {exc.lineno}: {exc.msg}") from exc
    except CliError:
        _restore(name, previous)
        raise
    except Exception as exc:
        _restore(name, previous)
        raise CliError(
            f"importing {target} failed: {_where(exc, path)}{type(exc).__name__}: {exc}"
        ) from exc
    loaded = _cache[key] = _collect(target, mod)
    return loaded


def _restore(name: str, previous: ModuleType | None) -> None:
    if previous is None:
        sys.modules.pop(name, None)
    else:
        sys.modules[name] = previous


def _import_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            raise CliError(f"no module named {name!r} (from {os.getcwd()})") from exc
        raise CliError(f"importing {name} failed: ModuleNotFoundError: {exc}") from exc
    except SyntaxError as exc:
        raise CliError(f"syntax error in {exc.filename} line {exc.lineno}: {exc.msg}") from exc
    except Exception as exc:
        raise CliError(f"importing {name} failed: {type(exc).__name__}: {exc}") from exc


def _collect(target: str, mod: ModuleType) -> Loaded:
    from flyte import TaskEnvironment, TaskTemplate

    loaded = Loaded(target=target, module=mod)
    for attr, value in vars(mod).items():
        if isinstance(value, TaskEnvironment):
            loaded.envs[value.name] = value
        elif isinstance(value, TaskTemplate) and not attr.startswith("_"):
            loaded.tasks.setdefault(attr, value)
    for env in loaded.envs.values():
        for func_name, task in env.tasks.items():
            if task not in loaded.tasks.values():
                loaded.tasks.setdefault(func_name, task)
    return loaded


def find_task(loaded: Loaded, name: str) -> TaskTemplate[Any, Any]:
    """The task called `name` (function name or full `env.function` name).

    Raises:
        CliError: no such task; the message lists close matches and the tasks there are.
    """
    task = loaded.tasks.get(name)
    if task is not None:
        return task
    for candidate in loaded.tasks.values():
        if candidate.name == name:
            return candidate
    names = sorted(loaded.tasks)
    if not names:
        raise CliError(f"{loaded.target} defines no tasks (decorate functions with @env.task)")
    from flyte.store import did_you_mean

    hint = did_you_mean(name, names + [t.name for t in loaded.tasks.values()], cutoff=0.6)
    raise CliError(f"no task {name!r} in {loaded.target}{hint} (tasks: {', '.join(names)})")


# -- static scan for completion -------------------------------------------------------


@dataclass(frozen=True)
class TaskInfo:
    """A task found by reading the source: its name, docstring summary and input names."""

    name: str
    summary: str
    inputs: tuple[str, ...]


def _is_task_decorator(node: ast.expr) -> bool:
    target = node.func if isinstance(node, ast.Call) else node
    return isinstance(target, ast.Attribute) and target.attr == "task"


def scan_tasks(target: str, *, module: bool = False) -> list[TaskInfo]:
    """Tasks of a file (or module) found without importing it: `@<env>.task` functions.

    Returns an empty list when the file cannot be found or parsed.
    """
    path: str | None = target
    if module:
        try:
            spec = importlib.util.find_spec(target)
        except (ImportError, ValueError):
            return []
        path = spec.origin if spec is not None else None
    if not path:
        return []
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
        return []
    found: list[TaskInfo] = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if not any(_is_task_decorator(d) for d in node.decorator_list):
            continue
        doc = (ast.get_docstring(node) or "").strip().splitlines()
        args = node.args
        inputs = tuple(a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs])
        found.append(TaskInfo(node.name, doc[0] if doc else "", inputs))
    return found
