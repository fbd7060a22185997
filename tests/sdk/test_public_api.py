"""flyte's public surface: one sorted, complete `__all__` (httpx test_exported_members)."""

from __future__ import annotations

import types

import flyte
import flyte.errors
import flyte.io


def _public_attributes() -> set[str]:
    return {
        name
        for name, value in vars(flyte).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }


def test_all_is_sorted() -> None:
    assert flyte.__all__ == sorted(flyte.__all__)


def test_all_has_no_duplicates() -> None:
    assert len(flyte.__all__) == len(set(flyte.__all__))


def test_every_name_in_all_exists() -> None:
    missing = [name for name in flyte.__all__ if not hasattr(flyte, name)]
    assert missing == []


def test_every_public_attribute_is_in_all() -> None:
    assert sorted(_public_attributes() - set(flyte.__all__)) == []


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from flyte import *", namespace)
    namespace.pop("__builtins__", None)
    assert set(namespace) == set(flyte.__all__)


def test_names_flyte2_programs_use_are_exported() -> None:
    # DESIGN.md section 2: the authoring API upstream Flyte 2 programs are written against.
    used = {
        "Backoff", "Cache", "Dir", "File", "Image", "Resources", "RetryStrategy", "ReusePolicy",
        "Secret", "TaskEnvironment", "Timeout", "ctx", "custom_context", "deploy", "group", "init",
        "init_from_config", "map", "rerun", "run", "trace", "with_runcontext",
    }  # fmt: skip
    assert used <= set(flyte.__all__)
    assert flyte.io.File is flyte.File
    assert flyte.io.Dir is flyte.Dir
    for name in ("RuntimeUserError", "NonRecoverableError", "TaskTimeoutError", "OOMError"):
        assert hasattr(flyte.errors, name)
    assert callable(flyte.run.aio)
    assert callable(flyte.map.aio)


def test_every_error_has_a_docstring_and_a_kind() -> None:
    for name in flyte.errors.__all__:
        obj = getattr(flyte.errors, name)
        if not isinstance(obj, type):
            continue
        assert obj.__doc__ and obj.__doc__.strip(), name
        if issubclass(obj, flyte.errors.FlyteError):
            assert obj.kind in ("user", "system"), name
