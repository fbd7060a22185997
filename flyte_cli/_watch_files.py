"""What watch mode watches, and the watcher threads that report its changes.

Under the project root (the nearest folder holding pyproject.toml, .git or setup.cfg), the
Python files, except in hidden folders, `venv`, `__pycache__`, `node_modules`, ... and what
`.gitignore` lists; under an extra `--watch-path`, any file but editor temporaries. Each
watcher runs watchfiles in a background thread and debounces bursts of saves, so "save all"
and format-on-save make one re-run.

Example:
    from pathlib import Path

    from flyte_cli._watch_files import WatchFilter, find_project_root

    root = find_project_root("examples/pipeline.py")
    accept = WatchFilter(root, [Path("data").resolve()])
    flat, deep = accept.targets()
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import queue
import re
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "GitIgnore",
    "IGNORED_DIRS",
    "MAX_BATCH_MS",
    "PROJECT_MARKERS",
    "QUIET_MS",
    "WatchFilter",
    "find_project_root",
    "module_file",
    "watch_thread",
]

PROJECT_MARKERS = ("pyproject.toml", ".git", "setup.cfg")
"""What marks a project root; the nearest folder holding one wins."""

IGNORED_DIRS = frozenset({"__pycache__", "venv", "node_modules", "site-packages", "build", "dist"})
"""Folder names never watched, besides hidden ones (`.venv`, `.git`, `.tox`, ...)."""

QUIET_MS = 100
"""A burst of saves ends after this much quiet (watchfiles `step`), so "save all" and
format-on-save make one re-run."""

MAX_BATCH_MS = 1_000
"""A burst never holds the re-run back longer than this (watchfiles `debounce`)."""

_EDITOR_TEMP = re.compile(r"(\.py[cod]|\.sw.|~|\.___jb_...___)$|^(\.|#|flycheck_|4913$)")


def find_project_root(path: str | os.PathLike[str]) -> Path:
    """The nearest folder at or above `path` holding pyproject.toml, .git or setup.cfg.

    Args:
        path: a file or folder of the project.

    Returns:
        The project root, or the folder of `path` when no parent is marked.
    """
    start = Path(path).resolve()
    folder = start if start.is_dir() else start.parent
    for candidate in (folder, *folder.parents):
        if any((candidate / marker).exists() for marker in PROJECT_MARKERS):
            return candidate
    return folder


def module_file(module: str) -> Path:
    """Where `python -m module` finds `module`, found by path: importing it here would run
    the user's package `__init__` in this long-lived process and keep a stale copy."""
    rel = Path(*module.split("."))
    for entry in [os.getcwd(), *sys.path]:
        base = Path(entry or os.getcwd())
        for candidate in (base / rel.with_suffix(".py"), base / rel / "__init__.py"):
            if candidate.is_file():
                return candidate
    return Path.cwd()


class GitIgnore:
    """A simple `.gitignore` matcher, used when `pathspec` is not installed.

    Handles comments, `!` negation, `dir/` (folders only), anchoring by a `/` and fnmatch
    globs (a `*` of an anchored pattern may cross folders). As in git, nothing under an
    ignored folder is re-included.

    Example:
        ignore = GitIgnore(["build/", "*_gen.py", "!keep_gen.py"])
        assert ignore("build/x.py", is_dir=False)
        assert not ignore("keep_gen.py", is_dir=False)
    """

    def __init__(self, lines: Sequence[str]) -> None:
        self._rules: list[tuple[str, bool, bool, bool]] = []
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            line = (line[1:] if negate else line).removeprefix("**/")
            dir_only = line.endswith("/")
            line = line.rstrip("/")
            anchored = "/" in line
            if line.lstrip("/"):
                self._rules.append((line.lstrip("/"), negate, dir_only, anchored))

    def _matches(self, rel: str, is_dir: bool) -> bool:
        ignored = False
        for pattern, negate, dir_only, anchored in self._rules:
            target = rel if anchored else rel.rpartition("/")[2]
            if (is_dir or not dir_only) and fnmatch.fnmatchcase(target, pattern):
                ignored = not negate
        return ignored

    def __call__(self, rel: str, *, is_dir: bool) -> bool:
        """Whether the root-relative posix path `rel` is ignored."""
        parts = rel.split("/")
        folders = ("/".join(parts[:i]) for i in range(1, len(parts)))
        return any(self._matches(f, True) for f in folders) or self._matches(rel, is_dir)


