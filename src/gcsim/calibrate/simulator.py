"""Where a calibration's readouts come from: a pluggable simulator of parameter sets.

A simulator is called as ``simulator(points, replicates, seed)``: ``points`` is a DataFrame whose
index (named ``point``) holds the design-point ids and whose columns are the calibrated
parameters (``parameters.<name>``, values in the parameter table's units); it returns one row per
(point, replicate) with columns ``point``, ``replicate``, ``status`` (``ok`` | ``failed``),
``error`` and one column per readout (NaN when a run failed or the readout is undefined).
Replicate ``r`` of point ``p`` uses seed :func:`gcsim.sweep.design.run_seed` (seed, p, r), so a
run's result depends only on its place in the design.

Two implementations: :class:`SweepSimulator` runs full agent-based simulations through the sweep
machinery (resumable run directories, local pool or Dask), and :class:`FunctionSimulator` wraps
a Python function (tests, and readouts computed by other code such as a pattern suite).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from gcsim.sweep.design import run_seed
from gcsim.sweep.spec import Factor, Sweep


class Simulator(Protocol):
    """What a calibration calls to get readouts of parameter sets."""

    readouts: tuple[str, ...]
    identity: str  # changes whenever what a run computes changes (stored with each result)

    def __call__(self, points: pd.DataFrame, replicates: int, seed: int) -> pd.DataFrame: ...


@dataclass
class FunctionSimulator:
    """``fn(values, rng) -> {readout: value}`` per run; ``rng`` is seeded by the run's place.

    Parameters
    ----------
    fn : callable
        Takes a mapping parameter path → value and a :class:`numpy.random.Generator`, returns
        the readouts of one run. An exception makes the run ``failed``.
    readouts : tuple of str
        The readouts ``fn`` returns.
    identity : str
        A name for what ``fn`` computes; change it when ``fn`` changes.
    """

    fn: Callable[[Mapping[str, float], np.random.Generator], Mapping[str, float]]
    readouts: tuple[str, ...]
    identity: str = "function"
    calls: int = 0  # runs simulated, for tests and logs

    def __call__(self, points: pd.DataFrame, replicates: int, seed: int) -> pd.DataFrame:
        rows = []
        for point, values in points.iterrows():
            for r in range(replicates):
                rng = np.random.default_rng(run_seed(seed, int(point), r))
                self.calls += 1
                row: dict[str, Any] = {"point": int(point), "replicate": r}
                try:
                    result = self.fn(values.to_dict(), rng)
                    row.update({k: float(result[k]) for k in self.readouts})
                    row.update(status="ok", error=None)
                except Exception as exc:
                    row.update({k: np.nan for k in self.readouts})
                    row.update(status="failed", error=f"{type(exc).__name__}: {exc}")
                rows.append(row)
        return pd.DataFrame(rows)


class SweepSimulator:
    """Full runs of the calibration's sweep at the given points, through ``run_sweep``.

    Each call is one sweep directory under ``runs_dir``, named by the digest of its plan, so an
    interrupted call resumes there (finished runs are not rerun) and different point sets never
    share a directory. ``workers``/``scheduler`` are as for ``gcsim sweep``.
    """

    def __init__(
        self,
        sweep: Sweep,
        runs_dir: Path,
        *,
        workers: int | None = None,
        scheduler: str | None = None,
        on_result: Callable[[dict[str, Any]], None] | None = None,
        on_start: Callable[[int, int, str], None] | None = None,
    ) -> None:
        from gcsim.scenario import scenario_hash

        self.sweep = sweep
        self.runs_dir = Path(runs_dir)
        self.workers = workers
        self.scheduler = scheduler
        self.on_result = on_result
        self.on_start = on_start  # (runs, already done, executor description)
        self.readouts = tuple(sweep.spec.metric_names)
        self.identity = f"gcsim-sweep:{scenario_hash(sweep.base)}"

    def __call__(self, points: pd.DataFrame, replicates: int, seed: int) -> pd.DataFrame:
        from gcsim.sweep.execute import make_executor, read_results, run_sweep

        sweep, plan = self._plan(points, replicates, seed)
        out = self.runs_dir / plan.digest[:12]
        resume = out.is_dir() and any(out.iterdir())
        already = len(read_results(out)) if resume else 0
        executor = make_executor(self.workers, self.scheduler)
        if self.on_start is not None:
            self.on_start(len(plan.runs), already, executor.description)
        run_sweep(sweep, plan, out, executor, resume=resume, on_result=self.on_result)
        records = read_results(out)
        rows = []
        for run in plan.runs:
            record = records.get(run.run_id, {"status": "failed", "error": "no result"})
            row: dict[str, Any] = {"point": run.point, "replicate": run.replicate}
            metrics = record.get("metrics") or {}
            row.update({k: _number(metrics.get(k)) for k in self.readouts})
            row.update(status=record["status"], error=record.get("error"))
            rows.append(row)
        return pd.DataFrame(rows)

    def _plan(self, points: pd.DataFrame, replicates: int, seed: int) -> tuple[Sweep, Any]:
        """The sweep with these replicates and seed, and the plan of one run per replicate."""
        from gcsim.sweep.design import Plan, Run

        factors = {
            path: Factor(range=(float(points[path].min()), float(points[path].max()) + 1.0))
            for path in points.columns
        }  # only read back for provenance and the design table's columns
        spec = self.sweep.spec.model_copy(
            update={"factors": factors, "replicates": replicates, "seed": seed}
        )
        sweep = replace(self.sweep, spec=spec)
        (arm,) = sweep.base.arms
        width = len(str(int(points.index.max())))
        runs = []
        for point, row in points.iterrows():
            values = {path: float(v) for path, v in row.items()}
            scenario = sweep.resolve(values)
            for r in range(replicates):
                run_seed_ = run_seed(seed, int(point), r)
                runs.append(
                    Run(
                        run_id=f"p{int(point):0{width}d}-r{r}",
                        point=int(point),
                        replicate=r,
                        arm=arm,
                        seed=run_seed_,
                        values=values,
                        scenario=scenario.model_copy(update={"seed": run_seed_}),
                    )
                )
        return sweep, Plan(runs=runs, points=[], unit=None)


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def point_key(identity: str, seed: int, point: int, values: Mapping[str, float]) -> str:
    """Identifies one design point's runs: simulator, seed, point id and parameter values."""
    canonical = json.dumps(
        [identity, int(seed), int(point), sorted((k, repr(float(v))) for k, v in values.items())]
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:20]
