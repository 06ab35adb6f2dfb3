"""Run a scenario — every arm × replicate — to a results directory: the work behind `gcsim run`.

Seeds: replicate ``r`` of every arm starts from the seed ``SeedSequence(root, spawn_key=(r,))``,
so the arms of one replicate start from the same tumour (common random numbers: arm differences
are treatment, not luck) and every result is the same whether runs execute in this process or in
a pool, in any order.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gcsim.compare import arm_summary
from gcsim.io import (
    atomic_directory,
    clean_stale,
    package_versions,
    write_json,
    write_marker,
    write_parquet,
)
from gcsim.model import GastricTumorModel
from gcsim.params import Parameters
from gcsim.plots import plot_arms, plot_lattice
from gcsim.pool import LocalPool, available_cores
from gcsim.scenario.loader import scenario_hash
from gcsim.scenario.schema import Scenario, arm_file_stem
from gcsim.snapshots import SnapshotRecorder, save_snapshots, snapshot_name, steps_between
from gcsim.summary import summarize

Progress = Callable[[int, int], None]


class StaleDirectoryWarning(UserWarning):
    """A temporary directory left by an earlier, killed run was removed (or left: no lock)."""


class EdgeWarning(UserWarning):
    """The tumour reached the domain edge: later growth is not visible and must not be read
    as disease control."""


@dataclass(frozen=True)
class Job:
    """One simulation: an arm, a replicate and its seed."""

    arm: str
    replicate: int
    seed: int

    @property
    def run_id(self) -> str:
        return f"{self.arm}/r{self.replicate}"


@dataclass
class Simulation:
    """What one job returns (picklable, so it crosses process boundaries)."""

    job: Job
    table: pd.DataFrame
    wall_time_s: float
    steps: int
    phase_seconds: dict[str, float]
    reached_edge_day: float | None


@dataclass
class RunResult:
    out: Path
    timeseries: pd.DataFrame
    runs: pd.DataFrame  # one row per run: arm, replicate, seed, summary metrics
    arms: pd.DataFrame  # one row per arm: summary over replicates
    manifest: dict[str, Any] = field(default_factory=dict)


def replicate_seed(root: int, replicate: int) -> int:
    """The seed of ``replicate`` (shared by all arms), spawned from the root seed."""
    state = np.random.SeedSequence(root, spawn_key=(replicate,)).generate_state(2, np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1


def plan(scenario: Scenario) -> list[Job]:
    """Every arm × replicate, arms in file order."""
    seeds = [replicate_seed(scenario.seed, r) for r in range(scenario.replicates)]
    return [Job(arm, r, seeds[r]) for arm in scenario.arms for r in range(scenario.replicates)]


def timeseries_table(
    model: GastricTumorModel, run_id: str, arm: str, replicate: int
) -> pd.DataFrame:
    """The model's recorded metrics as a tidy table (one row per observation)."""
    table = model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    table.insert(0, "replicate", replicate)
    table.insert(0, "arm", arm)
    table.insert(0, "run_id", run_id)
    return table


def simulate(
    scenario: Scenario,
    job: Job,
    lattice_png: Path | None = None,
    progress: Progress | None = None,
    snapshots: tuple[Path, float] | None = None,
) -> Simulation:
    """Run one job; draw its final lattice to ``lattice_png`` if given; with ``snapshots``
    ``(path, every_hours)``, save the lattice codes every ``every_hours`` to ``path``."""
    started = time.perf_counter()
    model = GastricTumorModel(scenario, rng=job.seed, arm=job.arm)
    recorder = None
    if snapshots is not None:
        recorder = SnapshotRecorder(model, steps_between(snapshots[1], model.dt_h))

    def after_step(done: int, total: int) -> None:
        if recorder is not None:
            recorder.after_step(model)
        if progress is not None:
            progress(done, total)

    model.run(after_step)
    wall = time.perf_counter() - started
    if recorder is not None and snapshots is not None:
        save_snapshots(snapshots[0], recorder.snapshots())
    table = timeseries_table(model, job.run_id, job.arm, job.replicate)
    touching = table.loc[table["tumor_touches_edge"] == 1, "time_h"]
    if lattice_png is not None:
        plot_lattice(model, lattice_png, title=f"{job.arm}, replicate {job.replicate}")
    return Simulation(
        job=job,
        table=table,
        wall_time_s=wall,
        steps=model.steps,
        phase_seconds={k: round(v, 4) for k, v in model.timings.items()},
        reached_edge_day=None if touching.empty else float(touching.iloc[0]) / 24.0,
    )


def default_workers(n_jobs: int) -> int:
    return max(1, min(n_jobs, available_cores()))


def _execute(
    scenario: Scenario,
    jobs: list[Job],
    lattice_pngs: dict[Job, Path],
    workers: int,
    progress: Progress | None,
    snapshots: dict[Job, tuple[Path, float]] | None = None,
) -> list[Simulation]:
    snapshots = snapshots or {}
    steps_per_job = scenario.time.steps
    total = steps_per_job * len(jobs)
    if workers <= 1:
        results = []
        for i, job in enumerate(jobs):
            offset = i * steps_per_job

            def advance(done: int, _total: int, offset: int = offset) -> None:
                if progress is not None:
                    progress(offset + done, total)

            results.append(
                simulate(scenario, job, lattice_pngs.get(job), advance, snapshots.get(job))
            )
        return results
    by_job: dict[Job, Simulation] = {}
    pool = LocalPool(workers)
    try:
        futures = [
            pool.submit(simulate, scenario, job, lattice_pngs.get(job), None, snapshots.get(job))
            for job in jobs
        ]
        for future in pool.as_completed(futures):
            result = future.result()
            by_job[result.job] = result
            if progress is not None:
                progress(len(by_job) * steps_per_job, total)
    except BaseException:
        pool.close(abort=True)  # Ctrl-C or a failed run: stop the others, do not wait for them
        raise
    pool.close()
    return [by_job[job] for job in jobs]


