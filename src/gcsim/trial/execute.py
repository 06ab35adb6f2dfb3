"""Running a virtual trial: its tasks (patient × arm), the executors of the sweep, and the trial
directory on disk.

The trial directory::

    gcsim-output.json     the marker of every directory gcsim writes
    trial.json            the resolved trial, seeds, versions, plan digest; at the end also the
                          cohort's accounting (screened, plausible, selected) and the endpoints
    trial.yaml            the trial file as given
    cohort.parquet        one row per candidate: seed, characteristics, the --set overrides,
                          plausible (and why not), selected
    patients/ID.json      one task's result (a patient in an arm), written atomically: a lost
                          worker loses at most the patient it was running; --resume reruns
                          exactly the tasks without one
    patients.parquet      one row per selected patient × arm (docs/trials.md lists the columns)
    report.html           self-contained, with km_pfs.png, forest.png, waterfall.png, spider.png,
                          swimmer.png (and biomarkers.png)

Only the driver writes files, so Dask workers need no shared filesystem.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gcsim.io import (
    package_versions,
    write_json,
    write_marker,
    write_parquet,
    write_text,
)
from gcsim.scenario import scenario_hash
from gcsim.sweep.execute import Executor, check_resumable, run_all
from gcsim.trial.cohort import Resolved, cohort, patient_seed, resolve
from gcsim.trial.simulate import (
    BASELINE_FEATURES,
    EARLY_FEATURES,
    PatientOutcome,
    PatientTask,
    Settings,
    arm_scenario,
    simulate,
)
from gcsim.trial.spec import Trial

TRIAL_FORMAT = 1
INTEGER_COLUMNS = (
    "n_lesions", "new_lesions", "window_reseeds", "irradiated_lesions", "abscopal_lesions",
)  # fmt: skip
KEY = ["parameter_set", "patient"]  # a virtual patient: one candidate under one parameter set
MAX_TASKS = 20_000


class TrialError(Exception):
    """A trial that cannot be run as asked (too large, inconsistent results)."""


@dataclass(frozen=True)
class Candidate:
    patient: int
    seed: int
    values: dict[str, Any]
    resolved: Resolved
    parameter_set: int = 0

    @property
    def key(self) -> tuple[int, int]:
        return (self.parameter_set, self.patient)


@dataclass(frozen=True)
class Plan:
    candidates: list[Candidate]
    tasks: list[PatientTask]
    allocation: dict[int, str] | None  # randomised: patient → its arm

    @property
    def digest(self) -> str:
        canonical = [(t.task_id, t.seed, scenario_hash(t.scenario)) for t in self.tasks]
        return hashlib.sha256(json.dumps(canonical).encode()).hexdigest()


def settings_of(trial: Trial) -> Settings:
    spec = trial.spec
    return Settings(
        screen_days=spec.screening.days,
        plausible=dict(spec.screening.plausible),
        scans=spec.scans,
        follow_up_days=spec.follow_up_days,
    )


def task_id(patient: int, arm: str, parameter_set: int | None = None) -> str:
    prefix = "" if parameter_set is None else f"s{parameter_set:03d}-"
    return f"{prefix}p{patient:05d}-{arm}"


def plan_trial(trial: Trial, max_tasks: int = MAX_TASKS) -> Plan:
    """Every candidate's scenario and every task, validated before anything runs."""
    spec = trial.spec
    arms = list(spec.arms)
    n = spec.cohort.patients
    sets = trial.parameter_sets()
    per_patient = len(arms) if spec.design == "paired" else 1
    tasks_needed = n * per_patient * len(sets)
    if tasks_needed > max_tasks:
        ensemble = f" × {len(sets)} parameter sets" if spec.parameter_sets else ""
        raise trial.issue(
            ("cohort", "patients"),
            f"{n} patients × {per_patient} arm(s){ensemble} = {tasks_needed} patient runs, "
            f"more than the limit of {max_tasks} (raise it with --max-runs)",
        )
    settings = settings_of(trial)
    allocation = _allocate(n, arms, spec.seed) if spec.design == "randomised" else None
    candidates, tasks = [], []
    drawn = cohort(trial)
    for s, parameters in enumerate(sets):
        tag = s if spec.parameter_sets else None
        for p, values in enumerate(drawn):
            seed = patient_seed(spec.seed, p)  # the same patient under every parameter set
            resolved = resolve(trial, values, seed, parameters)
            candidates.append(Candidate(p, seed, values, resolved, s))
            for name in arms if allocation is None else [allocation[p]]:
                try:
                    scenario = arm_scenario(resolved.scenario, name, spec.arms[name], settings)
                except ValueError as exc:  # lesion_count left out a lesion the arm irradiates
                    raise trial.issue(
                        ("arms", name, "irradiate"), f"patient {p}: {exc} ({values})"
                    ) from None
                tid = task_id(p, name, tag)
                tasks.append(PatientTask(tid, p, name, seed, scenario, settings, s))
    return Plan(candidates, tasks, allocation)


