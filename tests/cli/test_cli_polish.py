"""Every rough edge a new user hit in the CLI (issue 15), each pinned by a test."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import REPO, Invoke, error_line

MINE = """
from dataclasses import dataclass

import flyte

env = flyte.TaskEnvironment("mine")


@dataclass
class Cfg:
    rate: float
    names: list[str]


@env.task
def double(x: int) -> int:
    \"\"\"Double x.\"\"\"
    return 2 * x


@env.task
def conf(cfg: Cfg) -> float:
    \"\"\"Read a config.\"\"\"
    return cfg.rate * len(cfg.names)
"""

RETRY = """
import flyte

env = flyte.TaskEnvironment("retry")


@env.task(retries=2)
def flaky(x: int) -> int:
    attempt = flyte.ctx().attempt
    print(f"try {attempt}")
    if attempt < 3:
        raise RuntimeError(f"transient failure {attempt}")
    return x


@env.task
def main(x: int = 1) -> int:
    return flaky(x)


@env.task
def silent() -> int:
    return 1
"""

NESTED = """
import asyncio

import flyte

env = flyte.TaskEnvironment("nest")


@env.task
async def leaf(i: int) -> int:
    return i


@env.task
async def main() -> int:
    with flyte.group("outer"):
        a = await leaf(1)
        with flyte.group("inner"):
            b = await leaf(2)
            with flyte.group("innermost"):
                c = await leaf(3)
    return a + b + c
