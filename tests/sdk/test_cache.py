"""Behaviour of the task cache (DESIGN.md section 5, issue 4).

The cross-process tests write a small user project to `tmp_path`, run it in fresh Python
processes that share one `$FLYTE_HOME/runs.db`, and count executions through a file
that the task bodies append to, never through timing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic
import pytest

import flyte
from flyte import CacheStatus

# --- helpers ---------------------------------------------------------------------------

DRIVER = """
import importlib, json, sys
import flyte

module = importlib.import_module(sys.argv[1])
task = getattr(module, sys.argv[2])
kwargs = json.loads(sys.argv[3])
run = flyte.with_runcontext(echo=False).run(task, **kwargs)
print(json.dumps({
    "run": run.name,
    "outputs": list(run.outputs()),
    "actions": {
        a.name.rsplit(".", 1)[-1]: {"id": a.id, "cache": a.cache_status.value}
        for a in run.actions()
    },
}))
"""


class Project:
    """A user project in a temporary directory, run in fresh processes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.counter = root / "executions.txt"

    def write(self, module: str, source: str) -> None:
        text = textwrap.dedent(source).replace("@COUNTER@", repr(str(self.counter)))
        (self.root / f"{module}.py").write_text(text)

    def edit(self, module: str, old: str, new: str) -> None:
        path = self.root / f"{module}.py"
        text = path.read_text()
        assert old in text, f"{old!r} not in {module}.py"
        path.write_text(text.replace(old, new))

    def executions(self) -> list[str]:
        return self.counter.read_text().split() if self.counter.exists() else []

    def run(self, module: str, task: str, **kwargs: Any) -> dict[str, Any]:
        """Run `module.task(**kwargs)` in a new process; return its run summary."""
        env = dict(os.environ)  # FLYTE_HOME points into tmp_path (autouse fixture)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.root), env.get("PYTHONPATH")]))
        # Edits can keep a file's size and mtime second: never trust stale bytecode.
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        proc = subprocess.run(
            [sys.executable, "-c", DRIVER, module, task, json.dumps(kwargs)],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path / "project")


def action(run: flyte.Run, short_name: str) -> Any:
    """The single action of `run` whose task function is `short_name`."""
    found = [a for a in run.actions() if a.name.rsplit(".", 1)[-1] == short_name]
    assert len(found) == 1, [a.name for a in run.actions()]
    return found[0]


def status(run: flyte.Run, short_name: str) -> CacheStatus:
    return action(run, short_name).cache_status  # type: ignore[no-any-return]


# --- a program run twice in two processes ------------------------------------------------

PIPELINE = """
import dataclasses
from pathlib import Path

import flyte

COUNTER = Path(@COUNTER@)

env = flyte.TaskEnvironment("pipeline")


@dataclasses.dataclass(frozen=True)
class Settings:
    name: str
    tags: frozenset[str]


def log(name: str) -> None:
    with COUNTER.open("a") as f:
        f.write(name + "\\n")


def helper_a(x: int) -> int:
    return x + 1


def helper_b(x: int) -> int:
    return x * 2


@env.task(cache="auto")
def task_a(x: int) -> int:
    log("a")
    return helper_a(x)


@env.task(cache="auto")
def task_b(x: int) -> int:
    log("b")
    return helper_b(x)


@env.task(cache="auto")
def task_c(settings: Settings) -> str:
    log("c")
    return settings.name + ":" + ",".join(sorted(settings.tags))


@env.task
def plain(x: int) -> int:
    log("plain")
    return x


@env.task
def main(x: int) -> list:
    settings = Settings("s", frozenset({"alpha", "beta", "gamma", "delta", "eps"}))
    return [task_a(x), task_b(x), task_c(settings), plain(x)]
"""

EXPECTED = [4, 6, "s:alpha,beta,delta,eps,gamma", 3]


def test_second_process_hits_and_does_not_execute_cached_bodies(project: Project) -> None:
    project.write("pipeline", PIPELINE)
    first = project.run("pipeline", "main", x=3)
    assert first["outputs"] == [EXPECTED]
    assert sorted(project.executions()) == ["a", "b", "c", "plain"]
    assert {k: v["cache"] for k, v in first["actions"].items()} == {
        "main": "disabled",
        "task_a": "written",
        "task_b": "written",
        "task_c": "written",
        "plain": "disabled",
    }

    second = project.run("pipeline", "main", x=3)
    assert second["run"] != first["run"]
    assert second["outputs"] == [EXPECTED]
    # Only the uncached task ran again; the frozenset input hashed the same in a new
    # process (with another string hash seed).
    assert sorted(project.executions()) == ["a", "b", "c", "plain", "plain"]
    assert {k: v["cache"] for k, v in second["actions"].items()} == {
        "main": "disabled",
        "task_a": "hit",
        "task_b": "hit",
        "task_c": "hit",
        "plain": "disabled",
    }
    # Cache entries live in the shared store: the test process sees them too.
    assert {e.task for e in flyte.cache.entries()} == {
        "pipeline.task_a",
        "pipeline.task_b",
        "pipeline.task_c",
    }


