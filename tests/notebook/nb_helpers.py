"""Helpers of the notebook tests (fixtures are in conftest.py)."""

from __future__ import annotations

from typing import Any


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
