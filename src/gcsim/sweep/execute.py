"""Running a sweep: executors, the per-run work, and the sweep directory on disk.

Workers only simulate: each gets a :class:`RunTask` (a resolved scenario and its place in the
design) and returns a :class:`RunOutcome` (time series, summary metrics or the error). Only the
driver writes files, so Dask workers need no shared filesystem.

The sweep directory::

    gcsim-output.json   the marker of every directory gcsim writes (gcsim.io.write_marker)
    sweep.json          provenance: the sweep file, base scenario, plan digest, versions
    sweep.yaml          the sweep file as given
    design.parquet      one row per run: run_id, point, replicate, arm, seed, factor values,
                        scenario and parameter-table hashes
    runs/RUN_ID.parquet the run's time series
    runs/RUN_ID.json    the run's result (status, metrics or error); written last, atomically
    metrics.parquet     one row per run, gathered from runs/*.json when the sweep ends
    metrics_vs_factors.png

A run is finished when its ``.json`` exists: it is written by rename after its time series, so a
kill at any moment leaves either a whole result or none, never a half-written one, and
``--resume`` reruns exactly the runs without one (and those that failed).
"""

from __future__ import annotations

import json
import os
import socket
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from gcsim.io import (
    OutputExistsError,
    check_destination,
    package_versions,
    write_json,
    write_marker,
    write_parquet,
    write_text,
)
from gcsim.params import Parameters
from gcsim.pool import LocalPool, available_cores
from gcsim.scenario import Scenario, scenario_hash
from gcsim.sweep.design import Plan, Run
from gcsim.sweep.results import RUN_KEYS
from gcsim.sweep.spec import Sweep

SWEEP_FORMAT = 1
SWEEP_FILES = ("sweep.json", "sweep.yaml", "design.parquet")


class SweepDirectoryError(Exception):
    """The output directory cannot be used (not empty, or another sweep's on --resume)."""


@dataclass(frozen=True)
class RunTask:
    """What a worker needs for one run; picklable and small."""

    run_id: str
    arm: str
    replicate: int
    scenario: Scenario
    metrics: tuple[str, ...]


@dataclass
class RunOutcome:
    run_id: str
    ok: bool
    metrics: dict[str, Any] = field(default_factory=dict)
    timeseries: pd.DataFrame | None = None
    error: str | None = None
    traceback: str | None = None
    wall_s: float = 0.0
    cpu_s: float = 0.0  # with wall_s, shows whether the worker had a core to itself
    host: str = ""


@dataclass(frozen=True)
class Attempt:
    """What :func:`attempt` saw: the work's value, or its error and traceback; and its timing."""

    value: Any
    error: str | None
    traceback: str | None
    wall_s: float
    cpu_s: float
    host: str

    @property
    def timing(self) -> dict[str, Any]:
        return {"wall_s": self.wall_s, "cpu_s": self.cpu_s, "host": self.host}


def attempt(work: Callable[[], Any]) -> Attempt:
    """Run ``work()`` in a worker, timed; an exception becomes an error with its traceback.

    Catching here (rather than in the driver) keeps the worker's traceback and host."""
    started, cpu_started = time.perf_counter(), time.process_time()
    host = f"{socket.gethostname()}:{os.getpid()}"
    value, error, trace = None, None, None
    try:
        value = work()
    except Exception as exc:
        error, trace = f"{type(exc).__name__}: {exc}", traceback.format_exc()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return Attempt(value, error, trace, wall, cpu, host)


def simulate(task: RunTask) -> RunOutcome:
    """One run, in a worker: simulate, tabulate, summarise (an exception: a failed outcome)."""
    from gcsim.model import GastricTumorModel
    from gcsim.runner import timeseries_table
    from gcsim.summary import summarize

    def work() -> tuple[dict[str, Any], pd.DataFrame]:
        model = GastricTumorModel(task.scenario, arm=task.arm)
        model.run()
        table = timeseries_table(model, task.run_id, task.arm, task.replicate)
        return summarize(table, task.metrics, task.scenario.response), table

    done = attempt(work)
    if done.error is not None:
        return RunOutcome(
            task.run_id, False, error=done.error, traceback=done.traceback, **done.timing
        )
    metrics, table = done.value
    return RunOutcome(task.run_id, True, metrics, table, **done.timing)


# --- executors -------------------------------------------------------------------------------


class Executor(Protocol):
    """Where runs happen: a local process pool, an existing Dask cluster, or this process."""

    description: str

    def submit(self, fn: Callable[[RunTask], RunOutcome], task: RunTask) -> Any: ...

    def as_completed(self, futures: Iterable[Any]) -> Iterator[Any]: ...

    def close(self, abort: bool = False) -> None:
        """Release the workers; ``abort`` (an interrupt) stops runs in progress too."""


