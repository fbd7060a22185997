"""`flyte.storage` helpers over local paths: copies, streams, and cloud URLs refused clearly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import flyte.storage as storage
from flyte.errors import InvalidOptionError


async def test_a_folder_is_copied_whole_and_a_file_into_new_folders(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("a")
    (src / "sub" / "b.txt").write_text("b")
    copied = Path(await storage.put(str(src), str(tmp_path / "dst")))
    assert (copied / "a.txt").read_text() == "a" and (copied / "sub" / "b.txt").read_text() == "b"
    one = Path(await storage.get(f"file://{src / 'a.txt'}", str(tmp_path / "x" / "y" / "a.txt")))
    assert one.read_text() == "a"
    fresh = Path(await storage.get(str(src / "a.txt")))  # a new temporary folder
    assert fresh.name == "a.txt" and fresh.parent != src and fresh.read_text() == "a"
    assert await storage.exists(str(one)) and not storage.exists_sync(str(tmp_path / "nope"))


async def test_streams_write_bytes_iterables_and_async_iterables_and_read_in_chunks(
    tmp_path: Path,
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for part in (b"as", b"ync"):
            yield part

    assert Path(await storage.put_stream(b"plain", name="p.bin")).read_bytes() == b"plain"
    listed = await storage.put_stream([b"li", b"st"], to_path=str(tmp_path / "l.bin"))
    assert Path(listed).read_bytes() == b"list"
    streamed = await storage.put_stream(chunks(), to_path=str(tmp_path / "deep" / "a.bin"))
    assert Path(streamed).read_bytes() == b"async"
    assert [c async for c in storage.get_stream(streamed, chunk_size=2)] == [b"as", b"yn", b"c"]
    with await storage.open(listed) as f:
        assert f.read() == b"list"


async def test_cloud_urls_are_refused_naming_the_scheme(tmp_path: Path) -> None:
    assert storage.is_remote("s3://bucket/key") and not storage.is_remote("file:///tmp/x")
    assert storage.join("s3://bucket/", "/a/", "b") == "s3://bucket/a/b"
    assert storage.join("/tmp", "a") == "/tmp/a"
    with pytest.raises(InvalidOptionError, match=r"s3:// storage is not reachable from a local"):
        await storage.get("s3://bucket/key", str(tmp_path / "k"))
    with pytest.raises(InvalidOptionError, match=r"gs:// storage is not reachable"):
        storage.get_underlying_filesystem(path="gs://bucket/key")
    assert storage.get_random_local_directory().is_dir()
    assert storage.get_random_local_path().parent.is_dir()
