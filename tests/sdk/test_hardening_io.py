"""Least privilege (issue 13, item 8): private home, files that stay inside their folder,
and task output that cannot drive the viewer's terminal."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

import flyte
from flyte.io import Dir, File


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_fresh_home_and_its_store_are_private(_isolated_home: Path) -> None:
    from flyte._store import default_store

    store = default_store()
    env = flyte.TaskEnvironment("priv")

    @env.task
    def hello() -> str:
        return "hi"

    flyte.with_runcontext(echo=False, store=store).run(hello)
    assert mode(_isolated_home) == 0o700
    assert mode(_isolated_home / "runs.db") == 0o600
    assert mode(_isolated_home / "store.key") == 0o600


def test_from_local_keeps_the_source_mode(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("token")
    secret.chmod(0o600)
    stored = File.from_local_sync(secret)
    assert mode(Path(stored.path)) == 0o600
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "key.pem").write_text("k")
    (tree / "key.pem").chmod(0o600)
    copied = Dir.from_local_sync(tree)
    assert mode(Path(copied.path) / "key.pem") == 0o600


def test_dir_from_local_does_not_follow_symlinks_out_of_the_tree(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("private")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "inside.txt").write_text("ok")
    (tree / "leak.txt").symlink_to(outside)
    (tree / "sub" / "alias.txt").symlink_to(tree / "inside.txt")
    copied = Path(Dir.from_local_sync(tree).path)
    names = sorted(p.relative_to(copied).as_posix() for p in copied.rglob("*") if p.is_file())
    assert names == ["inside.txt", "sub/alias.txt"]


@pytest.mark.parametrize("name", ["../escape.txt", "../../etc/passwd", "/etc/passwd"])
def test_paths_that_escape_their_target_are_refused(tmp_path: Path, name: str) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.txt").write_text("a")
    (tmp_path / "escape.txt").write_text("outside")
    d = Dir.from_local_sync(tree)
    with pytest.raises(ValueError, match="outside"):
        d.get_file_sync(name)
    with pytest.raises(ValueError, match="plain file name"):
        File.new_remote(name)
    src = File.from_local_sync(tree / "a.txt")
    planted = File(path=src.path, name=name, hash=src.hash)
    target = tmp_path / "downloads"
    target.mkdir()
    with pytest.raises(ValueError, match="plain file name"):
        planted.download_sync(str(target) + "/")
    assert (tmp_path / "escape.txt").read_text() == "outside"


def test_flyte_logs_shows_escape_sequences_instead_of_obeying_them(
    sqlite_store: Any, cli_runner: Any
) -> None:
    from flyte_cli.main import app

    env = flyte.TaskEnvironment("esc")

    @env.task
    def noisy() -> None:
        print("title\x1b]0;pwned\x07 clear\x1b[2J bell\x07 cr\rdone \x9b31m")

    run = flyte.with_runcontext(echo=False).run(noisy)
    result = cli_runner.invoke(app, ["--store", sqlite_store.path, "logs", run.name])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "\r" not in result.stdout and "\x9b" not in result.stdout
    assert "^[]0;pwned^G" in result.stdout
    as_json = cli_runner.invoke(app, ["--store", sqlite_store.path, "logs", run.name, "--json"])
    assert "\\u001b]0;pwned" in as_json.stdout  # the exact text stays available


async def test_the_dashboard_log_view_neutralises_escapes_and_cuts_huge_lines(
    sqlite_store: Any,
) -> None:
    from flyte_tui.app import DashboardApp
    from flyte_tui.widgets import LogView

    env = flyte.TaskEnvironment("tuiesc")

    @env.task
    def noisy() -> None:
        print("evil\x1b]52;c;cGF5bG9hZA==\x07")
        print("y" * 2_000_000)

    run = flyte.with_runcontext(echo=False).run(noisy)
    app = DashboardApp(sqlite_store, run.name, poll_interval=0.05)
    async with app.run_test(size=(120, 36)) as pilot:
        view = app.screen.query_one(LogView)
        for _ in range(500):  # poll with a deadline (10 s), never a fixed sleep
            if len(view.shown) >= 2:
                break
            await pilot.pause(0.02)
        shown = view.shown
        assert len(shown) == 2, shown
        assert not any("\x1b" in line or "\x07" in line for line in shown)
        assert "^[]52;c;" in shown[0]
        assert len(shown[1]) < 20_000 and "more characters" in shown[1]
