"""flyte.report: each report=True action's tabs are stored, per attempt, in both stores."""

from __future__ import annotations

import sqlite3
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

import flyte
import flyte.report
from flyte import Phase

env = flyte.TaskEnvironment("reports")
attempts: dict[str, int] = {}


@env.task(report=True)
async def reporting(n: int) -> int:
    flyte.report.log("<h2>progress</h2>")
    for i in range(n):
        await flyte.report.log.aio(f"<p>step {i}</p>", do_flush=True)
    tab = flyte.report.get_tab("Metrics")
    tab.log("<table><tr><td>loss</td><td>0.1</td></tr></table>")
    flyte.report.get_tab("Scratch").log("<p>gone</p>")
    flyte.report.get_tab("Scratch").replace("<p>kept</p>")
    return n


@env.task(report=True)
def sync_reporting() -> str:
    flyte.report.replace("<p>replaced</p>")
    flyte.report.flush()
    return "ok"


@env.task
def not_reporting() -> str:
    flyte.report.log("<p>nowhere</p>")  # a task without report=True stores nothing
    return "ok"


@env.task(report=True, retries=1)
def retried(key: str) -> str:
    attempts[key] = attempts.get(key, 0) + 1
    flyte.report.log(f"<p>attempt {attempts[key]}</p>")
    if attempts[key] == 1:
        raise RuntimeError("first attempt fails")
    return "ok"


@env.task(report=True)
def failing() -> None:
    flyte.report.log("<p>before the failure</p>")
    raise ValueError("boom")


@env.task
async def parent() -> str:
    await reporting(1)
    return await sync_reporting() + await not_reporting()


def _report(store: Any, run: flyte.Run, task: str) -> Any:
    (action,) = [a for a in run.actions() if a.name == f"reports.{task}"]
    return store.get_report(run.name, action.id)


def test_report_tabs_are_stored_per_action(store: Any) -> None:
    run = flyte.run(parent)
    found = _report(store, run, "reporting")
    assert list(found.tabs) == ["main", "Metrics", "Scratch"]
    assert found.tabs["main"] == "<h2>progress</h2>\n<p>step 0</p>"
    assert "loss" in found.tabs["Metrics"]
    assert found.tabs["Scratch"] == "<p>kept</p>"
    assert _report(store, run, "sync_reporting").tabs == {"main": "<p>replaced</p>"}
    assert _report(store, run, "not_reporting") is None
    with_report = store.report_actions(run.name)
    assert len(with_report) == 2 and "a0" not in with_report


def test_a_retry_starts_a_fresh_report(store: Any, request: pytest.FixtureRequest) -> None:
    run = flyte.run(retried, request.node.name)
    assert _report(store, run, "retried").tabs == {"main": "<p>attempt 2</p>"}
    assert _report(store, run, "retried").attempt == 2


def test_a_failed_action_keeps_its_report(store: Any) -> None:
    run = flyte.with_runcontext(raise_on_failure=False).run(failing)
    assert run.phase is Phase.FAILED
    assert _report(store, run, "failing").tabs == {"main": "<p>before the failure</p>"}


def test_report_calls_outside_a_task_are_harmless() -> None:
    flyte.report.log("<p>x</p>")
    flyte.report.flush()
    assert flyte.report.get_tab("t").get_html() == ""
    assert "x" in flyte.report.current_report().get_tab("main").get_html()


def test_deleting_a_run_deletes_its_reports(store: Any) -> None:
    run = flyte.run(parent)
    assert store.report_actions(run.name)
    assert store.delete_run(run.name)
    assert store.report_actions(run.name) == []


def test_the_reports_migration_upgrades_an_old_store(tmp_path: Path) -> None:
    from flyte._store import migrations
    from flyte._store.sqlite import SqliteRunStore, connect

    path = str(tmp_path / "old.db")
    conn = connect(path)
    saved = migrations.MIGRATIONS
    migrations.MIGRATIONS = [m for m in saved if m[0] != "0003_reports"]  # before reports
    try:
        migrations.migrate(conn, path)
    finally:
        migrations.MIGRATIONS = saved
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "reports" not in tables
    conn.close()
    SqliteRunStore(path).close()
    conn = sqlite3.connect(path)
    names = [r[0] for r in conn.execute("SELECT name FROM _migrations ORDER BY name")]
    assert names == sorted(name for name, _ in migrations.MIGRATIONS)
    assert "0003_reports" in names
    conn.close()


class _Page(HTMLParser):
    """Collects tab names and tab sections of a rendered report."""

    def __init__(self) -> None:
        super().__init__()
        self.tabs: list[str] = []
        self.sections: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "li":
            self._in = "li"
            self.tabs.append("")
        elif tag == "section":
            self.sections.append(dict(attrs).get("data-tab") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "li":
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "li":
            self.tabs[-1] += data


def test_render_is_one_self_contained_page() -> None:
    page = flyte.report.render({"main": "<p>hi</p>", "a<b": "<i>x</i>"}, title="t & u")
    parsed = _Page()
    parsed.feed(page)
    assert parsed.tabs == ["main", "a<b"] and parsed.sections == ["main", "a<b"]
    assert "<p>hi</p>" in page and "t &amp; u" in page
    assert "http://" not in page and "https://" not in page  # renders offline