def test_editing_a_helper_invalidates_exactly_the_tasks_that_use_it(project: Project) -> None:
    project.write("pipeline", PIPELINE)
    project.run("pipeline", "main", x=3)
    project.edit("pipeline", "return x + 1", "return x + 10")
    project.counter.unlink()

    second = project.run("pipeline", "main", x=3)

    assert second["outputs"] == [[13, 6, EXPECTED[2], 3]]
    assert sorted(project.executions()) == ["a", "plain"]
    acts = second["actions"]
    assert acts["task_a"]["cache"] == "written"
    assert acts["task_b"]["cache"] == "hit"
    assert acts["task_c"]["cache"] == "hit"

    why = flyte.cache.explain(second["run"], acts["task_a"]["id"])
    assert not why.hit
    assert why.reasons and any("helper_a" in r for r in why.reasons), why.reasons
    assert not any("helper_b" in r or "input" in r for r in why.reasons), why.reasons
    assert "helper_a" in str(why)
    assert flyte.cache.explain(second["run"], acts["task_b"]["id"]).hit


def test_editing_comments_and_whitespace_keeps_every_hit(project: Project) -> None:
    project.write("pipeline", PIPELINE)
    project.run("pipeline", "main", x=3)
    project.edit(
        "pipeline", "def helper_a(x: int) -> int:\n", "def helper_a(x: int)  ->  int:  # +1\n\n"
    )
    project.edit("pipeline", "return x * 2", "# doubled\n    return (x  *  2)   # trailing")
    project.edit(
        "pipeline", '    log("a")\n', '    # a comment in the task body\n\n    log( "a" )\n'
    )
    project.counter.unlink()

    second = project.run("pipeline", "main", x=3)

    assert second["outputs"] == [EXPECTED]
    assert project.executions() == ["plain"]
    assert second["actions"]["task_a"]["cache"] == "hit"
    assert second["actions"]["task_b"]["cache"] == "hit"


def test_override_version_pins_the_cache_across_processes_and_edits(project: Project) -> None:
    project.write(
        "pinned",
        """
        from pathlib import Path

        import flyte

        COUNTER = Path(@COUNTER@)
        env = flyte.TaskEnvironment("pinned")


        @env.task(cache=flyte.Cache("override", version_override="v2"))
        def pinned(x: int) -> str:
            with COUNTER.open("a") as f:
                f.write("pinned\\n")
            return "first:" + str(x)
        """,
    )
    one = project.run("pinned", "pinned", x=1)
    two = project.run("pinned", "pinned", x=1)
    assert one["outputs"] == two["outputs"] == ["first:1"]
    assert project.executions() == ["pinned"]
    assert (one["actions"]["pinned"]["cache"], two["actions"]["pinned"]["cache"]) == (
        "written",
        "hit",
    )

    project.edit("pinned", '"first:"', '"second:"')  # the body changed; the pinned version did not
    three = project.run("pinned", "pinned", x=1)
    assert three["outputs"] == ["first:1"]
    assert three["actions"]["pinned"]["cache"] == "hit"
    assert project.executions() == ["pinned"]

    project.edit("pinned", 'version_override="v2"', 'version_override="v3"')
    four = project.run("pinned", "pinned", x=1)
    assert four["outputs"] == ["second:1"]
    assert four["actions"]["pinned"]["cache"] == "written"
    assert project.executions() == ["pinned", "pinned"]
    why = flyte.cache.explain(four["run"], four["actions"]["pinned"]["id"])
    assert not why.hit and "v3" in str(why), why.reasons


# --- behaviors and options, in process ---------------------------------------------------


def counted(calls: list[Any]) -> Any:
    """A task body that records each execution and returns the execution count."""

    def body(x: int) -> int:
        calls.append(x)
        return len(calls)

    return body


