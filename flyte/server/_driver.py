"""The driver of server runs: `python -m flyte.server._driver STORE`, a fork server.

`flyte serve` starts this process once. It imports the engine (and nothing that starts
a thread), then waits for run requests on stdin; for each it forks a child that loads the
shipped code, starts the run with the local engine (and its executors), reports
"started" (or why it could not start) and drives the run to its end. Forking a warm
process costs about a millisecond, so a run starts within milliseconds of its request
and no process warming up competes with a run for the CPU. Runs survive their client
disconnecting, and the server stays responsive while they execute.

Protocol, one JSON object per line:

    driver -> server  {"ready": true, "pid": N}                        after imports
    server -> driver  "/path/of/request.json"                           one run request
    driver -> server  {"request": PATH, "started": NAME, "pid": CHILD}  (from the child)
                    | {"request": PATH, "error": {"type": T, "message": M}}
    driver -> server  {"ended": NAME}                                   when the run ended

End-of-file on stdin means the server is gone (killed or stopped): the fork server
exits, and each child notices that its parent changed and exits at once, leaving its run
to be read as interrupted (its pid is dead) and recovered with `rerun --recover`
against the restarted server.
"""

from __future__ import annotations

import json
import os
import select
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flyte._run import Run
    from flyte._store import RunStore
    from flyte._task import TaskTemplate

__all__ = ["main", "prepare"]

_OPTION_KEYS = ("disable_run_cache", "overwrite_cache", "env_vars", "labels")

# Imported before forking, so a child pays for none of them; none starts a thread.
_WARM = (
    "cloudpickle",
    "concurrent.futures.thread",
    "flyte._cache_api",
    "flyte._codeversion",
    "flyte._controller.local",
    "flyte._controller.writer",
    "flyte._deploy",
    "flyte._map",
    "flyte._store.logs",
    "flyte._store.memory",
    "flyte._store.sqlite",
    "flyte._trace",
    "flyte.io",
    "flyte.remote",
    "queue",
)


def _emit(proto: Any, message: dict[str, Any]) -> None:
    # One write of one short line: lines of concurrent children never interleave (PIPE_BUF).
    proto.write(json.dumps(message) + "\n")
    proto.flush()


def _watch_parent(parent: int) -> None:
    """Exit the moment the fork server is gone (it exits when the server does)."""
    while os.getppid() == parent:
        time.sleep(0.1)
    os._exit(75)


def _load_task(request: dict[str, Any]) -> TaskTemplate[Any, Any]:
    """The task of a shipped bundle: import its module from the code dir, else the snapshot."""
    import importlib

    from flyte._serde import adopt, loads
    from flyte._task import TaskTemplate

    bundle = request["bundle"]
    code_dir = request.get("code_dir")
    problem: BaseException | None = None
    if code_dir:
        sys.path.insert(0, code_dir)  # the shipped local modules, also for a snapshot
    if code_dir and bundle.get("module") not in (None, "__main__"):
        try:
            module = importlib.import_module(bundle["module"])
            task = getattr(module, bundle["function"], None)
            if isinstance(task, TaskTemplate) and task.name == bundle["task"]:
                return task
            problem = LookupError(f"{bundle['module']} has no task {bundle['task']!r}")
        except Exception as exc:  # fall back to the snapshot; report this if that fails too
            problem = exc
    snapshot = request.get("snapshot_path")
    if snapshot:
        try:
            # Shipped by an authenticated client, sealed with its own key (if at all).
            return loads(adopt(Path(snapshot).read_bytes()))  # type: ignore[no-any-return]
        except Exception as exc:
            raise exc from problem
    if problem is not None:
        raise problem
    raise LookupError("the run request carries no code")


