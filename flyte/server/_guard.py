"""The guard in front of every route of `flyte serve`: token check and body size limit.

Pure ASGI, so a refused request costs no routing and a body over the limit is cut off
while it streams, not after it was read.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from flyte.remote._wire import API
from flyte.server._requests import TooLarge

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Guard", "send_error"]


class Guard:
    """Token check and body size limit, in front of every route (pure ASGI)."""

    def __init__(self, app: ASGIApp, *, token: str, max_body: int) -> None:
        self.app = app
        self.token = token
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from flyte.server._auth import token_matches

        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if scope["path"] != f"{API}/health" and not token_matches(
            self.token, headers.get("authorization")
        ):
            await send_error(send, 401, "Unauthorized", "a valid bearer token is required")
            return
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await send_error(
                send, 413, "UserError", f"the request body is over {self.max_body} bytes"
            )
            return
        seen = 0
        limit = self.max_body

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise TooLarge(f"the request body is over {limit} bytes")
            return message

        await self.app(scope, limited, send)


async def send_error(send: Send, status: int, kind: str, message: str) -> None:
    body = json.dumps({"error": {"type": kind, "message": message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *([(b"www-authenticate", b"Bearer")] if status == 401 else []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
