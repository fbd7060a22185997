"""`flyte serve`: share one run store with a team over HTTP (Starlette + uvicorn)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

__all__ = ["serve"]


def serve(
    host: Annotated[
        str, typer.Option(metavar="HOST", help="Address to bind; beyond loopback needs --token.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", min=0, max=65535, help="TCP port.")] = 8090,
    token: Annotated[
        Optional[str],
        typer.Option(
            metavar="TOKEN",
            help="The API token clients must send (default: $FLYTE_API_KEY, else one kept "
            "in $FLYTE_HOME/server-token, generated and printed at first start).",
            show_default=False,
        ),
    ] = None,
    executor: Annotated[
        Optional[str],
        typer.Option(
            metavar="EXECUTOR",
            help="Where the server's runs execute task bodies (given to each run's driver "
            "process as FLYTE_EXECUTOR).",
            show_default=False,
        ),
    ] = None,
    ssl_keyfile: Annotated[
        Optional[str],
        typer.Option(
            metavar="FILE", help="TLS private key (with --ssl-certfile).", show_default=False
        ),
    ] = None,
    ssl_certfile: Annotated[
        Optional[str],
        typer.Option(
            metavar="FILE", help="TLS certificate (with --ssl-keyfile).", show_default=False
        ),
    ] = None,
    max_request_size: Annotated[
        int,
        typer.Option(
            metavar="MIB", min=1, help="Largest request accepted (shipped code + inputs), MiB."
        ),
    ] = 64,
) -> None:
    """Serve this machine's run store over HTTP; runs submitted to it are driven here.

    Point clients at it with --endpoint / --api-key (or FLYTE_ENDPOINT / FLYTE_API_KEY,
    or flyte.init(endpoint=..., api_key=...)). Every route but /api/v1/health needs the
    token. Runs go on when their client disconnects; stopping the server interrupts the
    runs in flight (recover them with `flyte rerun RUN --recover`).

    Examples:

    \b
      flyte serve
      flyte --store /srv/flyte/runs.db serve --port 9000
      flyte serve --host 0.0.0.0 --token "$TEAM_TOKEN" --ssl-keyfile key.pem --ssl-certfile cert.pem
    """
    import os

    from flyte.server import serve as run_server
    from flyte_cli._errors import CliError

    if os.environ.get("FLYTE_ENDPOINT"):
        raise CliError("flyte serve serves the local store; drop --endpoint / FLYTE_ENDPOINT")
    try:
        run_server(
            host=host,
            port=port,
            token=token,
            store=os.environ.get("FLYTE_STORE"),
            executor=executor,
            ssl_keyfile=ssl_keyfile,
            ssl_certfile=ssl_certfile,
            max_body=max_request_size << 20,
        )
    except ImportError as exc:
        raise CliError(str(exc)) from None
