"""Run a scenario — every arm × replicate — to a results directory: the work behind `gcsim run`.

Seeds: replicate ``r`` starts from the seed ``SeedSequence(root, spawn_key=(r,))``, so every arm
of one replicate starts from the same tumour. Arms that simulate the same tumour before any
treatment (they differ only in their treatments, not in ``tumor``, ``immune`` or ``parameters``:
see ``Scenario.for_arm``) form a *branch group*: the untreated model of the group is simulated
once, the *trunk*, up to the step at which the group's earliest treatment acts, and every arm of
the group, treated or not, continues from that state (gcsim.checkpoint.branch) with its own
random stream ``SeedSequence(root, spawn_key=(r, arm_key(arm)))``, a number of the arm's name.
Each arm's time series includes the trunk's rows. An arm alone in its group, and arms of a group
without treatment, run from t = 0 on the replicate's stream. docs/decisions/0010. Every result
is the same whether runs execute in this process or in a pool, in any order.
"""

from __future__ import annotations

import hashlib
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gcsim.checkpoint import Checkpoint, branch, capture
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
from gcsim.plots import plot_arms, plot_lattice, plot_patient
from gcsim.pool import LocalPool, available_cores
from gcsim.scenario.loader import scenario_hash
from gcsim.scenario.schema import Arm, Scenario, arm_file_stem
from gcsim.snapshots import (
    SnapshotRecorder,
    Snapshots,
    save_snapshots,
    snapshot_name,
    steps_between,
)
from gcsim.summary import summarize

Progress = Callable[[int, int], None]


class StaleDirectoryWarning(UserWarning):
    """A temporary directory left by an earlier, killed run was removed (or left: no lock)."""


class EdgeWarning(UserWarning):
    """The tumour reached the domain edge: later growth is not visible and must not be read
    as disease control."""


@dataclass(frozen=True)
class Job:
    """One simulation: an arm, a replicate and its seed; a branched job continues its group's
    trunk after ``branch_step`` steps on the stream ``arm_seed``."""

    arm: str
    replicate: int
    seed: int  # the replicate's: the run starts from it (or its trunk does)
    branch_step: int | None = None
    arm_seed: int | None = None
    group: int = 0  # the arm's branch group (index in ``branch_groups``)

    @property
    def run_id(self) -> str:
        return f"{self.arm}/r{self.replicate}"


@dataclass(frozen=True)
class Trunk:
    """The untreated history shared by one branch group in one replicate: ``steps`` steps of
    the group's pre-treatment scenario from the replicate's seed."""

    group: int
    replicate: int
    seed: int
    steps: int

    @property
    def run_id(self) -> str:
        return f"trunk{self.group}/r{self.replicate}"


@dataclass
class TrunkResult:
    """What a trunk returns: its final state as checkpoint bytes (gcsim.checkpoint's file
    format), and the lattice snapshots so far when replicate 0 records them."""

    trunk: Trunk
    checkpoint: bytes
    wall_time_s: float
    snapshots: Snapshots | None = None


@dataclass
class Simulation:
    """What one job returns (picklable, so it crosses process boundaries)."""

    job: Job
    table: pd.DataFrame
    wall_time_s: float  # this job's own work (a branched job: after its trunk)
    steps: int
    phase_seconds: dict[str, float]  # a branched job's include its trunk's
    reached_edge_day: float | None
    lesions: pd.DataFrame | None = None  # patient mode: the tidy lesions table of this run
    events: list[dict[str, Any]] | None = None  # patient mode: re-seedings, fractions, ...


@dataclass
class RunResult:
    out: Path
    timeseries: pd.DataFrame
    runs: pd.DataFrame  # one row per run: arm, replicate, seed, summary metrics
    arms: pd.DataFrame  # one row per arm: summary over replicates
    manifest: dict[str, Any] = field(default_factory=dict)


