"""Terminal output of a sweep: a live progress bar and the final summary."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from gcsim.sweep.analyze import Analysis
from gcsim.sweep.execute import SweepSummary


@contextmanager
def sweep_progress(
    console: Console, total: int, already: int
) -> Iterator[Callable[[dict[str, Any]], None]]:
    """Yield ``on_result(record)``: the bar counts runs done and failed and estimates the rest."""
    progress = Progress(
        TextColumn("runs"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[red]{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    with progress:
        task = progress.add_task("sweep", total=total, completed=already, failed=0)
        failed = 0

        def on_result(record: dict[str, Any]) -> None:
            nonlocal failed
            failed += record["status"] != "ok"
            progress.update(task, advance=1, failed=failed)

        yield on_result


def summary_table(summary: SweepSummary) -> Table:
    table = Table(title=f"sweep {summary.out}", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("runs", str(summary.total))
    table.add_row("succeeded", str(summary.ok))
    table.add_row("failed", str(summary.failed), style="red" if summary.failed else None)
    if summary.skipped:
        table.add_row("already done (resumed)", str(summary.skipped))
    table.add_row("wall time", f"{summary.wall_s:.1f} s")
    return table


def failure_lines(summary: SweepSummary, limit: int = 10) -> list[str]:
    """One line per failed run: its id, factor values and error."""
    lines = []
    for record in summary.failures[:limit]:
        values = ", ".join(f"{k}={v!r}" for k, v in record["values"].items())
        lines.append(f"failed {record['run_id']} ({values}): {record['error']}")
    if len(summary.failures) > limit:
        lines.append(f"… and {len(summary.failures) - limit} more (see metrics.parquet)")
    return lines


def analysis_table(analysis: Analysis) -> Table:
    """The indices (or main effects) as printed by `gcsim analyze`, one block per arm."""
    data = analysis.table
    table = Table(title=analysis.method)
    several = "arm" in data and data["arm"].nunique() > 1
    if several:
        table.add_column("arm")
    if "index" in data:
        for name in ("metric", "factor", "index"):
            table.add_column(name)
        table.add_column("value", justify="right")
        table.add_column("± CI", justify="right")
        for row in data.itertuples():
            cells = (row.metric, row.factor, row.index, f"{row.value:.3g}", f"{row.conf:.2g}")
            table.add_row(*((row.arm,) if several else ()), *cells)
    elif not data.empty:
        for name in ("metric", "factor", "level"):
            table.add_column(name)
        table.add_column("mean", justify="right")
        table.add_column("± s.e.", justify="right")
        table.add_column("n", justify="right")
        for row in data.itertuples():
            numbers = (f"{row.mean:.3g}", f"{row.sem:.2g}", str(row.n))
            cells = (row.metric, row.factor, str(row.level), *numbers)
            table.add_row(*((row.arm,) if several else ()), *cells)
    return table
