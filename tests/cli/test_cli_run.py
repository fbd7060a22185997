"""`flyte run`: results, run options, help at both levels, failures and usage errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import Invoke, error_line


def _store() -> Any:
    from flyte._run import current_store

    return current_store()


def test_hello_prints_the_tree_the_output_and_the_next_commands(flyte: Invoke) -> None:
    result = flyte("run", "examples/hello.py", "main", "--name", "World")
    assert result.exit_code == 0, result.output
    run = _store().list_runs()[0]
    assert run.phase == "SUCCEEDED"
    out = result.stdout
    assert "Hello, World!" in out.splitlines()
    assert f"Run {run.name} SUCCEEDED" in out
    assert out.count("say_hello(name=") == 3  # the fan-out, drawn as a static tree
    assert f"flyte get actions {run.name}" in out
    assert f"flyte logs {run.name}" in out
    assert "Ctrl-C" not in out  # no live display when stdout is not a terminal


def test_input_and_run_option_with_the_same_flag(flyte: Invoke) -> None:
    # `--name` after TASK is the input `name`; before FILE it names the run.
    result = flyte("run", "--name", "my-run", "examples/hello.py", "main", "--name", "Ada")
    assert result.exit_code == 0, result.output
    assert "Hello, Ada!" in result.stdout
    assert _store().get_run("my-run").outputs_json == '"Hello, Ada!"'


def test_run_name_taken_is_a_usage_error(flyte: Invoke) -> None:
    assert flyte("run", "--name", "twice", "examples/hello.py", "main").exit_code == 0
    line = error_line(flyte("run", "--name", "twice", "examples/hello.py", "main"))
    assert "twice" in line and "already exists" in line


def test_json_result(flyte: Invoke) -> None:
    result = flyte("run", "examples/hello.py", "main", "--friends", "1", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["phase"] == "SUCCEEDED"
    assert data["outputs"] == "Hello, World!"
    assert data["actions"] == 3 and data["executed"] == 3 and data["cache_hits"] == 0
    assert data["error"] is None
    assert _store().get_run(data["run"]) is not None


def test_quiet_prints_only_the_output(flyte: Invoke) -> None:
    result = flyte("run", "-q", "examples/hello.py", "main", "--name", "Bo")
    assert result.exit_code == 0, result.output
    assert result.stdout == "Hello, Bo!\n"


def test_failed_run_prints_the_user_traceback_and_exits_1(flyte: Invoke) -> None:
    result = flyte("run", "examples/failing.py", "main")
    assert result.exit_code == 1, result.output
    run = _store().list_runs()[0]
    assert run.phase == "FAILED"
    out = result.stdout
    assert "Traceback (most recent call last):" in out
    assert 'examples/failing.py", line' in out
    assert "ValueError: cannot divide by zero" in out
    assert "flyte/_controller" not in out  # the user's frames only
    assert "dividing 1 by 0" in out  # the failing action's logs
    assert f"Run {run.name} FAILED" in out
    assert f"flyte rerun {run.name} --recover" in out


def test_failed_run_json_and_quiet(flyte: Invoke) -> None:
    result = flyte("run", "examples/failing.py", "main", "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["phase"] == "FAILED"
    assert data["error"]["type"] == "ValueError"
    assert "cannot divide by zero" in data["error"]["traceback"]
    quiet = flyte("run", "examples/failing.py", "main", "-q")
    assert quiet.exit_code == 1
    assert quiet.stdout == ""
    assert "ValueError: cannot divide by zero" in quiet.stderr


def test_run_options_after_the_task(flyte: Invoke) -> None:
    assert flyte("run", "examples/pipeline.py", "main", "--n", "3").exit_code == 0
    again = json.loads(flyte("run", "examples/pipeline.py", "main", "--n", "3", "--json").stdout)
    assert again["cache_hits"] == 3  # load, transform, summarize
    no_cache = json.loads(
        flyte("run", "examples/pipeline.py", "main", "--n", "3", "--no-cache", "--json").stdout
    )
    assert no_cache["cache_hits"] == 0
    statuses = {str(a.cache_status) for a in _store().list_actions(no_cache["run"])}
    assert statuses == {"disabled"}
    overwrite = json.loads(
        flyte(
            "run", "--overwrite-cache", "--json", "examples/pipeline.py", "main", "--n", "3"
        ).stdout
    )
    assert overwrite["cache_hits"] == 0 and overwrite["executed"] == 4
    assert overwrite["outputs"] == again["outputs"]


def test_file_help_lists_tasks_and_task_help_shows_inputs(flyte: Invoke) -> None:
    file_help = flyte("run", "examples/hello.py", "--help")
    assert file_help.exit_code == 0
    assert "Tasks:" in file_help.stdout
    assert "main" in file_help.stdout and "say_hello" in file_help.stdout
    assert "Greet one name." in file_help.stdout
    assert "Examples:" in file_help.stdout
    bare = flyte("run", "examples/hello.py")
    assert bare.exit_code == 0 and "say_hello" in bare.stdout
    task_help = flyte("run", "examples/hello.py", "main", "--help")
    assert task_help.exit_code == 0
    text = task_help.stdout
    assert "Greet `name` and `friends` more names in parallel" in text  # the docstring
    assert "--name TEXT" in text and "who to greet." in text  # Args: docs per input
    assert "default: World" in text and "--friends INT" in text
    assert "--no-cache" in text  # run options after the task
    assert text.rstrip().splitlines()[-1].strip().startswith("flyte run examples/hello.py main")


TYPES = '''
import dataclasses, datetime, enum, typing
import pydantic
import flyte

env = flyte.TaskEnvironment("types")

class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"

@dataclasses.dataclass
class Point:
    x: int
    y: float = 0.0

class User(pydantic.BaseModel):
    name: str
    age: int

@env.task
def kinds(
    count: int,
    ratio: float,
    label: str,
    flag: bool,
    color: Color,
    mode: typing.Literal["fast", "slow"],
    items: list[int],
    mapping: dict[str, int],
    point: Point,
    user: User,
    when: datetime.date,
    limit: typing.Optional[int] = None,
    verbose: bool = False,
    data: flyte.io.File | None = None,
    folder: flyte.io.Dir | None = None,
) -> dict:
    """Echo every input with its type."""
    return {
        "count": [count, type(count).__name__],
        "ratio": [ratio, type(ratio).__name__],
        "label": label,
        "flag": flag,
        "color": color.name,
        "mode": mode,
        "items": items,
        "mapping": mapping,
        "point": [point.x, point.y, type(point).__name__],
        "user": [user.name, user.age, type(user).__name__],
        "when": when.isoformat(),
        "limit": limit,
        "verbose": verbose,
        "data": open(data.download_sync()).read() if data is not None else None,
        "folder": sorted(f.path.rsplit("/", 1)[-1] for f in folder.list_files_sync()) if folder else None,
    }
'''

REQUIRED = [
    "--count", "3", "--ratio", "0.5", "--label", "hi", "--flag", "--color", "blue",
    "--mode", "slow", "--items", "[1, 2]", "--mapping", '{"a": 1}', "--point", '{"x": 1}',
    "--user", '{"name": "Ada", "age": 36}', "--when", "2024-05-01",
]  # fmt: skip


def test_every_input_type_converts(flyte: Invoke, write: Any, tmp_path: Path) -> None:
    path = write("types_demo.py", TYPES)
    (tmp_path / "in.txt").write_text("file body")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "a.txt").write_text("a")
    result = flyte(
        "run", "--json", path, "kinds", *REQUIRED, "--limit", "7", "--verbose",
        "--data", str(tmp_path / "in.txt"), "--folder", str(tmp_path / "folder"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)["outputs"]
    assert out == {
        "count": [3, "int"],
        "ratio": [0.5, "float"],
        "label": "hi",
        "flag": True,
        "color": "BLUE",
        "mode": "slow",
        "items": [1, 2],
        "mapping": {"a": 1},
        "point": [1, 0.0, "Point"],
        "user": ["Ada", 36, "User"],
        "when": "2024-05-01",
        "limit": 7,
        "verbose": True,
        "data": "file body",
        "folder": ["a.txt"],
    }
    defaults = flyte("run", "--json", path, "kinds", *REQUIRED[:6], "--no-flag", *REQUIRED[7:])
    assert defaults.exit_code == 0, defaults.output
    out = json.loads(defaults.stdout)["outputs"]
    assert out["flag"] is False and out["limit"] is None and out["verbose"] is False
    assert out["data"] is None


def test_task_help_marks_required_inputs_and_types(flyte: Invoke, write: Any) -> None:
    text = flyte("run", write("types_help.py", TYPES), "kinds", "--help").stdout
    assert "--count INT" in text and "[int, required]" in text
    assert "--flag / --no-flag" in text
    assert "--color [red|blue]" in text
    assert "--mode [fast|slow]" in text
    assert "--items JSON" in text and "list[int]" in text
    assert "--data FILE" in text and "--folder DIR" in text
    assert "[int | None]" in text  # Optional, not required


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--count", "three", "Invalid value for '--count': 'three' is not a valid int"),
        ("--ratio", "x", "'x' is not a valid float"),
        ("--color", "green", "'green' is not one of 'red', 'blue'"),
        ("--items", "[1, 2", "not valid JSON for list[int]"),
        ("--items", '["a"]', "'a' is not a valid int"),
        ("--mapping", "[1]", "expected a JSON object for dict[str, int]"),
        ("--point", '{"z": 1}', "Point has no field 'z'"),
        ("--user", '{"name": "Ada"}', "not a valid User"),
        ("--when", "soon", "'soon' is not an ISO date"),
        ("--data", "/no/such/file.txt", "file '/no/such/file.txt' does not exist"),
    ],
)
def test_bad_input_values_name_the_input_and_type(
    flyte: Invoke, write: Any, option: str, value: str, message: str
) -> None:
    args = list(REQUIRED)
    if option in args:
        args[args.index(option) + 1] = value
    else:
        args += [option, value]
    line = error_line(flyte("run", write("types_bad.py", TYPES), "kinds", *args))
    assert message in line
    assert option in line


def test_missing_required_input(flyte: Invoke, write: Any) -> None:
    line = error_line(flyte("run", write("types_missing.py", TYPES), "kinds", *REQUIRED[2:]))
    assert "'--count'" in line and "count" in line and "int" in line


@pytest.mark.parametrize(
    ("source", "args", "message"),
    [
        (None, ["run", "no_such_file.py", "main"], "file 'no_such_file.py' does not exist"),
        ("def broken(:\n", ["main"], "syntax error in"),
        (
            "import no_such_module_xyz\n",
            ["main"],
            "ModuleNotFoundError: No module named 'no_such_module_xyz'",
        ),
        ("x = 1\n", ["main"], "defines no tasks"),
        (None, ["run", "examples/hello.py", "mian"], "did you mean 'main'?"),
        (None, ["run", "examples/hello.py", "main", "--bogus", "1"], "No such option: --bogus"),
        (None, ["run", "examples/hello.py", "main", "--recover", "nope-run"], "nope-run"),
        (None, ["run", "-m", "no_such_pkg.mod", "main"], "no module named 'no_such_pkg.mod'"),
        (None, ["run", "--name", "x"], "missing FILE and TASK"),
        (
            None,
            ["run", "--deployed", "nothing.here", "--x", "1"],
            "no deployed task 'nothing.here'",
        ),
        (None, ["get", "run", "no-such-run"], "no run named 'no-such-run'"),
        (None, ["nonsense"], "No such command 'nonsense'"),
    ],
)
def test_usage_errors_are_one_line_exit_2(
    flyte: Invoke, write: Any, source: str | None, args: list[str], message: str
) -> None:
    if source is not None:
        args = ["run", write("user_file.py", source), *args]
    line = error_line(flyte(*args))
    assert message in line, line


def test_import_error_points_at_the_user_line(flyte: Invoke, write: Any) -> None:
    path = write("raises_at_import.py", "import flyte\n\nvalue = 1 / 0\n")
    line = error_line(flyte("run", path, "main"))
    assert f"{Path(path).resolve()}:3: ZeroDivisionError" in line


def test_store_error_is_one_line(flyte: Invoke, tmp_path: Path) -> None:
    bad = tmp_path / "corrupt.db"
    bad.write_bytes(b"this is not a sqlite database" * 100)
    line = error_line(flyte("--store", str(bad), "get", "runs"))
    assert "corrupt.db" in line or "database" in line


def test_module_option(
    flyte: Invoke, write: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    write(
        "pkg_demo/mod.py",
        """
        import flyte
        env = flyte.TaskEnvironment("pkg_demo")

        @env.task
        def twice(x: int) -> int:
            return 2 * x
        """,
    )
    monkeypatch.chdir(tmp_path)
    from typer.testing import CliRunner

    from flyte_cli.main import app

    result = CliRunner().invoke(
        app, ["run", "-q", "-m", "pkg_demo.mod", "twice", "--x", "21"], prog_name="flyte"
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "42"


def test_deployed_task_runs_by_name_and_version(flyte: Invoke) -> None:
    deployed = flyte("deploy", "examples/hello.py", "--version", "v1")
    assert deployed.exit_code == 0, deployed.output
    result = flyte("run", "-q", "--deployed", "hello.main:v1", "--name", "Ada", "--friends", "0")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "Hello, Ada!"
    latest = flyte("run", "-q", "--deployed", "hello.say_hello", "--name", "Bo")
    assert latest.stdout.strip() == "Hello, Bo!"
    help_text = flyte("run", "--deployed", "hello.main:v1", "--help").stdout
    assert "--friends INT" in help_text
    assert "no deployed task" in error_line(flyte("run", "--deployed", "hello.main:v9"))


def test_recover_reuses_what_succeeded(
    flyte: Invoke, write: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(
        "flaky_demo.py",
        """
        import os
        import flyte
        env = flyte.TaskEnvironment("flaky")

        @env.task
        def first(x: int) -> int:
            return x + 1

        @env.task
        def second(x: int) -> int:
            if os.environ.get("FLAKY_FAIL") == "1":
                raise RuntimeError("flaky")
            return x * 10

        @env.task
        def main(x: int = 1) -> int:
            return second(first(x))
        """,
    )
    monkeypatch.setenv("FLAKY_FAIL", "1")
    failed = json.loads(flyte("run", "--json", path, "main").stdout)
    assert failed["phase"] == "FAILED"
    monkeypatch.delenv("FLAKY_FAIL")
    result = flyte("run", "--json", "--recover", failed["run"], path, "main")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["outputs"] == 20
    assert data["recovered"] == 1 and data["recovered_from"] == failed["run"]
    recovered = [a.name for a in _store().list_actions(data["run"]) if a.recovered]
    assert recovered == ["flaky.first"]


def test_tui_flag_launches_the_dashboard_then_prints_the_summary(
    flyte: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flyte_tui

    calls: list[tuple[Any, ...]] = []

    def fake_launch(
        store: Any, run_name: str | None = None, *, follow_latest: bool = False
    ) -> None:
        calls.append((store, run_name, follow_latest, store.get_run(run_name) is not None))

    monkeypatch.setattr(flyte_tui, "launch", fake_launch, raising=False)
    monkeypatch.setattr("flyte_cli._execute.has_terminal", lambda: True)
    result = flyte("run", "examples/hello.py", "main", "--tui")
    assert result.exit_code == 0, result.output
    run = _store().list_runs()[0]
    assert calls == [(_store(), run.name, False, True)]
    assert "Hello, World!" in result.stdout and f"Run {run.name} SUCCEEDED" in result.stdout


def test_watch_flag_hands_over_to_the_watch_loop(
    flyte: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys
    import types

    calls: list[tuple[Any, ...]] = []

    def watch_loop(file: str, task: str, argv: list[str], **kwargs: Any) -> int:
        calls.append((file, task, argv, kwargs))
        return 3

    module = types.ModuleType("flyte_cli._watch")
    module.watch_loop = watch_loop  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "flyte_cli._watch", module)
    monkeypatch.setattr("flyte_cli._execute.has_terminal", lambda: True)
    result = flyte(
        "run", "--watch-path", "flyte", "examples/hello.py", "main", "--name", "Ada",
        "--watch", "--friends=2", "--watch-path", "examples", "--tui",
    )  # fmt: skip
    assert result.exit_code == 3, result.output
    assert calls == [
        (
            "examples/hello.py",
            "main",
            ["--name", "Ada", "--friends=2"],
            {"watch_paths": ["flyte", "examples"], "tui": True, "module": False},
        )
    ]
    assert _store().list_runs() == []  # the loop starts the runs, not this process


@pytest.mark.parametrize("option", [["--no-cache"], ["--overwrite-cache"], ["--json"]])
def test_watch_refuses_run_options_it_cannot_honour(
    flyte: Invoke, monkeypatch: pytest.MonkeyPatch, option: list[str]
) -> None:
    import sys
    import types

    module = types.ModuleType("flyte_cli._watch")
    module.watch_loop = lambda *a, **k: 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "flyte_cli._watch", module)
    result = flyte("run", "examples/hello.py", "main", "--watch", *option)
    assert result.exit_code == 2
    assert f"{option[0]} cannot be combined with --watch" in result.output


def test_watch_starts_even_when_the_file_does_not_import_yet(
    flyte: Invoke, write: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys
    import types

    calls: list[tuple[Any, ...]] = []

    def watch_loop(file: str, task: str, argv: list[str], **kwargs: Any) -> int:
        calls.append((file, task, argv, kwargs))
        return 0

    module = types.ModuleType("flyte_cli._watch")
    module.watch_loop = watch_loop  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "flyte_cli._watch", module)
    path = write("mid_edit.py", "def broken(:\n")
    result = flyte("run", "--watch", path, "main", "--n", "3", "--watch-path", "src")
    assert result.exit_code == 0, result.output
    assert calls == [
        (path, "main", ["--n", "3"], {"watch_paths": ["src"], "tui": False, "module": False})
    ]
    assert "syntax error" in error_line(flyte("run", path, "main"))  # without --watch: an error


def test_store_option_selects_the_run_store(flyte: Invoke, tmp_path: Path) -> None:
    other = str(tmp_path / "other" / "runs.db")
    result = flyte("--store", other, "run", "--json", "examples/hello.py", "main")
    assert result.exit_code == 0, result.output
    name = json.loads(result.stdout)["run"]
    assert [
        r["name"] for r in json.loads(flyte("--store", other, "get", "runs", "--json").stdout)
    ] == [name]
    assert json.loads(flyte("get", "runs", "--json").stdout) == []  # not in the default store
    memory = flyte("--store", "memory", "run", "-q", "examples/hello.py", "main", "--name", "Mem")
    assert memory.stdout == "Hello, Mem!\n"


def test_a_user_file_named_like_a_stdlib_module(flyte: Invoke, write: Any) -> None:
    import sys
    import types as stdlib_types

    path = write(
        "types.py",
        """
        import flyte
        env = flyte.TaskEnvironment("shadow")

        @env.task
        def main() -> str:
            return "mine"
        """,
    )
    result = flyte("run", "-q", path, "main")
    assert result.exit_code == 0, result.output
    assert result.stdout == "mine\n"
    assert sys.modules["types"] is stdlib_types


def test_executor_process_runs_bodies_in_workers_and_the_tree_says_so(
    flyte: Invoke, tmp_path: Path
) -> None:
    import os

    script = tmp_path / "where.py"
    script.write_text(
        "import os\nimport flyte\n\nenv = flyte.TaskEnvironment('where')\n\n\n"
        "@env.task\ndef main() -> int:\n    return os.getpid()\n"
    )
    result = flyte("run", "--executor", "process", str(script), "main")
    assert result.exit_code == 0, result.output
    run = _store().list_runs()[0]
    assert json.loads(run.outputs_json) != os.getpid()
    tree = flyte("get", "actions", run.name)
    assert f"worker {run.outputs_json}" in tree.stdout


def test_unknown_executor_is_a_usage_error(flyte: Invoke) -> None:
    line = error_line(flyte("run", "--executor", "threads", "examples/hello.py", "main"))
    assert "'inline', 'process'" in line


@pytest.mark.parametrize(
    ("module", "source", "message"),
    [
        ("broken_syntax", "def broken(:\n", "syntax error in"),
        ("raises_here", "raise RuntimeError('no config')\n", "RuntimeError: no config"),
        (
            "imports_missing",
            "import no_such_dependency_xyz\n",
            "importing imports_missing failed: ModuleNotFoundError",
        ),
    ],
)
def test_a_module_that_cannot_be_imported_is_one_line_exit_2(
    flyte: Invoke,
    write: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    module: str,
    source: str,
    message: str,
) -> None:
    write(f"{module}.py", source)
    monkeypatch.chdir(tmp_path)  # `-m` imports from the working directory
    line = error_line(flyte("run", "-m", module, "main"))
    assert message in line, line


def test_a_file_that_is_not_python_says_to_use_m(flyte: Invoke) -> None:
    line = error_line(flyte("run", "README.md", "main"))
    assert "'README.md' is not a Python file (.py); use -m for a module" in line
