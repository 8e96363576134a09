"""A progress bar with rate and ETA (rich); rich keeps it quiet when output is not a terminal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text("" if task.speed is None else f"{task.speed:.1f}/s")


@contextmanager
def progress_bar(total: int, what: str) -> Iterator[Callable[[int], None]]:
    columns = (
        TextColumn(f"[bold]{what}"), BarColumn(), MofNCompleteColumn(), RateColumn(),
        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
    )
    with Progress(*columns) as progress:
        task = progress.add_task(what, total=total)
        yield lambda n: progress.advance(task, n)
