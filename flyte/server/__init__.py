"""`flyte serve`: one run store for a team, over HTTP (optional extra `flyte-local[server]`).

`create_app(store, token=...)` is the Starlette app (the `/api/v1` routes, token auth,
size limits, JSON errors); `serve(...)` runs it on uvicorn with a pool of driver
processes that run the submitted runs. Clients point at it with
`flyte.init(endpoint=..., api_key=...)`, `FLYTE_ENDPOINT` / `FLYTE_API_KEY`, or the
CLI's `--endpoint` / `--api-key`.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flyte.errors import UserError
from flyte.server._app import DEFAULT_MAX_BODY, create_app
from flyte.server._auth import ServerToken, check_bind, resolve_token

__all__ = ["DEFAULT_MAX_BODY", "ServerToken", "create_app", "serve"]

_EXECUTORS = ("inline", "process", "dask", "auto")
"""What `--executor` may name (DESIGN.md 9.1, 9.2); drivers get it as FLYTE_EXECUTOR."""


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8090,
    token: str | None = None,
    store: str | os.PathLike[str] | None = None,
    executor: str | None = None,
    ssl_keyfile: str | None = None,
    ssl_certfile: str | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    log_level: str = "warning",
    echo: Callable[[str], Any] | None = None,
) -> None:
    """Serve the run store on `host:port` until interrupted.

    Args:
        host: the address to bind; anything beyond loopback needs an explicit token.
        port: the TCP port.
        token: the bearer token (default `$FLYTE_API_KEY`, else `$FLYTE_HOME/server-token`).
        store: the runs.db to serve (default `$FLYTE_STORE` or `$FLYTE_HOME/runs.db`).
        executor: where drivers run task bodies (passed to them as `FLYTE_EXECUTOR`).
        ssl_keyfile: TLS private key (with `ssl_certfile`).
        ssl_certfile: TLS certificate chain (with `ssl_keyfile`).
        max_body: the largest request body accepted, in bytes.
        log_level: uvicorn's log level.
        echo: where the startup lines go (default: stderr).

    Raises:
        flyte.errors.UserError: a bad bind, token, TLS file or store.
        ImportError: starlette / uvicorn are missing (the message names the extra).
    """
    from flyte._store import flyte_home
    from flyte._store.sqlite import SqliteRunStore
    from flyte.server._drivers import DriverPool

    try:
        import uvicorn
    except ImportError as exc:
        raise ImportError(
            "flyte serve needs starlette and uvicorn: pip install 'flyte-local[server]'"
        ) from exc
    say = echo or (lambda text: print(text, file=sys.stderr, flush=True))
    check_bind(host, explicit_token=token is not None or bool(os.environ.get("FLYTE_API_KEY")))
    if executor is not None and not (executor in _EXECUTORS or executor.startswith("dask://")):
        raise UserError(
            f"executor {executor!r} is not known; use {', '.join(map(repr, _EXECUTORS))} "
            "or 'dask://HOST:PORT'"
        )
    if bool(ssl_keyfile) != bool(ssl_certfile):
        raise UserError("TLS needs both --ssl-keyfile and --ssl-certfile")
    for path in (ssl_keyfile, ssl_certfile):
        if path and not Path(path).is_file():
            raise UserError(f"TLS file {path!r} does not exist")
    home = flyte_home()
    url = Path(store or os.environ.get("FLYTE_STORE") or home / "runs.db").expanduser()
    if str(url) in ("memory", ":memory:"):
        raise UserError("flyte serve needs a store file (its runs are driven by other processes)")
    listener = _listen(host, port)  # before anything else: a busy port is the first error
    try:
        secret = resolve_token(token, home)
        run_store = SqliteRunStore(url.resolve())
    except BaseException:
        listener.close()
        raise
    drivers = DriverPool(str(url.resolve()), home / "server", executor=executor)
    app = create_app(run_store, token=secret.value, drivers=drivers, max_body=max_body)
    scheme = "https" if ssl_certfile else "http"
    port = listener.getsockname()[1]  # the real one, when asked for port 0
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="off",
        ssl_keyfile=ssl_keyfile,
        ssl_certfile=ssl_certfile,
        timeout_graceful_shutdown=5,
    )
    try:
        config.load()  # reads the TLS files now, so a bad one is a clear error
    except (OSError, ValueError) as exc:
        listener.close()
        raise UserError(f"cannot use the TLS files: {exc}") from None
    server = uvicorn.Server(config)
    drivers.start()
    shown = f"[{host}]" if ":" in host else host
    say(f"flyte serve: http API on {scheme}://{shown}:{port}/api/v1 · store {url}")
    if secret.source == "generated":
        say(f"API token (printed once; kept in {secret.path}, mode 0600): {secret.value}")
    elif secret.source == "file":
        say(f"API token: kept in {secret.path}")
    say(f"Clients: flyte --endpoint {scheme}://{shown}:{port} --api-key TOKEN get runs")
    try:
        server.run(sockets=[listener])
    finally:
        drivers.shutdown()
        run_store.close()
        listener.close()


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on host:port.

    Raises:
        UserError: the address cannot be bound (in use, not this machine's, ...).
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise UserError(f"cannot listen on {host}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise UserError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc} (is another server on it?)"
        ) from None
    return sock
