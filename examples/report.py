# /// script
# requires-python = ">=3.10"
# dependencies = ["flyte-local"]
# ///
"""An HTML report with tabs: `train` logs its progress and a metrics table as it runs.

How to run:
    flyte run examples/report.py main --epochs 3      # then: flyte get report RUN --open
    python examples/report.py                         # plain Python works too
"""

from __future__ import annotations

import html

import flyte
import flyte.report

env = flyte.TaskEnvironment("report_demo")


@env.task(report=True)
async def train(epochs: int) -> float:
    """Pretend to train; log each epoch to the main tab and a table to "Metrics"."""
    loss = 1.0
    rows = []
    for epoch in range(1, epochs + 1):
        loss = round(loss * 0.6, 4)
        rows.append(f"<tr><td>{epoch}</td><td>{loss}</td></tr>")
        await flyte.report.log.aio(f"<p>epoch {epoch}: loss {loss}</p>", do_flush=True)
    flyte.report.get_tab("Metrics").log(
        "<table><tr><th>epoch</th><th>loss</th></tr>" + "".join(rows) + "</table>"
    )
    flyte.logger.info("trained %d epochs", epochs)
    return loss


@env.task
async def main(epochs: int = 3) -> float:
    """Train, then say where the report is."""
    loss = await train(epochs)
    print(html.unescape(f"final loss {loss}; see `flyte get report {flyte.ctx().action.run_name}`"))
    return loss


if __name__ == "__main__":
    run = flyte.run(main, epochs=3)
    print(run.outputs()[0])