def run_scenario(
    scenario: Scenario,
    out: Path,
    *,
    overwrite: bool = False,
    progress: Progress | None = None,
    workers: int | None = None,
    snapshots_every_hours: float | None = None,
) -> RunResult:
    """Simulate every arm × replicate of ``scenario`` and write the run directory ``out``.

    Files: run.json (provenance), timeseries.parquet (tidy, all runs), runs.parquet (summary
    metrics per run), arms.csv (summary per arm), dynamics.png (arms compared) and
    lattice_<arm>.png (final lattice of replicate 0), and the gcsim-output.json marker that lets
    ``overwrite`` replace it later. The directory appears only when everything is written (see
    ``atomic_directory``); stale temporary directories of killed runs beside it are removed first
    (``StaleDirectoryWarning``). ``workers``: processes (default: one per CPU, at most
    one per run; 0 or 1 runs in this process, as ``gcsim sweep --workers 0`` does).
    ``snapshots_every_hours``: also store the lattice codes of replicate 0 of each arm at that
    interval as snapshots_<arm>.npz (for ``gcsim animate``).
    """
    jobs = plan(scenario)
    workers = default_workers(len(jobs)) if workers is None else workers
    for line in clean_stale(Path(out).parent):  # what a SIGKILL of an earlier run left
        warnings.warn(line, StaleDirectoryWarning, stacklevel=2)
    with atomic_directory(Path(out), overwrite, kind="run") as tmp:
        started = time.perf_counter()
        lattice_pngs = {job: tmp / _lattice_name(job.arm) for job in jobs if job.replicate == 0}
        snapshots = {}
        if snapshots_every_hours is not None:
            steps_between(snapshots_every_hours, scenario.time.dt_hours)  # fail before running
            snapshots = {
                job: (tmp / snapshot_name(job.arm), snapshots_every_hours) for job in lattice_pngs
            }
        simulations = _execute(scenario, jobs, lattice_pngs, workers, progress, snapshots)
        wall = time.perf_counter() - started
        timeseries = pd.concat([s.table for s in simulations], ignore_index=True)
        runs = pd.DataFrame(
            [
                {"arm": s.job.arm, "replicate": s.job.replicate, "seed": s.job.seed}
                | summarize(s.table, response=scenario.response)
                for s in simulations
            ]
        )
        arms = arm_summary(runs)
        edge = [s for s in simulations if s.reached_edge_day is not None]
        if edge:
            first = min(edge, key=lambda s: s.reached_edge_day or 0.0)
            warnings.warn(
                f"the tumour reached the domain edge in {len(edge)} of {len(simulations)} runs "
                f"(first: {first.job.run_id} at day {first.reached_edge_day:.1f}); growth after "
                "that is not visible (enlarge domain.width/height)",
                EdgeWarning,
                stacklevel=2,
            )
        files = [
            "run.json",
            "timeseries.parquet",
            "runs.parquet",
            "arms.csv",
            "dynamics.png",
            *sorted(p.name for p in lattice_pngs.values()),
            *sorted(path.name for path, _ in snapshots.values()),
        ]
        manifest = {
            "scenario": scenario.model_dump(mode="json"),
            "scenario_hash": scenario_hash(scenario),
            "parameters_hash": parameters_hashes(scenario),
            "seed": scenario.seed,
            "versions": package_versions(),
            "wall_time_s": round(wall, 3),
            "workers": workers,
            "steps": simulations[0].steps,
            "tumor_reached_edge": bool(edge),
            "runs": [
                {
                    "run_id": s.job.run_id,
                    "arm": s.job.arm,
                    "replicate": s.job.replicate,
                    "seed": s.job.seed,
                    "wall_time_s": round(s.wall_time_s, 3),
                    "phase_seconds": s.phase_seconds,
                    "tumor_reached_edge_day": s.reached_edge_day,
                }
                for s in simulations
            ],
            "files": files,
        }
        if snapshots_every_hours is not None:
            manifest["snapshots_every_hours"] = snapshots_every_hours
        write_parquet(tmp / "timeseries.parquet", timeseries)
        write_parquet(tmp / "runs.parquet", runs)
        arms.to_csv(tmp / "arms.csv", index=False)
        plot_arms(timeseries, scenario, tmp / "dynamics.png")
        write_json(tmp / "run.json", manifest)
        write_marker(tmp, "run", files)
    return RunResult(out=Path(out), timeseries=timeseries, runs=runs, arms=arms, manifest=manifest)


def parameters_hashes(scenario: Scenario) -> dict[str, str]:
    """Per arm, the digest of the resolved parameter table it ran with (``Parameters.digest``)."""
    return {arm: Parameters(scenario.for_arm(arm).parameters).digest() for arm in scenario.arms}


def _lattice_name(arm: str) -> str:
    return f"lattice_{arm_file_stem(arm)}.png"
