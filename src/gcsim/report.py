"""Terminal output of a run: a progress bar and a one-screen summary."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

if TYPE_CHECKING:
    from gcsim.runner import RunResult

PROGRESS_AFTER_S = 2.0  # short runs print no bar


@contextmanager
def progress_bar(console: Console) -> Iterator[Callable[[int, int], None]]:
    """Yield ``advance(done, total)``; a bar appears once a run has lasted a couple of seconds."""
    started = time.perf_counter()
    progress = Progress(
        TextColumn("simulating"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} steps"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    task = None

    def advance(done: int, total: int) -> None:
        nonlocal task
        if task is None:
            if time.perf_counter() - started < PROGRESS_AFTER_S:
                return
            progress.start()
            task = progress.add_task("run", total=total)
        progress.update(task, completed=done)

    try:
        yield advance
    finally:
        progress.stop()


def _fmt(value: float) -> str:
    return (
        "n/a"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else (f"{value:.3g}")
    )


def summary_table(result: RunResult) -> Table:
    """Start and end of the main metrics."""
    table = result.timeseries
    first, last = table.iloc[0], table.iloc[-1]
    out = Table(
        title=f"{result.manifest['scenario']['name']}: day 0 → day "
        f"{last['time_h'] / 24:g} ({result.manifest['wall_time_s']:.1f} s)"
    )
    out.add_column("metric")
    out.add_column("day 0", justify="right")
    out.add_column("end", justify="right")
    for label, column in (
        ("viable tumour (mm²)", "viable_tumor_mm2"),
        ("hypoxic fraction", "hypoxic_fraction"),
        ("necrotic fraction", "necrotic_fraction"),
        ("perfused vessel fraction", "perfused_vessel_fraction"),
        ("CD8 core (cells/mm²)", "cd8_core_per_mm2"),
        ("CD8 margin (cells/mm²)", "cd8_margin_per_mm2"),
        ("CD8:Treg ratio", "cd8_treg_ratio"),
        ("M1:M2 ratio", "m1_m2_ratio"),
        ("PD-L1 CPS", "cps"),
    ):
        out.add_row(label, _fmt(first[column]), _fmt(last[column]))
    out.add_row("tumour / day 0", "1", _fmt(last["viable_tumor_mm2"] / first["viable_tumor_mm2"]))
    return out