@pytest.mark.parametrize("cache", ["auto", flyte.Cache("auto"), flyte.Cache(behavior="auto")])
def test_auto_hits_on_same_inputs_and_misses_on_new_ones(store: Any, cache: Any) -> None:
    env = flyte.TaskEnvironment("auto_env")
    calls: list[int] = []

    @env.task(cache=cache)
    def square(x: int) -> int:
        calls.append(x)
        return x * x

    r1 = flyte.run(square, 4)
    r2 = flyte.run(square, x=4)  # positional or keyword: the same inputs
    r3 = flyte.run(square, 5)
    assert (r1.outputs()[0], r2.outputs()[0], r3.outputs()[0]) == (16, 16, 25)
    assert calls == [4, 5]
    assert [status(r, "square") for r in (r1, r2, r3)] == [
        CacheStatus.WRITTEN,
        CacheStatus.HIT,
        CacheStatus.WRITTEN,
    ]


@pytest.mark.parametrize("cache", ["disable", flyte.Cache("disable"), None])
def test_disable_never_reads_or_writes(store: Any, cache: Any) -> None:
    env = flyte.TaskEnvironment("off_env")
    calls: list[int] = []

    @env.task(cache=cache)
    def square(x: int) -> int:
        calls.append(x)
        return x * x

    runs = [flyte.run(square, 3) for _ in range(2)]
    assert calls == [3, 3]
    assert [status(r, "square") for r in runs] == [CacheStatus.DISABLED] * 2
    assert flyte.cache.entries() == []


def test_override_behaves_like_auto_within_a_process(store: Any) -> None:
    env = flyte.TaskEnvironment("override_env")
    calls: list[int] = []

    @env.task(cache=flyte.Cache("override", version_override="v2"))
    def work(x: int) -> int:
        calls.append(x)
        return x

    assert [flyte.run(work, 1).outputs()[0] for _ in range(3)] == [1, 1, 1]
    assert calls == [1]
    v3 = work.override(cache=flyte.Cache("override", version_override="v3"))
    run = flyte.run(v3, 1)
    assert calls == [1, 1] and status(run, "work") is CacheStatus.WRITTEN


def test_invalid_cache_options_list_the_valid_behaviors() -> None:
    env = flyte.TaskEnvironment("bad_env")
    with pytest.raises(flyte.errors.InvalidOptionError, match=r"'auto'.*'override'.*'disable'"):
        flyte.Cache("sometimes")  # type: ignore[arg-type]
    with pytest.raises(flyte.errors.InvalidOptionError, match="'auto'"):

        @env.task(cache="always")  # type: ignore[arg-type]
        def nope(x: int) -> int:
            return x

    with pytest.raises(flyte.errors.InvalidOptionError, match="version_override"):
        flyte.Cache("override")


def test_ignored_inputs_do_not_change_the_key(store: Any) -> None:
    env = flyte.TaskEnvironment("ignored_env")
    calls: list[int] = []

    @env.task(cache=flyte.Cache("auto", ignored_inputs=("verbose", "label")))
    def work(x: int, verbose: bool = False, label: str = "") -> int:
        calls.append(x)
        return x * 10

    assert flyte.run(work, 1, verbose=True, label="one").outputs()[0] == 10
    r2 = flyte.run(work, 1, verbose=False, label="two")
    assert r2.outputs()[0] == 10 and status(r2, "work") is CacheStatus.HIT
    r3 = flyte.run(work, 2, verbose=True, label="one")
    assert status(r3, "work") is CacheStatus.WRITTEN
    assert calls == [1, 2]


def test_ignored_inputs_accepts_one_name_as_a_string(store: Any) -> None:
    env = flyte.TaskEnvironment("ignored_str_env")
    calls: list[int] = []

    @env.task(cache=flyte.Cache("auto", ignored_inputs="verbose"))
    def work(x: int, verbose: bool = False) -> int:
        calls.append(x)
        return x

    flyte.run(work, 1, verbose=True)
    flyte.run(work, 1, verbose=False)
    assert calls == [1]


def test_salt_separates_entries_and_explains_the_miss(store: Any) -> None:
    env = flyte.TaskEnvironment("salt_env")
    calls: list[int] = []

    @env.task(cache=flyte.Cache("auto", salt="a"))
    def work(x: int) -> int:
        calls.append(x)
        return x

    flyte.run(work, 1)
    flyte.run(work, 1)
    assert calls == [1]
    salted = work.override(cache=flyte.Cache("auto", salt="b"))
    run = flyte.run(salted, 1)
    assert calls == [1, 1]
    why = flyte.cache.explain(run.name, action(run, "work").id)
    assert not why.hit and any("salt" in r for r in why.reasons), why.reasons
    assert not any("input" in r or "code" in r for r in why.reasons), why.reasons
    assert flyte.run(salted, 1).outputs()[0] == 1 and calls == [1, 1]


