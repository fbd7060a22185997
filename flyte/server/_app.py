"""The Starlette app of `flyte serve`: the `/api/v1` JSON routes over one run store.

Routes (under `/api/v1`):

    GET  /health                          no token needed
    GET  /version                         the store's change counter (cheap polling)
    GET  /runs?phase&task&since&search&limit&offset      a page of runs, newest first
    GET  /runs?count=true&phase&task&since&search       how many runs match
    POST /runs                            start a run (shipped code or a deployed task)
    GET  /runs/{run}?wait=S               one run (long-poll until it ends)
    DELETE /runs/{run}                    delete an ended run
    GET|POST /runs/{run}/abort            abort requested? / request it
    POST /runs/{run}/rerun                rerun (recover=true reuses what succeeded)
    GET  /runs/{run}/actions[/{id}[/explain]]  actions, one action, its cache explanation
    GET  /runs/{run}/attempts?action      attempts
    GET  /runs/{run}/io?action            inputs and outputs (JSON form)
    GET  /runs/{run}/blobs/{inputs|outputs}?action   exact (pickled) values
    GET  /runs/{run}/task                 the task snapshot (rerun elsewhere)
    GET  /runs/{run}/successful           what a recovery reuses
    GET  /runs/{run}/logs?action&attempt&after&limit&wait=S   lines (long-poll on `after`)
    GET  /runs/{run}/logs/events?action   the same as server-sent events
    GET  /runs/{run}/reports[/{action}]   actions with an HTML report / one report
    GET|DELETE /cache?task                cache entries / clear them
    GET  /cache/{key}                     one entry
    GET|POST /tasks, GET /tasks/{name}?version       deployed tasks

Every route but `/api/v1/health` needs the bearer token. Bad requests (malformed JSON,
unknown runs, wrong parameters, bodies over the size limit) get a JSON error and a 4xx
status: `{"error": {"type": "RunNotFoundError", "message": "..."}}`, where `type` names
the `flyte.errors` class the client raises again. Store reads are plain functions that
Starlette runs in its thread pool; only the log long-poll is async.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from flyte._serde import reseal
from flyte.errors import FlyteError, RunNotFoundError, TaskNotFoundError
from flyte.remote._wire import API, b64decode, b64encode, encode
from flyte.server._guard import Guard
from flyte.server._requests import (
    PHASES,
    BadRequest,
    Conflict,
    b64_field,
    error_type,
    float_param,
    int_param,
    json_body,
    status_of,
    valid_name,
)

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.types import ASGIApp

    from flyte._store import RunStore
    from flyte.server._drivers import DriverPool

__all__ = ["DEFAULT_MAX_BODY", "create_app"]

DEFAULT_MAX_BODY = 64 << 20
"""Largest request body accepted (bytes); shipped code and inputs travel in it."""

_MAX_WAIT = 60.0
"""The longest a long-poll (`wait=`) may hold a request, in seconds."""


# -- the app ---------------------------------------------------------------------------


def create_app(
    store: RunStore,
    *,
    token: str,
    drivers: DriverPool | None = None,
    max_body: int = DEFAULT_MAX_BODY,
) -> ASGIApp:
    """The ASGI app of `flyte serve` over `store`.

    Args:
        store: the server's run store (every route reads or writes it).
        token: the bearer token every route but health requires.
        drivers: starts runs in driver processes; without it, creating runs is refused.
        max_body: the largest request body accepted, in bytes.

    Raises:
        ImportError: starlette is not installed (the message names the extra).
    """
    try:
        from starlette.applications import Starlette
        from starlette.exceptions import HTTPException
        from starlette.responses import JSONResponse, Response
        from starlette.routing import Route
    except ImportError as exc:
        raise ImportError(
            "flyte serve needs starlette and uvicorn: pip install 'flyte-local[server]'"
        ) from exc

    from flyte import __version__

    def ok(data: Any, status: int = 200) -> Response:
        return JSONResponse(data, status_code=status)

    def run_or_404(name: str) -> Any:
        record = store.get_run(name)
        if record is None:
            raise RunNotFoundError(f"run {name!r} not found; `flyte get runs` lists runs")
        return record

    # -- health and change detection --

    def health(request: Request) -> Response:
        return ok({"status": "ok", "version": __version__, "api": "v1"})

    def version(request: Request) -> Response:
        return ok({"counter": store.change_counter()})

    # -- runs --

    def list_runs(request: Request) -> Response:
        phase = request.query_params.get("phase") or None
        if phase is not None and phase.upper() not in PHASES:
            raise BadRequest(f"unknown phase {phase!r}; choose one of: {', '.join(PHASES)}")
        if request.query_params.get("count") == "true":  # just how many match
            from flyte.store import count_runs

            total = count_runs(
                store,
                phase=phase.upper() if phase else None,
                task=request.query_params.get("task") or None,
                since=float_param(request, "since"),
                search=request.query_params.get("search") or None,
            )
            return ok({"count": total})
        # Pages: `limit` runs from `offset`, newest first; `next` is the offset of the
        # next page, or null after the last one. `limit=0` means all (one page).
        limit = int_param(request, "limit", 50) or 0
        offset = int_param(request, "offset", 0) or 0
        records = store.list_runs(
            phase=phase.upper() if phase else None,
            task=request.query_params.get("task") or None,
            limit=(offset + limit + 1) if limit else None,
            since=float_param(request, "since"),
            search=request.query_params.get("search") or None,
        )
        page = records[offset : offset + limit] if limit else records[offset:]
        more = bool(limit) and len(records) > offset + limit
        return ok({"runs": [encode(r) for r in page], "next": offset + limit if more else None})

    async def get_run(request: Request) -> Response:
        # `wait=S`: answer when the run has ended, or after S seconds (a long-poll, so
        # `run.wait()` learns of the end within ~20 ms without hammering the server).
        import anyio
        from starlette.concurrency import run_in_threadpool

        name = request.path_params["name"]
        wait = min(float_param(request, "wait") or 0.0, _MAX_WAIT)
        deadline = time.monotonic() + wait
        while True:
            record = await run_in_threadpool(run_or_404, name)
            if record.phase.is_terminal or time.monotonic() >= deadline:
                return ok({"run": encode(record)})
            # Runs driven here announce their end; the store is read again only then, or
            # once a second (a run aborted or interrupted elsewhere), not on every tick.
            recheck = min(deadline, time.monotonic() + 1.0)
            while time.monotonic() < recheck:
                if drivers is not None and drivers.has_ended(name):
                    break
                await anyio.sleep(0.01)

    def delete_run(request: Request) -> Response:
        name = request.path_params["name"]
        record = run_or_404(name)
        if not record.phase.is_terminal:
            raise Conflict(f"run {name} is still {record.phase}; abort it first")
        deleted = store.delete_run(name)
        if drivers is not None:
            drivers.forget(name)
        return ok({"deleted": deleted})

    def abort_run(request: Request) -> Response:
        name = request.path_params["name"]
        run_or_404(name)
        if request.method == "GET":
            return ok({"requested": store.abort_requested(name)})
        return ok({"aborted": store.request_abort(name)})

    async def create_run(request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        data = await json_body(request)
        return await run_in_threadpool(_create, data)

    def _create(data: dict[str, Any]) -> Response:
        if drivers is None:
            raise BadRequest("this server does not start runs")
        from flyte._run import new_run_name
        from flyte.server._drivers import check_files

        name = valid_name(data["name"]) if data.get("name") is not None else new_run_name()
        if store.get_run(name) is not None:
            raise Conflict(f"a run named {name!r} already exists; choose another name")
        options = data.get("options") or {}
        if not isinstance(options, dict):
            raise BadRequest("options must be a JSON object")
        recover = data.get("recover_from")
        if recover is not None:
            run_or_404(valid_name(recover, "recover_from"))
        request: dict[str, Any] = {"name": name, "options": options, "recover_from": recover}
        inputs = b64_field(data, "inputs")
        deployed = data.get("deployed")
        if deployed is not None:
            if not isinstance(deployed, dict) or not isinstance(deployed.get("task"), str):
                raise BadRequest("deployed must be an object with a task name")
            request.update(kind="deployed", task=deployed["task"], version=deployed.get("version"))
            drivers.submit(request, inputs=inputs)
        else:
            bundle = data.get("bundle")
            if not isinstance(bundle, dict) or not isinstance(bundle.get("task"), str):
                raise BadRequest("the request needs a bundle (the task's code) or deployed")
            snapshot = b64_field(bundle, "snapshot")
            files = check_files(bundle.get("files") or {})
            request.update(
                kind="task",
                bundle={k: bundle.get(k) for k in ("task", "module", "function")}
                | {"files": sorted(files)},
            )
            drivers.submit(request, inputs=inputs, snapshot=snapshot, files=files)
        return ok({"run": encode(run_or_404(name))}, 201)

    async def rerun(request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        data = await json_body(request)
        return await run_in_threadpool(_rerun, request.path_params["name"], data)

    def _rerun(old: str, data: dict[str, Any]) -> Response:
        if drivers is None:
            raise BadRequest("this server does not start runs")
        from flyte._run import new_run_name

        run_or_404(old)
        name = valid_name(data["name"]) if data.get("name") is not None else new_run_name()
        if store.get_run(name) is not None:
            raise Conflict(f"a run named {name!r} already exists; choose another name")
        request = {
            "kind": "rerun",
            "name": name,
            "of": old,
            "recover": bool(data.get("recover")),
            "options": data.get("options") or {},
        }
        drivers.submit(request, inputs=b64_field(data, "inputs"))
        return ok({"run": encode(run_or_404(name))}, 201)

    # -- actions, attempts, inputs and outputs --

    def list_actions(request: Request) -> Response:
        return ok({"actions": [encode(a) for a in store.list_actions(request.path_params["name"])]})

    def get_action(request: Request) -> Response:
        name, action_id = request.path_params["name"], request.path_params["action"]
        action = store.get_action(name, action_id)
        if action is None:
            raise RunNotFoundError(f"no action {action_id!r} in run {name!r}")
        return ok({"action": encode(action)})

    def explain(request: Request) -> Response:
        from dataclasses import asdict

        from flyte._cache_api import cache_api

        name, action_id = request.path_params["name"], request.path_params["action"]
        return ok({"explanation": asdict(cache_api.explain(name, action_id, store=store))})

    def list_attempts(request: Request) -> Response:
        found = store.list_attempts(
            request.path_params["name"], request.query_params.get("action") or None
        )
        return ok({"attempts": [encode(a) for a in found]})

    def io(request: Request) -> Response:
        name = request.path_params["name"]
        action_id = request.query_params.get("action") or None
        target: Any = run_or_404(name)
        if action_id is not None:
            target = store.get_action(name, action_id)
            if target is None:
                raise RunNotFoundError(f"no action {action_id!r} in run {name!r}")
        loads = json.loads
        return ok(
            {
                "run": name,
                "action": action_id,
                "inputs": loads(target.inputs_json) if target.inputs_json else None,
                "outputs": loads(target.outputs_json) if target.outputs_json else None,
            }
        )

    def blob(request: Request) -> Response:
        name, which = request.path_params["name"], request.path_params["which"]
        if which not in ("inputs", "outputs"):
            raise BadRequest(f"blob must be 'inputs' or 'outputs', got {which!r}")
        run_or_404(name)
        data = store.get_blob(name, request.query_params.get("action") or None, which)
        if data is None:
            return Response(status_code=204)
        return Response(data, media_type="application/octet-stream")

    def task_blob(request: Request) -> Response:
        name = request.path_params["name"]
        run_or_404(name)
        data = store.run_task_blob(name)
        if data is None and drivers is not None:
            data = drivers.task_snapshot(name)
        if data is None:
            return Response(status_code=204)
        return Response(data, media_type="application/octet-stream")

    def reports(request: Request) -> Response:
        name = request.path_params["name"]
        run_or_404(name)
        return ok({"actions": store.report_actions(name)})

    def report(request: Request) -> Response:
        from dataclasses import asdict

        name, action_id = request.path_params["name"], request.path_params["action"]
        run_or_404(name)
        found = store.get_report(name, action_id)
        if found is None:
            raise RunNotFoundError(f"action {action_id!r} of run {name!r} has no report")
        if request.query_params.get("format") == "html":
            # A page a browser renders as it is: `flyte serve` serves the reports.
            from flyte.report import render

            return Response(render(found.tabs, title=f"{name} {action_id}"), media_type="text/html")
        return ok({"report": asdict(found)})

    def successful(request: Request) -> Response:
        found = store.successful_actions(request.path_params["name"])
        return ok({"actions": {k: [v[0], b64encode(v[1]), v[2]] for k, v in found.items()}})

    # -- logs --

    async def logs(request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        name = request.path_params["name"]
        action_id = request.query_params.get("action") or None
        after = int_param(request, "after", 0) or 0
        attempt = int_param(request, "attempt", None, low=1)
        limit = int_param(request, "limit", None, low=1)
        wait = min(float_param(request, "wait") or 0.0, _MAX_WAIT)
        if wait < 0:
            raise BadRequest("query parameter 'wait' must be >= 0")
        deadline = time.monotonic() + wait

        def fetch() -> tuple[bool, list[Any]]:
            # The phase is read before the lines: a run that had ended by then has
            # written all its lines, so `done` never hides a last line.
            record = store.get_run(name)
            if record is None:
                raise RunNotFoundError(f"run {name!r} not found; `flyte get runs` lists runs")
            found = store.logs(name, action_id=action_id, after=after, attempt=attempt, limit=limit)
            return record.phase.is_terminal, found

        import anyio

        while True:
            ended, found = await run_in_threadpool(fetch)
            if found or ended or time.monotonic() >= deadline:
                break
            await anyio.sleep(0.05)
        done = ended and (limit is None or len(found) < limit)
        return ok({"lines": [encode(line) for line in found], "done": done})

    async def log_events(request: Request) -> Response:
        """Server-sent events: one `line` event per log line (`id` = its seq) until the
        run ends, then one `end` event. `Last-Event-ID` (or `after=`) resumes."""
        import anyio
        from starlette.concurrency import run_in_threadpool
        from starlette.responses import StreamingResponse

        name = request.path_params["name"]
        action_id = request.query_params.get("action") or None
        resume = request.headers.get("last-event-id")
        after = int(resume) if resume and resume.isdigit() else int_param(request, "after", 0)
        run_or_404(name)

        def fetch(cursor: int) -> tuple[bool, list[Any]]:
            record = store.get_run(name)
            ended = record is None or record.phase.is_terminal
            return ended, store.logs(name, action_id=action_id, after=cursor)

        async def events() -> Any:
            cursor = after or 0
            while True:
                ended, found = await run_in_threadpool(fetch, cursor)
                for line in found:
                    cursor = line.seq
                    yield f"event: line\nid: {line.seq}\ndata: {json.dumps(encode(line))}\n\n"
                if ended:
                    yield "event: end\ndata: {}\n\n"
                    return
                if not found:
                    await anyio.sleep(0.05)

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    # -- cache --

    def cache_entries(request: Request) -> Response:
        found = store.cache_entries(request.query_params.get("task") or None)
        return ok({"entries": [encode(e) for e in found]})

    def cache_clear(request: Request) -> Response:
        return ok({"cleared": store.cache_clear(request.query_params.get("task") or None)})

    def cache_get(request: Request) -> Response:
        found = store.cache_get(request.path_params["key"])
        if found is None:
            raise RunNotFoundError(f"no cache entry {request.path_params['key']!r}")
        return ok({"entry": encode(found[0]), "outputs_blob": b64encode(found[1])})

    # -- deployed tasks --

    def list_tasks(request: Request) -> Response:
        return ok({"tasks": [encode(t) for t in store.list_deployed()]})

    def get_task(request: Request) -> Response:
        name = request.path_params["name"]
        version = request.query_params.get("version") or None
        found = store.get_deployed(name, version)
        if found is None:
            at = f" version {version}" if version else ""
            raise TaskNotFoundError(f"no deployed task {name!r}{at}; `flyte get tasks` lists them")
        return ok({"task": encode(found[0]), "snapshot": b64encode(found[1])})

    async def deploy(request: Request) -> Response:
        data = await json_body(request)
        tasks = data.get("tasks")
        if not isinstance(tasks, list) or not tasks:
            raise BadRequest("the request needs a non-empty list of tasks")
        ops = []
        for item in tasks:
            if not isinstance(item, dict):
                raise BadRequest("each task must be an object")
            try:
                row = {
                    "name": valid_name(item["name"], "task name"),
                    "version": valid_name(str(item["version"]), "version"),
                    "env": str(item["env"]),
                    "interface": dict(item.get("interface") or {}),
                    "settings": dict(item.get("settings") or {}),
                    # From an authenticated client: stored sealed with the server's key.
                    "snapshot": reseal(b64decode(item["snapshot"]) or b""),
                    "created_at": float(item.get("created_at") or time.time()),
                }
            except (KeyError, TypeError, ValueError) as exc:
                raise BadRequest(f"malformed task: {type(exc).__name__}: {exc}") from None
            ops.append(("deploy", row))
        from starlette.concurrency import run_in_threadpool

        await run_in_threadpool(store.write, ops)
        return ok({"deployed": [row["name"] for _, row in ops]}, 201)

    # -- errors --

    async def flyte_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, FlyteError)
        return JSONResponse(
            {"error": {"type": error_type(exc), "message": str(exc)}}, status_code=status_of(exc)
        )

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return JSONResponse(
            {"error": {"type": "UserError", "message": exc.detail}}, status_code=exc.status_code
        )

    async def key_error(request: Request, exc: Exception) -> Response:
        return JSONResponse(
            {"error": {"type": "UserError", "message": f"missing field {exc}"}}, status_code=400
        )

    def route(
        path: str, endpoint: Callable[[Request], Response | Awaitable[Response]], *methods: str
    ) -> Route:
        return Route(API + path, endpoint, methods=list(methods or ("GET",)))

    app: Starlette = Starlette(
        routes=[
            route("/health", health),
            route("/version", version),
            route("/runs", list_runs),
            route("/runs", create_run, "POST"),
            route("/runs/{name}", get_run),
            route("/runs/{name}", delete_run, "DELETE"),
            route("/runs/{name}/abort", abort_run, "GET", "POST"),
            route("/runs/{name}/rerun", rerun, "POST"),
            route("/runs/{name}/actions", list_actions),
            route("/runs/{name}/actions/{action}", get_action),
            route("/runs/{name}/actions/{action}/explain", explain),
            route("/runs/{name}/attempts", list_attempts),
            route("/runs/{name}/io", io),
            route("/runs/{name}/blobs/{which}", blob),
            route("/runs/{name}/task", task_blob),
            route("/runs/{name}/successful", successful),
            route("/runs/{name}/reports", reports),
            route("/runs/{name}/reports/{action}", report),
            route("/runs/{name}/logs", logs),
            route("/runs/{name}/logs/events", log_events),
            route("/cache", cache_entries),
            route("/cache", cache_clear, "DELETE"),
            route("/cache/{key}", cache_get),
            route("/tasks", list_tasks),
            route("/tasks", deploy, "POST"),
            route("/tasks/{name}", get_task),
        ],
        exception_handlers={
            FlyteError: flyte_error,
            HTTPException: http_error,
            KeyError: key_error,
        },
    )
    return Guard(app, token=token, max_body=max_body)
