"""Completing a run name without building the command line: `flyte logs <TAB>`.

A completion call has a 0.10 s budget for the whole process. Answering through Typer
imports Typer and builds the command tree first (~60 ms of the ~110 ms), so the
common case, a run name right after a verb that takes one, is answered here from the
store file alone (`flyte.store.run_choices`, the reader Typer's path calls too). Anything
else (other shells, options on the line, quoting, a server) goes the usual way.
"""

from __future__ import annotations

import os
import sys

__all__ = ["RUN_FIRST", "answer"]

RUN_FIRST = frozenset(
    {
        ("logs",),
        ("abort",),
        ("tui",),
        ("rerun",),
        ("get", "run"),
        ("get", "actions"),
        ("get", "io"),
        ("get", "report"),
        ("delete", "run"),
    }
)
"""The words after `flyte` of the commands whose first argument is a RUN (a test checks
each against Typer's own answer)."""

_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._- ")


def answer() -> bool:
    """Print the run names bash completion asks for and return True, or return False
    (and print nothing) when this call is not the simple case."""
    env = os.environ
    if env.get("_FLYTE_COMPLETE") != "complete_bash" or env.get("FLYTE_ENDPOINT"):
        return False
    line, cword = env.get("COMP_WORDS", ""), env.get("COMP_CWORD", "")
    if not cword.isdigit() or not set(line) <= _PLAIN:
        return False  # quotes, escapes, `=`...: Typer splits those the shell's way
    words = line.split()
    position = int(cword)
    if tuple(words[1:position]) not in RUN_FIRST:
        return False
    incomplete = words[position] if position < len(words) else ""
    if incomplete.startswith("-") or position + 1 < len(words):
        return False
    from flyte.store import run_choices

    names = [name for name, _, _ in run_choices(incomplete)]
    sys.stdout.write("\n".join(names) + "\n")
    return True
