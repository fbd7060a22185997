"""Shell completion (through the completion protocol's env vars) and the cost of `--help`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import REPO, Invoke


def _complete(flyte: Invoke, line: str) -> list[str]:
    """Ask for bash completions of `line` (completing its last word) in-process."""
    words = line.split()
    cword = len(words) if line.endswith(" ") else len(words) - 1
    result = flyte(
        env={"_FLYTE_COMPLETE": "complete_bash", "COMP_WORDS": line, "COMP_CWORD": str(cword)}
    )
    assert result.exit_code == 0, result.output
    return result.stdout.split()


def _bash_env(line: str, home: Path) -> dict[str, str]:
    words = line.split()
    cword = len(words) if line.endswith(" ") else len(words) - 1
    return {
        **os.environ,
        "FLYTE_HOME": str(home),
        "_FLYTE_COMPLETE": "complete_bash",
        "COMP_WORDS": line,
        "COMP_CWORD": str(cword),
    }


def test_tasks_of_the_file_complete_in_a_real_process(tmp_path: Path) -> None:
    env = _bash_env("flyte run examples/hello.py ", tmp_path)
    out = subprocess.run(
        [sys.executable, "-m", "flyte_cli"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert sorted(out.stdout.split()) == ["main", "say_hello"]


def test_completion_of_commands_files_tasks_and_inputs(flyte: Invoke) -> None:
    assert _complete(flyte, "flyte ge") == ["get"]
    assert _complete(flyte, "flyte g") == ["get", "gc"]
    assert set(_complete(flyte, "flyte get ")) >= {"runs", "run", "actions", "io", "tasks", "cache"}
    assert _complete(flyte, "flyte run exam") == ["examples/"]
    assert "examples/hello.py" in _complete(flyte, "flyte run examples/")
    assert _complete(flyte, "flyte run examples/hello.py m") == ["main"]
    assert set(_complete(flyte, "flyte run -m examples.hello ")) == {"main", "say_hello"}
    inputs = _complete(flyte, "flyte run examples/hello.py main --")
    assert {"--name", "--friends", "--no-cache", "--json"} <= set(inputs)
    assert _complete(flyte, "flyte run examples/failing.py main --b") == ["--b"]
    assert _complete(flyte, "flyte run nope.py ") == []


def test_completion_of_run_names_and_action_ids(flyte: Invoke) -> None:
    assert _complete(flyte, "flyte get run ") == []  # no store yet: nothing, no error
    first = json.loads(
        flyte("run", "--json", "examples/hello.py", "main", "--friends", "0").stdout
    )["run"]
    second = json.loads(flyte("run", "--json", "examples/failing.py", "main").stdout)["run"]
    assert _complete(flyte, "flyte get actions ") == [second, first]  # newest first
    assert _complete(flyte, f"flyte logs {first[:-1]}") == [first]  # a unique prefix
    assert _complete(flyte, "flyte run --recover ") == [second, first]
    assert _complete(flyte, "flyte rerun ") == [second, first]
    from flyte._run import current_store

    ids = sorted(a.id for a in current_store().list_actions(first))
    # Ids, and the task names that stand for their actions.
    assert sorted(_complete(flyte, f"flyte get io {first} ")) == sorted([*ids, "main", "say_hello"])
    assert _complete(flyte, f"flyte logs {first} a") == ["a0"]
    assert _complete(flyte, "flyte get runs --phase f") == ["failed"]


def test_completion_scripts_are_up_to_date() -> None:
    from flyte_cli import completions_gen

    for shell in completions_gen.SHELLS:
        path = REPO / "completions" / f"flyte.{shell}"
        assert path.read_text(encoding="utf-8") == completions_gen.render(shell), (
            f"{path} is stale: run `make completions`"
        )
    assert "_FLYTE_COMPLETE=complete_bash" in (REPO / "completions" / "flyte.bash").read_text()


_PROBE = """
import sys
from flyte_cli.main import run_cli
try:
    run_cli(sys.argv[1:])
except SystemExit:
    pass
heavy = (
    "flyte._run", "flyte._controller.local", "flyte._store.sqlite", "flyte._models",
    "textual", "httpx", "pydantic", "watchfiles", "flyte_tui",
)
if "_FLYTE_COMPLETE" not in __import__("os").environ:
    heavy += ("flyte",)  # help reads no store; completion reads it through `flyte.store`
