"""Tests for flyte.io.File and flyte.io.Dir: local, content-addressed storage."""

from __future__ import annotations

import dataclasses
import json
import pickle
import tempfile
from pathlib import Path

import cloudpickle
import pytest

from flyte.io import Dir, File


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point FLYTE_HOME (and temp downloads) into tmp_path so no test touches real dirs."""
    home = tmp_path / "home"
    monkeypatch.setenv("FLYTE_HOME", str(home))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    return home


def read(f: File, mode: str = "rb") -> bytes | str:
    with f.open_sync(mode) as fh:
        return fh.read()


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "src" / "data"
    write(root / "a.txt", "alpha")
    write(root / "b.csv", "x,y\n1,2\n")
    write(root / "sub" / "c.txt", "gamma")
    write(root / "sub" / "deeper" / "d.txt", "delta")
    return root


# --- File -----------------------------------------------------------------------------


async def test_file_round_trip_async(tmp_path: Path, home: Path) -> None:
    src = write(tmp_path / "report.txt", "hello flyte")
    f = await File.from_local(src)
    assert f.name == "report.txt"
    assert Path(f.path).is_relative_to(home)
    assert await f.exists()
    async with f.open("rb") as fh:
        assert bytes(await fh.read()) == b"hello flyte"
    local = await f.download(tmp_path / "out" / "copy.txt")
    assert Path(local).read_text() == "hello flyte"


def test_file_round_trip_sync(tmp_path: Path, home: Path) -> None:
    src = write(tmp_path / "report.txt", "hello flyte")
    f = File.from_local_sync(str(src))
    assert Path(f.path).is_relative_to(home) and f.exists_sync()
    with f.open_sync("rb") as fh:
        assert fh.read() == b"hello flyte"
    with f.open_sync("rt", encoding="utf-8") as fh:
        assert fh.read() == "hello flyte"
    local = f.download_sync()
    assert Path(local).name == "report.txt"
    assert Path(local).read_text() == "hello flyte"


def test_download_into_directory(tmp_path: Path) -> None:
    f = File.from_local_sync(write(tmp_path / "r.txt", "x"))
    target = tmp_path / "dl"
    target.mkdir()
    assert f.download_sync(target) == str(target / "r.txt")
    assert Path(f.download_sync(f"{tmp_path}/new/")).read_text() == "x"
    Path(f.download_sync(target)).write_text("mine")  # downloads are private and writable
    assert read(f) == b"x"


def test_edits_to_original_do_not_change_stored_copy(tmp_path: Path) -> None:
    src = write(tmp_path / "data.bin", b"v1")
    f = File.from_local_sync(src)
    src.write_bytes(b"v2 is longer")
    with f.open_sync() as fh:
        assert fh.read() == b"v1"
    assert File.from_local_sync(src).hash != f.hash


def test_hash_follows_content(tmp_path: Path) -> None:
    a = File.from_local_sync(write(tmp_path / "a.txt", "same"))
    b = File.from_local_sync(write(tmp_path / "b.txt", "same"))
    c = File.from_local_sync(write(tmp_path / "c.txt", "different"))
    assert a.hash and a.hash == b.hash != c.hash
    assert a.__flyte_hash__() == a.hash
    assert File.from_local_sync(tmp_path / "a.txt") == a


async def test_new_remote_write_then_read(tmp_path: Path) -> None:
    f = File.new_remote("out.txt")
    assert f.name == "out.txt" and not await f.exists()
    async with f.open("wb") as fh:
        for chunk in (b"hello ", b"world"):
            await fh.write(chunk)
    assert await f.exists()
    async with f.open("rb", block_size=4) as fh:
        chunks = []
        while chunk := await fh.read():
            chunks.append(chunk)
    assert b"".join(chunks) == b"hello world" and len(chunks) > 1
    stored = File.from_local_sync(write(tmp_path / "x.txt", "hello world"))
    assert f.__flyte_hash__() == stored.hash


def test_new_remote_sync_and_failed_write_leaves_nothing() -> None:
    f = File.new_remote()
    with pytest.raises(RuntimeError):
        with f.open_sync("wb") as fh:
            fh.write(b"partial")
            raise RuntimeError("boom")
    assert not f.exists_sync()
    with f.open_sync("w") as fh:
        fh.write("text")
    assert read(f, "r") == "text"


def test_stored_copies_are_read_only(tmp_path: Path) -> None:
    f = File.from_local_sync(write(tmp_path / "a.txt", "keep"))
    with pytest.raises(ValueError, match="new_remote"), f.open_sync("wb"):
        pass
    assert read(f) == b"keep"


def test_remote_uri_destination_is_emulated_locally(tmp_path: Path) -> None:
    src = write(tmp_path / "d.csv", "a,b\n")
    f = File.from_local_sync(src, "s3://bucket/dir/d.csv")
    assert f.path == "s3://bucket/dir/d.csv" and f.name == "d.csv"
    ref = File.from_existing_remote("s3://bucket/dir/d.csv", file_cache_key="k1")
    assert ref.hash == "k1" and ref.__flyte_hash__() == "k1"
    assert read(ref) == b"a,b\n"
    assert not File.from_existing_remote("s3://bucket/missing").exists_sync()


def test_precomputed_hash_and_generic_subscript(tmp_path: Path) -> None:
    src = write(tmp_path / "a.txt", "abc")
    assert File.from_local_sync(src, hash_method="my-key").hash == "my-key"
    typed = File[str].from_local_sync(src)
    assert typed == File.from_local_sync(src)
    assert File[str](path="/x/y.csv").name == "y.csv"


def test_flyte_home_is_read_at_call_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLYTE_HOME", str(tmp_path / "other"))
    f = File.from_local_sync(write(tmp_path / "a.txt", "abc"))
    assert Path(f.path).is_relative_to(tmp_path / "other")


def test_file_pickles_and_displays(tmp_path: Path) -> None:
    f = File.from_local_sync(write(tmp_path / "a.txt", "abc"))
    for dumps, loads in ((pickle.dumps, pickle.loads), (cloudpickle.dumps, cloudpickle.loads)):
        g = loads(dumps(f))
        assert g == f and hash(g) == hash(f) and read(g) == b"abc"
    shown = json.loads(json.dumps(f.__flyte_json__()))
    assert shown == {"type": "File", "path": f.path, "name": "a.txt", "hash": f.hash}
    assert f != File(path=f.path, hash="other")


async def test_file_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    with pytest.raises(FileNotFoundError, match=r"nope\.txt"):
        File.from_local_sync(missing)
    with pytest.raises(FileNotFoundError, match=r"nope\.txt"):
        await File.from_local(missing)
    with pytest.raises(ValueError, match=r"Dir\.from_local"):
        File.from_local_sync(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"nope\.txt"):
        File(path=str(missing)).download_sync()


# --- Dir ------------------------------------------------------------------------------


async def test_dir_walk_lists_all_files(tree: Path, home: Path) -> None:
    d = await Dir.from_local(tree)
    assert d.name == "data" and Path(d.path).is_relative_to(home) and await d.exists()
    root = Path(d.path)
    names = [Path(f.path).relative_to(root).as_posix() async for f in d.walk()]
    assert sorted(names) == ["a.txt", "b.csv", "sub/c.txt", "sub/deeper/d.txt"]
    assert [f.name for f in d.walk_sync()] == [Path(n).name for n in names]
    assert [f.name async for f in d.walk(recursive=False)] == ["a.txt", "b.csv"]
    assert sorted(f.name for f in d.walk_sync(max_depth=2)) == ["a.txt", "b.csv", "c.txt"]
    assert [f.name for f in d.walk_sync(file_pattern="*.csv")] == ["b.csv"]
    assert [f.name for f in await d.list_files()] == ["a.txt", "b.csv"]
    assert [f.name for f in d.list_files_sync()] == ["a.txt", "b.csv"]


async def test_dir_get_file(tree: Path) -> None:
    d = Dir.from_local_sync(tree)
    f = await d.get_file("a.txt")
    assert f is not None and read(f) == b"alpha"
    nested = d.get_file_sync("sub/c.txt")
    assert nested is not None and read(nested) == b"gamma"
    assert d.get_file_sync("nope.txt") is None


def _dir_hash(root: Path) -> str:
    h = Dir.from_local_sync(root).hash
    assert h
    return h


def test_dir_hash_follows_content(tree: Path, tmp_path: Path) -> None:
    base = _dir_hash(tree)
    twin = tmp_path / "elsewhere" / "data"
    for f in tree.rglob("*"):
        if f.is_file():
            write(twin / f.relative_to(tree), f.read_bytes())
    assert _dir_hash(twin) == base
    (tree / "a.txt").write_text("ALPHA")
    edited = _dir_hash(tree)
    write(tree / "new.txt", "n")
    added = _dir_hash(tree)
    (tree / "new.txt").rename(tree / "renamed.txt")
    renamed = _dir_hash(tree)
    assert len({base, edited, added, renamed}) == 4


def test_dir_stored_copy_is_isolated(tree: Path, tmp_path: Path) -> None:
    d = Dir.from_local_sync(tree)
    (tree / "a.txt").write_text("changed")
    (tree / "sub" / "c.txt").unlink()
    assert d.__flyte_hash__() == d.hash
    out = Path(d.download_sync(tmp_path / "out"))
    assert (out / "a.txt").read_text() == "alpha"
    assert (out / "sub" / "c.txt").read_text() == "gamma"


async def test_dir_download_async_and_default_location(tree: Path) -> None:
    d = await Dir.from_local(tree)
    out = Path(await d.download())
    assert out.name == "data"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.txt")) == [
        "a.txt",
        "sub/c.txt",
        "sub/deeper/d.txt",
    ]
    (out / "a.txt").write_text("mine")  # downloads are private and writable
    assert (Path(d.path) / "a.txt").read_text() == "alpha"


def test_dir_destination_and_existing_reference(tree: Path) -> None:
    d = Dir.from_local_sync(tree, "s3://bucket/trees/data", dir_cache_key="key")
    assert d.path == "s3://bucket/trees/data" and d.hash == "key"
    ref = Dir.from_existing_remote("s3://bucket/trees/data")
    assert ref.exists_sync() and ref.hash is None
    assert ref.__flyte_hash__() == Dir.from_local_sync(tree).hash
    assert len(ref.list_files_sync()) == 2


def test_empty_dir_and_pickle(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    d = Dir.from_local_sync(empty)
    assert d.exists_sync() and d.list_files_sync() == []
    for dumps, loads in ((pickle.dumps, pickle.loads), (cloudpickle.dumps, cloudpickle.loads)):
        assert loads(dumps(d)) == d
    shown = json.loads(json.dumps(d.__flyte_json__()))
    assert shown == {"type": "Dir", "path": d.path, "name": "empty", "hash": d.hash}


async def test_dir_errors(tmp_path: Path, tree: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing"):
        Dir.from_local_sync(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="missing"):
        await Dir.from_local(tmp_path / "missing")
    with pytest.raises(ValueError, match=r"File\.from_local"):
        Dir.from_local_sync(tree / "a.txt")
    with pytest.raises(ValueError, match="data store"):
        Dir.from_local_sync(tmp_path)
    with pytest.raises(FileNotFoundError, match="missing"):
        list(Dir(path=str(tmp_path / "missing")).walk_sync())


def test_file_and_dir_share_fields_and_identity_but_never_equal_each_other() -> None:
    from flyte.io import Dir, File

    assert [f.name for f in dataclasses.fields(File)] == [f.name for f in dataclasses.fields(Dir)]
    assert File(path="x", hash="h") == File(path="x", hash="h")
    assert File(path="x", hash="h") != Dir(path="x", hash="h")
    assert len({File(path="x", hash="h"), File(path="x", hash="h"), Dir(path="x", hash="h")}) == 2
    assert Dir(path="/a/b").name == "b"