def test_environment_level_cache_is_the_default_for_its_tasks(store: Any) -> None:
    env = flyte.TaskEnvironment("env_cache", cache="auto")
    calls: list[str] = []

    @env.task
    def inherits(x: int) -> int:
        calls.append("inherits")
        return x

    @env.task(cache="disable")
    def opts_out(x: int) -> int:
        calls.append("opts_out")
        return x

    @env.task(cache="disable")
    def main(x: int) -> int:
        return inherits(x) + opts_out(x)

    flyte.run(main, 2)
    second = flyte.run(main, 2)
    assert sorted(calls) == ["inherits", "opts_out", "opts_out"]
    assert status(second, "inherits") is CacheStatus.HIT
    assert status(second, "opts_out") is CacheStatus.DISABLED
    assert status(second, "main") is CacheStatus.DISABLED
    assert status(flyte.run(inherits, 2), "inherits") is CacheStatus.HIT


def test_cache_status_is_recorded_on_each_action(store: Any) -> None:
    env = flyte.TaskEnvironment("status_env")
    fail = [True]

    @env.task(cache="auto")
    def cached(x: int) -> int:
        if fail[0]:
            raise ValueError("not yet")
        return x

    @env.task
    def uncached(x: int) -> int:
        return x

    with pytest.raises(ValueError, match="not yet"):
        flyte.run(cached, 1)
    failed = store.list_runs(limit=1)[0]
    assert {a.cache_status for a in store.list_actions(failed.name)} == {CacheStatus.MISS}
    assert flyte.cache.entries() == []  # a failure is never cached
    fail[0] = False
    assert status(flyte.run(cached, 1), "cached") is CacheStatus.WRITTEN
    hit = flyte.run(cached, 1)
    assert status(hit, "cached") is CacheStatus.HIT
    assert action(hit, "cached").cache_key == flyte.cache.entries()[0].key
    assert status(flyte.run(uncached, 1), "uncached") is CacheStatus.DISABLED
    assert hit.record.cache_hits == 1


def test_repeated_calls_in_one_run_compute_once(store: Any) -> None:
    env = flyte.TaskEnvironment("repeat_env")
    calls: list[int] = []

    @env.task(cache="auto")
    async def child(x: int) -> int:
        calls.append(x)
        return x * 2

    @env.task
    async def main(n: int) -> list[int]:
        return [await child(i) + await child(i) for i in range(n)]

    run = flyte.run(main, 100)
    assert run.outputs()[0] == [4 * i for i in range(100)]
    assert calls == list(range(100))
    statuses = Counter(a.cache_status for a in run.actions() if a.name == "repeat_env.child")
    assert statuses == {CacheStatus.WRITTEN: 100, CacheStatus.HIT: 100}


# --- exact values ----------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    x: int
    y: float
    tags: tuple[str, ...]
    extra: dict[str, list[int]]


def test_a_hit_returns_the_exact_value(store: Any) -> None:
    env = flyte.TaskEnvironment("exact_env")
    calls: list[str] = []

    @env.task(cache="auto")
    def make_point(n: int) -> Point:
        calls.append("point")
        return Point(n, n / 3, ("a", "b"), {"k": [n, n + 1]})

    @env.task(cache="auto")
    def make_pair(n: int) -> tuple[int, str]:
        calls.append("pair")
        return n, "n" * n

    @env.task(cache="auto")
    def make_bytes(n: int) -> bytes:
        calls.append("bytes")
        return bytes(range(n)) + b"\xff"

    @env.task
    def main(n: int) -> tuple[Point, tuple[int, str], bytes, list[str]]:
        p, pair, data = make_point(n), make_pair(n), make_bytes(n)
        return p, pair, data, [type(p).__name__, type(pair).__name__, type(data).__name__]

    first = flyte.run(main, 4).outputs()
    second_run = flyte.run(main, 4)
    second = second_run.outputs()
    assert calls == ["point", "pair", "bytes"]
    assert {status(second_run, t) for t in ("make_point", "make_pair", "make_bytes")} == {
        CacheStatus.HIT
    }
    assert tuple(second) == tuple(first)
    p, pair, data, types = second
    assert p == Point(4, 4 / 3, ("a", "b"), {"k": [4, 5]}) and type(p) is Point
    assert pair == (4, "nnnn") and type(pair) is tuple
    assert data == b"\x00\x01\x02\x03\xff"
    assert types == ["Point", "tuple", "bytes"]
    # a cached root task: run.outputs() unpacks the cached tuple
    flyte.run(make_pair, 2)
    x, s = flyte.run(make_pair, 2).outputs()
    assert (x, s) == (2, "nn")


