"""Nothing runs from the store: planted pickles are never loaded (issue 13, item 1).

A store file is data someone else may have written (a shared FLYTE_HOME, a file sent by
mail). Every exact value flyte-local reads back is authenticated with this home's key;
one that fails the check is a cache miss (re-executed, with a warning) or a clear error,
and is never unpickled.
"""

from __future__ import annotations

import os
import pickle
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]

PROJECT = """
import flyte

env = flyte.TaskEnvironment("hard")


@env.task(cache="auto")
def double(x: int) -> int:
    with open(@COUNTER@, "a") as f:
        f.write("double\\n")
    return x * 2


@env.task
def main(x: int) -> int:
    return double(x) + 1


@env.task
def use_deployed(x: int) -> int:
    import flyte.remote

    return flyte.remote.Task.get("hard.double")(x)
"""

BLOB_COLUMNS = (
    ("runs", "inputs_blob"),
    ("runs", "outputs_blob"),
    ("runs", "task_blob"),
    ("actions", "inputs_blob"),
    ("actions", "outputs_blob"),
    ("cache", "outputs_blob"),
    ("deployed_tasks", "snapshot"),
)


class _Planted:
    """Unpickling this writes a marker file: proof that code from the store ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def planted_pickle(marker: Path) -> bytes:
    return pickle.dumps(_Planted(marker))


class Home:
    """A project directory and a FLYTE_HOME, driven through the real `flyte` CLI."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path / "project"
        self.root.mkdir()
        self.home = tmp_path / "home"
        self.counter = tmp_path / "executions.txt"
        self.marker = tmp_path / "PWNED"
        source = textwrap.dedent(PROJECT).replace("@COUNTER@", repr(str(self.counter)))
        (self.root / "tasks.py").write_text(source)

    def flyte(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLYTE_")}
        env["FLYTE_HOME"] = str(self.home)
        env["NO_COLOR"] = "1"
        env["COLUMNS"] = "200"
        return subprocess.run(
            [sys.executable, "-m", "flyte_cli", *args],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def executions(self) -> int:
        return len(self.counter.read_text().splitlines()) if self.counter.exists() else 0

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.home / "runs.db", isolation_level=None)

    def plant_everywhere(self) -> None:
        evil = planted_pickle(self.marker)
        conn = self.db()
        for table, column in BLOB_COLUMNS:
            conn.execute(f"UPDATE {table} SET {column} = ?", (evil,))
        conn.close()

    def run_names(self) -> list[str]:
        conn = self.db()
        names = [r[0] for r in conn.execute("SELECT name FROM runs ORDER BY created_at")]
        conn.close()
        return names


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home(tmp_path)


def test_a_planted_pickle_in_every_blob_column_never_executes(home: Home) -> None:
    first = home.flyte("run", "--json", "tasks.py", "main", "--x", "3")
    assert first.returncode == 0, first.stderr
    assert home.flyte("deploy", "tasks.py").returncode == 0
    assert home.executions() == 1
    (run,) = home.run_names()
    home.plant_everywhere()

    # A cache hit on a tampered entry is a miss: the task runs again, with a warning.
    again = home.flyte("run", "--json", "tasks.py", "main", "--x", "3")
    assert again.returncode == 0, again.stderr
    assert '"outputs": 7' in again.stdout or '"outputs": [7]' in again.stdout, again.stdout
    assert home.executions() == 2
    # The warning is in the run's logs (and on the terminal when the run echoes).
    newest = home.run_names()[-1]
    assert "failed its integrity check" in home.flyte("logs", newest).stdout

    # Help text of a rerun never unpickles the stored inputs.
    helped = home.flyte("rerun", run, "--help")
    assert helped.returncode == 0, helped.stderr
    assert "--x" in helped.stdout

    # Rerunning needs the exact inputs: a tampered value is a clear error, not code.
    rerun = home.flyte("rerun", run)
    assert rerun.returncode == 2, rerun.stderr
    assert "integrity check" in rerun.stderr
    assert "Traceback" not in rerun.stderr
    recover = home.flyte("rerun", run, "--recover")
    assert recover.returncode == 2, recover.stderr

    for args in (("get", "io", run), ("get", "io", run, "double"), ("get", "run", run)):
        shown = home.flyte(*args)
        assert shown.returncode == 0, (args, shown.stderr)

    # A deployed task whose snapshot was replaced: a clear error, the body never loads.
    deployed = home.flyte("run", "tasks.py", "use_deployed", "--x", "2")
    assert deployed.returncode != 0
    assert "integrity check" in deployed.stderr + deployed.stdout
    assert not home.marker.exists()


def test_recovery_and_stored_outputs_refuse_tampered_values(home: Home) -> None:
    import flyte
    from flyte._store.sqlite import SqliteRunStore
    from flyte.errors import StoreError

    env = flyte.TaskEnvironment("tamper")

    @env.task
    def leaf(x: int) -> int:
        return x + 1

    @env.task
    def root(x: int) -> int:
        return leaf(x) * 10

    store = SqliteRunStore(home.root / "runs.db")
    flyte.init(store=store)
    run = flyte.run(root, 1)
    assert run.outputs()[0] == 20
    conn = sqlite3.connect(store.path, isolation_level=None)
    evil = planted_pickle(home.marker)
    conn.execute("UPDATE actions SET outputs_blob = ?", (evil,))
    conn.execute("UPDATE runs SET outputs_blob = ?", (evil,))
    conn.close()

    # Recovery does not trust the tampered result: the action executes again.
    recovered = flyte.with_runcontext(recover_from=run.name).run(root, 1)
    assert recovered.outputs()[0] == 20
    assert not any(a.recovered for a in recovered.actions())

    # Reading a finished run's outputs from the store refuses the tampered value.
    import flyte.remote

    with pytest.raises(StoreError, match="integrity check"):
        flyte.remote.Run.get(run.name).outputs()
    assert not home.marker.exists()


async def test_the_dashboard_never_unpickles(home: Home) -> None:
    from flyte_tui.app import DashboardApp
    from flyte_tui.widgets import ActionTree

    assert home.flyte("run", "tasks.py", "main", "--x", "4").returncode == 0
    (run,) = home.run_names()
    home.plant_everywhere()
    from flyte._store.sqlite import SqliteRunStore

    store = SqliteRunStore(home.home / "runs.db")
    app = DashboardApp(store, run, poll_interval=0.05)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause(0.2)
        tree = app.screen.query_one(ActionTree)
        tree.focus()
        for _ in range(3):
            await pilot.press("down")
            await pilot.pause(0.05)
    assert not home.marker.exists()


def test_stored_values_carry_a_key_that_only_this_home_has(tmp_path: Path) -> None:
    from flyte import _serde
    from flyte.errors import StoreError

    blob = _serde.dumps({"a": 1})
    assert _serde.loads(blob) == {"a": 1}
    key = Path(os.environ["FLYTE_HOME"]) / "store.key"
    assert key.exists()
    assert (key.stat().st_mode & 0o777) == 0o600
    os.environ["FLYTE_HOME"] = str(tmp_path / "someone-else")
    with pytest.raises(StoreError, match="integrity check"):
        _serde.loads(blob)
    with pytest.raises(StoreError, match="integrity check"):
        _serde.loads(pickle.dumps({"a": 1}))


@pytest.mark.parametrize("tamper", ["writable by others", "wrong size", "a symlink", "a folder"])
def test_a_key_file_that_cannot_be_trusted_is_never_used(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, tamper: str
) -> None:
    from flyte._store._key import home_key

    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    planted = b"k" * 32
    key = home / "store.key"
    if tamper == "writable by others":
        key.write_bytes(planted)
        key.chmod(0o666)
    elif tamper == "wrong size":
        key.write_bytes(b"short")
        key.chmod(0o600)
    elif tamper == "a symlink":
        target = tmp_path / "elsewhere"
        target.write_bytes(planted)
        target.chmod(0o600)
        key.symlink_to(target)
    else:
        key.mkdir()
    with caplog.at_level("WARNING", logger="flyte.store"):
        used = home_key(home)
    assert used != planted and len(used) == 32
    assert "stored values are authenticated for this process only" in caplog.text
    assert home_key(home) is used  # the same for the rest of the process


REKEYED = """
import sys
import flyte

env = flyte.TaskEnvironment("rekeyed")


# A float: sealed and pickled. (An int, a bool, None or a short str is kept as JSON,
# which never executes and needs no key: see test_plain_values_kept_as_json_...)
@env.task(cache="auto")
def square(x: int) -> float:
    with open(sys.argv[1], "a") as f:
        f.write("ran\\n")
    return float(x * x)


print("OUT", flyte.with_runcontext(echo=False).run(square, 3).outputs()[0])
"""


def test_values_sealed_under_a_key_since_tampered_with_run_again(tmp_path: Path) -> None:
    script = tmp_path / "rekeyed.py"
    script.write_text(REKEYED)
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLYTE_")}
    env["FLYTE_HOME"] = str(home)

    bodies = tmp_path / "bodies"

    def run() -> str:
        done = subprocess.run(
            [sys.executable, str(script), str(bodies)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert "OUT 9" in done.stdout
        return done.stderr

    def ran() -> int:
        return len(bodies.read_text().splitlines())

    run()
    run()
    assert ran() == 1  # the second was a hit
    (home / "store.key").chmod(0o666)  # anyone could have forged values with it now
    assert "authenticated for this process only" in run()
    assert ran() == 2  # not trusted: run again, never loaded


def test_plain_values_kept_as_json_read_back_exactly_and_never_execute(tmp_path: Path) -> None:
    import os

    from flyte import _serde
    from flyte.errors import StoreIntegrityError

    os.environ["FLYTE_HOME"] = str(tmp_path)  # the autouse fixture restores it
    for value in (0, -(2**62), True, False, None, "", 'é "q" \ud800', "7", "-1"):
        blob = _serde.exact_json(value, _serde.encode_json(value))
        assert blob is not None and not blob.startswith(_serde.MAGIC)
        for load in (_serde.loads, _serde.own_loads, _serde.channel_loads):
            got = load(blob)
            assert got == value and type(got) is type(value), (load, value)
        # Carried through a server: kept as it is (plain data needs no seal).
        assert _serde.reseal(blob) == blob and _serde.adopt(blob) == blob
    for value in (10**5000, "x" * 5000, 0.5, (1,), [1], b"x", 2**62 + 0.0):
        assert _serde.exact_json(value, _serde.encode_json(value)) is None, value
    # Altered into something that is not JSON: refused like a tampered pickle, a miss.
    with pytest.raises(StoreIntegrityError, match="integrity check"):
        _serde.loads(_serde.JSON_FORM + b"{not json")
    assert _serde.trusted_loads(_serde.JSON_FORM + b"-x", what="a value") == (False, None)
