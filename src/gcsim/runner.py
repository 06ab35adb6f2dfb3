"""Run a scenario to a results directory: the work behind `gcsim run`."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from gcsim.io import atomic_directory, package_versions, write_json, write_parquet
from gcsim.model import GastricTumorModel
from gcsim.plots import plot_dynamics, plot_lattice
from gcsim.scenario.loader import scenario_hash
from gcsim.scenario.schema import Scenario

ARM = "untreated"


class EdgeWarning(UserWarning):
    """The tumour reached the domain edge: later growth is not visible and must not be read
    as disease control."""


@dataclass
class RunResult:
    out: Path
    timeseries: pd.DataFrame
    manifest: dict[str, Any]
    model: GastricTumorModel


def timeseries_table(
    model: GastricTumorModel, run_id: str, arm: str, replicate: int
) -> pd.DataFrame:
    """The model's recorded metrics as a tidy table (one row per observation)."""
    table = model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    table.insert(0, "replicate", replicate)
    table.insert(0, "arm", arm)
    table.insert(0, "run_id", run_id)
    return table


def run_scenario(
    scenario: Scenario,
    out: Path,
    *,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> RunResult:
    """Simulate ``scenario`` and write ``out``/run.json, timeseries.parquet and two PNGs.

    The directory appears only when everything is written (see ``atomic_directory``).
    """
    with atomic_directory(Path(out), overwrite) as tmp:
        started = time.perf_counter()
        model = GastricTumorModel(scenario)
        model.run(progress)
        wall = time.perf_counter() - started
        table = timeseries_table(model, run_id="run-0", arm=ARM, replicate=0)
        reached_edge = bool(table["tumor_touches_edge"].any())
        if reached_edge:
            first = table.loc[table["tumor_touches_edge"] == 1, "time_h"].iloc[0]
            warnings.warn(
                f"the tumour reached the domain edge at day {first / 24:.1f}; growth after that "
                "is not visible (enlarge domain.width/height)",
                EdgeWarning,
                stacklevel=2,
            )
        manifest = {
            "scenario": scenario.model_dump(mode="json"),
            "scenario_hash": scenario_hash(scenario),
            "seed": scenario.seed,
            "versions": package_versions(),
            "wall_time_s": round(wall, 3),
            "steps": model.steps,
            "phase_seconds": {k: round(v, 4) for k, v in model.timings.items()},
            "tumor_reached_edge": reached_edge,
            "files": ["run.json", "timeseries.parquet", "dynamics.png", "lattice.png"],
        }
        write_parquet(tmp / "timeseries.parquet", table)
        plot_dynamics(table, tmp / "dynamics.png", title=scenario.name)
        plot_lattice(model, tmp / "lattice.png")
        write_json(tmp / "run.json", manifest)
    return RunResult(out=Path(out), timeseries=table, manifest=manifest, model=model)
