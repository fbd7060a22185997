"""The driver process of one server run: `python -m flyte.server._driver STORE`.

`flyte serve` keeps one driver warm (imports done, store open) and hands it a run request;
the driver starts the run with the local engine (and its executors), reports "started"
(or why it could not start) on its protocol pipe, and drives the run to its end. A run
therefore survives its client disconnecting, and the server stays responsive while runs
execute.

Protocol, one JSON object per line:

    driver -> server  {"ready": true, "pid": N}          after imports
    server -> driver  "/path/of/request.json"             one run request
    driver -> server  {"started": NAME} | {"error": {"type": T, "message": M}}

The driver then keeps reading its stdin: end-of-file means the server is gone (killed or
stopped), and the driver exits at once, leaving its run to be read as interrupted (its
pid is dead) and recovered with `rerun --recover` against the restarted server.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flyte._run import Run
    from flyte._store import RunStore
    from flyte._task import TaskTemplate

__all__ = ["main", "prepare"]

_OPTION_KEYS = ("disable_run_cache", "overwrite_cache", "env_vars", "labels")


def _emit(proto: Any, message: dict[str, Any]) -> None:
    proto.write(json.dumps(message) + "\n")
    proto.flush()


def _watch_server(stdin: Any) -> None:
    """Exit the moment the server's end of our stdin closes (the server died or stopped)."""
    while stdin.readline():
        pass
    os._exit(75)


def _load_task(request: dict[str, Any]) -> TaskTemplate[Any, Any]:
    """The task of a shipped bundle: import its module from the code dir, else the snapshot."""
    import importlib

    from flyte._serde import loads
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
            return loads(Path(snapshot).read_bytes())  # type: ignore[no-any-return]
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
    from flyte._serde import loads
    from flyte.errors import RunNotFoundError, UserError

    kind = request["kind"]
    options = {k: request["options"][k] for k in _OPTION_KEYS if k in request.get("options", {})}
    options["recover_from"] = request.get("recover_from")
    inputs_path = request.get("inputs_path")

    def inputs() -> Any:  # after the code is importable: inputs may be instances of its classes
        return loads(Path(inputs_path).read_bytes()) if inputs_path else ((), {})

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


def main(argv: list[str] | None = None) -> int:
    """Start warm, wait for one run request, drive that run to its end."""
    args = sys.argv[1:] if argv is None else argv
    store_path = args[0]
    # The protocol gets its own copy of stdout; fd 1 then goes to stderr (the driver's
    # log), so nothing a task prints can fill the pipe the server stopped reading.
    proto = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    import flyte
    import flyte._controller.local  # warm: the engine is imported before a run comes
    from flyte._store import open_store

    store = open_store(store_path)
    flyte.init(store=store)
    _emit(proto, {"ready": True, "pid": os.getpid()})
    line = sys.stdin.readline()
    if not line.strip():
        return 0  # the server stopped before handing us a run
    threading.Thread(target=_watch_server, args=(sys.stdin,), daemon=True).start()
    try:
        request = json.loads(Path(json.loads(line)).read_text())
        run = _start(request, store)
    except BaseException as exc:
        from flyte.errors import UserError

        kind = type(exc).__name__ if isinstance(exc, UserError) else "UserError"
        message = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
        _emit(proto, {"error": {"type": kind, "message": message}})
        return 1
    _emit(proto, {"started": run.name})
    proto.close()
    run.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