# --- run-level switches -------------------------------------------------------------------


def test_disable_run_cache_neither_reads_nor_writes(store: Any) -> None:
    env = flyte.TaskEnvironment("norun_env")
    calls: list[int] = []

    @env.task(cache="auto")
    def work(x: int) -> int:
        return counted(calls)(x)

    r1 = flyte.with_runcontext(disable_run_cache=True).run(work, 1)
    assert r1.outputs()[0] == 1 and status(r1, "work") is CacheStatus.DISABLED
    assert flyte.cache.entries() == []  # no writes

    assert flyte.run(work, 1).outputs()[0] == 2
    assert len(flyte.cache.entries()) == 1

    r3 = flyte.with_runcontext(disable_run_cache=True).run(work, 1)
    assert r3.outputs()[0] == 3 and status(r3, "work") is CacheStatus.DISABLED  # no reads
    [entry] = flyte.cache.entries()
    assert json.loads(entry.outputs_json) == 2  # the entry was not replaced

    assert flyte.run(work, 1).outputs()[0] == 2 and calls == [1, 1, 1]


def test_overwrite_cache_executes_and_replaces_the_entry(store: Any) -> None:
    env = flyte.TaskEnvironment("overwrite_env")
    calls: list[int] = []

    @env.task(cache="auto")
    def work(x: int) -> int:
        return counted(calls)(x)

    assert flyte.run(work, 1).outputs()[0] == 1
    r2 = flyte.with_runcontext(overwrite_cache=True).run(work, 1)
    assert r2.outputs()[0] == 2 and status(r2, "work") is CacheStatus.WRITTEN
    [entry] = flyte.cache.entries("overwrite_env.work")
    assert json.loads(entry.outputs_json) == 2 and entry.run == r2.name
    r3 = flyte.run(work, 1)
    assert r3.outputs()[0] == 2 and status(r3, "work") is CacheStatus.HIT
    assert len(calls) == 2


# --- the flyte.cache API ----------------------------------------------------------------


def test_entries_and_clear(store: Any) -> None:
    env = flyte.TaskEnvironment("api_env")
    calls: list[str] = []

    @env.task(cache="auto")
    def one(x: int) -> int:
        calls.append("one")
        return x

    @env.task(cache="auto")
    def two(x: int) -> int:
        calls.append("two")
        return x

    r1, r2 = flyte.run(one, 1), flyte.run(two, 2)
    flyte.run(one, 3)
    entries = flyte.cache.entries()
    assert sorted(e.task for e in entries) == ["api_env.one", "api_env.one", "api_env.two"]
    assert [e.created_at for e in entries] == sorted((e.created_at for e in entries), reverse=True)
    [two_entry] = flyte.cache.entries("api_env.two")
    assert flyte.cache.entries("two") == [two_entry]  # the short name works too
    assert two_entry.run == r2.name and two_entry.action == "a0"
    assert json.loads(two_entry.outputs_json) == 2
    assert two_entry.key == action(r2, "two").cache_key
    assert {e.run for e in flyte.cache.entries("api_env.one")} >= {r1.name}

    assert flyte.cache.clear("api_env.one") == 2
    assert [e.task for e in flyte.cache.entries()] == ["api_env.two"]
    flyte.run(one, 1)
    flyte.run(two, 2)
    assert calls == ["one", "two", "one", "one"]  # `one` ran again, `two` hit
    assert flyte.cache.clear() == 2
    assert flyte.cache.entries() == []


def test_explain_call_says_whether_a_call_would_hit_and_why_not(store: Any) -> None:
    env = flyte.TaskEnvironment("explain_env")

    @env.task(cache="auto")
    def scale(x: int, factor: int = 2) -> int:
        return x * factor

    assert not flyte.cache.explain_call(scale, 1).hit  # nothing cached yet
    flyte.run(scale, 1)
    assert flyte.cache.explain_call(scale, 1).hit
    assert flyte.cache.explain_call(scale, x=1, factor=2).hit

    why = flyte.cache.explain_call(scale, 1, factor=3)
    assert not why.hit and why.reasons == ["input 'factor' changed"], why.reasons

    @env.task(cache="auto")  # the same task, edited
    def scale(x: int, factor: int = 2) -> int:
        return x * factor + 0

    why = flyte.cache.explain_call(scale, 1)
    assert not why.hit
    assert why.reasons and all("code" in r for r in why.reasons), why.reasons
    assert any("scale" in r for r in why.reasons), why.reasons


