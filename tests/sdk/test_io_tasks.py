"""`flyte.io.File` and `flyte.io.Dir` inside runs: passing between tasks, and cache keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import flyte
from flyte import CacheStatus
from flyte.io import Dir, File


def status(run: flyte.Run, short_name: str) -> CacheStatus:
    [found] = [a for a in run.actions() if a.name.rsplit(".", 1)[-1] == short_name]
    return found.cache_status  # type: ignore[no-any-return]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --- passing between tasks ------------------------------------------------------------------


def test_sync_tasks_pass_a_file(store: Any, tmp_path: Path) -> None:
    env = flyte.TaskEnvironment("file_sync")
    scratch = tmp_path / "scratch"

    @env.task
    def produce(text: str) -> File:
        return File.from_local_sync(write(scratch / "out.txt", text))

    @env.task
    def consume(f: File) -> str:
        with f.open_sync("rb") as fh:
            return fh.read().decode() + "|" + Path(f.download_sync(f"{scratch}/dl/")).read_text()

    @env.task
    def main(text: str) -> str:
        return consume(produce(text))

    run = flyte.run(main, "hello")
    assert run.outputs()[0] == "hello|hello"
    # The producer's local file can go away: the run keeps its own stored copy.
    (scratch / "out.txt").unlink()
    [consumer] = [a for a in run.actions() if a.name == "file_sync.consume"]
    shown = json.loads(consumer.inputs_json)["f"]
    assert isinstance(shown, dict) and shown["name"] == "out.txt"
    with File(path=shown["path"]).open_sync("rb") as fh:
        assert fh.read() == b"hello"


async def test_async_tasks_pass_a_file(store: Any, tmp_path: Path) -> None:
    env = flyte.TaskEnvironment("file_async")
    scratch = tmp_path / "scratch"

    @env.task
    async def produce(text: str) -> File:
        return await File.from_local(write(scratch / "data.bin", text))

    @env.task
    async def consume(f: File) -> str:
        async with f.open("rb") as fh:
            head = await fh.read()
        local = await f.download(scratch / "copy.bin")
        return head.decode() + "|" + Path(local).read_text()

    @env.task
    async def main(text: str) -> str:
        return await consume(await produce(text))

    run = await flyte.run.aio(main, "bytes")
    assert run.outputs()[0] == "bytes|bytes"


def test_a_file_as_run_input_and_output(store: Any, tmp_path: Path) -> None:
    env = flyte.TaskEnvironment("file_io")

    @env.task
    def upper(f: File) -> File:
        text = Path(f.download_sync(f"{tmp_path}/dl/")).read_text().upper()
        return File.from_local_sync(write(tmp_path / "upper.txt", text))

    src = File.from_local_sync(write(tmp_path / "in.txt", "shout"))
    out = flyte.run(upper, src).outputs()[0]
    assert isinstance(out, File) and out.path != src.path
    with out.open_sync("r") as fh:
        assert fh.read() == "SHOUT"


def test_tasks_pass_a_dir(store: Any, tmp_path: Path) -> None:
    env = flyte.TaskEnvironment("dir_pass")
    scratch = tmp_path / "tree"

    @env.task
    def produce(n: int) -> Dir:
        for i in range(n):
            write(scratch / f"part-{i}.txt", f"p{i}")
        write(scratch / "nested" / "meta.json", json.dumps({"n": n}))
        return Dir.from_local_sync(scratch)

    @env.task
    def consume(d: Dir) -> dict[str, str]:
        root = Path(d.path)
        return {
            Path(f.path).relative_to(root).as_posix(): Path(f.path).read_text()
            for f in d.walk_sync()
        }

    @env.task
    def main(n: int) -> dict[str, str]:
        return consume(produce(n))

    assert flyte.run(main, 2).outputs()[0] == {
        "part-0.txt": "p0",
        "part-1.txt": "p1",
        "nested/meta.json": '{"n": 2}',
    }


async def test_async_tasks_pass_a_dir(store: Any, tmp_path: Path) -> None:
    env = flyte.TaskEnvironment("dir_async")
    src = tmp_path / "src"
    write(src / "a.txt", "A")
    write(src / "b" / "c.txt", "C")

    @env.task
    async def names(d: Dir) -> list[str]:
        local = Path(await d.download(tmp_path / "dl"))
        walked = sorted([f.name async for f in d.walk()])
        return [*walked, (local / "b" / "c.txt").read_text()]

    run = await flyte.run.aio(names, await Dir.from_local(src))
    assert run.outputs()[0] == ["a.txt", "c.txt", "C"]


# --- content hashes drive cache keys ---------------------------------------------------------


def test_file_content_drives_the_cache_key(store: Any, tmp_path: Path) -> None:
    env = flyte.TaskEnvironment("file_cache")
    calls: list[str] = []

    @env.task(cache="auto")
    def count_words(f: File) -> int:
        with f.open_sync("r") as fh:
            text = fh.read()
        calls.append(text)
        return len(text.split())

    first = File.from_local_sync(write(tmp_path / "a.txt", "one two three"))
    twin = File.from_local_sync(write(tmp_path / "elsewhere" / "b.txt", "one two three"))
    other = File.from_local_sync(write(tmp_path / "c.txt", "one two three four"))

    r1 = flyte.run(count_words, first)
    r2 = flyte.run(count_words, twin)  # another file, the same content: a hit
    r3 = flyte.run(count_words, other)  # new content: a miss
    assert [r.outputs()[0] for r in (r1, r2, r3)] == [3, 3, 4]
    assert [status(r, "count_words") for r in (r1, r2, r3)] == [
        CacheStatus.WRITTEN,
        CacheStatus.HIT,
        CacheStatus.WRITTEN,
    ]
    assert calls == ["one two three", "one two three four"]
    why = flyte.cache.explain(r3.name, "a0")
    assert why.reasons == ["input 'f' changed"], why.reasons


def test_a_referenced_file_edited_in_place_misses(store: Any, tmp_path: Path) -> None:
    env = flyte.TaskEnvironment("file_ref_cache")
    calls: list[str] = []

    @env.task(cache="auto")
    def read(f: File) -> str:
        text = Path(f.download_sync(tmp_path / "dl.txt")).read_text()
        calls.append(text)
        return text

    path = write(tmp_path / "live.txt", "v1")
    ref = File.from_existing_remote(str(path))  # not copied: hashed by its current content
    assert flyte.run(read, ref).outputs()[0] == "v1"
    assert status(flyte.run(read, ref), "read") is CacheStatus.HIT
    path.write_text("v2")
    edited = flyte.run(read, ref)
    assert edited.outputs()[0] == "v2" and status(edited, "read") is CacheStatus.WRITTEN
    assert calls == ["v1", "v2"]


def test_dir_content_drives_the_cache_key(store: Any, tmp_path: Path) -> None:
    env = flyte.TaskEnvironment("dir_cache")
    calls: list[int] = []

    @env.task(cache="auto")
    def size(d: Dir) -> int:
        n = sum(len(Path(f.path).read_bytes()) for f in d.walk_sync())
        calls.append(n)
        return n

    one = tmp_path / "one"
    two = tmp_path / "two"
    for root in (one, two):
        write(root / "x.txt", "xx")
        write(root / "sub" / "y.txt", "yyy")

    assert flyte.run(size, Dir.from_local_sync(one)).outputs()[0] == 5
    twin = flyte.run(size, Dir.from_local_sync(two))  # the same tree elsewhere: a hit
    assert status(twin, "size") is CacheStatus.HIT
    write(two / "z.txt", "z")
    grown = flyte.run(size, Dir.from_local_sync(two))
    assert grown.outputs()[0] == 6 and status(grown, "size") is CacheStatus.WRITTEN
    assert calls == [5, 6]


def test_a_cached_file_output_is_still_readable_on_a_hit(store: Any, tmp_path: Path) -> None:
    env = flyte.TaskEnvironment("file_out_cache")
    calls: list[int] = []

    @env.task(cache="auto")
    def render(n: int) -> File:
        calls.append(n)
        return File.from_local_sync(write(tmp_path / f"render-{len(calls)}.txt", "#" * n))

    first = flyte.run(render, 3).outputs()[0]
    (tmp_path / "render-1.txt").unlink()  # the producer's scratch file is gone
    hit_run = flyte.run(render, 3)
    again = hit_run.outputs()[0]
    assert status(hit_run, "render") is CacheStatus.HIT and calls == [3]
    assert again == first
    with again.open_sync("r") as fh:
        assert fh.read() == "###"
