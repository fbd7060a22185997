"""RunHeader: one run's name, phase, duration and action counts, above its tree."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.style import Style
from rich.text import Text
from textual.widgets import Static

from flyte_tui import _format

if TYPE_CHECKING:
    from flyte._models import ActionRecord, RunRecord
    from flyte_tui.data import Counts

__all__ = ["RunHeader"]


class RunHeader(Static):
    """Two lines: run, task, phase and duration; then running / done / failed / cached.

    Example:
        header = RunHeader(id="run-header")
        header.show(store.get_run(name), Counts.of(store.list_actions(name)), follow=False)
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "run-header--name",
        "run-header--dim",
        "run-header--queued",
        "run-header--running",
        "run-header--succeeded",
        "run-header--failed",
        "run-header--timed-out",
        "run-header--aborted",
        "run-header--cache-hit",
        "run-header--recovered",
    }

    _shown: Text | None = None

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"run-header--{name}", partial=True)

    def reading(self, name: str | None) -> None:
        """Shown until the first read of the store answers (a big run takes a moment)."""
        what = f"run {name}" if name else "the newest run"
        self._shown = None
        self.update(Text(f"Reading {what}…", style=self._style("dim")))

    def waiting(self, name: str | None) -> None:
        """Shown until the run (or, with no name, any run) is in the store."""
        what = f"run {name}" if name else "the first run"
        self._shown = None
        self.update(Text(f"Waiting for {what} to appear in the store…", style=self._style("dim")))

    def show(
        self, run: RunRecord, counts: Counts, *, follow: bool, root: ActionRecord | None = None
    ) -> None:
        """Render `run` and the counts of its actions.

        Args:
            run: the run.
            counts: its actions by state.
            follow: whether follow mode is on.
            root: the root action; the run's duration is the root's, so the header and
                the tree show the same figure.
        """
        text = Text()
        text.append(run.name, self._style("name"))
        text.append(f"  {run.task}  ", self._style("dim"))
        phase = run.phase.value + (" (interrupted)" if run.interrupted else "")
        text.append(
            f"{_format.PHASE_ICONS[run.phase]} {phase}", self._style(_format.phase_class(run.phase))
        )
        timed = root if root is not None and root.started_at is not None else run
        took = _format.duration(_format.elapsed(timed.started_at, timed.ended_at))
        if took:
            text.append(f"  {took}", self._style("dim"))
        if run.recovered_from:
            text.append(f"  recovers {run.recovered_from}", self._style("recovered"))
        if follow:
            text.append("  [following]", self._style("running"))
        text.append("\n")
        text.append(f"running {counts.running}", self._style("running"))
        text.append(f" · done {counts.done}/{counts.total}", self._style("dim"))
        text.append(f" · failed {counts.failed}", self._style("failed" if counts.failed else "dim"))
        text.append(
            f" · cached {counts.cached}", self._style("cache-hit" if counts.cached else "dim")
        )
        if counts.aborted:
            text.append(f" · aborted {counts.aborted}", self._style("aborted"))
        if counts.recovered:
            text.append(f" · recovered {counts.recovered}", self._style("recovered"))
        if counts.replayed:
            text.append(f" · replayed {counts.replayed}", self._style("recovered"))
        if counts.traces:
            text.append(f" · traces {counts.traces}", self._style("dim"))
        if run.error_type:
            text.append(f"\n{run.error_type}: {run.error_message or ''}", self._style("failed"))
        if text != self._shown:
            # Laying the screen out again costs more than the rest of a refresh: only when
            # the text may take other lines (the clock ticking `12s` to `13s` does not).
            old, self._shown = self._shown, text
            same = (
                old is not None
                and len(old.plain) == len(text.plain)
                and old.plain.count("\n") == text.plain.count("\n")
            )
            self.update(text, layout=not same)
