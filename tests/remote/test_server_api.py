"""The HTTP API of a real `flyte serve`: auth, JSON errors (4xx, never 500), limits."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from remote_helpers import REPO, TOKEN, Server, free_port

from flyte.server._drivers import _MAX_FILES

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _call(server: Server, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, f"{server.endpoint}/api/v1{path}", timeout=30, **kwargs)


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"type", "message"}
    assert "Traceback" not in error["message"]
    return error  # type: ignore[no-any-return]


def test_health_needs_no_token(server: Server) -> None:
    response = _call(server, "GET", "/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": "Basic x"}],
)
@pytest.mark.parametrize("path", ["/runs", "/version", "/tasks", "/cache", "/runs/x/logs"])
def test_every_route_but_health_needs_the_token(
    server: Server, headers: dict[str, str], path: str
) -> None:
    error = _error(_call(server, "GET", path, headers=headers), 401)
    assert error["type"] == "Unauthorized"
    assert (
        _call(server, "GET", path.replace("/runs/x/logs", "/runs"), headers=AUTH).status_code == 200
    )


def test_malformed_requests_get_json_4xx(server: Server) -> None:
    bad_json = _call(server, "POST", "/runs", headers=AUTH, content=b"{not json")
    assert "not valid JSON" in _error(bad_json, 400)["message"]
    not_object = _call(server, "POST", "/runs", headers=AUTH, json=[1, 2])
    assert "JSON object" in _error(not_object, 400)["message"]
    no_code = _call(server, "POST", "/runs", headers=AUTH, json={"name": "fine-name"})
    assert "bundle" in _error(no_code, 400)["message"]
    bad_name = _call(server, "POST", "/runs", headers=AUTH, json={"name": "../etc"})
    assert "not valid" in _error(bad_name, 400)["message"]
    escape = {"task": "a.b", "module": "m", "function": "f", "files": {"../../evil.py": "x=1"}}
    traversal = _call(server, "POST", "/runs", headers=AUTH, json={"bundle": escape})
    assert "relative .py path" in _error(traversal, 400)["message"]
    for files, message in (
        (["m.py"], "bundle.files must be an object of path -> source text"),
        ({f"m{i}.py": "" for i in range(_MAX_FILES + 1)}, f"at most {_MAX_FILES}"),
        ({"/abs/m.py": "x = 1"}, "relative .py path"),
        ({"notes.txt": "x = 1"}, "relative .py path"),
        ({"m.py": 1}, "relative .py path"),
    ):
        bundle = {"task": "a.b", "module": "m", "function": "f", "files": files}
        refused = _call(server, "POST", "/runs", headers=AUTH, json={"bundle": bundle})
        assert message in _error(refused, 400)["message"]
    bad_b64 = {"bundle": {"task": "a.b", "snapshot": "%%%"}}
    assert (
        "base64"
        in _error(_call(server, "POST", "/runs", headers=AUTH, json=bad_b64), 400)["message"]
    )
    bad_limit = _call(server, "GET", "/runs", headers=AUTH, params={"limit": "many"})
    assert "'limit' must be an integer" in _error(bad_limit, 400)["message"]
    bad_phase = _call(server, "GET", "/runs", headers=AUTH, params={"phase": "sleeping"})
    assert "unknown phase" in _error(bad_phase, 400)["message"]
    bad_deploy = _call(server, "POST", "/tasks", headers=AUTH, json={"tasks": [{"name": "x"}]})
    assert "malformed task" in _error(bad_deploy, 400)["message"]


def test_unknown_things_get_json_404(server: Server) -> None:
    for path in ("/runs/no-such-run", "/runs/no-such-run/io", "/runs/no-such-run/logs"):
        assert _error(_call(server, "GET", path, headers=AUTH), 404)["type"] == "RunNotFoundError"
    assert _error(_call(server, "GET", "/tasks/no.task", headers=AUTH), 404)["type"] == (
        "TaskNotFoundError"
    )
    assert _error(_call(server, "POST", "/runs/no-such-run/abort", headers=AUTH), 404)
    assert _error(_call(server, "DELETE", "/runs/no-such-run", headers=AUTH), 404)
    _error(_call(server, "GET", "/nowhere", headers=AUTH), 404)
    _error(_call(server, "PUT", "/runs", headers=AUTH), 405)
    rerun = _call(server, "POST", "/runs/no-such-run/rerun", headers=AUTH, json={})
    assert _error(rerun, 404)["type"] == "RunNotFoundError"


def test_request_size_is_limited(tmp_path: Path) -> None:
    server = Server(
        home=tmp_path / "home", port=free_port(), token=TOKEN, args=["--max-request-size", "1"]
    ).start()
    try:
        big = b"x" * ((1 << 20) + 1)
        too_big = _call(server, "POST", "/runs", headers=AUTH, content=big)
        assert "over" in _error(too_big, 413)["message"]

        def chunks() -> Any:  # no content-length: counted while it streams
            for _ in range(3):
                yield b" " * (1 << 19)

        streamed = _call(server, "POST", "/tasks", headers=AUTH, content=chunks())
        assert streamed.status_code == 413, streamed.text
    finally:
        server.stop()


def _serve(args: list[str], home: Path, env: dict[str, str] | None = None) -> Any:
    full = {k: v for k, v in os.environ.items() if not k.startswith("FLYTE_")}
    full.update(FLYTE_HOME=str(home), PYTHONPATH=str(REPO), **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "flyte_cli", "serve", *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_non_loopback_bind_without_a_token_is_refused(tmp_path: Path) -> None:
    proc = _serve(["--host", "0.0.0.0", "--port", str(free_port())], tmp_path / "home")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: refusing to listen on 0.0.0.0")
    assert "--token" in lines[0]
    assert not (tmp_path / "home" / "server-token").exists()


def test_tls_needs_both_files(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text("not a key")
    proc = _serve(["--port", str(free_port()), "--ssl-keyfile", str(key)], tmp_path / "home")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "Error: TLS needs both --ssl-keyfile and --ssl-certfile"
    bad = _serve(
        ["--port", str(free_port()), "--ssl-keyfile", str(key), "--ssl-certfile", str(key)],
        tmp_path / "home",
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith("Error: cannot use the TLS files")


def test_generated_token_is_kept_0600_and_printed_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = Server(home=home, port=free_port(), token=None).start()
    out1 = first.stop()
    token_file = home / "server-token"
    token = token_file.read_text().strip()
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert token in out1
    second = Server(home=home, port=free_port(), token=None).start()
    try:
        response = _call(second, "GET", "/runs", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
    finally:
        out2 = second.stop()
    assert token not in out2 and "server-token" in out2


def test_json_error_shape_is_what_the_client_raises_again(server: Server) -> None:
    from flyte.errors import RunNotFoundError
    from flyte.remote import RemoteClient

    client = RemoteClient(server.endpoint, api_key=TOKEN)
    with pytest.raises(RunNotFoundError, match="not found"):
        client.json("GET", "/runs/missing-run")
    body = _call(server, "GET", "/runs/missing-run", headers=AUTH).json()
    assert json.dumps(body).startswith('{"error"')


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    import shutil

    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return key, cert


def test_tls_end_to_end_and_an_untrusted_certificate(tmp_path: Path, cli_runner: Any) -> None:
    key, cert = _self_signed(tmp_path)
    server = Server(
        home=tmp_path / "home",
        port=free_port(),
        token=TOKEN,
        args=["--ssl-keyfile", str(key), "--ssl-certfile", str(cert)],
        scheme="https",
        ca=cert,
    ).start()
    try:
        from flyte_cli.main import app

        https = f"https://127.0.0.1:{server.port}"
        args = ["--endpoint", https, "--api-key", TOKEN, "get", "runs", "--json"]
        trusted = cli_runner.invoke(app, args, env={"SSL_CERT_FILE": str(cert)})
        assert trusted.exit_code == 0, trusted.output
        assert json.loads(trusted.stdout) == []
        untrusted = cli_runner.invoke(app, args, env={"SSL_CERT_FILE": None})
        assert untrusted.exit_code == 2
        lines = untrusted.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"Error: TLS error talking to {https}")
        plain = cli_runner.invoke(
            app,
            ["--endpoint", f"http://127.0.0.1:{server.port}", "--api-key", TOKEN, "get", "runs"],
        )
        assert plain.exit_code == 2
        assert "Traceback" not in plain.output
    finally:
        from flyte.remote._client import _clients

        for client in _clients.values():  # idle keep-alive connections delay a TLS shutdown
            client.close()
        _clients.clear()
        server.stop()


def test_a_busy_port_is_one_line_and_generates_no_token(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = _serve(["--port", str(port)], tmp_path / "home")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"Error: cannot listen on 127.0.0.1:{port}: Address already in use "
        "(is another server on it?)"
    ]
    assert not (tmp_path / "home" / "server-token").exists()


def test_an_unknown_executor_is_refused(tmp_path: Path) -> None:
    proc = _serve(["--port", str(free_port()), "--executor", "warp"], tmp_path / "home")
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("Error: executor 'warp' is not known")