"""


def _store() -> Any:
    from flyte._run import current_store

    return current_store()


def _json_run(flyte: Invoke, *args: str) -> dict[str, Any]:
    result = flyte("run", "--json", *args)
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def _examples(help_text: str) -> list[str]:
    """The command lines under `Examples:` of a help page."""
    tail = help_text.split("Examples:", 1)[1]
    return [line.strip() for line in tail.splitlines() if line.strip().startswith("flyte ")]


# -- 2. help suggests commands that work -------------------------------------------------


def test_the_dataclass_example_is_built_from_its_real_fields(flyte: Invoke, write: Any) -> None:
    path = write("mine.py", MINE)
    help_text = flyte("run", path, "conf", "--help").stdout
    example = _examples(help_text)[0]
    assert '"key"' not in example
    assert '"rate": 0.5' in example and '"names": [' in example
    args = re.findall(r"'[^']*'|\S+", example)[2:]  # after `flyte run`
    result = flyte("run", *[a.strip("'") for a in args])
    assert result.exit_code == 0, result.output


def test_the_file_help_example_passes_the_required_inputs(flyte: Invoke, write: Any) -> None:
    path = write("mine.py", MINE)
    help_text = flyte("run", path, "--help").stdout
    runnable = [e for e in _examples(help_text) if "--help" not in e]
    assert runnable == [f"flyte run {path} double --x 3"]
    result = flyte(*runnable[0].split()[1:])
    assert result.exit_code == 0, result.output


def test_logs_of_a_task_that_ran_three_times_shows_all_of_them(flyte: Invoke) -> None:
    run = _json_run(flyte, "examples/hello.py", "main")["run"]
    result = flyte("logs", run, "say_hello")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and all(line.startswith("[say_hello ") for line in lines)
    # Where one action is needed, the message offers ids that work, with their inputs.
    line = error_line(flyte("get", "io", run, "say_hello"))
    assert "matches 3 actions" in line and 'say_hello(name="World")' in line
    first_id = re.search(r"give one id: ([0-9a-f]{12}) ", line).group(1)  # type: ignore[union-attr]
    assert flyte("get", "io", run, first_id).exit_code == 0


# -- 3. no dashboard without a terminal ----------------------------------------------------


def test_tui_without_a_terminal_says_so_and_exits_2(flyte: Invoke) -> None:
    assert "needs a terminal" in error_line(flyte("tui"))
    assert "needs a terminal" in error_line(flyte("run", "examples/hello.py", "main", "--tui"))
    assert _store().list_runs() == []  # refused before the run started


def test_piped_flyte_tui_does_not_hang(tmp_path: Path) -> None:
    env = {**os.environ, "FLYTE_HOME": str(tmp_path / "home")}
    proc = subprocess.run(
        [sys.executable, "-m", "flyte_cli", "tui"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        input="\n",
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("Error: flyte tui needs a terminal")


# -- 6. retry history ---------------------------------------------------------------------


def test_retry_history_in_the_tree_the_json_and_the_logs(flyte: Invoke, write: Any) -> None:
    path = write("retry_demo.py", RETRY)
    run = _json_run(flyte, path, "main")["run"]
    tree = flyte("get", "actions", run).stdout
    assert "flaky(x=1)" in tree and "3 attempts" in tree
    assert "attempt 1 ✗" in tree and "RuntimeError: transient failure 1" in tree
    assert "attempt 2 ✗" in tree and "attempt 3 ✓" in tree
    data = json.loads(flyte("get", "actions", run, "--json").stdout)
    flaky = next(a for a in data if a["name"] == "retry.flaky")
    errors = [a["error_message"] for a in flaky["attempt_history"]]
    assert errors == ["transient failure 1", "transient failure 2", None]
    logs = flyte("logs", run, "flaky").stdout.splitlines()
    assert logs == [
        "── attempt 1 ──",
        "try 1",
        "── attempt 2 ──",
        "try 2",
        "── attempt 3 ──",
        "try 3",
    ]


def test_retries_are_immediate_by_default_and_the_readme_says_so() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "retries with backoff" not in readme
    assert "immediately" in readme and "flyte.Backoff" in readme


def test_backoff_waits_between_attempts(store: Any) -> None:
    import flyte

    env = flyte.TaskEnvironment("backoff")

    @env.task(retries=flyte.RetryStrategy(1, backoff=flyte.Backoff(base=0.3)))
    def once_flaky() -> int:
        if flyte.ctx().attempt == 1:
            raise RuntimeError("first")
        return 1

    run = flyte.with_runcontext(store=store, echo=False).run(once_flaky)
    first, second = store.list_attempts(run.name, "a0")
    assert first.ended_at is not None
    assert second.started_at - first.ended_at >= 0.3  # a lower bound: the sleep happened


# -- 7. one vocabulary for traces ----------------------------------------------------------


def test_replayed_traces_are_called_replayed_everywhere(flyte: Invoke) -> None:
    result = flyte("run", "examples/traces.py", "main")
    out = result.stdout
    tree = [line for line in out.splitlines() if "trace" in line and "(" in line]
    assert tree and not any("attempt" in line for line in tree)  # a trace has no attempts
    assert sum("replayed" in line for line in tree) == 2
    summary = next(line for line in out.splitlines() if line.startswith("Run "))
    assert "2 traces replayed" in summary and "recovered" not in summary
    assert "1 action: " in summary  # one task action, a plural that agrees
    data = _json_run(flyte, "examples/traces.py", "main")
    assert (data["replayed"], data["recovered"]) == (2, 0)


# -- 10. rerun when the source is gone ----------------------------------------------------


def test_rerun_of_a_run_whose_file_is_gone_says_so(flyte: Invoke, tmp_path: Path) -> None:
    source = tmp_path / "gone_demo.py"
    source.write_text(textwrap.dedent(MINE), encoding="utf-8")
    run = _json_run(flyte, str(source), "double", "--x", "2")["run"]
    source.unlink()
    # A fresh process, as a user's next command is: this one still has the module loaded.
    proc = subprocess.run(
        [sys.executable, "-m", "flyte_cli", "rerun", run],
        capture_output=True,
        text=True,
        env={**os.environ},
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    line = proc.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line
    assert f"{source}, which no longer exists" in line
    assert f"flyte get io {run}" in line
    assert "Error" not in line[len("Error: ") :] and "directory where it was started" not in line


# -- 11. watch mode: one line per run -----------------------------------------------------


def test_a_watch_child_prints_no_hints_no_summary_and_no_interrupted(flyte: Invoke) -> None:
    result = flyte("run", "examples/hello.py", "main", env={"FLYTE_WATCH_CHILD": "1"})
    assert result.exit_code == 0
    assert "Hello, World!" in result.stdout
    assert "# the action tree" not in result.stdout
    assert not any(line.startswith("Run ") for line in result.stdout.splitlines())


@pytest.mark.skipif(os.name != "posix", reason="process groups")
def test_each_watch_iteration_ends_in_one_summary_line(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from flyte_cli._watch import watch_loop

    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    (project / "mine.py").write_text(textwrap.dedent(MINE), encoding="utf-8")
    code = watch_loop(
        str(project / "mine.py"),
        "double",
        ["--x", "4"],
        watch_paths=[],
        tui=False,
        module=False,
        max_runs=1,
        warm=False,
    )
    assert code == 0
    out = capfd.readouterr().out
    assert "8" in out.splitlines()  # the child's output
    assert out.count("● SUCCEEDED") == 1  # the loop's one line
    assert "# the action tree" not in out and "Interrupted" not in out
    assert not any(line.startswith("Run ") for line in out.splitlines())


def test_the_watch_summary_line_uses_the_shared_words() -> None:
    from flyte_cli._watch import RunSummary

    line = RunSummary(run="r", phase="SUCCEEDED", executed=1, cache_hits=1, duration=0.5).line()
    assert "1 ran · 1 cache hit" in line and "500ms" in line and "\n" not in line


# -- 12. silent caps and silent no-ops -----------------------------------------------------


def test_get_runs_says_how_many_more_there_are(flyte: Invoke) -> None:
    for _ in range(3):
        _json_run(flyte, "examples/hello.py", "main", "--friends", "0")
    result = flyte("get", "runs", "--limit", "2")
    assert result.exit_code == 0
    assert "1 more run; use --limit 3 to see all" in result.stderr
    assert "more" not in flyte("get", "runs").stderr


def test_logs_of_a_run_that_printed_nothing_says_so(flyte: Invoke, write: Any) -> None:
    run = _json_run(flyte, write("retry_demo.py", RETRY), "silent")["run"]
    result = flyte("logs", run)
    assert result.exit_code == 0 and result.stdout == ""
    assert f"run {run} printed nothing." in result.stderr


def test_cache_clear_of_an_unknown_task_is_an_error(flyte: Invoke) -> None:
    _json_run(flyte, "examples/pipeline.py", "main", "--n", "2")
    line = error_line(flyte("cache", "clear", "--task", "pipeline.lod", "--yes"))
    assert "no task 'pipeline.lod'" in line and "did you mean 'pipeline.load'" in line
    known = flyte("cache", "clear", "--task", "main", "--yes")  # a task with no entries
    assert known.exit_code == 0 and "Cleared 0 cache entries of main." in known.stdout


def test_cache_clear_and_delete_ask_first(flyte: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    run = _json_run(flyte, "examples/pipeline.py", "main", "--n", "2")["run"]
    assert "add --yes" in error_line(flyte("cache", "clear"))
    assert "add --yes" in error_line(flyte("delete", "run", run))
    monkeypatch.setattr("flyte_cli._options._interactive", lambda: True)
    from typer.testing import CliRunner

    from flyte_cli.main import app

    runner = CliRunner()
    said_no = runner.invoke(app, ["cache", "clear"], input="n\n", prog_name="flyte")
    assert said_no.exit_code == 130 and "Delete 3 cache entries?" in said_no.output
    assert len(json.loads(flyte("get", "cache", "--json").stdout)) == 3
    said_yes = runner.invoke(app, ["delete", "run", run], input="y\n", prog_name="flyte")
    assert said_yes.exit_code == 0 and f"Deleted run {run}." in said_yes.output


# -- 13. ugly output -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "usage"),
    [
        (["logs"], "flyte logs [OPTIONS] RUN [ACTION]"),
        (["get", "io"], "flyte get io [OPTIONS] RUN [ACTION]"),
        (["get", "run"], "flyte get run [OPTIONS] RUN"),
        (["tui"], "flyte tui [OPTIONS] [RUN]"),
        (["delete", "run"], "flyte delete run [OPTIONS] RUN..."),
    ],
)
def test_usage_lines_read_plainly(flyte: Invoke, args: list[str], usage: str) -> None:
    first = flyte(*args, "--help").stdout.splitlines()[0]
    assert first == f"Usage: {usage}"


def test_get_io_names_the_run_once_and_shows_an_error_as_an_error(flyte: Invoke) -> None:
    run = _json_run(flyte, "examples/failing.py", "main")["run"]
    out = flyte("get", "io", run).stdout
    header = out.splitlines()[0]
    assert header.count(run) == 1 and header.startswith("failing.main")
    assert "outputs" not in out and "error\nValueError: cannot divide by zero" in out


def test_plurals_agree(flyte: Invoke, write: Any) -> None:
    run = _json_run(flyte, write("retry_demo.py", RETRY), "silent")["run"]
    summary = flyte("rerun", run).stdout
    assert "1 action: 1 ran, 0 cache hits" in summary
    assert "1 actions" not in summary
    _json_run(flyte, "examples/pipeline.py", "main", "--n", "2")
    cleared = flyte("cache", "clear", "--task", "pipeline.load", "--yes").stdout
    assert cleared.strip() == "Cleared 1 cache entry of pipeline.load."


def test_piped_tables_follow_columns_and_are_not_cut_to_80(flyte: Invoke) -> None:
    _json_run(flyte, "examples/pipeline.py", "main", "--n", "30")
    wide = flyte("get", "cache").stdout
    assert max(len(line) for line in wide.splitlines()) > 80  # nothing squeezed to 80
    narrow = flyte("get", "cache", env={"COLUMNS": "70"}).stdout
    assert max(len(line) for line in narrow.splitlines()) <= 70


def test_deploy_hint_comments_are_aligned(flyte: Invoke) -> None:
    out = flyte("deploy", "examples/hello.py").stdout
    hints = [line for line in out.splitlines() if "  # " in line]
    assert len(hints) == 2
    assert len({line.index("#") for line in hints}) == 1


# -- 14. completion -----------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completion_of_a_folder_adds_no_space(tmp_path: Path) -> None:
    script = REPO / "completions" / "flyte.bash"
    probe = f"""