def test_explain_of_a_disabled_action_says_so(store: Any) -> None:
    env = flyte.TaskEnvironment("explain_off_env")

    @env.task
    def plain(x: int) -> int:
        return x

    run = flyte.run(plain, 1)
    why = flyte.cache.explain(run.name, "a0")
    assert not why.hit and why.key is None
    assert any("disabled" in r for r in why.reasons), why.reasons
    with pytest.raises(flyte.errors.RunNotFoundError):
        flyte.cache.explain(run.name, "nope")


def test_explain_text_of_a_disabled_action_says_disabled(sqlite_store: Any) -> None:
    env = flyte.TaskEnvironment("explain_text_env")

    @env.task
    def plain(x: int) -> int:
        return x

    run = flyte.run(plain, 1)
    assert "disabled" in str(flyte.cache.explain(run.name, "a0"))


# --- canonical input hashing ------------------------------------------------------------


@dataclass
class Config:
    name: str
    params: dict[str, int]
    weights: list[float]
    labels: set[str]


class Model(pydantic.BaseModel):
    name: str
    params: dict[str, int]
    nested: list[dict[str, str]]


def test_dataclass_inputs_hash_by_content(store: Any) -> None:
    env = flyte.TaskEnvironment("dc_env")
    calls: list[str] = []

    @env.task(cache="auto")
    def train(cfg: Config) -> str:
        calls.append(cfg.name)
        return cfg.name

    flyte.run(train, Config("a", {"x": 1, "y": 2}, [0.5, 1.5], {"p", "q", "r"}))
    same = flyte.run(train, Config("a", {"y": 2, "x": 1}, [0.5, 1.5], {"r", "q", "p"}))
    assert status(same, "train") is CacheStatus.HIT
    changed = flyte.run(train, Config("a", {"x": 1, "y": 3}, [0.5, 1.5], {"p", "q", "r"}))
    assert status(changed, "train") is CacheStatus.WRITTEN
    assert calls == ["a", "a"]


def test_pydantic_inputs_hash_by_content(store: Any) -> None:
    env = flyte.TaskEnvironment("pd_env")
    calls: list[str] = []

    @env.task(cache="auto")
    def train(m: Model) -> str:
        calls.append(m.name)
        return m.name

    flyte.run(train, Model(name="m", params={"a": 1, "b": 2}, nested=[{"k": "v"}]))
    same = flyte.run(train, Model(params={"b": 2, "a": 1}, nested=[{"k": "v"}], name="m"))
    assert status(same, "train") is CacheStatus.HIT
    changed = flyte.run(train, Model(name="m", params={"a": 1, "b": 2}, nested=[{"k": "w"}]))
    assert status(changed, "train") is CacheStatus.WRITTEN
    why = flyte.cache.explain(changed.name, "a0")
    assert why.reasons == ["input 'm' changed"], why.reasons
    assert calls == ["m", "m"]


# --- code without a source file ---------------------------------------------------------

CELL = """
import flyte

env = flyte.TaskEnvironment("cell_env")


def helper(x):
    return x * FACTOR


@env.task(cache="auto")
def compute(x: int) -> int:
    calls.append(x)
    return helper(x)
"""


def _exec_cell(source: str, calls: list[int], number: int) -> Any:
    namespace: dict[str, Any] = {"__name__": "notebook_cell", "calls": calls}
    exec(compile(source, f"<cell-{number}>", "exec"), namespace)
    return namespace["compute"]


def test_code_defined_by_exec_is_cacheable_and_versioned(store: Any) -> None:
    calls: list[int] = []
    cell = CELL.replace("FACTOR", "3")
    r1 = flyte.run(_exec_cell(cell, calls, 1), 2)
    assert r1.outputs()[0] == 6 and status(r1, "compute") is CacheStatus.WRITTEN

    # The same cell executed again (new function objects, no source file): a hit.
    r2 = flyte.run(_exec_cell(cell, calls, 2), 2)
    assert r2.outputs()[0] == 6 and status(r2, "compute") is CacheStatus.HIT
    assert calls == [2]

    # The helper edited in the cell: a miss.
    r3 = flyte.run(_exec_cell(CELL.replace("FACTOR", "4"), calls, 3), 2)
    assert r3.outputs()[0] == 8 and status(r3, "compute") is CacheStatus.WRITTEN
    assert calls == [2, 2]


