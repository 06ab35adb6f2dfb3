"""Sweep throughput with 1 and 2 local workers, and the executor's per-run overhead.

    .venv/bin/python benchmarks/bench_sweep.py [--runs 16] [--size 120] [--days 20] [--json F]

The same factorial design (``runs`` runs of a ``size``² lattice for ``days``) is run three ways
through :func:`gcsim.sweep.execute.run_sweep`, the code behind ``gcsim sweep``:

* in this process (``--workers 0``): no executor at all, the baseline;
* a local pool of 1, then of 2 spawned worker processes.

Each run's simulation time is measured inside the worker; the driver stamps the moment each
result is on disk. From these:

* throughput = runs / (first submit → last result), and the speed-up of 2 workers over 1;
* start-up = first result − first run's simulation time: process spawn, imports, numba cache load;
* steady per-run overhead = mean gap between results × workers − mean simulation time: pickling
  the task, sending the time series back, writing Parquet and JSON;
* core share = CPU time / wall time of the simulations: below 100 % the machine's other work
  took part of the workers' cores, which lowers the speed-up whatever the executor does;
* efficiency = simulated seconds per worker / time from the end of start-up to the last
  result: the executor's own cost, independent of that contention (short sweeps also lose to
  the last runs' imbalance between workers).

Numba's cache is warmed first, so the figures describe a machine that has run gcsim before.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.table import Table

from benchlib import REPO, machine_info, print_tables, write_json


def _sweep_file(directory: Path, runs: int, size: int, days: float) -> Path:
    """A factorial sweep of ``runs`` runs (2 phenotypes × runs/2 replicates)."""
    spec = {
        "name": "bench",
        "scenario": str(REPO / "scenarios" / "baseline.yaml"),
        "set": {
            "domain.width": size,
            "domain.height": size,
            "tumor.initial_radius_um": size * 5,
            "time.days": days,
            # a record interval longer than the run is an error: a smoke test runs 6 h
            "time.record_every_hours": min(24.0, days * 24.0),
        },
        "seed": 1,
        "design": {"method": "factorial"},
        "replicates": runs // 2,
        "factors": {"immune.phenotype": {"levels": ["inflamed", "desert"]}},
    }
    path = directory / f"bench-{runs}-{size}-{days}.yaml"
    path.write_text(json.dumps(spec))
    return path


def _measure(sweep_file: Path, out: Path, workers: int) -> dict[str, Any]:
    from gcsim.sweep.design import plan_runs
    from gcsim.sweep.execute import make_executor, run_sweep
    from gcsim.sweep.spec import load_sweep

    sweep = load_sweep(sweep_file)
    plan = plan_runs(sweep)
    stamps: list[float] = []
    sims: list[float] = []
    cpus: list[float] = []

    def on_result(record: dict[str, Any]) -> None:
        stamps.append(time.perf_counter())
        sims.append(record["wall_time_s"])
        cpus.append(record["cpu_time_s"])

    started = time.perf_counter()
    summary = run_sweep(sweep, plan, out, make_executor(workers), on_result=on_result)
    total = time.perf_counter() - started
    assert summary.failed == 0, summary.failures
    span = stamps[-1] - started
    gaps = [b - a for a, b in itertools.pairwise(stamps[1:])]  # after start-up
    lanes = max(workers, 1)
    return {
        "workers": workers,
        "runs": len(stamps),
        "runs_per_s": len(stamps) / span,
        "to_last_result_s": span,
        "total_s_with_tables_and_plot": total,
        "simulation_s_mean": statistics.mean(sims),
        # below 1: the machine's other work took part of this worker's core
        "core_share": sum(cpus) / sum(sims),
        "startup_s": stamps[0] - started - sims[0],
        # the executor's own efficiency, whatever the contention: simulated seconds per lane
        # over the time after start-up (when the first run could begin) to the last result
        "efficiency": sum(sims) / lanes / (stamps[-1] - (stamps[0] - sims[0])),
        "overhead_per_run_s": statistics.mean(gaps) * lanes - statistics.mean(sims[1:]),
    }


def run(runs: int = 16, size: int = 120, days: float = 20.0) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        sweep_file = _sweep_file(directory, runs, size, days)
        _measure(_sweep_file(directory, 4, 40, 1), directory / "warm", 0)  # numba cache
        results = [_measure(sweep_file, directory / f"w{w}", w) for w in (0, 1, 2)]
    by_workers = {r["workers"]: r for r in results}
    return {
        "config": {"runs": runs, "size": size, "days": days},
        "results": results,
        "speedup_2_over_1": by_workers[2]["runs_per_s"] / by_workers[1]["runs_per_s"],
    }


def tables(result: dict[str, Any]) -> list[Table]:
    config = result["config"]
    table = Table(
        title=f"sweep of {config['runs']} runs, {config['size']}² sites, {config['days']} days "
        f"(2 workers / 1 worker = {result['speedup_2_over_1']:.2f}×)"
    )
    columns = "executor,runs/s,to last result,simulation/run,core share,start-up,overhead/run"
    for column in [*columns.split(","), "efficiency"]:
        table.add_column(column, justify="right")
    for r in result["results"]:
        name = "in process" if r["workers"] == 0 else f"pool of {r['workers']}"
        table.add_row(
            name,
            f"{r['runs_per_s']:.2f}",
            f"{r['to_last_result_s']:.1f} s",
            f"{r['simulation_s_mean']:.2f} s",
            f"{r['core_share']:.0%}",
            f"{r['startup_s']:.2f} s",
            f"{r['overhead_per_run_s'] * 1000:.0f} ms",
            f"{r['efficiency']:.0%}",
        )
    return [table]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=16)
    parser.add_argument("--size", type=int, default=120)
    parser.add_argument("--days", type=float, default=20.0)
    parser.add_argument("--json", help="write machine info and results to this file")
    args = parser.parse_args(argv)
    result = run(args.runs, args.size, args.days)
    print_tables(tables(result))
    if args.json:
        write_json(args.json, {"machine": machine_info(), "sweep": result})
    return result


if __name__ == "__main__":
    main()