source {script}
compopt() {{ echo compopt "$@"; }}
COMP_WORDS=(flyte run exa)
COMP_CWORD=2
_flyte_completion {sys.executable}
printf 'reply:%s\\n' "${{COMPREPLY[@]}}"
"""
    wrapper = tmp_path / "flyte-probe"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -m flyte_cli "$@"\n')
    wrapper.chmod(0o755)
    env = {**os.environ, "FLYTE_HOME": str(tmp_path / "home")}
    out = subprocess.run(
        ["bash", "--norc", "-c", probe.replace(sys.executable, str(wrapper), 1)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "reply:examples/" in out.stdout, out.stderr
    assert "compopt -o nospace" in out.stdout


def test_zsh_completion_of_a_folder_adds_no_space(flyte: Invoke) -> None:
    def zsh(line: str) -> str:
        env = {"_FLYTE_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": line}
        return flyte(env=env).stdout.strip()  # type: ignore[no-any-return]

    assert zsh("flyte run exa") == "compadd -S '' -- examples/"
    assert zsh("flyte run examples/hel").startswith("_arguments")  # a file: a space after


def test_action_completion_offers_task_names_with_what_they_name(flyte: Invoke) -> None:
    from flyte.store import action_choices

    run = _json_run(flyte, "examples/hello.py", "main")["run"]
    choices = dict(action_choices(run))
    assert choices["say_hello"] == "3 actions" and choices["main"] == "1 action"
    assert choices["a0"] == "main SUCCEEDED"


# -- 16. code that reads better --------------------------------------------------------------


def test_cli_and_tui_read_the_store_only_through_its_public_api() -> None:
    for package in ("flyte_cli", "flyte_tui"):
        for path in (REPO / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            assert "flyte._store._rows" not in text, path
            assert "SELECT " not in text, path  # no raw SQL (completion included)


def test_every_sub_app_is_built_by_one_helper() -> None:
    for path in (REPO / "flyte_cli").glob("*.py"):
        if path.name == "_command.py":
            continue
        assert "typer.Typer(\n    rich_markup_mode" not in path.read_text(encoding="utf-8"), path


def test_nested_groups_render_nested(flyte: Invoke, write: Any) -> None:
    run = _json_run(flyte, write("nested_demo.py", NESTED), "main")["run"]
    lines = flyte("get", "actions", run).stdout.splitlines()
    depth = {}
    for line in lines:
        for name in ("outer", "inner", "innermost"):
            if f"▤ {name} " in line:
                depth[name] = len(line) - len(line.lstrip("│├└─ "))
    assert depth["outer"] < depth["inner"] < depth["innermost"]
    assert not any("outer/inner" in line for line in lines)


def test_hints_after_a_run_repeat_the_store_it_was_given(flyte: Invoke, tmp_path: Path) -> None:
    db = tmp_path / "other store" / "runs.db"
    db.parent.mkdir()
    out = flyte("--store", str(db), "run", "examples/hello.py", "main").stdout
    hints = [line.strip() for line in out.splitlines() if "  # " in line]
    assert hints and all(h.startswith(f"flyte --store '{db}' ") for h in hints), hints
    run = hints[0].split("#")[0].split()[-1]
    logs = flyte("--store", str(db), "logs", run)
    assert logs.exit_code == 0
    plain = flyte("run", "examples/hello.py", "main").stdout
    assert all("--store" not in line for line in plain.splitlines() if "  # " in line)
