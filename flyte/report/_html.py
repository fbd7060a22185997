"""A stored report as one self-contained HTML page: inline styles and script, no network."""

from __future__ import annotations

import html
from typing import Any

__all__ = ["action_report_html", "render"]

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ margin: 0; font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #222; }}
header {{ padding: 12px 24px; background: #f4f1fa; border-bottom: 1px solid #ddd; }}
header h1 {{ font-size: 16px; margin: 0; }}
#flyte-report-tabs {{ display: flex; gap: 8px; list-style: none; margin: 0; padding: 0 24px;
  border-bottom: 1px solid #ddd; }}
#flyte-report-tabs li {{ cursor: pointer; padding: 8px 12px; font-weight: 600; color: #666; }}
#flyte-report-tabs li.active {{ color: #222; border-bottom: 3px solid #7b2cbf; }}
.flyte-report-tab {{ display: none; padding: 16px 24px; }}
.flyte-report-tab.active {{ display: block; }}
</style>
</head>
<body>
<header><h1>{title}</h1></header>
<nav><ul id="flyte-report-tabs">{nav}</ul></nav>
<main>{body}</main>
<script>
function flyteShowTab(i) {{
  document.querySelectorAll("#flyte-report-tabs li").forEach(function (li, j) {{
    li.classList.toggle("active", i === j);
  }});
  document.querySelectorAll(".flyte-report-tab").forEach(function (div, j) {{
    div.classList.toggle("active", i === j);
  }});
}}
</script>
</body>
</html>
"""


def render(tabs: dict[str, str], *, title: str = "Report") -> str:
    """One HTML document showing `tabs` (name -> HTML fragment); the first tab is open.

    Fragments are inserted as they are (they are the task's own HTML); tab names and the
    title are escaped.
    """
    nav = []
    body = []
    for i, (name, fragment) in enumerate(tabs.items()):
        active = ' class="active"' if i == 0 else ""
        nav.append(f'<li{active} onclick="flyteShowTab({i})">{html.escape(name)}</li>')
        cls = "flyte-report-tab active" if i == 0 else "flyte-report-tab"
        body.append(f'<section class="{cls}" data-tab="{html.escape(name)}">{fragment}</section>')
    return _PAGE.format(title=html.escape(title), nav="".join(nav), body="\n".join(body))


def action_report_html(store: Any, run: str, action_id: str, title: str) -> str:
    """The self-contained HTML report of one action of `run`, as `flyte get report` writes it.

    Raises:
        ReportNotFoundError: the action logged no report (a task logs one with
            `@env.task(report=True)`).
    """
    from flyte.errors import ReportNotFoundError

    found = store.get_report(run, action_id)
    if found is None:
        raise ReportNotFoundError(
            f"No report is available for action {action_id!r} in run {run!r}; a task logs one "
            "with @env.task(report=True) and flyte.report.log(...)"
        )
    return render(found.tabs, title=title)