# --- what the code version covers -------------------------------------------------------

HELPERS = """
SCALE = 2


def _magnitude(x: int) -> int:
    return abs(x)


def normalize(x: int) -> int:
    return _magnitude(x)


class Scaler:
    def __init__(self, by: int) -> None:
        self.by = by

    def apply(self, x: int) -> int:
        return x * self.by
"""

FLOW = """
from pathlib import Path

import flyte
import helpers
from helpers import Scaler

COUNTER = Path(@COUNTER@)
OFFSET = 100
env = flyte.TaskEnvironment("flow", cache="auto")


def log(name: str) -> None:
    with COUNTER.open("a") as f:
        f.write(name + "\\n")


@env.task
def uses_module_function(x: int) -> int:
    log("module_function")
    return helpers.normalize(x)


@env.task
def uses_class(x: int) -> int:
    log("class")
    return Scaler(3).apply(x)


@env.task
def uses_constant(x: int) -> int:
    log("constant")
    return x + OFFSET


@env.task
def uses_nothing(x: int) -> int:
    log("nothing")
    return x


@env.task(cache="disable")
def main(x: int) -> list:
    return [uses_module_function(x), uses_class(x), uses_constant(x), uses_nothing(x)]
"""


def test_code_version_follows_imported_modules_classes_and_constants(project: Project) -> None:
    project.write("helpers", HELPERS)
    project.write("flow", FLOW)
    assert project.run("flow", "main", x=-2)["outputs"] == [[2, -6, 98, -2]]
    executed = len(project.executions())

    def rerun_and_executed() -> tuple[dict[str, Any], list[str]]:
        nonlocal executed
        summary = project.run("flow", "main", x=-2)
        new, executed = project.executions()[executed:], len(project.executions())
        return summary, new

    assert rerun_and_executed()[1] == []  # nothing changed: all four hit

    project.edit("helpers", "return _magnitude(x)", "return _magnitude(x) + 1")
    summary, new = rerun_and_executed()
    assert new == ["module_function"] and summary["outputs"] == [[3, -6, 98, -2]]
    why = flyte.cache.explain(summary["run"], summary["actions"]["uses_module_function"]["id"])
    assert any("helpers.normalize" in r for r in why.reasons), why.reasons

    project.edit("helpers", "return abs(x)", "return abs(x) * 2")  # reached through normalize
    summary, new = rerun_and_executed()
    assert new == ["module_function"] and summary["outputs"] == [[5, -6, 98, -2]]
    why = flyte.cache.explain(summary["run"], summary["actions"]["uses_module_function"]["id"])
    assert any("helpers._magnitude" in r for r in why.reasons), why.reasons

    project.edit("helpers", "return x * self.by", "return x * self.by * 10")
    summary, new = rerun_and_executed()
    assert new == ["class"] and summary["outputs"] == [[5, -60, 98, -2]]
    why = flyte.cache.explain(summary["run"], summary["actions"]["uses_class"]["id"])
    assert any("Scaler" in r for r in why.reasons), why.reasons

    project.edit("flow", "OFFSET = 100", "OFFSET = 1000")
    summary, new = rerun_and_executed()
    assert new == ["constant"] and summary["outputs"] == [[5, -60, 998, -2]]
    why = flyte.cache.explain(summary["run"], summary["actions"]["uses_constant"]["id"])
    assert any("OFFSET" in r for r in why.reasons), why.reasons


def test_a_changed_interface_misses_and_is_explained(store: Any) -> None:
    env = flyte.TaskEnvironment("iface_env")

    @env.task(cache="auto")
    def work(x: int) -> int:
        return x

    flyte.run(work, 1)

    @env.task(cache="auto")  # the same task with a new optional input
    def work(x: int, y: int = 0) -> int:
        return x

    run = flyte.run(work, 1)
    assert status(run, "work") is CacheStatus.WRITTEN
    why = flyte.cache.explain(run.name, "a0")
    assert any("interface" in r for r in why.reasons), why.reasons


