"""Notebooks: runs inside Jupyter's loop (sync and awaited), cache from cell code, rendering,
logs, `flyte.remote.Run.get`, rerun/recover; executed by nbclient in a real ipykernel."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
from conftest import outputs_of
from nbformat.v4 import new_code_cell, new_notebook

from flyte._models import CacheStatus, Phase
from flyte._store.sqlite import SqliteRunStore

REPO = Path(__file__).resolve().parents[2]


def _store() -> SqliteRunStore:
    return SqliteRunStore(Path(os.environ["FLYTE_HOME"]) / "runs.db")


def test_the_example_notebook_runs(execute: Callable[[Any], Any]) -> None:
    nb = execute(nbformat.read(REPO / "examples" / "notebook.ipynb", as_version=4))
    code = [c for c in nb.cells if c.cell_type == "code"]
    for cell in code:
        text, _ = outputs_of(cell)
        assert "Traceback" not in text and "event loop is running" not in text, text
    # `run` renders as HTML: phase, the action tree, outputs and durations.
    text, html = outputs_of(code[2])
    assert "flyte-run" in html and "SUCCEEDED" in html and "square" in html and "total" in html
    assert "14" in html  # the outputs
    assert "flyte-progress" in html  # the live progress line, updated in place
    assert outputs_of(code[3])[0].strip() == "14"
    # The awaited run: its children are cache hits of the first run's.
    _, again = outputs_of(code[4])
    assert "4 cache hits" in again and "⚡ cache hit" in again
    logs, _ = outputs_of(code[5])
    assert "squaring 3" in logs and "INFO summed 4 squares" in logs
    past, _ = outputs_of(code[6])
    assert "SUCCEEDED {'n': 4} 14" in past.replace("Phase.SUCCEEDED", "SUCCEEDED")
    assert "squaring 2" in past  # the past run's logs, fetched by name
    store = _store()
    runs = store.list_runs()
    assert [r.phase for r in runs] == [Phase.SUCCEEDED, Phase.SUCCEEDED]
    hits = [a for a in store.list_actions(runs[0].name) if a.cache_status is CacheStatus.HIT]
    assert len(hits) == 4


SQUARE = """\
@env.task(cache="auto")
def square(x: int) -> int:
    return x * x{edit}
"""


def test_cache_follows_the_cell_code_and_notebook_tasks_recover(
    execute: Callable[[Any], Any],
) -> None:
    cells = [
        "import os\nimport flyte\nenv = flyte.TaskEnvironment('nbcache')",
        SQUARE.format(edit=""),
        "print('A', flyte.run(square, 3).actions()[0].cache_status.value)",
        SQUARE.format(edit=""),  # the same cell executed again: same code
        "print('B', flyte.run(square, 3).actions()[0].cache_status.value)",
        SQUARE.format(edit=" + 0  # edited"),  # an edited cell: a new code version
        "print('C', flyte.run(square, 3).actions()[0].cache_status.value)",
        # A notebook pipeline that fails half-way, then is recovered after a fix.
        "@env.task\n"
        "def step(x: int) -> int:\n"
        "    print('step ran')\n"
        "    return x + 1\n\n"
        "@env.task\n"
        "def flaky(x: int) -> int:\n"
        "    if os.environ.get('NB_FIXED') != '1':\n"
        "        raise ValueError('not yet')\n"
        "    return x * 10\n\n"
        "@env.task\n"
        "def pipeline(x: int) -> int:\n"
        "    return flaky(step(x))",
        "failed = flyte.with_runcontext(raise_on_failure=False).run(pipeline, 1)\n"
        "print('D', failed.phase.value)",
        "os.environ['NB_FIXED'] = '1'\n"
        "again = flyte.rerun(failed.name, recover=True)\n"
        "print('E', again.outputs()[0], sorted((a.name, a.recovered) for a in again.actions()))",
        "import asyncio\n"
        "@env.task\n"
        "async def hello(name: str) -> str:\n"
        "    await asyncio.sleep(0)\n"
        "    return f'hi {name}'\n"
        "print('F', flyte.run(hello, 'sync').outputs()[0], (await flyte.run.aio(hello, 'aio')).outputs()[0])",
    ]
    nb = execute(new_notebook(cells=[new_code_cell(c) for c in cells]))
    text = "".join(outputs_of(c)[0] for c in nb.cells)
    assert "Traceback" not in text, text
    assert "A written" in text
    assert "B hit" in text  # unchanged cell re-executed: hits
    assert "C written" in text  # edited cell: misses, and writes a new entry
    assert "D FAILED" in text
    assert (
        "E 20 [('nbcache.flaky', False), ('nbcache.pipeline', False), ('nbcache.step', True)]"
        in text
    )
    assert text.count("step ran") == 1  # recovered, not executed again
    assert "F hi sync hi aio" in text


@pytest.mark.parametrize("phase", ["SUCCEEDED", "FAILED"])
def test_run_html_shows_phase_tree_outputs_and_errors(phase: str) -> None:
    import flyte

    env = flyte.TaskEnvironment("nbhtml")

    @env.task
    def child(x: int) -> int:
        if x < 0:
            raise ValueError("negative <x>")
        return x * 2

    @env.task
    def parent(x: int) -> int:
        return child(x) + 1

    run = flyte.with_runcontext(raise_on_failure=False).run(
        parent, 1 if phase == "SUCCEEDED" else -1
    )
    html = run._repr_html_()
    assert phase in html and "parent" in html and "child" in html
    if phase == "SUCCEEDED":
        assert "<code>3</code>" in html
    else:
        assert "ValueError: negative &lt;x&gt;" in html  # escaped