def _allocate(n: int, arms: list[str], seed: int) -> dict[int, str]:
    """1:1:… randomisation in permuted blocks of one patient per arm (seeded)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2**31 + 1,)))
    order: list[str] = []
    while len(order) < n:
        order += list(rng.permutation(arms))
    return {p: str(order[p]) for p in range(n)}


# --- the directory ------------------------------------------------------------------------------


def prepare_directory(out: Path, plan: Plan, resume: bool) -> set[str]:
    """Check ``out`` for this trial; return the task ids already finished successfully."""
    if not check_resumable(Path(out), "trial", plan.digest, "patients", resume):
        return set()
    return {tid for tid, r in read_results(out).items() if r["status"] == "ok"}


def read_results(out: Path) -> dict[str, dict[str, Any]]:
    return {
        (r := json.loads(path.read_text()))["task_id"]: r
        for path in sorted((Path(out) / "patients").glob("*.json"))
    }


def report_meta(trial: Trial) -> dict[str, Any]:
    """What the report and the endpoints read about a trial (also in trial.json)."""
    spec = trial.spec
    return {
        "name": spec.name,
        "seed": spec.seed,
        "design": spec.design,
        "arms": list(spec.arms),
        "reference_arm": spec.control,
        "characteristics": list(spec.cohort.characteristics),
        "features": {"baseline": list(BASELINE_FEATURES), "early": list(EARLY_FEATURES)},
        "subgroups": [g.model_dump(mode="json", exclude_none=True) for g in trial.subgroups()],
        "follow_up_days": spec.follow_up_days,
        "screening_days": spec.screening.days,
        "scan_every_days": spec.scans.every_days,
    }


def _provenance(trial: Trial, plan: Plan, executor: Executor) -> dict[str, Any]:
    spec = trial.spec
    return {
        "format": TRIAL_FORMAT,
        **report_meta(trial),
        "trial_file": os.path.abspath(trial.file),
        "trial": spec.model_dump(mode="json"),
        "base_scenario_file": os.path.abspath(trial.base_file),
        "base_scenario_hash": scenario_hash(trial.base),
        "plan_digest": plan.digest,
        "candidates": len(plan.candidates),
        "tasks": len(plan.tasks),
        "versions": package_versions(),
        "executor": executor.description,
    }


def _write_outcome(out: Path, task: PatientTask, outcome: PatientOutcome) -> dict[str, Any]:
    record = {
        "task_id": task.task_id,
        "patient": task.patient,
        "arm": task.arm,
        "seed": task.seed,
        "parameter_set": task.parameter_set,
        "status": "ok" if outcome.ok else "failed",
        "row": outcome.row,
        "error": outcome.error,
        "traceback": outcome.traceback,
        "wall_time_s": round(outcome.wall_s, 3),
        "cpu_time_s": round(outcome.cpu_s, 3),
        "host": outcome.host,
    }
    write_json(out / "patients" / f"{task.task_id}.json", record)
    return record


@dataclass
class TrialSummary:
    out: Path
    total: int
    ok: int
    failed: int
    skipped: int
    failures: list[dict[str, Any]]
    wall_s: float
    accounting: dict[str, Any]


def run_trial(
    trial: Trial,
    plan: Plan,
    out: Path,
    executor: Executor,
    *,
    resume: bool = False,
    on_result: Callable[[dict[str, Any]], None] | None = None,
    simulate_fn: Callable[[PatientTask], PatientOutcome] = simulate,
    report: bool = True,
) -> TrialSummary:
    """Run every unfinished task of ``plan`` on ``executor``; write the trial directory."""
    started = time.perf_counter()
    out = Path(out)
    done = prepare_directory(out, plan, resume)
    (out / "patients").mkdir(parents=True, exist_ok=True)
    if not (out / "trial.json").exists():
        write_text(out / "trial.yaml", trial.text())
        write_marker(out, "trial", None)
        write_json(out / "trial.json", _provenance(trial, plan, executor))  # last: marks it
    pending = [t for t in plan.tasks if t.task_id not in done]

    def record(task: PatientTask, outcome: PatientOutcome) -> None:
        written = _write_outcome(out, task, outcome)
        if on_result is not None:
            on_result(written)

    run_all(
        executor,
        simulate_fn,
        [(t, t) for t in pending],
        lambda t, error: PatientOutcome(t.task_id, False, error=error),
        record,
    )
    records = read_results(out)
    failures = [r for r in records.values() if r["status"] != "ok"]
    accounting: dict[str, Any] = {}
    if not failures:
        accounting = finish(trial, plan, out, records, report=report)
    return TrialSummary(
        out,
        len(plan.tasks),
        len(records) - len(failures),
        len(failures),
        len(done),
        failures,
        time.perf_counter() - started,
        accounting,
    )


def finish(
    trial: Trial, plan: Plan, out: Path, records: dict[str, dict[str, Any]], report: bool = True
) -> dict[str, Any]:
    """Gather the results: cohort.parquet, patients.parquet, trial.json's accounting, report."""
    spec = trial.spec
    rows = []
    for task in plan.tasks:
        r = records[task.task_id]
        rows.append(
            {
                "patient": task.patient,
                "arm": task.arm,
                "seed": task.seed,
                "parameter_set": task.parameter_set,
                **r["row"],
            }
        )
    table = pd.DataFrame(rows)
    verdict = table.groupby(KEY)["plausible"].agg(["min", "max"])
    split = verdict.index[verdict["min"] != verdict["max"]].tolist()
    if split:  # the paired screening phase is identical in every arm, so this is a bug
        raise TrialError(
            f"(parameter set, patient) {split[:5]} plausible in one arm and not in another: "
            "the untreated screening phase differs between arms"
        )
    plausible = {key: bool(v) for key, v in verdict["min"].items()}
    selected = select(trial, plan, plausible)
    candidates = _cohort_table(plan, table, plausible, selected)
    write_parquet(out / "cohort.parquet", candidates)
    keys = list(zip(table["parameter_set"], table["patient"], strict=True))
    patients = table[[k in selected for k in keys]].copy()
    values = {c.patient: c.values for c in plan.candidates}
    for name in reversed(spec.cohort.characteristics):
        patients.insert(3, name, patients["patient"].map(lambda p, n=name: values[p][n]))
    patients.insert(3, "allocated", True)
    patients.insert(3, "parameter_set", patients.pop("parameter_set"))
    patients = patients.drop(columns=["plausible", "implausible_because"])
    for column in INTEGER_COLUMNS:  # NaN in implausible candidates' rows made them float
        patients[column] = patients[column].astype("int64")
    write_parquet(out / "patients.parquet", patients)
    accounting = _accounting(trial, plan, plausible, selected, candidates)
    meta = json.loads((out / "trial.json").read_text())
    meta["accounting"] = accounting
    if report and len(patients):
        from gcsim.trial.outputs import write_trial_report

        meta["endpoints"] = write_trial_report(patients, meta, out, spec.biomarkers)
    write_json(out / "trial.json", meta)
    return accounting


