"""`flyte get report RUN [ACTION] [--open]`: one HTML file a browser renders, with the tabs."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import Invoke, error_line


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tabs: list[str] = []
        self.text: list[str] = []
        self._li = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._li = tag == "li"
        if self._li:
            self.tabs.append("")

    def handle_endtag(self, tag: str) -> None:
        self._li = False if tag == "li" else self._li

    def handle_data(self, data: str) -> None:
        if self._li:
            self.tabs[-1] += data
        self.text.append(data)


def parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


@pytest.fixture
def run_name(flyte: Invoke) -> str:
    result = flyte("run", "--json", "examples/report.py", "main", "--epochs", "2")
    assert result.exit_code == 0, result.output
    return str(json.loads(result.stdout)["run"])


def test_get_report_of_an_action_writes_html_with_tabs(
    flyte: Invoke, run_name: str, tmp_path: Path
) -> None:
    out = tmp_path / "r.html"
    result = flyte("get", "report", run_name, "train", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert f"wrote {out} (2 tabs)" in result.stdout
    page = parse(out)
    assert page.tabs == ["main", "Metrics"]
    text = " ".join(page.text)
    assert "epoch 1: loss 0.6" in text and "epoch 2: loss 0.36" in text
    assert "loss" in text and "epoch" in text


def test_get_report_of_a_run_and_json(flyte: Invoke, run_name: str, tmp_path: Path) -> None:
    out = tmp_path / "all.html"
    result = flyte("get", "report", run_name, "-o", str(out), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["tabs"] == ["main", "Metrics"] and data["path"] == str(out)
    assert parse(out).tabs == ["main", "Metrics"]


def test_get_report_default_path_and_open(
    flyte: Invoke, run_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import webbrowser

    opened: list[str] = []
    monkeypatch.setattr(webbrowser, "open", lambda url, *a, **k: opened.append(url) or True)
    monkeypatch.chdir(tmp_path)
    result = flyte("get", "report", run_name, "--open")
    assert result.exit_code == 0, result.output
    path = tmp_path / f"{run_name}-report.html"
    assert path.exists()
    assert opened == [path.resolve().as_uri()]


def test_get_report_errors_are_one_line(flyte: Invoke, run_name: str) -> None:
    assert "has no report" in error_line(flyte("get", "report", run_name, "a0"))
    assert "no-such-run" in error_line(flyte("get", "report", "no-such-run"))
    plain = json.loads(flyte("run", "--json", "examples/hello.py", "main").stdout)["run"]
    assert "has no reports" in error_line(flyte("get", "report", plain))


def test_get_report_unwritable_output(flyte: Invoke, run_name: str, tmp_path: Path) -> None:
    target: Any = tmp_path / "missing-dir" / "r.html"
    assert "cannot write" in error_line(flyte("get", "report", run_name, "-o", str(target)))