class InProcess:
    """Runs tasks one by one in this process (``--workers 0``: debugging, profiling).

    A task runs when ``as_completed`` reaches it, not when submitted, so each result is written
    (and counted by the progress bar) before the next run starts, as with a pool.
    """

    description = "this process"

    def __init__(self) -> None:
        self._pending: dict[Future, tuple[Callable[[RunTask], RunOutcome], RunTask]] = {}

    def submit(self, fn: Callable[[RunTask], RunOutcome], task: RunTask) -> Future:
        future: Future = Future()
        self._pending[future] = (fn, task)
        return future

    def as_completed(self, futures: Iterable[Future]) -> Iterator[Future]:
        for future in list(futures):
            fn, task = self._pending.pop(future)
            try:
                future.set_result(fn(task))
            except Exception as exc:  # fn catches run errors; this is for a broken fn
                future.set_exception(exc)
            yield future

    def close(self, abort: bool = False) -> None:
        self._pending.clear()


class DaskCluster:
    """An existing ``distributed`` cluster, reached through its scheduler's address."""

    def __init__(self, address: str, timeout_s: float = 20.0) -> None:
        from distributed import Client

        self._client = Client(address, timeout=f"{timeout_s}s")  # default: as_completed needs it
        workers = len(self._client.scheduler_info().get("workers", {}))
        self.description = f"Dask cluster at {address}, {workers} worker(s) now"
        self._futures: list[Any] = []

    def submit(self, fn: Callable[[RunTask], RunOutcome], task: RunTask) -> Any:
        # pure=False: two sweeps with the same run id must not share a cached result.
        future = self._client.submit(
            fn, task, pure=False, key=f"gcsim-{task.run_id}-{uuid.uuid4().hex}"
        )
        self._futures.append(future)
        return future

    def as_completed(self, futures: Iterable[Any]) -> Iterator[Any]:
        from distributed import as_completed

        return iter(as_completed(list(futures)))

    def version_mismatches(self) -> list[str]:
        """Workers whose Python or packages differ from this machine's: their results may not
        be identical, or their tasks may not even load."""
        here = package_versions()
        try:
            workers = self._client.run(package_versions)
        except Exception as exc:  # typically: gcsim is not importable on a worker
            return [f"cannot check the workers' versions: {type(exc).__name__}: {exc}"]
        return [
            f"worker {address}: {name} {theirs.get(name)} (here {version})"
            for address, theirs in sorted(workers.items())
            for name, version in here.items()
            if theirs.get(name) != version
        ]

    def close(self, abort: bool = False) -> None:
        self._client.cancel([f for f in self._futures if not f.done()])
        self._client.close()


def make_executor(workers: int | None = None, scheduler: str | None = None) -> Executor:
    """``scheduler`` → Dask; ``workers`` = 0 → this process; else a pool (default: all cores)."""
    if scheduler:
        return DaskCluster(scheduler)
    if workers == 0:
        return InProcess()
    return LocalPool(workers or available_cores())


# --- the sweep directory ---------------------------------------------------------------------


@dataclass
class SweepSummary:
    out: Path
    total: int
    ok: int
    failed: int
    skipped: int  # finished before this invocation (--resume)
    failures: list[dict[str, Any]]
    wall_s: float
    reached_edge: int = 0  # successful runs whose tumour touched the domain edge


def design_table(plan: Plan, sweep: Sweep) -> pd.DataFrame:
    rows = []
    for run in plan.runs:
        row: dict[str, Any] = {
            "run_id": run.run_id,
            "point": run.point,
            "replicate": run.replicate,
            "arm": run.arm,
            "seed": run.seed,
        }
        row.update(run.values)
        if plan.unit is not None:
            row.update(
                {
                    f"unit:{p}": float(u)
                    for p, u in zip(run.values, plan.unit[run.point], strict=True)
                }
            )
        row["scenario_hash"] = scenario_hash(run.scenario)
        row["parameters_hash"] = Parameters(run.scenario.for_arm(run.arm).parameters).digest()
        row["overrides"] = " ".join(sweep.fixed_overrides + run.overrides)
        rows.append(row)
    table = pd.DataFrame(rows)
    for path in sweep.spec.factors:  # mixed-type levels ([1, "a"]) cannot be one Parquet type
        if table[path].map(type).nunique() > 1:
            table[path] = table[path].astype(str)
    return table


