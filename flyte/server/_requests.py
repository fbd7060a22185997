"""Request parsing and the errors of `flyte serve`'s routes: always a JSON 4xx.

Each error class carries its HTTP status; `status_of` maps flyte's own errors too
(not found -> 404, other user errors -> 400, system errors -> 503).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from flyte.errors import FlyteError, RunNotFoundError, TaskNotFoundError, UserError
from flyte.remote._wire import b64decode

if TYPE_CHECKING:
    from starlette.requests import Request

__all__ = [
    "PHASES",
    "BadRequest",
    "Conflict",
    "TooLarge",
    "b64_field",
    "error_type",
    "float_param",
    "int_param",
    "json_body",
    "status_of",
    "valid_name",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
PHASES = ("QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


class BadRequest(UserError):
    """A request the server cannot use (bad parameter or body)."""

    status = 400


class Conflict(UserError):
    """The request clashes with the state of a run (e.g. deleting a running run)."""

    status = 409


class TooLarge(UserError):
    """The request body is over the server's limit."""

    status = 413


def status_of(exc: FlyteError) -> int:
    explicit = getattr(exc, "status", None)
    if isinstance(explicit, int):
        return explicit
    if isinstance(exc, RunNotFoundError | TaskNotFoundError):
        return 404
    if isinstance(exc, UserError):
        return 400
    return 503  # a system error: the store cannot be used right now


def error_type(exc: FlyteError) -> str:
    # The client re-raises flyte.errors classes by name; the server's own classes
    # travel as the public UserError.
    import flyte.errors

    name = type(exc).__name__
    return name if getattr(flyte.errors, name, None) is type(exc) else "UserError"


def int_param(request: Request, key: str, default: int | None, *, low: int = 0) -> int | None:
    raw = request.query_params.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"query parameter {key!r} must be an integer, got {raw!r}") from None
    if value < low:
        raise BadRequest(f"query parameter {key!r} must be >= {low}, got {value}")
    return value


def float_param(request: Request, key: str) -> float | None:
    raw = request.query_params.get(key)
    if raw is None or raw == "":
        return None
    try:
        return float(raw)
    except ValueError:
        raise BadRequest(f"query parameter {key!r} must be a number, got {raw!r}") from None


def valid_name(value: Any, what: str = "run name") -> str:
    if not isinstance(value, str) or not _NAME.match(value) or ".." in value:
        raise BadRequest(
            f"{what} {value!r} is not valid: use letters, digits, '_', '-' and '.' (max 128)"
        )
    return value


async def json_body(request: Request) -> dict[str, Any]:
    body = await request.body()
    if not body:
        return {}
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest("the request body must be a JSON object")
    return data


def b64_field(data: dict[str, Any], key: str) -> bytes | None:
    try:
        return b64decode(data.get(key))
    except ValueError as exc:
        raise BadRequest(f"{key}: {exc}") from None
