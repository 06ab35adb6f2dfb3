"""Virtual-trial throughput: patients per hour on 1 and 2 local workers and on a local 2-worker
Dask cluster, measured side by side in one run, with the patients tables compared.

    .venv/bin/python benchmarks/bench_trial.py [--trial scenarios/trials/chemo_ici_by_cps.yaml]
        [--patients 16] [--follow-up-days 365] [--dask] [--json F]

The trial (default: the chemo ± nivolumab example) is resized to ``--patients`` candidates and
``--follow-up-days``, then run through :func:`gcsim.trial.execute.run_trial`, the code behind
``gcsim trial`` (report included), on each executor. A patient here is a candidate with every arm
(a paired trial runs each patient once per arm; an implausible candidate costs only its
screening). Reported per executor: wall time, patients per hour, patient-arm runs per hour, the
mean simulated time of a patient-arm run and its core share (CPU / wall inside the worker: below
100 % other work took part of the core); and the speed-up of 2 workers over 1. The tables must be
identical across executors (same seeds → same patients): the benchmark says whether they are.

What this predicts for a cluster: patients are independent, so throughput scales with workers
until the driver (one JSON shard per patient-arm) or the scheduler saturates; at ~10 s per
patient-arm that is far beyond hundreds of workers.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.table import Table
from ruamel.yaml import YAML

from benchlib import REPO, machine_info, print_tables, write_json

DEFAULT_TRIAL = REPO / "scenarios" / "trials" / "chemo_ici_by_cps.yaml"
COMPARED = ["patient", "arm", "seed", "best_response", "pfs_days", "pfs_event", "best_pct_change"]


def resized(trial: Path, directory: Path, patients: int, follow_up_days: float) -> Path:
    """A copy of ``trial`` (beside it, so its base scenario resolves) with a new cohort size and
    follow-up; written to ``directory`` with the base scenario's path made absolute."""
    yaml = YAML()
    data = yaml.load(trial.read_text())
    data["cohort"]["patients"] = patients
    data["follow_up_days"] = follow_up_days
    data["scenario"] = str((trial.parent / data["scenario"]).resolve())
    path = directory / f"bench_{trial.stem}_{patients}_{follow_up_days:g}.yaml"
    with path.open("w") as handle:
        yaml.dump(data, handle)
    return path


def measure(trial_file: Path, out: Path, executor: Any) -> dict[str, Any]:
    import pandas as pd

    from gcsim.trial.execute import plan_trial, run_trial
    from gcsim.trial.load import load_trial

    trial = load_trial(trial_file)
    plan = plan_trial(trial)
    walls: list[float] = []
    cpus: list[float] = []

    def on_result(record: dict[str, Any]) -> None:
        walls.append(record["wall_time_s"])
        cpus.append(record["cpu_time_s"])

    started = time.perf_counter()
    summary = run_trial(trial, plan, out, executor, on_result=on_result)
    wall = time.perf_counter() - started
    assert summary.failed == 0, summary.failures[:1]
    table = pd.read_parquet(out / "patients.parquet")
    hours = wall / 3600.0
    return {
        "executor": executor.description,
        "candidates": len(plan.candidates),
        "patient_arm_runs": len(plan.tasks),
        "wall_s": wall,
        "patients_per_hour": len(plan.candidates) / hours,
        "runs_per_hour": len(plan.tasks) / hours,
        "mean_run_s": sum(walls) / len(walls),
        "core_share": sum(cpus) / sum(walls),
        "table": table[COMPARED],
    }


def run(trial: Path, patients: int, follow_up_days: float, dask: bool) -> dict[str, Any]:
    from gcsim.pool import LocalPool

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        trial_file = resized(trial, directory, patients, follow_up_days)
        measure(resized(trial, directory, 1, 42.0), directory / "warm", LocalPool(1))  # numba
        results["1 worker"] = measure(trial_file, directory / "one", LocalPool(1))
        results["2 workers"] = measure(trial_file, directory / "two", LocalPool(2))
        if dask:
            from distributed import LocalCluster

            from gcsim.sweep.execute import DaskCluster

            with LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster:
                results["Dask, 2 workers"] = measure(
                    trial_file, directory / "dask", DaskCluster(cluster.scheduler_address)
                )
    reference = results["1 worker"]["table"]
    identical = all(r["table"].equals(reference) for r in results.values())
    for r in results.values():
        del r["table"]
    return {
        "machine": machine_info(),
        "trial": str(trial),
        "patients": patients,
        "follow_up_days": follow_up_days,
        "results": results,
        "speedup_2_over_1": results["1 worker"]["wall_s"] / results["2 workers"]["wall_s"],
        "identical_tables": identical,
    }


def tables(result: dict[str, Any]) -> list[Table]:
    table = Table(
        title=f"trial {Path(result['trial']).stem}: {result['patients']} candidates, "
        f"{result['follow_up_days']:g} days of follow-up"
    )
    for column in ("executor", "wall", "patients/h", "patient-arm runs/h", "s per run", "core"):
        table.add_column(column, justify="left" if column == "executor" else "right")
    for name, r in result["results"].items():
        table.add_row(
            name,
            f"{r['wall_s']:.0f} s",
            f"{r['patients_per_hour']:.0f}",
            f"{r['runs_per_hour']:.0f}",
            f"{r['mean_run_s']:.1f}",
            f"{100 * r['core_share']:.0f} %",
        )
    summary = Table(show_header=False)
    summary.add_row("speed-up, 2 workers over 1", f"{result['speedup_2_over_1']:.2f}×")
    summary.add_row("identical patients tables", str(result["identical_tables"]))
    return [table, summary]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trial", type=Path, default=DEFAULT_TRIAL)
    parser.add_argument("--patients", type=int, default=16)
    parser.add_argument("--follow-up-days", type=float, default=365.0)
    parser.add_argument("--dask", action="store_true", help="also a local 2-worker Dask cluster")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = run(args.trial, args.patients, args.follow_up_days, args.dask)
    print_tables(tables(result))
    if args.json:
        write_json(args.json, result)


if __name__ == "__main__":
    main()