def select(
    trial: Trial, plan: Plan, plausible: dict[tuple[int, int], bool]
) -> set[tuple[int, int]]:
    """Plausible (parameter set, patient) keys, thinned by the prevalence selection if the
    trial asks for one (within each parameter set)."""
    kept = sorted(key for key, ok in plausible.items() if ok)
    sel = trial.spec.cohort.selection
    if sel is None or not kept:
        return set(kept)
    values = {c.patient: float(c.values[sel.characteristic]) for c in plan.candidates}
    target = np.asarray(sel.proportions)
    rng = np.random.default_rng(np.random.SeedSequence(trial.spec.seed, spawn_key=(2**31 + 2,)))
    out: set[tuple[int, int]] = set()
    for s in sorted({key[0] for key in kept}):
        members = [key for key in kept if key[0] == s]
        bins = {k: int(np.searchsorted(sel.edges, values[k[1]], side="right")) for k in members}
        available = np.bincount(list(bins.values()), minlength=len(target))
        with np.errstate(divide="ignore"):
            size = np.min(np.where(target > 0, available / target, np.inf))
        keep = np.floor(size * target + 1e-9).astype(int)
        for b, k in enumerate(keep):
            in_bin = [key for key in members if bins[key] == b]
            out.update(in_bin[i] for i in rng.permutation(len(in_bin))[:k])
    return out


