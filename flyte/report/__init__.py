"""`flyte.report`: an HTML report per action, with tabs, stored with the run.

Example:
    @env.task(report=True)
    async def train(epochs: int) -> float:
        for epoch in range(epochs):
            flyte.report.log(f"<p>epoch {epoch} done</p>", do_flush=True)
        flyte.report.get_tab("Metrics").log("<table>...</table>")
        return 0.93

`flyte get report RUN [ACTION]` writes the stored report as one HTML file.
"""

from flyte.report._html import render
from flyte.report._report import Report, Tab, current_report, flush, get_tab, log, replace

__all__ = ["Report", "Tab", "current_report", "flush", "get_tab", "log", "render", "replace"]
