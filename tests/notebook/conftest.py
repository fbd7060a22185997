"""Execute real notebooks with nbclient in an ipykernel running this venv's Python.

The kernel spec is written to a temporary JUPYTER_DATA_DIR (never the real home), and
the kernel inherits the test's isolated FLYTE_HOME.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

KERNEL = "flyte-local-test"


@pytest.fixture
def jupyter_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A kernel spec for `sys.executable` in a temporary Jupyter data dir; its name."""
    data = tmp_path / "jupyter-data"
    spec = data / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "flyte-local test",
                "language": "python",
            }
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(data))
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "jupyter-config"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "jupyter-runtime"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    return KERNEL


@pytest.fixture
def execute(jupyter_env: str, tmp_path: Path) -> Callable[[Any], Any]:
    """`execute(nb)` runs every cell of an nbformat notebook and returns it with outputs."""
    pytest.importorskip("nbclient")
    from nbclient import NotebookClient

    def run(nb: Any) -> Any:
        client = NotebookClient(
            nb,
            kernel_name=jupyter_env,
            timeout=60,
            startup_timeout=60,
            resources={"metadata": {"path": str(tmp_path)}},
        )
        client.execute()
        return nb

    return run


def outputs_of(cell: Any) -> tuple[str, str]:
    """(all text/plain and stream text, all text/html) a cell produced."""
    text: list[str] = []
    html: list[str] = []
    for out in cell.get("outputs", []):
        if out["output_type"] == "stream":
            text.append(out["text"])
        elif out["output_type"] in ("execute_result", "display_data"):
            data = out.get("data", {})
            text.append(data.get("text/plain", ""))
            html.append(data.get("text/html", ""))
        elif out["output_type"] == "error":
            text.append("\n".join(out.get("traceback", [])))
    return "".join(text), "".join(html)
