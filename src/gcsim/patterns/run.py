"""Running the patterns' scenarios, resumably, and scoring them.

The unit of work is one *replicate* of one scenario: all its arms, simulated by the runner of
``gcsim run`` (:func:`gcsim.runner.plan`, :func:`~gcsim.runner.run_trunk`,
:func:`~gcsim.runner.simulate`), so the arms of a replicate branch from one untreated trunk and
start from the same tumour, with the same seeds as ``gcsim run`` of that scenario. Tasks go to
the sweep's executors (:func:`gcsim.sweep.execute.make_executor`: this process, a local pool or a
Dask cluster); only the driver writes files. docs/decisions/0014-pattern-scoring.md.

The output directory::

    gcsim-output.json          gcsim's marker (kind "patterns")
    runs/PID/SCENARIO/rK.parquet  the replicate's time series, every arm
    runs/PID/SCENARIO/rK.json     its record (seed, scenario and parameter hashes, status);
                                  written last, atomically: it marks the replicate finished
    readouts.parquet           one row per pattern × arm × replicate × readout
    scores.json                every check's score (deterministic: no times, no paths)
    patterns.md, patterns.html, figures/PID.png
    patterns-run.json          provenance: versions, wall times, executor

A replicate is finished when its record exists with status ok, its time series beside it and
the same task digest (scenario hash, replicate, seed); ``--resume`` runs only the others.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import socket
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gcsim.io import check_destination, package_versions, write_json, write_marker, write_parquet
from gcsim.patterns import scoring
from gcsim.patterns.readouts import MissingColumnError, read
from gcsim.patterns.scoring import CheckResult
from gcsim.patterns.spec import BEST_OF, Check, Pattern
from gcsim.scenario import Scenario, scenario_hash
from gcsim.sweep.execute import run_all
from gcsim.trial.spec import Scalar

if TYPE_CHECKING:
    from gcsim.runner import Simulation

FORMAT = 1


class PatternsDirectoryError(Exception):
    """The output directory cannot be used (not empty without --resume, not a directory)."""


@dataclass(frozen=True)
class ReplicateTask:
    """One replicate of one pattern scenario (every arm); picklable and small."""

    run_id: str  # "P1-cps-r0": also a Dask key prefix
    pattern: str
    scenario_key: str
    replicate: int
    scenario: Scenario  # with its population: this replicate's patient
    patient: dict[str, dict[str, Scalar]] | None = None  # arm → characteristic → value

    @property
    def digest(self) -> str:
        """What the replicate simulates; a record with another digest is rerun."""
        text = f"{scenario_hash(self.scenario)}/{self.replicate}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def stem(self) -> Path:
        return Path("runs") / self.pattern / self.scenario_key / f"r{self.replicate}"


@dataclass
class ReplicateOutcome:
    run_id: str
    ok: bool
    table: pd.DataFrame | None = None
    seed: int = 0
    error: str | None = None
    traceback: str | None = None
    wall_s: float = 0.0
    host: str = ""


def _pattern_table(simulation: Simulation, arm: str) -> pd.DataFrame:
    """What a pattern's readouts read of one run: a section's time series, or for a patient
    its viable tumour cells summed over its lesions (gcsim.patient.response.patient_series)."""
    if simulation.lesions is None:
        return simulation.table
    from gcsim.patient.response import patient_series

    return patient_series(simulation.lesions).assign(arm=arm)


def simulate_replicate(task: ReplicateTask) -> ReplicateOutcome:
    """Every arm of one replicate, as ``gcsim run`` simulates it (trunk, then branches); an
    exception becomes a failed outcome (with the worker's traceback)."""
    from gcsim.runner import plan, run_trunk, simulate, trunks

    started = time.perf_counter()
    host = f"{socket.gethostname()}:{os.getpid()}"
    jobs = [job for job in plan(task.scenario) if job.replicate == task.replicate]
    seed = jobs[0].seed if jobs else 0
    try:
        needed = trunks(jobs)
        first_arm = {
            key: next(j.arm for j in jobs if (j.group, j.replicate) == key) for key in needed
        }
        done = {
            key: run_trunk(task.scenario, trunk, first_arm[key]) for key, trunk in needed.items()
        }
        tables = [
            _pattern_table(
                simulate(
                    task.scenario,
                    job,
                    trunk=done[(job.group, job.replicate)] if job.branch_step is not None else None,
                ),
                job.arm,
            )
            for job in jobs
        ]
        table = pd.concat(tables, ignore_index=True)
    except Exception as exc:
        return ReplicateOutcome(
            task.run_id,
            False,
            seed=seed,
            error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(),
            wall_s=time.perf_counter() - started,
            host=host,
        )
    return ReplicateOutcome(
        task.run_id, True, table, seed, wall_s=time.perf_counter() - started, host=host
    )


def replicate_task(pattern: Pattern, key: str, replicate: int) -> ReplicateTask:
    """Replicate ``replicate`` of scenario ``key``: its patient's scenario if the scenario has
    a population, else the scenario itself."""
    patient = pattern.patient(key, replicate)
    return ReplicateTask(
        f"{pattern.id}-{key}-r{replicate}",
        pattern.id,
        key,
        replicate,
        pattern.scenarios[key] if patient is None else patient.scenario,
        None if patient is None else patient.draws,
    )


def plan_tasks(patterns: Iterable[Pattern]) -> list[ReplicateTask]:
    """Every replicate of every scenario of ``patterns``, in file order."""
    return [
        replicate_task(p, key, r)
        for p in patterns
        for key, scenario in p.scenarios.items()
        for r in range(scenario.replicates)
    ]


# --- the directory ---------------------------------------------------------------------------


def prepare_directory(out: Path, resume: bool) -> None:
    """A fresh run needs an empty or missing ``out``; ``--resume`` one made by gcsim patterns."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise PatternsDirectoryError(f"{out}: exists and is not a directory")
    check_destination(out, renamed_into_place=False)
    if out.is_dir() and any(out.iterdir()):
        if not resume:
            raise PatternsDirectoryError(f"{out}: not empty (use --resume to finish that run)")
        if not (out / "runs").is_dir():
            raise PatternsDirectoryError(f"{out}: not a gcsim patterns directory (no runs/)")
        for stale in (out / "runs").rglob(".*.tmp"):  # a kill between write and rename
            stale.unlink(missing_ok=True)


def finished(out: Path, task: ReplicateTask) -> bool:
    """Whether ``task``'s replicate is on disk, whole, with the same digest."""
    record_path = out / task.stem.with_suffix(".json")
    try:
        record = json.loads(record_path.read_text())
    except (OSError, ValueError):
        return False
    return (
        record.get("status") == "ok"
        and record.get("task_digest") == task.digest
        and record_path.with_suffix(".parquet").is_file()
    )


def _write_outcome(out: Path, task: ReplicateTask, outcome: ReplicateOutcome) -> dict[str, Any]:
    from gcsim.runner import parameters_hashes

    stem = out / task.stem
    stem.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "run_id": task.run_id,
        "pattern": task.pattern,
        "scenario": task.scenario_key,
        "replicate": task.replicate,
        "seed": outcome.seed,
        "task_digest": task.digest,
        "scenario_hash": scenario_hash(task.scenario),
        "parameters_hash": parameters_hashes(task.scenario),
        "status": "ok" if outcome.ok else "failed",
        "error": outcome.error,
        "traceback": outcome.traceback,
        "wall_time_s": round(outcome.wall_s, 3),
        "host": outcome.host,
    }
    if task.patient is not None:
        record["patient"] = task.patient
    if outcome.ok and outcome.table is not None:
        write_parquet(stem.with_suffix(".parquet"), outcome.table)
    write_json(stem.with_suffix(".json"), record)  # last: it marks the replicate finished
    return record


