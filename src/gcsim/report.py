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
def progress_bar(
    console: Console, doing: str = "simulating", unit: str = "steps"
) -> Iterator[Callable[[int, int], None]]:
    """Yield ``advance(done, total)``; a bar appears once a run has lasted a couple of seconds."""
    started = time.perf_counter()
    progress = Progress(
        TextColumn(doing),
        BarColumn(),
        TextColumn(f"{{task.completed}}/{{task.total}} {unit}"),
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
    """The arms compared, or for a single section run the start and end of its main metrics
    (a patient run's time series are its windows', not the patient's: it gets the arms table,
    read from its lesions)."""
    if len(result.runs) > 1 or result.manifest["scenario"].get("patient") is not None:
        return arms_table(result)
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


def arms_table(result: RunResult) -> Table:
    """One row per arm: responses, burden, progression, infiltration (means over replicates)."""
    arms = result.arms
    days = result.manifest["scenario"]["time"]["days"]
    out = Table(
        title=f"{result.manifest['scenario']['name']}: {len(arms)} arm(s) × "
        f"{int(arms['replicates'].iloc[0])} replicate(s), {days:g} days "
        f"({result.manifest['wall_time_s']:.1f} s)"
    )
    for column, justify in (
        ("arm", "left"),
        ("best response", "left"),
        ("ORR", "right"),
        ("burden / day 0 (range)", "right"),
        ("progressed", "right"),
        ("median TTP (d)", "right"),
        ("CD8 core /mm²", "right"),
        ("hypoxic", "right"),
    ):
        out.add_column(column, justify=justify)
    for row in arms.itertuples():
        out.add_row(
            str(row.arm),
            str(row.best_responses),
            f"{row.objective_response_rate:.0%}",
            f"{_fmt(row.final_burden_ratio_mean)} ({_fmt(row.final_burden_ratio_min)}–"
            f"{_fmt(row.final_burden_ratio_max)})",
            f"{row.progressed}/{row.replicates}",
            "not reached" if math.isnan(row.median_ttp_days) else f"{row.median_ttp_days:.0f}",
            _fmt(row.cd8_core_per_mm2_mean),
            _fmt(row.hypoxic_fraction_mean),
        )
    return out
