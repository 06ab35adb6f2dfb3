"""Helpers for the sweep tests: small sweep files and a run function that fails on purpose.

Worker processes import this module by name to unpickle ``fail_on_even_points`` (pytest puts
``tests/`` on ``sys.path``, and spawned workers inherit it).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from gcsim.sweep.execute import RunOutcome, RunTask, simulate

REPO = Path(__file__).resolve().parent.parent
BASELINE = REPO / "scenarios" / "baseline.yaml"

# 40 × 40 sites, 3 days: a run takes a fraction of a second once numba's cache is warm.
SMALL = {
    "domain.width": 40,
    "domain.height": 40,
    "tumor.initial_radius_um": 200,
    "time.days": 3,
}
# 60 × 60 sites, 8 days: long enough (~0.2 s a run) for a kill to land in the middle of a sweep.
SLOWER = {**SMALL, "domain.width": 60, "domain.height": 60, "time.days": 8}
FACTORIAL = {
    "tumor.pdl1_cps": {"levels": [1, 40]},
    "immune.phenotype": {"levels": ["inflamed", "desert"]},
}


def write_sweep(
    directory: Path,
    *,
    design: dict | None = None,
    factors: dict | None = None,
    replicates: int = 2,
    seed: int = 7,
    name: str = "small",
    extra: dict | None = None,
    fixed: dict | None = None,
) -> Path:
    """A sweep file over the baseline scenario shrunk to ``SMALL`` (JSON is valid YAML)."""
    spec = {
        "name": name,
        "scenario": str(BASELINE),
        "set": fixed or SMALL,
        "seed": seed,
        "design": design or {"method": "factorial"},
        "replicates": replicates,
        "factors": factors or FACTORIAL,
        **(extra or {}),
    }
    path = Path(directory) / f"{name}.yaml"
    path.write_text(json.dumps(spec, indent=2))
    return path


def fail_on_even_points(task: RunTask) -> RunOutcome:
    """Like ``simulate``, but the model of every even design point raises while running."""
    if int(task.run_id[1:].split("-")[0]) % 2:
        return simulate(task)
    from gcsim.model import GastricTumorModel

    def boom(model: GastricTumorModel, progress: object = None) -> None:
        raise FloatingPointError(f"injected failure in {task.run_id}")

    saved = GastricTumorModel.run
    GastricTumorModel.run = boom  # only in this worker, only for this run
    try:
        return simulate(task)
    finally:
        GastricTumorModel.run = saved


def results(out: Path) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """The metrics table without timings and hosts, and every run's time series."""
    metrics = pd.read_parquet(out / "metrics.parquet").drop(columns=["wall_time_s"])
    series = {p.stem: pd.read_parquet(p) for p in sorted((out / "runs").glob("*.parquet"))}
    return metrics, series


def assert_same_results(a: Path, b: Path) -> None:
    metrics_a, series_a = results(a)
    metrics_b, series_b = results(b)
    pd.testing.assert_frame_equal(metrics_a, metrics_b)
    assert series_a.keys() == series_b.keys()
    for run_id, table in series_a.items():
        pd.testing.assert_frame_equal(table, series_b[run_id], check_exact=True)
    design_a = pd.read_parquet(a / "design.parquet")
    pd.testing.assert_frame_equal(design_a, pd.read_parquet(b / "design.parquet"))