@dataclass
class SuiteRun:
    """What :func:`run_patterns` did: replicates run now and before, failures, wall time."""

    out: Path
    total: int
    ran: int
    skipped: int
    failed: list[dict[str, Any]] = field(default_factory=list)
    wall_s: float = 0.0


def run_patterns(
    patterns: list[Pattern],
    out: Path,
    executor: Any,
    *,
    resume: bool = False,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> SuiteRun:
    """Simulate every unfinished replicate of ``patterns`` on ``executor`` into ``out``.

    Interrupts propagate after the executor is shut down; finished replicates stay on disk.
    """
    started = time.perf_counter()
    out = Path(out)
    prepare_directory(out, resume)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    write_marker(out, "patterns", None)
    tasks = plan_tasks(patterns)
    pending = [t for t in tasks if not finished(out, t)]
    failed: list[dict[str, Any]] = []

    def record(task: ReplicateTask, outcome: ReplicateOutcome) -> None:
        written = _write_outcome(out, task, outcome)
        if not outcome.ok:
            failed.append(written)
        if on_result is not None:
            on_result(written)

    run_all(
        executor,
        simulate_replicate,
        [(task, task) for task in pending],
        lambda task, error: ReplicateOutcome(task.run_id, False, error=error),
        record,
    )
    return SuiteRun(
        out,
        len(tasks),
        len(pending),
        len(tasks) - len(pending),
        failed,
        time.perf_counter() - started,
    )


# --- readouts and scores ---------------------------------------------------------------------


def readouts_table(patterns: list[Pattern], out: Path) -> pd.DataFrame:
    """One row per pattern × scenario × arm × replicate × readout: ``value`` (NaN when it could
    not be read) and ``error`` (the reason, naming the pattern file, readout and column)."""
    rows = []
    for pattern in patterns:
        for key, scenario in pattern.scenarios.items():
            for r in range(scenario.replicates):
                task = replicate_task(pattern, key, r)
                table, problem, seed = _replicate_table(out, task)
                for arm in scenario.arms:
                    run = None if table is None else table.loc[table["arm"] == arm]
                    for name, readout in pattern.spec.readouts.items():
                        value, why = math.nan, problem
                        if run is not None:
                            value, why = _read_one(pattern, name, readout, run, task.scenario)
                        rows.append(
                            {
                                "pattern": pattern.id,
                                "scenario": key,
                                "arm": arm,
                                "replicate": r,
                                "seed": seed,
                                "readout": name,
                                "value": value,
                                "error": why,
                            }
                        )
    return pd.DataFrame(
        rows,
        columns=["pattern", "scenario", "arm", "replicate", "seed", "readout", "value", "error"],
    )


def _replicate_table(out: Path, task: ReplicateTask) -> tuple[pd.DataFrame | None, str | None, int]:
    stem = out / task.stem
    try:
        record = json.loads(stem.with_suffix(".json").read_text())
    except (OSError, ValueError):
        return None, f"replicate {task.stem} was not run", 0
    if record.get("status") != "ok":
        return None, f"replicate {task.stem} failed: {record.get('error')}", record.get("seed", 0)
    return pd.read_parquet(stem.with_suffix(".parquet")), None, record.get("seed", 0)


def _read_one(
    pattern: Pattern, name: str, readout: Any, run: pd.DataFrame, scenario: Scenario
) -> tuple[float, str | None]:
    try:
        return float(
            read(readout.fn, run.reset_index(drop=True), scenario.response, readout.args)
        ), None
    except MissingColumnError as exc:
        return math.nan, (
            f"{pattern.file}: readout {name!r}: the time series has no column {exc.column!r}"
        )
    except (ValueError, ZeroDivisionError) as exc:
        return math.nan, f"{pattern.file}: readout {name!r}: {exc}"


def score_patterns(patterns: list[Pattern], readouts: pd.DataFrame) -> dict[str, Any]:
    """Every check of every pattern scored from ``readouts``; a pattern PASSes iff all its
    checks PASS. The result is what scores.json holds under ``patterns``."""
    from gcsim.runner import parameters_hashes

    scored: dict[str, Any] = {}
    for pattern in patterns:
        results = score_pattern(pattern, readouts)
        status = "PASS" if all(r.status == "PASS" for r in results) else "FAIL"
        by_id = {c.id: c for c in pattern.spec.checks}
        scored[pattern.id] = {
            "title": pattern.spec.title,
            "role": pattern.spec.role,
            "source": pattern.spec.source,
            "file": Path(pattern.file).name,
            "status": status,
            "mode": "quick" if pattern.quick else "full",
            "notes": list(pattern.notes),
            "scenarios": {
                key: {
                    "name": s.name,
                    "seed": s.seed,
                    "replicates": s.replicates,
                    "scenario_hash": scenario_hash(s),
                    "parameters_hash": parameters_hashes(s),
                    **(
                        {"patients": [p.draws for p in pattern.patients[key]]}
                        if key in pattern.patients
                        else {}
                    ),
                }
                for key, s in pattern.scenarios.items()
            },
            "checks": [
                {"rule": by_id[r.id].rule, "what": by_id[r.id].what, **r.to_json()} for r in results
            ],
        }
    return scored


def score_pattern(pattern: Pattern, readouts: pd.DataFrame) -> list[CheckResult]:
    """The checks of one pattern, in file order; interior_max checks first, so that a
    ``best_of`` reference can read the arm they chose."""
    rows = readouts.loc[readouts["pattern"] == pattern.id]
    results: dict[str, CheckResult] = {}
    order = sorted(pattern.spec.checks, key=lambda c: c.rule != "interior_max")
    for check in order:
        try:
            results[check.id] = _score(pattern, check, rows, results)
        except _ReadoutMissing as exc:
            results[check.id] = scoring.error(check.id, str(exc), _expected(check))
    return [results[c.id] for c in pattern.spec.checks]


class _ReadoutMissing(Exception):
    pass


def _expected(check: Check) -> str:
    if check.expect is not None:
        return check.expect.text()
    if check.rule == "disjoint":
        return scoring.DISJOINT_EXPECTED
    return scoring.INTERIOR_MAX_EXPECTED


def _values(
    pattern: Pattern, rows: pd.DataFrame, ref: str, readout: str, results: dict[str, CheckResult]
) -> np.ndarray:
    """Per-replicate values of ``readout`` in arm ``ref`` (``best_of:ID`` resolved)."""
    if ref.startswith(BEST_OF):
        target = ref.removeprefix(BEST_OF)
        picked = results.get(target)
        if picked is None or picked.chosen is None:
            status = "not scored" if picked is None else picked.status
            raise _ReadoutMissing(
                f"best_of:{target}: that check chose no arm ({status}"
                f"{': ' + picked.detail if picked and picked.detail else ''})"
            )
        ref = picked.chosen
    scenario, _, arm = ref.partition(".")
    chosen = rows.loc[
        (rows["scenario"] == scenario) & (rows["arm"] == arm) & (rows["readout"] == readout)
    ].sort_values("replicate")
    errors = chosen["error"].dropna().unique()
    if len(errors):
        raise _ReadoutMissing(str(errors[0]))
    return chosen["value"].to_numpy(dtype=float)


def _score(
    pattern: Pattern, check: Check, rows: pd.DataFrame, results: dict[str, CheckResult]
) -> CheckResult:
    def values(ref: str, readout: str | None = None) -> np.ndarray:
        return _values(pattern, rows, ref, readout or check.readout or "", results)

    expect, effect, rule = check.expect, check.effect, check.rule
    if rule == "proportion":
        return scoring.proportion(check.id, values(check.arm), expect, effect)
    if rule == "conditional_proportion":
        return scoring.conditional_proportion(
            check.id, values(check.arm), values(check.arm, check.given), expect, effect
        )
    if rule == "mean":
        return scoring.mean(check.id, values(check.arm), expect, effect)
    if rule == "median":
        return scoring.median(check.id, values(check.arm), expect, effect)
    if rule == "paired_difference":
        a, b = check.arms  # type: ignore[misc]
        return scoring.paired_difference(check.id, values(a), values(b), expect, effect)
    if rule == "difference_of_differences":
        (a1, b1), (a2, b2) = check.arms  # type: ignore[misc]
        return scoring.difference_of_differences(
            check.id, values(a1), values(b1), values(a2), values(b2), expect, effect
        )
    if rule == "trend":
        arms = dict(check.arms)  # type: ignore[arg-type]
        binary = pattern.spec.readouts[check.readout or ""].fn in {
            "responder",
            "progressed",
            "extinct",
        }
        if check.paired is not None:
            groups = [values(check.paired[arm]) - values(arm) for arm in arms]
            binary = False  # differences of binary readouts are not binary
        else:
            groups = [values(arm) for arm in arms]
        return scoring.trend(check.id, groups, list(arms.values()), expect, binary)
    if rule == "disjoint":
        a, b = check.arms  # type: ignore[misc]
        return scoring.disjoint(check.id, values(a), values(b))
    if rule == "interior_max":
        arms = list(check.arms)  # type: ignore[arg-type]
        return scoring.interior_max(check.id, arms, [values(a) for a in arms])
    if rule == "fade":
        best = f"{BEST_OF}{check.best_of}"
        chosen = results[check.best_of or ""].chosen if check.best_of in results else None
        if chosen == check.baseline:
            return scoring.error(
                check.id,
                f"{check.best_of} chose the baseline arm {chosen}: no gain to fade",
                _expected(check),
            )
        return scoring.fade(
            check.id,
            values(best, check.peak),
            values(check.baseline, check.peak),
            values(best, check.late),
            values(check.baseline, check.late),
            expect,
            chosen or "",
            effect,
        )
    raise ValueError(f"unknown rule {rule}")


def provenance(run: SuiteRun, patterns: list[Pattern], executor: str) -> dict[str, Any]:
    """patterns-run.json: what is not deterministic (times, hosts) lives here, not in scores."""
    return {
        "format": FORMAT,
        "patterns": [p.id for p in patterns],
        "files": {p.id: os.path.abspath(p.file) for p in patterns},
        "mode": "quick" if patterns and patterns[0].quick else "full",
        "replicates_total": run.total,
        "replicates_run": run.ran,
        "replicates_reused": run.skipped,
        "failed": [r["run_id"] for r in run.failed],
        "wall_time_s": round(run.wall_s, 3),
        "executor": executor,
        "versions": package_versions(),
    }