def _provenance(sweep: Sweep, plan: Plan, executor: Executor) -> dict[str, Any]:
    return {
        "format": SWEEP_FORMAT,
        "name": sweep.spec.name,
        "sweep_file": os.path.abspath(sweep.file),
        "sweep": sweep.spec.model_dump(mode="json"),
        "base_scenario_file": os.path.abspath(sweep.base_file),
        "base_scenario": sweep.base.model_dump(mode="json"),
        "base_scenario_hash": scenario_hash(sweep.base),
        "plan_digest": plan.digest,
        "runs": len(plan.runs),
        "points": len(plan.points),
        "factors": list(sweep.spec.factors),
        "metrics": list(sweep.spec.metric_names),
        "versions": package_versions(),
        "executor": executor.description,
    }


def prepare_directory(out: Path, sweep: Sweep, plan: Plan, resume: bool) -> set[str]:
    """Check ``out`` for this sweep; return the run ids already finished successfully.

    A fresh sweep needs an empty or missing directory; ``--resume`` needs one made by the same
    plan (same sweep file, base scenario and seeds), whatever the executor.
    """
    if not check_resumable(Path(out), "sweep", plan.digest, "runs", resume):
        return set()
    return {rid for rid, record in read_results(out).items() if record.get("status") == "ok"}


def check_resumable(out: Path, kind: str, digest: str, results: str, resume: bool) -> bool:
    """Whether ``out`` holds an earlier start of the same ``kind`` of run (a sweep, a trial),
    identified by the ``plan_digest`` of its ``KIND.json``; raise
    :class:`SweepDirectoryError` if it cannot be used. An empty or missing ``out`` is a fresh
    start (False); an earlier start needs ``resume``, and loses the half-written ``*.tmp``
    results a kill between write and rename left in ``out/results``."""
    if out.exists() and not out.is_dir():
        raise SweepDirectoryError(f"{out}: exists and is not a directory")
    try:
        check_destination(out, renamed_into_place=False)  # writable, not under a file
    except OutputExistsError as exc:
        raise SweepDirectoryError(str(exc)) from None
    started = out.is_dir() and any(out.iterdir())
    if started and not resume:
        raise SweepDirectoryError(f"{out}: not empty (use --resume to finish that {kind})")
    if not started:
        return False
    try:
        previous = json.loads((out / f"{kind}.json").read_text())
    except (OSError, ValueError):
        raise SweepDirectoryError(
            f"{out}: no readable {kind}.json; not a {kind} directory"
        ) from None
    if previous.get("plan_digest") != digest:
        raise SweepDirectoryError(
            f"{out}: made by a different {kind} (its file, base scenario or seed changed); "
            "--resume needs the same one"
        )
    for stale in (out / results).glob("*.tmp"):
        stale.unlink(missing_ok=True)
    return True


def read_results(out: Path) -> dict[str, dict[str, Any]]:
    """Every finished run's record, by run id. A success whose time series is missing (deleted
    by hand) does not count as finished."""
    records = {}
    for path in sorted((Path(out) / "runs").glob("*.json")):
        record = json.loads(path.read_text())
        if record["status"] == "ok" and not (path.with_suffix(".parquet")).is_file():
            continue
        records[record["run_id"]] = record
    return records


def _write_outcome(out: Path, run: Run, outcome: RunOutcome) -> dict[str, Any]:
    runs = out / "runs"
    record: dict[str, Any] = {
        "run_id": run.run_id,
        "point": run.point,
        "replicate": run.replicate,
        "arm": run.arm,
        "seed": run.seed,
        "values": run.values,
        "scenario_hash": scenario_hash(run.scenario),
        "status": "ok" if outcome.ok else "failed",
        "metrics": outcome.metrics,
        "error": outcome.error,
        "traceback": outcome.traceback,
        "wall_time_s": round(outcome.wall_s, 3),
        "cpu_time_s": round(outcome.cpu_s, 3),
        "host": outcome.host,
        # as `gcsim run` warns: growth past the domain edge is invisible, burden is too low
        "tumor_reached_edge": bool(
            outcome.timeseries is not None and outcome.timeseries["tumor_touches_edge"].any()
        ),
    }
    if outcome.ok and outcome.timeseries is not None:
        write_parquet(runs / f"{run.run_id}.parquet", outcome.timeseries)
    write_json(runs / f"{run.run_id}.json", record)  # last: it marks the run finished
    return record


