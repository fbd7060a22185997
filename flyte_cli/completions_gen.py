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

__all__ = ["BASH_SCRIPT", "SHELLS", "main", "render", "use_our_completion", "use_our_scripts"]

SHELLS = ("bash", "zsh", "fish")
COMPLETIONS_DIR = Path(__file__).resolve().parents[1] / "completions"

BASH_SCRIPT = """
%(complete_func)s() {
    local IFS=$'\\n'
    COMPREPLY=( $( env COMP_WORDS="${COMP_WORDS[*]}" \\
                   COMP_CWORD=$COMP_CWORD \\
                   %(autocomplete_var)s=complete_bash $1 ) )
    # A folder (`examples/`) is not a whole word: no space after it, so the path goes on.
    if [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == */ ]]; then
        compopt -o nospace
    fi
    return 0
}

complete -o default -F %(complete_func)s %(prog_name)s
"""
"""Typer's bash script, plus `nospace` after a folder (Typer's adds a space after it)."""


def use_our_scripts() -> None:
    """Make Typer write our bash script (`--install-completion`, `--show-completion`, `render`)."""
    from typer import _completion_classes, _completion_shared

    _completion_shared._completion_scripts["bash"] = BASH_SCRIPT
    _completion_classes.BashComplete.source_template = BASH_SCRIPT


def use_our_completion() -> None:
    """Make zsh completion of a lone folder add no space (`flyte run exa<TAB>` -> `examples/`).

    Typer's zsh answer is an `_arguments` spec, after which zsh adds a space; a single
    folder is answered with `compadd -S ''` instead. (Bash does the same in its script;
    fish adds no space after a `/` by itself.)
    """
    import shlex

    from typer._click.shell_completion import add_completion_class
    from typer._completion_classes import ZshComplete

    class _Zsh(ZshComplete):
        def complete(self) -> str:
            args, incomplete = self.get_completion_args()
            found = self.get_completions(args, incomplete)
            if len(found) == 1 and str(found[0].value).endswith("/"):
                return f"compadd -S '' -- {shlex.quote(str(found[0].value))}"
            return super().complete()

    add_completion_class(_Zsh, "zsh")


def render(shell: str) -> str:
    """The completion script for `shell`, as `flyte --show-completion` prints it."""
    import typer.main
    from typer.completion import shell_complete

    from flyte_cli.main import app

    use_our_scripts()

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