def _load_gitignore(root: Path) -> Callable[..., bool]:
    """A matcher `(rel, *, is_dir) -> bool` for `root/.gitignore`: pathspec if installed."""
    try:
        lines = (root / ".gitignore").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return lambda rel, *, is_dir: False
    try:
        import pathspec
    except ImportError:
        return GitIgnore(lines)
    spec = pathspec.GitIgnoreSpec.from_lines(lines)
    return lambda rel, *, is_dir: bool(spec.match_file(rel + "/" if is_dir else rel))


def _skipped_dir(name: str) -> bool:
    return name.startswith(".") or name in IGNORED_DIRS or name.endswith(".egg-info")


class WatchFilter:
    """Which changed paths re-run the task (a watchfiles `watch_filter`).

    Under the project root: `.py` files, except in hidden folders, `venv`, `__pycache__`,
    `node_modules`, ... and what `.gitignore` lists. Under an extra `--watch-path`: any
    file but editor temporaries, outside those folders.

    Example:
        accept = WatchFilter(Path("/proj"), [Path("/data")])
        accept(Change.modified, "/proj/pkg/tasks.py")   # True
        accept(Change.modified, "/proj/.venv/x.py")     # False
    """

    def __init__(self, root: Path, extra: Sequence[Path] = ()) -> None:
        self.root = root
        self.extra = tuple(extra)
        self._ignored = _load_gitignore(root)

    def __call__(self, change: Any, path: str) -> bool:
        """Whether a change of `path` (absolute) should re-run the task."""
        p = Path(path)
        if _EDITOR_TEMP.search(p.name):
            return False
        for base in self.extra:
            if p == base or base in p.parents:
                return not any(map(_skipped_dir, p.relative_to(base).parts[:-1]))
        if p.suffix != ".py" or self.root not in p.parents:
            return False
        rel = p.relative_to(self.root)
        if any(map(_skipped_dir, rel.parts[:-1])):
            return False
        return not self._ignored(rel.as_posix(), is_dir=False)

    def targets(self) -> tuple[list[Path], list[Path]]:
        """(paths to watch alone, paths to watch recursively).

        The root is watched alone and its kept folders recursively, so the watcher never
        registers the thousands of folders of a `.venv` or `node_modules` only to drop
        their events (inotify watches are a limited resource).
        """
        deep: list[Path] = []
        with contextlib.suppress(OSError):
            for d in sorted(self.root.iterdir()):
                rel = d.relative_to(self.root).as_posix()
                if d.is_dir() and not _skipped_dir(d.name) and not self._ignored(rel, is_dir=True):
                    deep.append(d)
        return [self.root], deep + [p for p in self.extra if p.exists()]


# --- the watchers -------------------------------------------------------------------------


def watch_thread(
    paths: list[Path], recursive: bool, accept: WatchFilter, out: queue.Queue[Any], stop: Any
) -> threading.Thread:
    """A thread running one watchfiles watcher, queueing each batch of changes (or its
    error). `step` is the quiet that closes a burst and `debounce` its upper bound; the stop
    event is checked every step, so stopping takes <= QUIET_MS."""

    def run() -> None:
        import watchfiles

        try:
            for batch in watchfiles.watch(
                *paths,
                watch_filter=accept,
                debounce=MAX_BATCH_MS,
                step=QUIET_MS,
                stop_event=stop,
                recursive=recursive,
                raise_interrupt=False,
                ignore_permission_denied=True,
            ):
                out.put(batch)
        except Exception as exc:  # the loop reports it and re-arms
            out.put(exc)

    thread = threading.Thread(target=run, name="flyte-watch", daemon=True)
    thread.start()
    return thread