print("LOADED", [m for m in heavy if m in sys.modules], file=sys.stderr)
"""


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--help"], None),
        (["run", "--help"], None),
        (["get", "runs", "--help"], None),
        ([], "flyte run examples/hello.py "),
        ([], "flyte get actions "),
        ([], "flyte run examples/hello.py main --"),
    ],
)
def test_help_and_completion_import_nothing_heavy(
    tmp_path: Path, args: list[str], line: str | None
) -> None:
    env: dict[str, Any] = (
        _bash_env(line, tmp_path) if line else {**os.environ, "FLYTE_HOME": str(tmp_path)}
    )
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() or line == "flyte get actions ", out.stderr  # (no runs: no names)
    assert "LOADED []" in out.stderr, out.stderr


def test_make_completions_rewrites_only_stale_scripts_and_check_reports_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from flyte_cli import completions_gen

    folder = tmp_path / "completions"
    monkeypatch.setattr(completions_gen, "COMPLETIONS_DIR", folder)
    assert completions_gen.main([]) == 0  # writes all three
    assert sorted(p.name for p in folder.iterdir()) == ["flyte.bash", "flyte.fish", "flyte.zsh"]
    assert completions_gen.main(["--check"]) == 0
    (folder / "flyte.zsh").write_text("# edited by hand\n", encoding="utf-8")
    capsys.readouterr()
    assert completions_gen.main(["--check"]) == 1
    assert capsys.readouterr().out.strip() == f"out of date: {folder / 'flyte.zsh'}"
    assert completions_gen.main([]) == 0
    assert capsys.readouterr().out.strip() == f"wrote: {folder / 'flyte.zsh'}"
    assert (folder / "flyte.zsh").read_text(encoding="utf-8") == completions_gen.render("zsh")


def _seed_runs(names: list[str]) -> None:
    from flyte._store import flyte_home
    from flyte._store.sqlite import SqliteRunStore

    store = SqliteRunStore(flyte_home() / "runs.db")
    store.write(
        [
            ("run_insert", {"name": n, "task": "hello.main", "phase": "SUCCEEDED",
                            "created_at": 1000.0 + i, "started_at": 1000.0 + i})
            for i, n in enumerate(names)
        ]
    )  # fmt: skip
    store.close()


def _fast(monkeypatch: pytest.MonkeyPatch, capsys: Any, line: str, **env: str) -> list[str] | None:
    """What the Typer-free path answers for `line`, or None when it leaves it to Typer."""
    from flyte_cli._complete import answer

    words = line.split()
    cword = len(words) if line.endswith(" ") else len(words) - 1
    for key, value in {
        "_FLYTE_COMPLETE": "complete_bash", "COMP_WORDS": line, "COMP_CWORD": str(cword), **env
    }.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    capsys.readouterr()
    answered = answer()
    out = capsys.readouterr().out
    assert answered or out == ""
    return out.split() if answered else None


def test_run_names_complete_without_typer_exactly_as_typer_does(
    flyte: Invoke, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    from flyte_cli._complete import RUN_FIRST

    _seed_runs(["swift-otter-1", "swift-owl-2", "tidy-fern-3", "Swift-upper-4"])
    for words in sorted(RUN_FIRST):
        for prefix in ("", "swift-o", "t", "nothing"):
            line = f"flyte {' '.join(words)} {prefix}"
            fast = _fast(monkeypatch, capsys, line)
            for key in ("_FLYTE_COMPLETE", "COMP_WORDS", "COMP_CWORD"):
                monkeypatch.delenv(key)
            assert fast is not None, line
            assert fast == _complete(flyte, line), line
    assert _fast(monkeypatch, capsys, "flyte logs swift-o") == ["swift-owl-2", "swift-otter-1"]


@pytest.mark.parametrize(
    ("line", "env"),
    [
        ("flyte --store x.db logs ", {}),  # an option on the line
        ("flyte logs --", {}),
        ("flyte logs swift-otter-1 ", {}),  # the action, not the run
        ("flyte get runs ", {}),
        ("flyte logs 'sw", {}),  # quoting: the shell's splitting rules apply
        ("flyte logs ", {"FLYTE_ENDPOINT": "http://127.0.0.1:9"}),  # runs of a server
        ("flyte logs ", {"_FLYTE_COMPLETE": "complete_zsh"}),
    ],
)
def test_other_completions_are_left_to_typer(
    monkeypatch: pytest.MonkeyPatch, capsys: Any, line: str, env: dict[str, str]
) -> None:
    _seed_runs(["swift-otter-1"])
    assert _fast(monkeypatch, capsys, line, **env) is None


def test_the_console_script_completes_run_names_without_importing_typer(tmp_path: Path) -> None:
    probe = (
        "import sys\nfrom flyte_cli import main\nmain()\n"
        "print('LOADED', [m for m in ('typer', 'flyte_cli.main', 'flyte._models') "
        "if m in sys.modules], file=sys.stderr)"
    )
    env = _bash_env("flyte logs sw", tmp_path)
    from flyte._store.sqlite import SqliteRunStore

    store = SqliteRunStore(tmp_path / "runs.db")
    store.write(
        [("run_insert", {"name": "swift-otter-1", "task": "t.main", "phase": "RUNNING",
                         "created_at": 1.0})]
    )  # fmt: skip
    store.close()
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "swift-otter-1\n"
    assert "LOADED []" in out.stderr, out.stderr