def prepare(
    request: dict[str, Any], store: RunStore
) -> tuple[TaskTemplate[Any, Any], tuple[Any, ...], dict[str, Any], dict[str, Any]]:
    """The task, inputs and run options of a run request.

    Raises:
        Exception: the code or the inputs cannot be loaded (reported to the client).
    """
    from flyte._run import load_run_task
    from flyte._serde import adopt, loads
    from flyte.errors import RunNotFoundError, UserError

    kind = request["kind"]
    options = {k: request["options"][k] for k in _OPTION_KEYS if k in request.get("options", {})}
    options["recover_from"] = request.get("recover_from")
    inputs_path = request.get("inputs_path")

    def inputs() -> Any:  # after the code is importable: inputs may be instances of its classes
        return loads(adopt(Path(inputs_path).read_bytes())) if inputs_path else ((), {})

    if kind == "task":
        task = _load_task(request)
        args, kwargs = inputs()
        return task, tuple(args), dict(kwargs), options
    if kind == "deployed":
        import flyte.remote

        task = flyte.remote.Task.get(request["task"], version=request.get("version")).resolve_task()
        args, kwargs = inputs()
        return task, tuple(args), dict(kwargs), options
    if kind == "rerun":
        old = store.get_run(request["of"])
        if old is None:
            raise RunNotFoundError(f"run {request['of']!r} not found; `flyte get runs` lists runs")
        task, args, kwargs = load_run_task(store, old)
        new_inputs: dict[str, Any] = inputs()[1]
        if new_inputs:
            bound = task.bind(tuple(args), dict(kwargs))
            unknown = sorted(set(new_inputs) - set(bound))
            if unknown:
                raise UserError(
                    f"{task.name} has no input {unknown[0]!r}; inputs: {', '.join(bound)}"
                )
            bound.update(new_inputs)
            args, kwargs = (), bound
        if request.get("recover"):
            options["recover_from"] = request["of"]
        return task, tuple(args), dict(kwargs), options
    raise ValueError(f"unknown run request kind {kind!r}")


def _start(request: dict[str, Any], store: RunStore) -> Run:
    import flyte

    if request.get("code_dir"):
        os.chdir(request["code_dir"])
    task, args, kwargs, options = prepare(request, store)
    # User modules may call flyte.init(...) at import: this process records in the
    # server's store, whatever they configured.
    flyte.init(store=store)
    context = flyte.with_runcontext(
        name=request["name"], store=store, echo=False, raise_on_failure=False, **options
    )
    return context.start(task, *args, **kwargs)


def _child(path: str, store_path: str, proto: Any, parent: int) -> int:
    """In the forked child: start the run of request `path`, report, drive it to the end."""
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    from flyte._store import open_store

    try:
        store = open_store(store_path)
        request = json.loads(Path(path).read_text())
        run = _start(request, store)
    except BaseException as exc:
        from flyte.errors import UserError

        kind = type(exc).__name__ if isinstance(exc, UserError) else "UserError"
        message = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
        _emit(proto, {"request": path, "error": {"type": kind, "message": message}})
        return 1
    _emit(proto, {"request": path, "started": run.name, "pid": os.getpid()})
    run.wait()  # also flushes the store writer: the end is committed before we say so
    _emit(proto, {"ended": run.name})
    return 0


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def main(argv: list[str] | None = None) -> int:
    """Import the engine, then fork one child per run request until stdin closes."""
    import importlib

    args = sys.argv[1:] if argv is None else argv
    store_path = args[0]
    # The protocol gets its own copy of stdout; fd 1 then goes to stderr (the driver's
    # log), so nothing a task prints can fill the pipe the server reads.
    proto = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    for name in _WARM:
        importlib.import_module(name)
    import flyte

    for name in flyte.__all__:  # the facade's lazy names, as user modules will touch them
        getattr(flyte, name)
    # Children share these pages copy-on-write; frozen objects are never scanned by the
    # collector, so a child's garbage collections do not copy them page by page.
    import gc

    gc.collect()
    gc.freeze()
    _emit(proto, {"ready": True, "pid": os.getpid()})
    stdin = sys.stdin.buffer
    buffer = b""
    while True:
        readable, _, _ = select.select([stdin], [], [], 0.5)
        _reap()
        if not readable:
            continue
        chunk = os.read(stdin.fileno(), 65536)
        if not chunk:
            return 0  # the server is gone: children notice we exited
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if not line.strip():
                continue
            path = json.loads(line)
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    os.close(stdin.fileno())  # requests are the fork server's, not ours
                    code = _child(path, store_path, proto, os.getppid())
                finally:
                    sys.stdout.flush()
                    sys.stderr.flush()
                    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