def metrics_table(records: Iterable[dict[str, Any]], metrics: Iterable[str]) -> pd.DataFrame:
    """One row per run: ids, status, error and the summary metrics (NaN for a failed run)."""
    names = list(metrics)
    rows = []
    for record in sorted(records, key=lambda r: (r["point"], r["arm"], r["replicate"])):
        row = {k: record[k] for k in (*RUN_KEYS, "status")}
        row.update({name: record["metrics"].get(name) for name in names})
        row["tumor_reached_edge"] = record["tumor_reached_edge"]
        row["error"] = record["error"]
        row["wall_time_s"] = record["wall_time_s"]
        rows.append(row)
    table = pd.DataFrame(rows)
    for name in names:  # a column of None (all failed) would be read back as object
        if table[name].isna().all():
            table[name] = float("nan")
    return table


def run_all(
    executor: Executor,
    fn: Callable[[Any], Any],
    jobs: Iterable[tuple[Any, Any]],
    crashed: Callable[[Any, str], Any],
    record: Callable[[Any, Any], None],
) -> None:
    """Submit ``fn(task)`` for every ``(job, task)`` of ``jobs`` and ``record(job, outcome)`` in
    the driver as each finishes; a worker that died or whose result could not be sent back gives
    ``crashed(job, "Type: message")`` instead. The executor is shut down at the end, and aborted
    (pending work cancelled) if an interrupt or error leaves early: finished records stay."""
    aborted = True
    try:
        futures = {executor.submit(fn, task): job for job, task in jobs}
        for future in executor.as_completed(futures):
            job = futures[future]
            try:
                outcome = future.result()
            except Exception as exc:  # the worker died, or the result could not be sent back
                outcome = crashed(job, f"{type(exc).__name__}: {exc}")
            record(job, outcome)
        aborted = False
    finally:
        executor.close(abort=aborted)


def run_sweep(
    sweep: Sweep,
    plan: Plan,
    out: Path,
    executor: Executor,
    *,
    resume: bool = False,
    on_result: Callable[[dict[str, Any]], None] | None = None,
    simulate_fn: Callable[[RunTask], RunOutcome] = simulate,
) -> SweepSummary:
    """Run every unfinished run of ``plan`` on ``executor`` and write the sweep directory.

    ``on_result`` is called in the driver after each run's result is on disk (progress bars).
    ``simulate_fn`` must be picklable by reference; tests pass one that fails on purpose.
    Interrupts propagate after the executor is shut down; finished runs stay on disk.
    """
    started = time.perf_counter()
    out = Path(out)
    done = prepare_directory(out, sweep, plan, resume)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    if not (out / "sweep.json").exists():
        write_text(out / "sweep.yaml", sweep.text())
        write_parquet(out / "design.parquet", design_table(plan, sweep))
        write_marker(out, "sweep", None)
        write_json(out / "sweep.json", _provenance(sweep, plan, executor))  # last: marks the dir
    pending = [run for run in plan.runs if run.run_id not in done]
    names = sweep.spec.metric_names

    def record(run: Run, outcome: RunOutcome) -> None:
        written = _write_outcome(out, run, outcome)
        if on_result is not None:
            on_result(written)

    run_all(
        executor,
        simulate_fn,
        [(r, RunTask(r.run_id, r.arm, r.replicate, r.scenario, names)) for r in pending],
        lambda run, error: RunOutcome(run.run_id, False, error=error),
        record,
    )
    records = read_results(out)
    write_parquet(out / "metrics.parquet", metrics_table(records.values(), sweep.spec.metric_names))
    from gcsim.sweep.plots import plot_metrics_vs_factors

    plot_metrics_vs_factors(out)
    failures = [r for r in records.values() if r["status"] != "ok"]
    return SweepSummary(
        out=out,
        total=len(plan.runs),
        ok=len(records) - len(failures),
        failed=len(failures),
        skipped=len(done),
        failures=failures,
        wall_s=time.perf_counter() - started,
        reached_edge=sum(r.get("tumor_reached_edge", False) for r in records.values()),
    )


__all__ = [
    "Attempt",
    "DaskCluster",
    "InProcess",
    "LocalPool",
    "RunOutcome",
    "RunTask",
    "SweepDirectoryError",
    "SweepSummary",
    "attempt",
    "check_resumable",
    "make_executor",
    "run_sweep",
    "simulate",
]


def __getattr__(name: str) -> Any:
    if name == "read_run_table":  # moved to gcsim.sweep.results (docs/decisions/0012)
        import warnings

        from gcsim.sweep.results import read_run_table

        warnings.warn(
            "gcsim.sweep.execute.read_run_table moved to gcsim.sweep.results",
            DeprecationWarning,
            stacklevel=2,
        )
        return read_run_table
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
