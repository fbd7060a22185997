"""Write `completions/flyte.bash`, `flyte.zsh` and `flyte.fish` from the Typer app.

Run `make completions` (or `python -m flyte_cli.completions_gen`) after changing the
CLI; `--check` only compares, and tests/cli/test_completion.py does the same. The
scripts call back into `flyte` (`_FLYTE_COMPLETE=complete_<shell>`), so run names,
action ids and a file's task names complete dynamically.
"""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

__all__ = ["SHELLS", "main", "render"]

SHELLS = ("bash", "zsh", "fish")
COMPLETIONS_DIR = Path(__file__).resolve().parents[1] / "completions"


def render(shell: str) -> str:
    """The completion script for `shell`, as `flyte --show-completion` prints it."""
    import typer.main
    from typer.completion import shell_complete

    from flyte_cli.main import app

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        shell_complete(
            typer.main.get_command(app), {}, "flyte", "_FLYTE_COMPLETE", f"source_{shell}"
        )
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    """Write (or with `--check`, compare) the scripts; return 1 if any is out of date."""
    args = sys.argv[1:] if argv is None else argv
    check = "--check" in args
    stale = []
    for shell in SHELLS:
        path = COMPLETIONS_DIR / f"flyte.{shell}"
        text = render(shell)
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(path)
        if not check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    for path in stale:
        print(f"{'out of date' if check else 'wrote'}: {path}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
