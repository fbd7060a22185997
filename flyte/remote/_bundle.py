"""What `flyte.run` ships to the server: the task's code and a snapshot of it.

A task defined in a module travels as that module's source plus the local modules it
imports (the user's own files, not the standard library or installed packages), so the
server imports it like `python -m` would, records the source for rerun and hashes real
code for the cache. A snapshot (cloudpickle, the module pickled by value) rides along:
it is what runs for `__main__` / notebook tasks, and what `flyte rerun` loads elsewhere.
"""

from __future__ import annotations

import functools
import os
import sys
import sysconfig
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flyte._task import TaskTemplate

__all__ = ["MAX_BUNDLE_BYTES", "bundle_task", "local_module_files"]

MAX_BUNDLE_BYTES = 16 << 20
"""Shipped source larger than this is left out (the snapshot still carries the code)."""


@functools.cache
def _excluded_roots() -> tuple[str, ...]:
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            roots.add(path)
    import flyte

    roots.add(str(Path(flyte.__file__).resolve().parent))
    return tuple(str(Path(r).resolve()) + os.sep for r in roots if r)


def _module_root(module: ModuleType) -> Path | None:
    """The sys.path entry `module` was imported from (its file minus its dotted name)."""
    file = getattr(module, "__file__", None)
    if not file:
        return None
    path = Path(file).resolve()
    parts = module.__name__.split(".")
    if path.name == "__init__.py":
        path = path.parent
    for _ in parts:
        path = path.parent
    return path


def _local(module: ModuleType, root: Path, excluded: tuple[str, ...]) -> Path | None:
    file = getattr(module, "__file__", None)
    if not file or not file.endswith(".py"):
        return None
    path = Path(file).resolve()
    text = str(path)
    if any(text.startswith(prefix) for prefix in excluded):
        return None
    try:
        path.relative_to(root)
    except ValueError:
        return None
    return path


def local_module_files(module: ModuleType) -> dict[str, str]:
    """Source of `module` and the local modules it imports, by path relative to its root.

    Imports are followed through module globals (modules, and functions and classes
    by their `__module__`), transitively; parent packages come along so dotted imports
    work on the server.
    """
    root = _module_root(module)
    if root is None:
        return {}
    excluded = _excluded_roots()
    files: dict[str, str] = {}
    total = 0
    seen: set[str] = set()
    stack = [module]
    while stack:
        current = stack.pop()
        if current.__name__ in seen:
            continue
        seen.add(current.__name__)
        path = _local(current, root, excluded)
        if path is None:
            continue
        rel = path.relative_to(root).as_posix()
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):  # unreadable here: the snapshot still has it
            continue
        total += len(text)
        if total > MAX_BUNDLE_BYTES:
            break
        files[rel] = text
        names = current.__name__.split(".")
        for i in range(1, len(names)):  # parent packages
            parent = sys.modules.get(".".join(names[:i]))
            if parent is not None:
                stack.append(parent)
        for value in list(vars(current).values()):
            if isinstance(value, ModuleType):
                stack.append(value)
                continue
            owner = getattr(value, "__module__", None)
            if isinstance(owner, str) and owner not in seen:
                found = sys.modules.get(owner)
                if found is not None:
                    stack.append(found)
    return files


def bundle_task(task: TaskTemplate[Any, Any]) -> dict[str, Any]:
    """The code part of a run request: task name, module, function, files, snapshot."""
    from flyte._deploy import snapshot_task
    from flyte.remote._wire import b64encode

    module = sys.modules.get(task.__module__)
    # For a `__main__` task the files are the helpers it imports (the snapshot is the code).
    files = local_module_files(module) if module is not None else {}
    return {
        "task": task.name,
        "module": task.__module__,
        "function": task.__name__,
        "files": files,
        "snapshot": b64encode(snapshot_task(task, sealed=False)),
    }