def _cohort_table(
    plan: Plan,
    table: pd.DataFrame,
    plausible: dict[tuple[int, int], bool],
    selected: set[tuple[int, int]],
) -> pd.DataFrame:
    """One row per candidate (and parameter set): what it was drawn as and how it screened."""
    first = table.drop_duplicates(KEY).set_index(KEY)
    rows = []
    for c in plan.candidates:
        screened = first.loc[c.key]
        rows.append(
            {
                "patient": c.patient,
                "parameter_set": c.parameter_set,
                "seed": c.seed,
                **c.values,
                "overrides": " ".join(c.resolved.overrides),
                "screen_sld_pct": screened["screen_sld_pct"],
                "plausible": plausible[c.key],
                "implausible_because": screened["implausible_because"],
                "selected": c.key in selected,
                **{f: screened.get(f, math.nan) for f in BASELINE_FEATURES},
            }
        )
    return pd.DataFrame(rows)


def _accounting(
    trial: Trial,
    plan: Plan,
    plausible: dict[tuple[int, int], bool],
    selected: set[tuple[int, int]],
    candidates: pd.DataFrame,
) -> dict[str, Any]:
    n = len(plan.candidates)
    accepted = sum(plausible.values())
    out: dict[str, Any] = {
        "candidates": n,
        "plausible": accepted,
        "rejected_fraction": (n - accepted) / n if n else 0.0,
        "selected": len(selected),
    }
    sel = trial.spec.cohort.selection
    if sel is not None:

        def shares(frame: pd.DataFrame) -> list[float]:
            bins = np.searchsorted(sel.edges, frame[sel.characteristic].astype(float), "right")
            counts = np.bincount(bins, minlength=len(sel.proportions))
            return (counts / max(counts.sum(), 1)).round(4).tolist()

        before = shares(candidates[candidates["plausible"]])
        after = shares(candidates[candidates["selected"]])
        out["selection"] = {
            "characteristic": sel.characteristic,
            "edges": sel.edges,
            "target": sel.proportions,
            "plausible": before,
            "selected": after,
            "total_variation_after": round(
                0.5 * float(np.abs(np.subtract(after, sel.proportions)).sum()), 4
            ),
        }
    return out


__all__ = ["Plan", "TrialError", "TrialSummary", "plan_trial", "report_meta", "run_trial"]
