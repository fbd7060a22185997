"""The HTTP client of `flyte serve`: one httpx.Client, errors turned into flyte errors.

`RemoteClient(endpoint, api_key, transport=...)` takes an httpx transport, so tests run
it against `httpx.MockTransport` or an ASGI app without a network. httpx is imported
when a client is made, never when this module is: `import flyte` stays cheap until an
endpoint is configured.

Which server the SDK talks to is decided in one place, `remote_settings()`: the endpoint
given to `flyte.init(endpoint=...)`, else `$FLYTE_ENDPOINT` (unless `flyte.init(store=...)`
chose a local store), with `api_key=` / `$FLYTE_API_KEY`.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flyte.errors import RemoteError
from flyte.remote._wire import API

if TYPE_CHECKING:
    import httpx

__all__ = [
    "RemoteClient",
    "RemoteSettings",
    "client_for",
    "normalize_endpoint",
    "remote_settings",
    "settings_key",
]


@dataclass(frozen=True, kw_only=True)
class RemoteSettings:
    """Where the SDK's server is: its endpoint and API key."""

    endpoint: str
    api_key: str | None = None


def remote_settings() -> RemoteSettings | None:
    """The configured server (`flyte._config.server_endpoint`), or None when everything
    is local."""
    from flyte._config import current, server_endpoint

    endpoint = server_endpoint()
    if endpoint is None:
        return None
    return RemoteSettings(
        endpoint=normalize_endpoint(endpoint),
        api_key=current().api_key or os.environ.get("FLYTE_API_KEY") or None,
    )


def normalize_endpoint(endpoint: str) -> str:
    """`http://host:port` without a trailing slash; `host:port` gets `http://`.

    Raises:
        RemoteError: not an http(s) URL.
    """
    text = endpoint.strip().rstrip("/")
    if "://" not in text:
        text = "http://" + text
    scheme = text.split("://", 1)[0].lower()
    if scheme not in ("http", "https") or not text.split("://", 1)[1]:
        raise RemoteError(
            f"endpoint {endpoint!r} is not an http:// or https:// URL (like http://127.0.0.1:8090)"
        )
    return text


def _import_httpx() -> Any:
    """Import httpx without its command-line tool.

    `import httpx` also imports `httpx._main` (click, rich, pygments) when those are
    installed, as they are with the CLI: that doubles its import time, which every
    `flyte --endpoint ... get runs` would pay. httpx falls back to a stub `main` when
    `httpx._main` cannot be imported; a None entry in sys.modules makes it so, for this
    import only.

    Raises:
        RemoteError: httpx is not installed.
    """
    import sys

    if "httpx" in sys.modules:
        return sys.modules["httpx"]
    blocked = "httpx._main" not in sys.modules
    if blocked:
        sys.modules["httpx._main"] = None  # type: ignore[assignment]
    try:
        import httpx
    except ImportError as exc:  # pragma: no cover - httpx is a core dependency
        raise RemoteError(
            "talking to a flyte server needs httpx: pip install 'flyte-local'"
        ) from exc
    finally:
        if blocked:
            del sys.modules["httpx._main"]
    return httpx


class RemoteClient:
    """Calls the `/api/v1` routes of a flyte-local server.

    Example:
        client = RemoteClient("http://127.0.0.1:8090", api_key=token)
        print(client.json("GET", "/runs", params={"limit": 5}))

        transport = httpx.MockTransport(handler)  # tests: no network
        client = RemoteClient("http://test", api_key="t", transport=transport)
    """

    def __init__(
        self,
        endpoint: str,
        api_key: str | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        verify: Any = True,
    ) -> None:
        httpx = _import_httpx()
        self.endpoint = normalize_endpoint(endpoint)
        if self.endpoint.startswith("http://"):
            verify = False  # no TLS to verify; skips loading the CA bundle (~20 ms)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._httpx = httpx
        self._http = httpx.Client(
            base_url=self.endpoint + API,
            headers=headers,
            transport=transport,
            timeout=timeout,
            verify=verify,
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        """Send a request; return the response of a 2xx status.

        Raises:
            RemoteError: the server is unreachable, refused the key, or failed.
            flyte.errors.UserError: the server rejected the request for the user's reason
                (the same class the server raised, e.g. RunNotFoundError).
        """
        httpx = self._httpx
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        extra: dict[str, Any] = {}
        if timeout is not None:
            extra["timeout"] = timeout
        try:
            response = self._http.request(
                method, path, params=clean, json=json, content=content, **extra
            )
        except httpx.ConnectError as exc:
            raise RemoteError(self._connect_message(exc)) from None
        except httpx.TimeoutException:
            raise RemoteError(
                f"the flyte server at {self.endpoint} did not answer in time"
            ) from None
        except httpx.HTTPError as exc:
            raise RemoteError(
                f"talking to the flyte server at {self.endpoint} failed: {exc}"
            ) from None
        if response.status_code >= 400:
            raise self._error(response)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """`request` and decode the JSON body.

        Raises:
            RemoteError: as `request`, or the body is not JSON.
        """
        response = self.request(method, path, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise RemoteError(
                f"the server at {self.endpoint} sent a non-JSON answer to {method} {path}"
            ) from None

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _connect_message(self, exc: Exception) -> str:
        text = str(exc)
        if "SSL" in text or "CERTIFICATE" in text.upper() or "TLS" in text:
            return (
                f"TLS error talking to {self.endpoint}: {text.splitlines()[0] if text else exc!r}"
            )
        return (
            f"cannot reach the flyte server at {self.endpoint} "
            f"({text.splitlines()[0] if text else 'connection failed'}); is `flyte serve` running?"
        )

    def _error(self, response: httpx.Response) -> Exception:
        import flyte.errors

        kind, message = None, None
        try:
            body = response.json()
            error = body.get("error") if isinstance(body, dict) else None
            if isinstance(error, dict):
                kind, message = error.get("type"), error.get("message")
        except ValueError:
            pass
        if response.status_code == 401:
            return RemoteError(
                f"the flyte server at {self.endpoint} refused the API key "
                "(give the server's token with --api-key or FLYTE_API_KEY)"
            )
        message = str(message or f"HTTP {response.status_code} {response.reason_phrase}")
        cls = getattr(flyte.errors, str(kind), None) if kind else None
        if (
            response.status_code < 500
            and isinstance(cls, type)
            and issubclass(cls, flyte.errors.UserError)
            and cls.__module__ == "flyte.errors"
        ):
            return cls(message)
        return RemoteError(f"the flyte server at {self.endpoint} said: {message}")


_clients: dict[tuple[str | None, ...], RemoteClient] = {}
_clients_lock = threading.Lock()


def settings_key(settings: RemoteSettings) -> tuple[str | None, ...]:
    """What makes two clients differ: server, key, and the CA certificates httpx trusts."""
    trust = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    return (settings.endpoint, settings.api_key, *trust)


def client_for(settings: RemoteSettings) -> RemoteClient:
    """The process-wide client of `settings` (one connection pool per server and key)."""
    key = settings_key(settings)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = RemoteClient(settings.endpoint, settings.api_key)
    return client
