"""The run screen marks actions that keep a report and opens one with `o` (in a browser)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_app import SIZE, app_for, notified, open_run, select_action, tree_lines
from tui_helpers import wait_until

import flyte
import flyte.report

env = flyte.TaskEnvironment("tui_report")


@env.task(report=True)
def charted(n: int) -> int:
    flyte.report.log(f"<p>chart of {n}</p>")
    flyte.report.get_tab("Data").log("<table></table>")
    return n


@env.task
def plain(n: int) -> int:
    return n + 1


@env.task
def both(n: int) -> int:
    return charted(n) + plain(n)


async def test_report_actions_are_marked_and_open_with_o(
    sqlite_store: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import webbrowser

    opened: list[str] = []
    monkeypatch.setattr(webbrowser, "open", lambda url, *a, **k: opened.append(url) or True)
    run = flyte.with_runcontext(name="report-run").run(both, 2)
    app = app_for(sqlite_store)
    async with app.run_test(size=SIZE) as pilot:
        await open_run(pilot, app, run.name)
        lines = tree_lines(app)
        assert any("charted" in line and line.endswith("  report") for line in lines), lines
        assert not any("plain" in line and "report" in line for line in lines), lines
        await select_action(pilot, app, "plain(n=2)")
        await pilot.press("o")
        await wait_until(pilot, lambda: notified(app, "has no report"))
        await select_action(pilot, app, "charted(n=2)")
        await pilot.press("o")
        await wait_until(pilot, lambda: bool(opened))
    path = Path(opened[0].removeprefix("file://"))
    page = path.read_text(encoding="utf-8")
    assert "<p>chart of 2</p>" in page and ">Data</li>" in page
