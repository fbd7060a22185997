"""Deterministic action ids.

An id depends only on (parent id, task name, inputs hash, call sequence among the parent's
calls with the same task and inputs). The same code with the same inputs therefore gives
the same ids in every run and every attempt: that is what lets a retry replay its traces
and a recovered run reuse what already succeeded (flyte-sdk's TaskCallSequencer, dbos'
function_id).
"""

from __future__ import annotations

import hashlib

__all__ = ["ROOT_ID", "action_id"]

ROOT_ID = "a0"


def action_id(parent: str | None, name: str, inputs_hash: str, seq: int) -> str:
    """The id of the `seq`-th call of `name` with these inputs under `parent`."""
    if parent is None:
        return ROOT_ID
    raw = f"{parent}\x1f{name}\x1f{inputs_hash}\x1f{seq}".encode()
    return hashlib.blake2b(raw, digest_size=6).hexdigest()
