"""The client without a network: httpx.MockTransport, and the app through its ASGI test client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from remote_helpers import REPO, free_port

import flyte
from flyte._models import Phase
from flyte._store.http import HttpRunStore
from flyte._store.memory import MemoryRunStore
from flyte.errors import RemoteError, RunNotFoundError, UserError
from flyte.remote import RemoteClient
from flyte.remote._client import normalize_endpoint, remote_settings

Handler = Callable[[httpx.Request], httpx.Response]


def _client(handler: Handler, api_key: str | None = "k") -> RemoteClient:
    return RemoteClient(
        "http://flyte.test", api_key=api_key, transport=httpx.MockTransport(handler)
    )


def _run_json(name: str, phase: str = "SUCCEEDED") -> dict[str, Any]:
    return {"name": name, "task": "env.main", "phase": phase, "created_at": 1.0, "future": "x"}


def test_requests_carry_the_bearer_token_and_records_decode() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"runs": [_run_json("a"), _run_json("b", "RUNNING")]})

    store = HttpRunStore(_client(handler))
    runs = store.list_runs(phase="running", limit=5, search="x")
    assert [r.name for r in runs] == ["a", "b"]
    assert runs[1].phase is Phase.RUNNING  # unknown fields ("future") are ignored
    assert seen[0].headers["authorization"] == "Bearer k"
    assert seen[0].url.path == "/api/v1/runs"
    assert dict(seen[0].url.params) == {
        "phase": "running", "limit": "5", "offset": "0", "search": "x"
    }  # fmt: skip


def test_http_errors_become_flyte_errors() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/runs/missing"):
            return httpx.Response(
                404, json={"error": {"type": "RunNotFoundError", "message": "run 'missing'"}}
            )
        if path.endswith("/runs/bad"):
            return httpx.Response(400, json={"error": {"type": "NotAFlyteError", "message": "m"}})
        if path.endswith("/version"):
            return httpx.Response(401, json={"error": {"type": "Unauthorized", "message": "no"}})
        if path.endswith("/tasks"):
            return httpx.Response(200, content=b"<html>")
        return httpx.Response(500, text="Internal Server Error")

    client = _client(handler)
    store = HttpRunStore(client)
    assert store.get_run("missing") is None
    with pytest.raises(RunNotFoundError, match="missing"):
        client.json("GET", "/runs/missing")
    with pytest.raises(UserError, match="said: m"):
        client.json("GET", "/runs/bad")
    with pytest.raises(RemoteError, match="refused the API key"):
        store.change_counter()
    with pytest.raises(RemoteError, match="non-JSON"):
        store.list_deployed()
    with pytest.raises(RemoteError, match="Internal Server Error"):
        store.cache_entries()


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), "cannot reach the flyte server"),
        (
            httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"),
            "TLS error talking to http://flyte.test",
        ),
        (httpx.ReadTimeout("timed out"), "did not answer in time"),
    ],
)
def test_transport_failures_are_one_clear_remote_error(raised: Exception, expected: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise raised

    with pytest.raises(RemoteError, match=expected) as info:
        HttpRunStore(_client(handler)).list_runs()
    assert "\n" not in str(info.value)


def test_follow_logs_long_polls_from_the_last_line() -> None:
    def line(text: str, seq: int) -> dict[str, Any]:
        return {"run": "r", "action": "a0", "attempt": 1, "ts": seq, "stream": "stdout",
                "line": text, "seq": seq}  # fmt: skip

    pages = [
        {"lines": [], "done": False},
        {"lines": [line("one", 4)], "done": False},
        {"lines": [line("two", 9)], "done": True},
    ]
    afters: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        afters.append(request.url.params["after"])
        assert float(request.url.params["wait"]) > 0
        return httpx.Response(200, json=pages[len(afters) - 1])

    batches = list(HttpRunStore(_client(handler)).follow_logs("r", after=3))
    assert [[line.line for line in batch] for batch in batches] == [["one"], ["two"]]
    assert afters == ["3", "3", "4"]


def test_the_whole_read_protocol_round_trips_through_the_app() -> None:
    """HttpRunStore over the real app (through httpx's ASGI transport) returns what the
    store holds."""
    import asyncio

    from flyte.server import create_app

    source = MemoryRunStore()
    flyte.init(store=source)
    env = flyte.TaskEnvironment("round_trip")

    @env.task(cache="auto")
    def leaf(x: int) -> int:
        print("leaf", x)
        return x + 1

    @env.task
    def main(n: int) -> int:
        return sum(leaf(i) for i in range(n))

    run = flyte.run(main, n=3)
    flyte.run(main, n=3)
    app = create_app(source, token="t")

    async def call(request: httpx.Request) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            response = await client.request(
                request.method,
                request.url.raw_path.decode(),
                headers=dict(request.headers),
                content=request.content,
            )
            await response.aread()
            return httpx.Response(
                response.status_code, headers=response.headers, content=response.content
            )

    def forward(request: httpx.Request) -> httpx.Response:
        return asyncio.run(call(request))

    remote = HttpRunStore(_client(forward, api_key="t"))
    assert remote.get_run(run.name) == source.get_run(run.name)
    assert remote.list_runs(limit=None) == source.list_runs(limit=None)
    assert remote.list_actions(run.name) == source.list_actions(run.name)
    first = source.list_actions(run.name)[1]
    assert remote.get_action(run.name, first.id) == first
    assert remote.get_action(run.name, "nope") is None
    assert remote.list_attempts(run.name) == source.list_attempts(run.name)
    from flyte._serde import loads, unsealed

    for which in ("inputs", "outputs"):
        # The client adopts what the server sends (sealed for this process, issue 13): the
        # pickled value is the same.
        got = remote.get_blob(run.name, None, which)
        want = source.get_blob(run.name, None, which)
        assert got is not None and want is not None
        assert unsealed(got) == unsealed(want) and loads(got) == loads(want)
        got = remote.get_blob(run.name, first.id, which)
        want = source.get_blob(run.name, first.id, which)
        assert (got is None) == (want is None)
        assert got is None or want is None or unsealed(got) == unsealed(want)
    assert remote.logs(run.name) == source.logs(run.name)
    assert remote.logs(run.name, after=1, limit=1) == source.logs(run.name, after=1, limit=1)
    assert remote.cache_entries() == source.cache_entries()
    key = first.cache_key
    assert key is not None
    got, want = remote.cache_get(key), source.cache_get(key)
    assert got is not None and want is not None
    assert got[0] == want[0] and unsealed(got[1]) == unsealed(want[1])
    looked, wanted = remote.cache_lookup(key), source.cache_lookup(key)
    assert looked is not None and wanted is not None
    assert looked[0] == wanted[0] and unsealed(looked[1]) == unsealed(wanted[1])
    got_ok, want_ok = remote.successful_actions(run.name), source.successful_actions(run.name)
    assert got_ok.keys() == want_ok.keys()
    for aid, (ihash, blob, kind) in want_ok.items():
        r_hash, r_blob, r_kind = got_ok[aid]
        assert (r_hash, r_kind) == (ihash, kind)
        assert (r_blob is None) == (blob is None)
        assert r_blob is None or blob is None or unsealed(r_blob) == unsealed(blob)
    assert remote.change_counter() == source.change_counter()
    assert remote.explain(run.name, first.id) == flyte.cache.explain(run.name, first.id)
    io = remote.client.json("GET", f"/runs/{run.name}/io")
    assert (io["inputs"], io["outputs"]) == ({"n": 3}, 6)
    io = remote.client.json("GET", f"/runs/{run.name}/io", params={"action": first.id})
    assert (io["inputs"], io["outputs"]) == ({"x": 0}, 1)
    assert remote.request_abort(run.name) is False  # it ended
    assert remote.delete_run(run.name) is True
    assert source.get_run(run.name) is None
    assert remote.cache_clear("round_trip.leaf") == 3
    with pytest.raises(RemoteError, match="cannot write 'run_insert'"):
        remote.write([("run_insert", {})])


def test_remote_settings_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    assert remote_settings() is None
    monkeypatch.setenv("FLYTE_ENDPOINT", "127.0.0.1:9/")
    monkeypatch.setenv("FLYTE_API_KEY", "env-key")
    settings = remote_settings()
    assert settings is not None
    assert (settings.endpoint, settings.api_key) == ("http://127.0.0.1:9", "env-key")
    flyte.init(store="memory")  # an explicit local store beats the environment
    assert remote_settings() is None
    flyte.init(endpoint="https://team:8090", api_key="mine")
    settings = remote_settings()
    assert settings is not None
    assert (settings.endpoint, settings.api_key) == ("https://team:8090", "mine")
    with pytest.raises(RemoteError, match="not an http"):
        normalize_endpoint("ftp://x")


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("config.toml", '[flyte]\nendpoint = "http://127.0.0.1:7"\napi_key = "kk"\n'),
        ("config.json", '{"endpoint": "http://127.0.0.1:7", "api_key": "kk"}'),
        ("config.yaml", "admin:\n  endpoint: http://127.0.0.1:7\n  api_key: 'kk'\n"),
    ],
)
def test_init_from_config_reads_the_endpoint(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    flyte.init_from_config(str(path))
    settings = remote_settings()
    assert settings is not None
    assert (settings.endpoint, settings.api_key) == ("http://127.0.0.1:7", "kk")


def test_init_from_config_errors_and_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flyte.init_from_config(str(tmp_path / "none.toml"))  # upstream programs pass theirs
    assert remote_settings() is None
    upstream = tmp_path / "upstream.yaml"
    upstream.write_text("admin:\n  endpoint: dns:///tenant.cloud\n")
    flyte.init_from_config(str(upstream))
    assert remote_settings() is None
    broken = tmp_path / "broken.toml"
    broken.write_text("endpoint = ")
    with pytest.raises(UserError, match="cannot be read"):
        flyte.init_from_config(str(broken))
    monkeypatch.chdir(tmp_path)
    flyte.init_from_config()  # no file anywhere: local
    assert remote_settings() is None
    (tmp_path / ".flyte").mkdir()
    (tmp_path / ".flyte" / "config.toml").write_text('endpoint = "http://127.0.0.1:5"\n')
    flyte.init_from_config()
    assert remote_settings() is not None


def test_init_with_an_endpoint_is_no_longer_silently_ignored() -> None:
    # The defect: flyte.init(endpoint=...) was accepted and the run went local anyway.
    env = flyte.TaskEnvironment("ignored_endpoint")

    @env.task
    def main() -> int:
        return 1

    flyte.init(endpoint=f"http://127.0.0.1:{free_port()}", api_key="k")
    with pytest.raises(RemoteError, match="cannot reach the flyte server"):
        flyte.run(main)
    assert not (Path(os.environ["FLYTE_HOME"]) / "runs.db").exists()


def test_import_flyte_loads_httpx_only_once_an_endpoint_is_used(tmp_path: Path) -> None:
    code = (
        "import json, sys\n"
        "import flyte\n"
        "flyte.init()\n"
        "before = 'httpx' in sys.modules\n"
        "flyte.init(endpoint='http://127.0.0.1:9', api_key='k')\n"
        "flyte._run.current_store()\n"
        "print(json.dumps([before, 'httpx' in sys.modules]))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLYTE_")}
    env.update(FLYTE_HOME=str(tmp_path / "home"), PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip()) == [False, True]


def test_list_runs_pages_through_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    import flyte._store.http
    import flyte.store
    from flyte.server import create_app

    source = MemoryRunStore()
    flyte.init(store=source)
    env = flyte.TaskEnvironment("paging")

    @env.task
    def one(i: int) -> int:
        return i

    names = [flyte.run(one, i).name for i in range(7)]
    app = create_app(source, token="t")
    pages: list[dict[str, str]] = []

    async def call(request: httpx.Request) -> httpx.Response:
        pages.append(dict(request.url.params))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            response = await client.get(request.url.raw_path.decode(), headers=request.headers)
            return httpx.Response(response.status_code, content=response.content)

    monkeypatch.setattr(flyte._store.http, "_PAGE", 3)
    remote = HttpRunStore(_client(lambda r: asyncio.run(call(r)), api_key="t"))
    assert [r.name for r in remote.list_runs(limit=None)] == names[::-1]
    assert [p["offset"] for p in pages] == ["0", "3", "6"]
    pages.clear()
    assert [r.name for r in remote.list_runs(limit=4)] == names[::-1][:4]
    assert [(p["offset"], p["limit"]) for p in pages] == [("0", "3"), ("3", "1")]
    pages.clear()
    assert flyte.store.count_runs(remote) == 7
    assert flyte.store.count_runs(remote, search=names[0]) == 1
    assert len(pages) == 2  # one request each, not a listing


def test_the_http_store_implements_the_whole_store_protocol() -> None:
    import inspect

    from flyte._store import RunStore

    wanted = {
        name
        for name, member in vars(RunStore).items()
        if not name.startswith("_") and callable(member)
    }
    missing = sorted(n for n in wanted if not callable(getattr(HttpRunStore, n, None)))
    assert missing == [], "add these to flyte/_store/http.py (and a server route)"
    for name in wanted:  # same keyword arguments, so callers work with either store
        ours = inspect.signature(getattr(HttpRunStore, name)).parameters
        theirs = inspect.signature(getattr(RunStore, name)).parameters
        assert set(theirs) <= set(ours), name


def test_reports_are_served_and_read_through_the_app() -> None:
    """`flyte serve` serves reports: as JSON to HttpRunStore (`flyte get report`, the TUI)
    and as an HTML page a browser opens."""
    import asyncio

    import flyte.report
    from flyte.server import create_app

    source = MemoryRunStore()
    flyte.init(store=source)
    env = flyte.TaskEnvironment("served_reports")

    @env.task(report=True)
    def charted(n: int) -> int:
        flyte.report.log(f"<p>chart {n}</p>")
        flyte.report.get_tab("Raw").log("<pre>raw</pre>")
        return n

    run = flyte.run(charted, 3)
    app = create_app(source, token="t")

    async def call(request: httpx.Request) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            response = await client.request(
                request.method, str(request.url.raw_path.decode()), headers=dict(request.headers)
            )
            await response.aread()
            return httpx.Response(
                response.status_code, headers=response.headers, content=response.content
            )

    remote = HttpRunStore(_client(lambda r: asyncio.run(call(r)), api_key="t"))
    assert remote.report_actions(run.name) == ["a0"] == source.report_actions(run.name)
    assert remote.get_report(run.name, "a0") == source.get_report(run.name, "a0")
    assert remote.get_report(run.name, "nope") is None
    assert remote.report_actions("no-such-run") == []
    page = remote.client.request("GET", f"/runs/{run.name}/reports/a0", params={"format": "html"})
    assert page.headers["content-type"].startswith("text/html")
    assert "<p>chart 3</p>" in page.text and ">Raw</li>" in page.text


def _over_the_app(source: Any) -> HttpRunStore:
    """An HttpRunStore talking to the real app over `source`, through httpx's ASGI transport."""
    import asyncio

    from flyte.server import create_app

    app = create_app(source, token="t")

    async def call(request: httpx.Request) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            response = await client.request(
                request.method,
                request.url.raw_path.decode(),
                headers=dict(request.headers),
                content=request.content,
            )
            await response.aread()
            return httpx.Response(
                response.status_code, headers=response.headers, content=response.content
            )

    return HttpRunStore(_client(lambda r: asyncio.run(call(r)), api_key="t"))


def test_what_does_not_exist_reads_as_missing_over_http_as_it_does_locally() -> None:
    source = MemoryRunStore()
    remote = _over_the_app(source)
    for store in (source, remote):
        assert store.get_run("nope") is None
        assert store.get_action("nope", "a0") is None
        assert store.get_blob("nope", None, "outputs") is None
        assert store.get_report("nope", "a0") is None
        assert store.report_actions("nope") == []
        assert store.delete_run("nope") is False
        assert store.request_abort("nope") is False
        assert store.abort_requested("nope") is False
        assert store.cache_get("no-such-key") is None
        assert store.get_deployed("no.such.task") is None
    assert remote.wait_run("nope", 0.05) is None
    assert remote.run_task_blob("nope") is None
    assert remote.cache_outputs("any.task") is None  # one look-up per key over HTTP
    assert repr(remote) == f"HttpRunStore({remote.path!r})"


def test_an_abort_asked_over_http_reaches_the_store_of_the_server() -> None:
    source = MemoryRunStore()
    source.write([("run_insert", _run_json("live", "RUNNING"))])
    remote = _over_the_app(source)
    assert remote.abort_requested("live") is False
    assert remote.request_abort("live") is True
    assert source.abort_requested("live") and remote.abort_requested("live")
