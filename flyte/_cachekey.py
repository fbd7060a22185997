"""Cache keys: the key of a task call and the parts it is made of (DESIGN.md section 5)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from flyte._codeversion import code_version
from flyte._hashing import _hex, combine_digests, hash_inputs

if TYPE_CHECKING:
    from flyte._cache import Cache

__all__ = ["KeyParts", "compute_key"]


class KeyParts:
    """A cache key and the parts it is made of, kept so that a miss can be explained.

    `parts` is built only when asked for (when an entry is written): a hit needs the key.
    """

    __slots__ = ("_code", "_per", "inputs_digest", "interface", "key", "salt", "task", "version")

    def __init__(
        self,
        *,
        key: str,
        task: str,
        interface: str,
        inputs_digest: str,
        per: dict[str, str],
        version: str,
        code: dict[str, str],
        salt: str,
    ) -> None:
        self.key = key
        self.task = task
        self.interface = interface
        self.inputs_digest = inputs_digest
        self._per = per
        self.version = version
        self._code = code
        self.salt = salt

    @property
    def parts(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "interface": self.interface,
            "inputs": dict(self._per),
            "inputs_digest": self.inputs_digest,
            "code_version": self.version,
            "code": dict(self._code),
            "salt": self.salt,
        }


def compute_key(
    *,
    task_name: str,
    interface: str,
    func: Callable[..., Any],
    cache: Cache,
    inputs: Mapping[str, Any],
    per_input: Mapping[str, str] | None = None,
    inputs_digest: str | None = None,
) -> KeyParts:
    """Compute the cache key of a task call and the parts it is made of.

    Args:
        task_name: the task's full name.
        interface: the digest of the task's interface.
        func: the task function (its code version is part of the key).
        cache: the cache policy.
        inputs: the call's inputs by name.
        per_input: digests of `inputs` already computed (for the action id), if any.
        inputs_digest: their combined digest, if already computed.

    Raises:
        flyte.errors.SerializationError: an input cannot be hashed.
    """
    ignored = cache.ignored_inputs
    if per_input is None:
        digest, per = hash_inputs(inputs, ignored)
    elif ignored:
        per = {k: v for k, v in per_input.items() if k not in ignored}
        digest = combine_digests(per)
    else:
        per = per_input  # type: ignore[assignment]
        digest = inputs_digest if inputs_digest is not None else combine_digests(per)
    if cache.behavior == "override":
        version = str(cache.version_override)
        code: dict[str, str] = {}
    else:
        cv = code_version(func)
        version, code = cv.digest, cv.parts
    raw = "\x1f".join((task_name, interface, digest, version, cache.salt))
    return KeyParts(
        key=_hex(raw.encode("utf-8", "surrogatepass")),
        task=task_name,
        interface=interface,
        inputs_digest=digest,
        per=per,
        version=version,
        code=code,
        salt=cache.salt,
    )
