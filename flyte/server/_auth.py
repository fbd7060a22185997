"""The server's bearer token: where it comes from, how it is kept, how it is checked.

The token is `--token`, else `$FLYTE_API_KEY`, else the one kept in
`$FLYTE_HOME/server-token` (mode 0600), generated at first start. Requests compare it
in constant time (`hmac.compare_digest`), so response timing does not leak a prefix.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from flyte.errors import UserError

__all__ = ["ServerToken", "check_bind", "is_loopback", "resolve_token", "token_matches"]


@dataclass(frozen=True, kw_only=True)
class ServerToken:
    """The token and where it came from ("option", "env", "file" or "generated")."""

    value: str
    source: str
    path: Path | None = None


def resolve_token(explicit: str | None, home: Path) -> ServerToken:
    """The token to require: explicit, `$FLYTE_API_KEY`, or the kept (or a new) file.

    Raises:
        UserError: the token is empty, or the token file is readable by others.
    """
    if explicit is not None:
        if not explicit.strip():
            raise UserError("--token must not be empty")
        return ServerToken(value=explicit.strip(), source="option")
    env = os.environ.get("FLYTE_API_KEY")
    if env and env.strip():
        return ServerToken(value=env.strip(), source="env")
    path = home / "server-token"
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise UserError(
                f"{path} is readable by other users (mode {mode:o}); run `chmod 600 {path}`"
            )
        value = path.read_text().strip()
        if value:
            return ServerToken(value=value, source="file", path=path)
    home.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    # O_EXCL + 0600 at creation: the token is never readable by others, not even briefly.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # an empty file left behind: replace it
        path.unlink()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return ServerToken(value=value, source="generated", path=path)


def token_matches(expected: str, header: str | None) -> bool:
    """Whether an `Authorization` header carries the token (constant-time compare)."""
    if not header:
        return False
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), expected.encode())


def is_loopback(host: str) -> bool:
    """Whether binding `host` stays on this machine (127.0.0.0/8, ::1, localhost)."""
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, *, explicit_token: bool) -> None:
    """Refuse to listen beyond loopback with a token nobody chose.

    Raises:
        UserError: `host` is not loopback and no --token / FLYTE_API_KEY was given.
    """
    if not is_loopback(host) and not explicit_token:
        raise UserError(
            f"refusing to listen on {host} without an explicit token: anyone who can reach "
            "it could run code here. Pass --token TOKEN (or set FLYTE_API_KEY), "
            "or bind 127.0.0.1"
        )
