"""Tests for flyte._hashing: stable value hashes, input hashes, code versions, explanations."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import functools
import importlib
import json
import os
import subprocess
import sys
import textwrap
import threading
import types
import uuid
from collections import namedtuple
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import cloudpickle
import pytest

import flyte._hashing as hashing
from flyte._codeversion import CodeVersion, clear_code_version_cache, code_version
from flyte._hashing import explain_difference, hash_inputs, stable_hash

REPO_ROOT = Path(hashing.__file__).resolve().parents[1]


# --- stable_hash ------------------------------------------------------------------------


class Color(enum.Enum):
    RED = 1
    BLUE = 2


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Content:
    """A File-like object: hashes by what `__flyte_hash__` returns."""

    def __init__(self, digest: str, path: str) -> None:
        self.digest, self.path = digest, path

    def __flyte_hash__(self) -> str:
        return self.digest


def test_scalars_of_different_types_do_not_collide() -> None:
    values = [1, True, 1.0, "1", b"1", None, 0, False, 0.0, -0.0, "", b"", [1], (1,), {1}]
    values += [frozenset({1}), {1: 1}, {"1": 1}, Color.RED, decimal.Decimal(1), 1j]
    digests = [stable_hash(v) for v in values]
    assert len(set(digests)) == len(values)
    assert all(len(d) == 32 and int(d, 16) >= 0 for d in digests)


def test_equal_containers_hash_equal_whatever_their_order() -> None:
    a = {"b": [1, 2, {"z": {3, 2, 1}}], "a": (None, 1.5), 3: "int key", (1, 2): "tuple key"}
    b = {(1, 2): "tuple key", 3: "int key", "a": (None, 1.5), "b": [1, 2, {"z": {1, 2, 3}}]}
    assert stable_hash(a) == stable_hash(b)
    assert stable_hash(frozenset({"x", "y"})) == stable_hash(frozenset({"y", "x"}))
    assert stable_hash([1, 2]) != stable_hash([2, 1])
    assert stable_hash([1, 2]) != stable_hash((1, 2))
    assert stable_hash({"a": 1}) != stable_hash({"a": 2})


def test_structured_values_hash_by_content_and_class() -> None:
    assert stable_hash(Point(1, 2)) == stable_hash(Point(1, 2))
    assert stable_hash(Point(1, 2)) != stable_hash(Point(2, 1))
    assert stable_hash(Point(1, 2)) != stable_hash({"x": 1, "y": 2})
    pair = namedtuple("pair", "a b")
    assert stable_hash(pair(1, 2)) != stable_hash((1, 2))
    assert stable_hash(Color.RED) != stable_hash(Color.BLUE) != stable_hash(1)
    # __flyte_hash__ wins over everything else the object carries.
    assert stable_hash(Content("abc", "/a")) == stable_hash(Content("abc", "/b"))
    assert stable_hash(Content("abc", "/a")) != stable_hash(Content("abd", "/a"))


def test_pydantic_models_hash_by_their_json_dump() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Inner(pydantic.BaseModel):
        tags: list[str]

    class Config(pydantic.BaseModel):
        name: str
        when: dt.date
        inner: Inner

    one = Config(name="a", when=dt.date(2024, 1, 2), inner=Inner(tags=["x"]))
    same = Config(name="a", when=dt.date(2024, 1, 2), inner=Inner(tags=["x"]))
    other = Config(name="a", when=dt.date(2024, 1, 3), inner=Inner(tags=["x"]))
    assert stable_hash(one) == stable_hash(same)
    assert stable_hash(one) != stable_hash(other)
    assert stable_hash(one) != stable_hash(one.model_dump(mode="json"))


def test_stdlib_value_types_have_canonical_forms() -> None:
    when = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.timezone.utc)
    assert stable_hash(when) == stable_hash(dt.datetime.fromisoformat(when.isoformat()))
    assert stable_hash(when) != stable_hash(when.replace(tzinfo=None))
    assert stable_hash(dt.timedelta(hours=1)) == stable_hash(dt.timedelta(minutes=60))
    assert stable_hash(Path("a/b")) == stable_hash(PurePosixPath("a/b"))
    assert stable_hash(Path("a/b")) != stable_hash("a/b")
    ident = uuid.UUID(int=7)
    assert stable_hash(ident) == stable_hash(uuid.UUID(str(ident)))
    assert stable_hash(decimal.Decimal("1.5")) != stable_hash(1.5)
    assert stable_hash(2**10_000) != stable_hash(2**10_000 + 1)  # no int->str digit limit


def test_self_referencing_containers_terminate() -> None:
    loop: list[object] = [1]
    loop.append(loop)
    assert stable_hash(loop) == stable_hash(loop)
    assert stable_hash(loop) != stable_hash([1, [1]])


def test_other_objects_fall_back_to_pickle_or_fail_clearly() -> None:
    assert stable_hash(types.SimpleNamespace(a=1)) == stable_hash(types.SimpleNamespace(a=1))
    assert stable_hash(types.SimpleNamespace(a=1)) != stable_hash(types.SimpleNamespace(a=2))
    with pytest.raises(TypeError, match="cannot hash a value of type"):
        stable_hash({"lock": threading.Lock()})


def test_same_value_hashes_the_same_in_another_process(tmp_path: Path) -> None:
    (tmp_path / "valmod_hashing.py").write_text(
        textwrap.dedent(
            """
            import dataclasses, enum

            class Mode(enum.Enum):
                FAST = "fast"

            @dataclasses.dataclass
            class Box:
                items: frozenset
                mode: Mode
            """
        )
    )
    script = textwrap.dedent(
        """
        import datetime, decimal, pathlib, uuid, sys
        import valmod_hashing as v
        from flyte._hashing import stable_hash
        value = {
            "strings": {"alpha", "beta", "gamma", "delta"},
            "box": v.Box(frozenset({"x", "y", "z"}), v.Mode.FAST),
            (1, "k"): [1.5, None, True, b"\\x00\\xff", 2**70],
            "when": datetime.datetime(2024, 1, 2, 3, 4, 5),
            "misc": (decimal.Decimal("3.14"), uuid.UUID(int=5), pathlib.Path("a/b")),
        }
        print(stable_hash(value))
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(tmp_path)])}
    digests = set()
    for seed in ("0", "1", "12345"):
        result = subprocess.run(
            [sys.executable, "-c", script],
            env={**env, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        )
        digests.add(result.stdout.strip())
    assert len(digests) == 1
    assert len(digests.pop()) == 32


# --- hash_inputs ------------------------------------------------------------------------


def test_hash_inputs_per_input_and_overall() -> None:
    overall, per = hash_inputs({"x": 1, "name": "abc"})
    assert per == {"x": stable_hash(1), "name": stable_hash("abc")}
    assert hash_inputs({"name": "abc", "x": 1})[0] == overall
    assert hash_inputs({"x": 2, "name": "abc"})[0] != overall
    assert hash_inputs({"y": 1, "name": "abc"})[0] != overall  # names count, not only values
    assert hash_inputs({"x": True, "name": "abc"})[0] != overall


def test_hash_inputs_drops_ignored_names_from_both_results() -> None:
    overall, per = hash_inputs({"x": 1, "seed": 42, "debug": True}, ignored=("seed", "debug"))
    assert per == {"x": stable_hash(1)}
    assert (overall, per) == hash_inputs({"x": 1, "seed": 7}, ignored={"seed"})
    assert hash_inputs({}) == hash_inputs({"seed": 1}, ignored=["seed"])


# --- code_version: a user project on disk -----------------------------------------------

PIPELINE = '''
import dataclasses
import functools
import json
import os.path

from . import helpers

GREETING = "Hi"


def deco(*args, **kwargs):
    return lambda fn: fn


def helper_a(x):
    # adds one
    return x + 1


def task_a(x):
    return json.dumps(helper_a(x)) + GREETING + os.path.join("a", "b")


def task_b(x):
    return helpers.helper_b(x)


def offset():
    return 3


class Scaler:
    factor = 2

    def scale(self, x):
        return x * self.factor + offset()


def task_c(x):
    return Scaler().scale(x)


def task_d(x):
    from .helpers import helper_c

    return helper_c(x)


@functools.lru_cache
def cached(x):
    return x * 2


def task_e(x):
    return cached(x)


def ping(n):
    return pong(n - 1) if n > 0 else 0


def pong(n):
    return ping(n)


def fact(n):
    return 1 if n <= 1 else n * fact(n - 1)


def task_f(n):
    return ping(n) + fact(n)


@deco("v1", retries=2)
def task_g(x):
    """Decorated: the decorator line is configuration, not code."""
    return x


def default_items():
    return [1, 2]


@dataclasses.dataclass
class Settings:
    items: list = dataclasses.field(default_factory=default_items)


def task_h():
    return Settings()


def make_task(n):
    def inner(x):
        return helper_a(x) * n

    return inner
'''

HELPERS = """
def helper_b(x):
    return x * 2


def helper_c(x):
    return x - 1
"""


def edit(text: str, old: str, new: str) -> str:
    """`text.replace(old, new)`, failing loudly if `old` is not there (a vacuous edit)."""
    assert old in text
    return text.replace(old, new)


TASKS = ("task_a", "task_b", "task_c", "task_d", "task_e", "task_f", "task_g", "task_h")


@dataclasses.dataclass
class Project:
    """A throwaway user package in tmp_path that can be edited and re-imported."""

    root: Path
    package: str

    def write(self, pipeline: str = PIPELINE, helpers: str = HELPERS) -> None:
        (self.root / self.package / "pipeline.py").write_text(pipeline)
        (self.root / self.package / "helpers.py").write_text(helpers)

    def unload(self) -> None:
        for name in [n for n in sys.modules if n.partition(".")[0] == self.package]:
            del sys.modules[name]
        clear_code_version_cache()

    def load(self) -> types.ModuleType:
        self.unload()
        importlib.invalidate_caches()
        return importlib.import_module(f"{self.package}.pipeline")

    def versions(self, pipeline: str = PIPELINE, helpers: str = HELPERS) -> dict[str, CodeVersion]:
        self.write(pipeline, helpers)
        module = self.load()
        return {task: code_version(getattr(module, task)) for task in TASKS}

    def q(self, name: str) -> str:
        return f"{self.package}.{name}"

    def part(self, name: str) -> str:
        # Parts name modules by file stem, so `python f.py` and `import pkg.f` agree.
        return name


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    package = f"proj_{uuid.uuid4().hex[:10]}"  # unique per test: sys.modules is shared
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    # Rewrites can keep a file's size and mtime; a stale .pyc must not be reused.
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    proj = Project(tmp_path, package)
    yield proj
    proj.unload()


def test_parts_name_exactly_the_user_code_a_task_reaches(project: Project) -> None:
    versions = project.versions()
    parts = {task: set(v.parts) for task, v in versions.items()}
    p, h = "pipeline.", "helpers."
    assert parts["task_a"] == {project.part(p + n) for n in ("task_a", "helper_a", "GREETING")}
    assert parts["task_b"] == {project.part(p + "task_b"), project.part(h + "helper_b")}
    assert parts["task_c"] == {project.part(p + n) for n in ("task_c", "Scaler", "offset")}
    assert parts["task_d"] == {project.part(p + "task_d"), project.part(h + "helper_c")}
    assert parts["task_e"] == {project.part(p + "task_e"), project.part(p + "cached")}
    assert parts["task_f"] == {project.part(p + n) for n in ("task_f", "ping", "pong", "fact")}
    assert parts["task_g"] == {project.part(p + "task_g")}
    assert parts["task_h"] == {project.part(p + n) for n in ("task_h", "Settings", "default_items")}
    assert len({v.digest for v in versions.values()}) == len(TASKS)


def test_editing_a_helper_changes_exactly_the_tasks_that_reach_it(project: Project) -> None:
    before = project.versions()
    after = project.versions(edit(PIPELINE, "return x + 1", "return x + 2"))
    changed = {task for task in TASKS if before[task].digest != after[task].digest}
    assert changed == {"task_a"}
    assert explain_difference(
        {"code": before["task_a"].parts}, {"code": after["task_a"].parts}
    ) == [f"code of {project.part('pipeline.helper_a')} changed"]


def test_editing_another_module_changes_its_users(project: Project) -> None:
    before = project.versions()
    after = project.versions(helpers=edit(HELPERS, "x - 1", "x - 10"))
    assert {t for t in TASKS if before[t].digest != after[t].digest} == {"task_d"}
    after = project.versions(helpers=edit(HELPERS, "x * 2", "x * 3"))
    assert {t for t in TASKS if before[t].digest != after[t].digest} == {"task_b"}


def test_comments_whitespace_and_moved_code_do_not_change_versions(project: Project) -> None:
    before = project.versions()
    cosmetic = edit(PIPELINE, "# adds one", "# adds one, and more words")
    cosmetic = edit(cosmetic, "return x + 1", "return  x+1   # inline comment")
    cosmetic = edit(cosmetic, "def offset():", "def unrelated():\n    return 0\n\n\ndef offset():")
    cosmetic = "# a new header comment\n\n\n" + edit(
        cosmetic, "\ndef fact", "\n\n\n# spacing\ndef fact"
    )
    after = project.versions(cosmetic, "\n\n" + HELPERS + "\n# trailing comment\n")
    assert {t: v.digest for t, v in after.items()} == {t: v.digest for t, v in before.items()}


def test_editing_a_constant_changes_only_its_users(project: Project) -> None:
    before = project.versions()
    after = project.versions(edit(PIPELINE, 'GREETING = "Hi"', 'GREETING = "Hello"'))
    assert {t for t in TASKS if before[t].digest != after[t].digest} == {"task_a"}
    changed = [k for k, v in after["task_a"].parts.items() if before["task_a"].parts[k] != v]
    assert changed == [project.part("pipeline.GREETING")]


def test_class_and_method_edits_change_the_tasks_using_the_class(project: Project) -> None:
    before = project.versions()
    after = project.versions(edit(PIPELINE, "factor = 2", "factor = 5"))
    assert {t for t in TASKS if before[t].digest != after[t].digest} == {"task_c"}
    after = project.versions(edit(PIPELINE, "return 3", "return 4"))  # reached via a method
    assert {t for t in TASKS if before[t].digest != after[t].digest} == {"task_c"}
    reasons = explain_difference({"code": before["task_c"].parts}, {"code": after["task_c"].parts})
    assert reasons == [f"code of {project.part('pipeline.offset')} changed"]
    # A helper the class body uses (a dataclass field's default_factory) counts too...
    after = project.versions(edit(PIPELINE, "return [1, 2]", "return [1, 2, 3]"))
    assert {t for t in TASKS if before[t].digest != after[t].digest} == {"task_h"}
    # ...and so do a class's decorators, unlike a function's.
    order = edit(PIPELINE, "@dataclasses.dataclass\n", "@dataclasses.dataclass(order=True)\n")
    after = project.versions(order)
    assert {t for t in TASKS if before[t].digest != after[t].digest} == {"task_h"}


def test_a_user_module_imported_inside_a_task_is_imported_and_followed(
    project: Project,
) -> None:
    pipeline = (
        PIPELINE + "\n\ndef task_i(x):\n    from . import lazy\n\n    return lazy.compute(x)\n"
    )
    (project.root / project.package / "lazy.py").write_text("def compute(x):\n    return x\n")
    project.write(pipeline)
    module = project.load()
    assert project.q("lazy") not in sys.modules
    assert set(code_version(module.task_i).parts) == {
        project.part("pipeline.task_i"),
        project.part("lazy.compute"),
    }
    assert project.q("lazy") in sys.modules


def test_decorators_and_wrappers(project: Project) -> None:
    before = project.versions()
    # The decorator's arguments are not part of the task's code...
    after = project.versions(edit(PIPELINE, '@deco("v1", retries=2)', '@deco("v2")'))
    assert after["task_g"].digest == before["task_g"].digest
    # ...but a function behind a wrapper (`lru_cache` exposes it as __wrapped__) is.
    after = project.versions(edit(PIPELINE, "return x * 2", "return x * 4"))
    assert {t for t in TASKS if before[t].digest != after[t].digest} == {"task_e"}


class _TaskLike:
    """Like flyte's Task: wraps a function and exposes it as `__wrapped__`."""

    __slots__ = ("__wrapped__",)  # not weak-referenceable: memoized by a strong reference

    def __init__(self, fn: object) -> None:
        self.__wrapped__ = fn

    def __call__(self, *args: object) -> object:
        return self.__wrapped__(*args)  # type: ignore[operator]


def test_a_task_object_is_followed_to_the_function_it_wraps(project: Project) -> None:
    project.write()
    module = project.load()
    plain = code_version(module.task_a)
    wrapped = code_version(_TaskLike(module.task_a))
    assert set(plain.parts.items()) <= set(wrapped.parts.items())
    task = _TaskLike(module.task_b)
    assert code_version(task) is code_version(task)


def test_closure_values_belong_to_the_version(project: Project) -> None:
    project.write()
    module = project.load()
    two, three = code_version(module.make_task(2)), code_version(module.make_task(3))
    assert two.digest != three.digest
    assert project.part("pipeline.helper_a") in two.parts
    assert explain_difference({"code": two.parts}, {"code": three.parts}) == [
        f"code of {project.part('pipeline.make_task.<locals>.inner.<closure>.n')} changed"
    ]


def test_versions_are_memoized_until_the_cache_is_cleared(project: Project) -> None:
    project.write()
    module = project.load()
    first = code_version(module.task_a)
    assert code_version(module.task_a) is first
    clear_code_version_cache()
    again = code_version(module.task_a)
    assert again == first and again is not first


def test_installed_packages_stdlib_and_flyte_are_not_followed() -> None:
    def uses_installed(x: object) -> str:
        encoded = cloudpickle.dumps(json.dumps(x))
        return stable_hash(encoded) + os.path.join("a", "b") + str(pytest.approx(1))

    version = code_version(uses_installed)
    assert list(version.parts) == [f"{__name__}.{uses_installed.__qualname__}"]
    # A task function in an installed module still gets its own digest, nothing more.
    assert list(code_version(json.dumps).parts) == ["json.dumps"]


# --- code_version without source (exec, notebooks) --------------------------------------

EXEC_SOURCE = """
import json

FACTOR = 3

def helper(x):
    return [x] * 2

def task(x):
    values = [helper(v) for v in range(x)]
    return json.dumps(values) + str(FACTOR)
"""


def _exec(source: str, filename: str = "<cell>") -> types.FunctionType:
    namespace: dict[str, object] = {"__name__": "notebook_cell"}
    # dont_inherit: this module's `from __future__` flags would otherwise leak into co_flags.
    exec(compile(source, filename, "exec", dont_inherit=True), namespace)
    return namespace["task"]  # type: ignore[return-value]


def test_exec_defined_functions_get_stable_versions() -> None:
    first = code_version(_exec(EXEC_SOURCE))
    assert set(first.parts) == {
        "notebook_cell.task",
        "notebook_cell.helper",
        "notebook_cell.FACTOR",
    }
    assert code_version(_exec(EXEC_SOURCE)) == first
    assert code_version(_exec("\n\n\n" + EXEC_SOURCE, filename="<other>")) == first  # moved
    body = code_version(_exec(edit(EXEC_SOURCE, "[x] * 2", "[x] * 3")))
    assert body.digest != first.digest
    assert explain_difference({"code": first.parts}, {"code": body.parts}) == [
        "code of notebook_cell.helper changed"
    ]
    constant = code_version(_exec(edit(EXEC_SOURCE, "FACTOR = 3", "FACTOR = 4")))
    assert constant.parts["notebook_cell.FACTOR"] != first.parts["notebook_cell.FACTOR"]


def test_exec_versions_are_the_same_in_another_process() -> None:
    script = (
        "import sys\nfrom flyte._codeversion import code_version\n"
        "ns = {'__name__': 'notebook_cell'}\n"
        "exec(compile(sys.stdin.read(), '<cell>', 'exec'), ns)\n"
        "print(code_version(ns['task']).digest)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONHASHSEED": "99"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        input=EXEC_SOURCE,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == code_version(_exec(EXEC_SOURCE)).digest


def test_recursive_exec_code_terminates() -> None:
    source = "def task(n):\n    return 0 if n == 0 else other(n - 1)\n\ndef other(n):\n    return task(n)\n"
    assert set(code_version(_exec(source)).parts) == {"notebook_cell.task", "notebook_cell.other"}


def test_decorated_helpers_are_followed_through_functools_wraps() -> None:
    def logged(fn: types.FunctionType) -> object:
        @functools.wraps(fn)
        def wrapper(*args: object) -> object:
            return fn(*args)

        return wrapper

    @logged
    def helper(x: int) -> int:
        return x + 1

    def task(x: int) -> object:
        return helper(x)

    parts = code_version(task).parts
    prefix = f"{__name__}.{test_decorated_helpers_are_followed_through_functools_wraps.__name__}"
    assert f"{prefix}.<locals>.helper" in parts  # the wrapped function, via __wrapped__
    assert f"{prefix}.<locals>.logged.<locals>.wrapper" in parts


# --- explain_difference -----------------------------------------------------------------

BASE = {
    "task": "pipeline.train",
    "interface": "i1",
    "inputs": {"x": "d1", "y": "d2"},
    "code": {"m.train": "c1", "m.helper": "c2", "m.old": "c3"},
    "code_version": "v1",
    "salt": "",
}


def test_explain_difference_is_empty_for_identical_parts() -> None:
    assert explain_difference(BASE, dict(BASE)) == []
    assert explain_difference({}, {}) == []


def test_explain_difference_names_each_changed_part() -> None:
    new = {
        **BASE,
        "interface": "i2",
        "inputs": {"x": "d9", "z": "d3"},
        "code": {"m.train": "c1", "m.helper": "c9", "m.new_helper": "c4"},
        "code_version": "v2",
        "salt": "b",
    }
    assert explain_difference(BASE, new) == [
        "interface changed",
        "input 'x' changed",
        "input 'y' removed",
        "input 'z' added",
        "code of m.helper changed",
        "m.new_helper is now reached",
        "m.old no longer reached",
        "salt changed ('' -> 'b')",
    ]


def test_explain_difference_reports_an_override_version_and_task_change() -> None:
    old = {**BASE, "code": {}, "code_version": "v2"}
    assert explain_difference(old, {**old, "code_version": "v3"}) == [
        "code version changed ('v2' -> 'v3')"
    ]
    assert explain_difference(old, {**old, "task": "pipeline.other"}) == [
        "task changed ('pipeline.train' -> 'pipeline.other')"
    ]
    assert explain_difference({"inputs": {"x": "d1"}}, {}) == ["input 'x' removed"]