async def test_async_tasks_cache_too(store: Any) -> None:
    env = flyte.TaskEnvironment("async_cache_env")
    calls: list[int] = []

    @env.task(cache="auto")
    async def child(x: int) -> int:
        calls.append(x)
        return x + 1

    @env.task(cache="auto")
    def sync_child(x: int) -> int:
        calls.append(-x)
        return x - 1

    @env.task
    async def main(n: int) -> list[int]:
        import asyncio

        ups = await asyncio.gather(*(child(i) for i in range(n)))
        downs = [await sync_child(i) for i in range(n)]
        return [*ups, *downs]

    first = await flyte.run.aio(main, 3)
    second = await flyte.run.aio(main, 3)
    assert first.outputs()[0] == second.outputs()[0] == [1, 2, 3, -1, 0, 1]
    assert sorted(calls) == [-2, -1, 0, 0, 1, 2]
    hits = [a.cache_status for a in second.actions() if a.name != "async_cache_env.main"]
    assert hits == [CacheStatus.HIT] * 6


SCRIPT = """
import sys
from pathlib import Path

import flyte

env = flyte.TaskEnvironment("script")


def helper(x: int) -> int:
    return x + 1


@env.task(cache="auto")
def work(x: int) -> int:
    with Path(sys.argv[1]).open("a") as f:
        f.write("work\\n")
    return helper(x)


if __name__ == "__main__":
    run = flyte.with_runcontext(echo=False).run(work, 1)
    print(run.actions()[0].cache_status.value)
"""


def _python(project: Project, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(project.root), "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run(
        [sys.executable, *args, str(project.counter)],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def test_a_script_run_twice_hits(project: Project) -> None:
    project.write("hello", SCRIPT)
    assert _python(project, "hello.py") == "written"
    assert _python(project, "hello.py") == "hit"
    assert project.executions() == ["work"]
    project.edit("hello", "return x + 1", "return x + 2")
    assert _python(project, "hello.py") == "written"
    assert project.executions() == ["work", "work"]


def test_a_file_run_as_a_script_and_imported_as_a_module_shares_entries(project: Project) -> None:
    project.write("hello", SCRIPT)
    assert _python(project, "hello.py") == "written"
    code = (
        "import sys, flyte, hello; "
        "run = flyte.with_runcontext(echo=False).run(hello.work, 1); "
        "print(run.actions()[0].cache_status.value)"
    )
    assert _python(project, "-c", code) == "hit"
    assert project.executions() == ["work"]


def test_a_hit_works_wherever_asyncio_takes_a_call(store: Any) -> None:
    """A hit is looked up as the call is made (no Task for it); every way asyncio
    consumes a task call must still get the value, and a miss must still execute."""
    import asyncio

    env = flyte.TaskEnvironment("hit_consumers")
    executed: list[int] = []

    @env.task(cache="auto")
    async def square(x: int) -> int:
        executed.append(x)
        return x * x

    @env.task
    async def main(n: int) -> list[int]:
        got = [await square(n)]
        got.append(await asyncio.create_task(square(n)))
        got.append(await asyncio.ensure_future(square(n)))
        got.extend(await asyncio.gather(square(n), square(n)))
        got.append(await asyncio.wait_for(square(n), timeout=5))
        got.append(await asyncio.shield(square(n)))
        got.extend([await c for c in asyncio.as_completed([square(n)])])
        async with asyncio.TaskGroup() as group:
            handle = group.create_task(square(n))
        got.append(handle.result())
        done, _ = await asyncio.wait([asyncio.create_task(square(n))])
        got.extend(t.result() for t in done)
        return got

    first = flyte.with_runcontext(echo=False).run(main, 3)
    assert first.outputs()[0] == [9] * 10
    assert executed == [3]  # executed once, then hits
    second = flyte.with_runcontext(echo=False).run(main, 3)
    assert second.outputs()[0] == first.outputs()[0]
    assert executed == [3]
    squares = [a for a in second.actions() if a.name == "hit_consumers.square"]
    assert len(squares) == 10
    assert {a.cache_status for a in squares} == {CacheStatus.HIT}
    assert [(a.phase.value, a.outputs_json) for a in squares] == [("SUCCEEDED", "9")] * 10


def test_a_call_that_fails_its_look_up_fails_where_it_is_awaited(store: Any) -> None:
    """A cache key that cannot be computed fails the call when awaited, as it did when the
    look-up ran in the call's own coroutine; the action is recorded FAILED."""

    class Opaque:
        def __reduce__(self) -> Any:
            raise TypeError("no pickling")

    env = flyte.TaskEnvironment("lookup_fails")

    @env.task(cache="auto")
    async def use(x: Any) -> int:
        return 1

    @env.task
    async def main() -> str:
        pending = use(Opaque())  # made without raising
        try:
            await pending
        except Exception as exc:
            return type(exc).__name__
        return "no error"

    run = flyte.with_runcontext(echo=False).run(main)
    assert run.outputs()[0] == "SerializationError"