def _spawned_seed(root: int, spawn_key: tuple[int, ...]) -> int:
    state = np.random.SeedSequence(root, spawn_key=spawn_key).generate_state(2, np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1


def replicate_seed(root: int, replicate: int) -> int:
    """The seed of ``replicate`` (shared by all arms), spawned from the root seed."""
    return _spawned_seed(root, (replicate,))


def arm_seed(root: int, replicate: int, arm: str) -> int:
    """The seed of an arm's stream after it branches: a child of the replicate's
    ``SeedSequence``, ``spawn_key=(replicate, arm_key(arm))``."""
    return _spawned_seed(root, (replicate, arm_key(arm)))


def arm_key(arm: str) -> int:
    """A stable 64-bit number of the arm's name (SHA-256): an arm's stream depends on its name,
    not on the order of the arms, which JSON round trips (run.json sorts keys) do not keep."""
    return int.from_bytes(hashlib.sha256(arm.encode("utf-8")).digest()[:8], "little")


def pre_treatment(scenario: Scenario, arm: str) -> Scenario:
    """What ``arm`` simulates before its first treatment: its scenario without treatments."""
    return scenario.for_arm(arm).model_copy(update={"arms": {"untreated": Arm()}})


def first_treatment_step(scenario: Scenario, arms: Iterable[str]) -> int | None:
    """Steps done before the earliest treatment of ``arms`` acts (at most the run's steps;
    None without treatment). A dose at ``t`` acts in the step that starts at or before ``t``
    and ends after it, so the trunk stops at the last step ending at or before ``t``."""
    days = [
        day
        for arm in arms
        for treatment in scenario.arms[arm].treatments
        for day in treatment.schedule.dose_days()
    ]
    if not days:
        return None
    first_h, dt = min(days) * 24.0, scenario.time.dt_hours
    steps = int(first_h // dt)
    while (steps + 1) * dt <= first_h:  # the float division may land one step short or over
        steps += 1
    while steps > 0 and steps * dt > first_h:
        steps -= 1
    return min(steps, scenario.time.steps)


def branch_groups(scenario: Scenario) -> list[tuple[tuple[str, ...], int | None]]:
    """The arms grouped by their pre-treatment scenario, in file order, each with its branch
    step (None: the group's arms run from t = 0, being alone or all untreated)."""
    groups: dict[str, list[str]] = {}
    for arm in scenario.arms:
        key = pre_treatment(scenario, arm).model_dump_json()
        groups.setdefault(key, []).append(arm)
    out = []
    for arms in groups.values():
        # patient mode runs every arm from t = 0: its lesions and windows have no trunk
        branched = len(arms) > 1 and scenario.patient is None
        step = first_treatment_step(scenario, arms) if branched else None
        out.append((tuple(arms), step))
    return out


def plan(scenario: Scenario) -> list[Job]:
    """Every arm × replicate, arms in file order."""
    seeds = [replicate_seed(scenario.seed, r) for r in range(scenario.replicates)]
    group_of = {
        arm: (g, step) for g, (arms, step) in enumerate(branch_groups(scenario)) for arm in arms
    }
    jobs = []
    for arm in scenario.arms:
        group, step = group_of[arm]
        for r in range(scenario.replicates):
            child = None if step is None else arm_seed(scenario.seed, r, arm)
            jobs.append(Job(arm, r, seeds[r], step, child, group))
    return jobs


def trunks(jobs: Iterable[Job]) -> dict[tuple[int, int], Trunk]:
    """The trunk of every branched (group, replicate) of ``jobs``."""
    out: dict[tuple[int, int], Trunk] = {}
    for job in jobs:
        if job.branch_step is not None:
            key = (job.group, job.replicate)
            out.setdefault(key, Trunk(job.group, job.replicate, job.seed, job.branch_step))
    return out


def _trunk_of(job: Job) -> tuple[int, int]:
    return (job.group, job.replicate)


def timeseries_table(
    model: GastricTumorModel, run_id: str, arm: str, replicate: int
) -> pd.DataFrame:
    """The model's recorded metrics as a tidy table (one row per observation)."""
    table = model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    table.insert(0, "replicate", replicate)
    table.insert(0, "arm", arm)
    table.insert(0, "run_id", run_id)
    return table


def run_trunk(
    scenario: Scenario,
    trunk: Trunk,
    arm: str,
    progress: Progress | None = None,
    snapshots_every_hours: float | None = None,
) -> TrunkResult:
    """Simulate ``trunk``: the untreated model of ``arm``'s group for ``trunk.steps`` steps;
    with ``snapshots_every_hours``, keep the lattice at that interval (for the arms' files)."""
    started = time.perf_counter()
    model = GastricTumorModel(pre_treatment(scenario, arm), rng=trunk.seed)
    recorder = None
    if snapshots_every_hours is not None:
        recorder = SnapshotRecorder(model, steps_between(snapshots_every_hours, model.dt_h))
    while model.steps < trunk.steps:
        model.step()
        if recorder is not None:
            recorder.after_step(model)
        if progress is not None:
            progress(model.steps, trunk.steps)
    return TrunkResult(
        trunk=trunk,
        checkpoint=capture(model).to_bytes(),
        wall_time_s=time.perf_counter() - started,
        snapshots=None if recorder is None else recorder.snapshots(),
    )


def simulate(
    scenario: Scenario,
    job: Job,
    lattice_png: Path | None = None,
    progress: Progress | None = None,
    snapshots: tuple[Path, float] | None = None,
    trunk: TrunkResult | None = None,
) -> Simulation:
    """Run one job; draw its final lattice to ``lattice_png`` if given; with ``snapshots``
    ``(path, every_hours)``, save the lattice codes every ``every_hours`` to ``path``.
    A branched job continues from ``trunk`` (its group's, for its replicate)."""
    if scenario.patient is not None:
        return _simulate_patient(scenario, job)
    started = time.perf_counter()
    if job.branch_step is None:
        model = GastricTumorModel(scenario, rng=job.seed, arm=job.arm)
    else:
        if trunk is None or trunk.trunk != Trunk(
            job.group, job.replicate, job.seed, job.branch_step
        ):
            raise ValueError(f"{job.run_id} branches from its group's trunk; got {trunk}")
        checkpoint = Checkpoint.from_bytes(trunk.checkpoint, trunk.trunk.run_id)
        model = branch(checkpoint, scenario, job.arm, job.arm_seed or 0, GastricTumorModel)
    recorder = None
    if snapshots is not None:
        recorder = SnapshotRecorder(model, steps_between(snapshots[1], model.dt_h))
        if trunk is not None and trunk.snapshots is not None:
            recorder.continue_from(trunk.snapshots)

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


def _simulate_patient(scenario: Scenario, job: Job) -> Simulation:
    """One patient run (gcsim.patient): its windows' time series as the run's table."""
    from gcsim.patient.simulate import simulate_patient

    started = time.perf_counter()
    run = simulate_patient(scenario, job.arm, job.seed, job.run_id, job.replicate)
    return Simulation(
        job=job,
        table=run.windows,
        wall_time_s=time.perf_counter() - started,
        steps=run.steps,
        phase_seconds=run.seconds,
        reached_edge_day=None,  # margin windows are re-seeded when their front reaches the edge
        lesions=run.lesions,
        events=run.events,
    )


def _primary_window(table: pd.DataFrame) -> pd.DataFrame:
    """A patient run's first lesion's first window (all its seedings, one row per record
    time): its section metrics."""
    if "lesion" not in table:
        return table
    first = table["lesion"].iloc[0]
    rows = table[(table["lesion"] == first) & (table["window"] == 0)]
    rows = rows.drop_duplicates(["run_id", "time_h"], keep="last")
    return rows.reset_index(drop=True)


def _run_row(scenario: Scenario, s: Simulation) -> dict[str, Any]:
    """One row of runs.parquet: the section's summary metrics; a patient's response columns
    come from RECIST 1.1 on its lesions (gcsim.patient.response), and its row starts with the
    ``run_id`` of its rows in lesions.parquet."""
    row = {"arm": s.job.arm, "replicate": s.job.replicate, "seed": s.job.seed}
    row |= summarize(_primary_window(s.table), response=scenario.response)
    if s.lesions is None:
        return row
    from gcsim.patient.response import patient_burden, patient_response

    response = patient_response(s.lesions, scenario.response)
    row |= patient_burden(s.lesions) | response
    ordered: dict[str, Any] = {"run_id": s.job.run_id}
    for key, value in row.items():  # dor_event next to duration_of_response_days
        if key != "dor_event":
            ordered[key] = value
        if key == "duration_of_response_days":
            ordered["dor_event"] = response["dor_event"]
    ordered.setdefault("dor_event", response["dor_event"])
    return ordered


def default_workers(n_jobs: int) -> int:
    return max(1, min(n_jobs, available_cores()))


def _execute(
    scenario: Scenario,
    jobs: list[Job],
    lattice_pngs: dict[Job, Path],
    workers: int,
    progress: Progress | None,
    snapshots: dict[Job, tuple[Path, float]] | None = None,
) -> tuple[list[Simulation], list[TrunkResult]]:
    """Run every trunk, then the jobs (a branched one once its trunk is done); results in the
    order of ``jobs``, and the trunks'. In a pool the trunks of all replicates run side by side,
    and each job is submitted when its trunk finishes."""
    snapshots = snapshots or {}
    needed = trunks(jobs)
    first_arm = {key: next(j.arm for j in jobs if _trunk_of(j) == key) for key in needed}
    # replicate 0's trunks keep snapshots when its arms record them
    snapshot_hours = {
        _trunk_of(job): every
        for job, (_, every) in snapshots.items()
        if job.branch_step is not None
    }
    end = scenario.time.steps
    total = sum(t.steps for t in needed.values()) + sum(end - (j.branch_step or 0) for j in jobs)
    done = 0

    def trunk_args(key: tuple[int, int], advance: Progress | None = None) -> tuple[Any, ...]:
        return (scenario, needed[key], first_arm[key], advance, snapshot_hours.get(key))

    def job_args(
        job: Job, trunk: TrunkResult | None, advance: Progress | None = None
    ) -> tuple[Any, ...]:
        return (scenario, job, lattice_pngs.get(job), advance, snapshots.get(job), trunk)

    if workers <= 1:
        finished: dict[tuple[int, int], TrunkResult] = {}
        results = []
        for job in jobs:
            key = _trunk_of(job)
            if job.branch_step is not None and key not in finished:
                offset = done

                def advance_trunk(n: int, _total: int, offset: int = offset) -> None:
                    if progress is not None:
                        progress(offset + n, total)

                finished[key] = run_trunk(*trunk_args(key, advance_trunk))
                done += needed[key].steps
            start = job.branch_step or 0
            offset = done - start

            def advance(n: int, _total: int, offset: int = offset) -> None:
                if progress is not None:
                    progress(offset + n, total)

            trunk = finished[key] if job.branch_step is not None else None
            results.append(simulate(*job_args(job, trunk, advance)))
            done += end - start
        return results, [finished[key] for key in needed]

    by_job: dict[Job, Simulation] = {}
    trunk_results: dict[tuple[int, int], TrunkResult] = {}
    pool = LocalPool(workers)
    try:
        pending: dict[Any, Job | tuple[int, int]] = {
            pool.submit(run_trunk, *trunk_args(key)): key for key in needed
        }
        for job in jobs:
            if job.branch_step is None:
                pending[pool.submit(simulate, *job_args(job, None))] = job
        while pending:
            future = next(iter(pool.as_completed(list(pending))))
            task = pending.pop(future)
            result = future.result()
            if isinstance(task, Job):
                by_job[task] = result
                done += end - (task.branch_step or 0)
            else:
                trunk_results[task] = result
                done += needed[task].steps
                for job in jobs:
                    if job.branch_step is not None and _trunk_of(job) == task:
                        pending[pool.submit(simulate, *job_args(job, result))] = job
            if progress is not None:
                progress(done, total)
    except BaseException:
        pool.close(abort=True)  # Ctrl-C or a failed run: stop the others, do not wait for them
        raise
    pool.close()
    return [by_job[job] for job in jobs], [trunk_results[key] for key in needed]


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
    if scenario.patient is not None and snapshots_every_hours is not None:
        warnings.warn(
            "patient mode records no lattice snapshots (its windows are re-seeded): "
            "--snapshots-every is ignored",
            stacklevel=2,
        )
        snapshots_every_hours = None
    with atomic_directory(Path(out), overwrite, kind="run") as tmp:
        started = time.perf_counter()
        lattice_pngs = {
            job: tmp / _lattice_name(job.arm)
            for job in jobs
            if job.replicate == 0 and scenario.patient is None
        }
        snapshots = {}
        if snapshots_every_hours is not None:
            steps_between(snapshots_every_hours, scenario.time.dt_hours)  # fail before running
            snapshots = {
                job: (tmp / snapshot_name(job.arm), snapshots_every_hours) for job in lattice_pngs
            }
        simulations, trunk_results = _execute(
            scenario, jobs, lattice_pngs, workers, progress, snapshots
        )
        wall = time.perf_counter() - started
        timeseries = pd.concat([s.table for s in simulations], ignore_index=True)
        runs = pd.DataFrame([_run_row(scenario, s) for s in simulations])
        patient = scenario.patient is not None
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
            *(["lesions.parquet", "patient.png"] if patient else []),
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
                    "branch_step": s.job.branch_step,
                    "arm_seed": s.job.arm_seed,
                    "wall_time_s": round(s.wall_time_s, 3),
                    "phase_seconds": s.phase_seconds,
                    "tumor_reached_edge_day": s.reached_edge_day,
                }
                for s in simulations
            ],
            "trunks": [
                {
                    "run_id": t.trunk.run_id,
                    "replicate": t.trunk.replicate,
                    "seed": t.trunk.seed,
                    "steps": t.trunk.steps,
                    "arms": [
                        j.arm for j in jobs if _trunk_of(j) == (t.trunk.group, t.trunk.replicate)
                    ],
                    "wall_time_s": round(t.wall_time_s, 3),
                }
                for t in trunk_results
            ],
            "files": files,
        }
        if snapshots_every_hours is not None:
            manifest["snapshots_every_hours"] = snapshots_every_hours
        if patient:
            manifest["patient_events"] = [e for s in simulations for e in s.events or []]
            lesions = pd.concat([s.lesions for s in simulations], ignore_index=True)
            write_parquet(tmp / "lesions.parquet", lesions)
            plot_patient(lesions, scenario, tmp / "patient.png")
        write_parquet(tmp / "timeseries.parquet", timeseries)
        write_parquet(tmp / "runs.parquet", runs)
        arms.to_csv(tmp / "arms.csv", index=False)
        plot_arms(
            pd.concat([_primary_window(s.table) for s in simulations], ignore_index=True),
            scenario,
            tmp / "dynamics.png",
        )
        write_json(tmp / "run.json", manifest)
        write_marker(tmp, "run", files)
    return RunResult(out=Path(out), timeseries=timeseries, runs=runs, arms=arms, manifest=manifest)


def parameters_hashes(scenario: Scenario) -> dict[str, str]:
    """Per arm, the digest of the resolved parameter table it ran with (``Parameters.digest``)."""
    return {arm: Parameters(scenario.for_arm(arm).parameters).digest() for arm in scenario.arms}


def _lattice_name(arm: str) -> str:
    return f"lattice_{arm_file_stem(arm)}.png"
