"""One virtual patient in one trial arm, in a worker: the untreated screening phase, the
plausibility check, then treatment with RECIST 1.1 read at every scheduled scan, until the PFS
event or the end of follow-up.

Day 0 of the trial (the baseline scan, the first dose) is the end of screening: the arm's dosing
calendar is shifted by ``screening.days``, so in a paired design every arm lives the same
screening phase from the same random streams (the untreated phase is identical, bit for bit,
until the first dose) and rejects the same candidates. The run stops at the scan that
establishes progression (iRECIST: at the confirming scan, iCPD): nothing after it is an
endpoint of this trial (no overall survival is modelled), so simulating it would only cost time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gcsim.patient.simulate import PatientModel
from gcsim.patient.window import applies_to
from gcsim.recist import scan_days, score_patient
from gcsim.scenario import Scenario
from gcsim.sweep.execute import attempt
from gcsim.therapies.base import Schedule
from gcsim.therapies.radiotherapy import Radiotherapy
from gcsim.trial.spec import Bounds, Scans, TrialArm

EARLY_DAY = 21.0  # the on-treatment biomarker read-out (d21_ features)
VISIT_STREAM = 2**31 + 5  # spawn key of the visit draws under a patient's seed (model: 0, 1)
RESPONSES = ("CR", "PR", "iCR", "iPR")
ABSCOPAL_SHRINKAGE = 0.30  # RECIST 1.1's partial-response decrease, applied to one lesion
NEW_LESION_DAY = 1e-6  # a lesion seeded during screening is new on treatment (RECIST 1.1)

# window metric → feature suffix (bl_ at day 0, d21_ = day 21 − day 0)
WINDOW_FEATURES = {
    "cd8_core_per_mm2": "cd8_core_per_mm2",
    "cd8_margin_per_mm2": "cd8_margin_per_mm2",
    "cd8_treg_ratio": "cd8_treg_ratio",
    "m1_m2_ratio": "m1_m2_ratio",
    "hypoxic_fraction": "hypoxic_fraction",
    "perfused_vessel_fraction": "perfused_fraction",
    "cps": "pdl1_cps_measured",
}
BASELINE_FEATURES = tuple(f"bl_{s}" for s in WINDOW_FEATURES.values())
EARLY_FEATURES = (*(f"d21_{s}" for s in WINDOW_FEATURES.values()), "d21_sld_pct")


@dataclass(frozen=True)
class Settings:
    """The trial's reading rules, the same for every task."""

    screen_days: float
    plausible: dict[str, Bounds]
    scans: Scans
    follow_up_days: float


@dataclass(frozen=True)
class PatientTask:
    """What a worker needs for one patient in one arm; picklable."""

    task_id: str
    patient: int
    arm: str
    seed: int
    scenario: Scenario  # the patient's scenario, holding only this arm, calendar shifted
    settings: Settings
    parameter_set: int = 0  # index into the trial's ensemble (0 without one)

    @property
    def run_id(self) -> str:
        """The name the sweep's executors give a task's future."""
        return self.task_id


@dataclass
class PatientOutcome:
    task_id: str
    ok: bool
    row: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None
    wall_s: float = 0.0
    cpu_s: float = 0.0
    host: str = ""


def arm_scenario(patient: Scenario, name: str, arm: TrialArm, settings: Settings) -> Scenario:
    """``patient``'s scenario holding one arm, ``name``: the base arm ``arm.arm`` with each drug
    stopped at its ``max_days``, no dose in a holiday, every dose shifted past screening; its
    time runs through screening and follow-up."""
    base = patient.arms[arm.arm]
    treatments = []
    for t in base.treatments:
        limit = min(
            (arm.max_days[k] for k in (t.type, getattr(t, "drug", None)) if k in arm.max_days),
            default=math.inf,
        )
        days = [
            d + settings.screen_days
            for d in t.schedule.dose_days()
            if d < limit
            and not any(h.from_day <= d < h.from_day + h.days for h in arm.holidays)
            and d <= settings.follow_up_days
        ]
        if not days:
            continue
        update: dict[str, Any] = {"schedule": Schedule(days=tuple(days))}
        if arm.irradiate is not None and isinstance(t, Radiotherapy):
            update["lesions"] = tuple(arm.irradiate)
        treatments.append(t.model_copy(update=update))
    total = settings.screen_days + settings.follow_up_days
    present = {lesion.name for lesion in patient.patient.lesions}  # type: ignore[union-attr]
    missing = sorted(set(arm.irradiate or ()) - present)
    if missing:
        raise ValueError(f"this patient has no lesion {missing[0]!r} to irradiate")
    return patient.model_copy(
        update={
            "arms": {name: base.model_copy(update={"treatments": treatments})},
            "time": patient.time.model_copy(update={"days": total}),
            "replicates": 1,
        }
    )


def _window_metrics(model: PatientModel) -> dict[str, float]:
    """Mean over the baseline lesions' windows of each feature's metric (NaN where undefined)."""
    out = {}
    windows = [w for lesion in model.lesions if lesion.parent is None for w in lesion.windows]
    for metric, suffix in WINDOW_FEATURES.items():
        values = [float(w.model.metrics.get(metric, math.nan)) for w in windows]
        finite = [v for v in values if math.isfinite(v)]
        out[suffix] = float(np.mean(finite)) if finite else math.nan
    return out


def _target_sld(model: PatientModel) -> float:
    return float(
        sum(
            les.geometry.diameter_mm(les.state.total)
            for les in model.lesions
            if les.spec.target and les.parent is None and les.appeared_day == 0
        )
    )


def _advance(model: PatientModel, day: float) -> None:
    target = round(day * 24.0 / model.dt_h)
    while model.steps < target:
        model.step()


def _on_treatment(model: PatientModel, screen_days: float) -> pd.DataFrame:
    """The lesion table from day 0 of treatment, with trial days."""
    table = model.lesions_table("trial", 0)
    table = table[table["time_days"] >= screen_days - 1e-9].copy()
    table["time_days"] -= screen_days
    late = table["appeared_day"] > 0
    table.loc[late, "appeared_day"] = np.maximum(
        table.loc[late, "appeared_day"] - screen_days, NEW_LESION_DAY
    )
    return table


def visit_days(
    schedule: np.ndarray, window_days: float, record_days: float, seed: int, follow_up: float
) -> np.ndarray:
    """A patient's scan days: each follow-up scan of ``schedule`` (days, baseline first) moved by
    a whole number of records (``record_days``) drawn uniformly within ± ``window_days``, from a
    stream of the patient's ``seed`` of its own (so every arm of a paired patient has the same
    visits, and the simulation's streams are untouched); none after ``follow_up``. The window
    is below half the scan interval (checked at load), so the order of the scans is kept."""
    if window_days <= 0 or len(schedule) < 2:
        return schedule
    steps = round(window_days / record_days)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(VISIT_STREAM,)))
    shifted = schedule.copy()
    shifted[1:] += rng.integers(-steps, steps + 1, len(schedule) - 1) * record_days
    return np.minimum(shifted, follow_up)


def _score(model: PatientModel, s: Settings, follow_up: float, visits: np.ndarray | None = None):
    return score_patient(
        _on_treatment(model, s.screen_days),
        scan_every_days=s.scans.every_days,
        follow_up_days=follow_up,
        later_scan_every_days=s.scans.later_every_days,
        later_from_day=s.scans.later_from_day,
        irecist=s.scans.irecist,
        confirm=s.scans.confirm,
        at_days=None if visits is None else visits[visits <= follow_up + 1e-9],
    )


def run_patient(task: PatientTask) -> dict[str, Any]:
    """Simulate ``task``'s patient and return its row of ``patients.parquet`` (docs/trials.md)."""
    s = task.settings
    model = PatientModel(task.scenario, task.arm, task.seed)
    sld_start = _target_sld(model)
    _advance(model, s.screen_days)
    baseline = _window_metrics(model)
    sld0 = _target_sld(model)
    row: dict[str, Any] = {
        "n_lesions": len(task.scenario.patient.lesions),  # type: ignore[union-attr]
        "baseline_sld_mm": sld0,
        "screen_sld_pct": 100.0 * (sld0 / sld_start - 1.0) if sld_start > 0 else math.nan,
        **{f"bl_{k}": v for k, v in baseline.items()},
    }
    failed = [
        f"{name} {row[name]:.3g} outside [{_g(b.min)}, {_g(b.max)}]"
        for name, b in s.plausible.items()
        if not _inside(row[name], b)
    ]
    row["plausible"] = not failed
    row["implausible_because"] = "; ".join(failed)
    if failed:
        return row
    schedule = visit_days(
        scan_days(
            s.follow_up_days,
            s.scans.every_days,
            later_every_days=s.scans.later_every_days,
            later_from_day=s.scans.later_from_day,
        ),
        s.scans.window_days,
        task.scenario.time.record_every_hours / 24.0,
        task.seed,
        s.follow_up_days,
    )
    checkpoints = sorted(
        {*schedule[1:].tolist(), *([EARLY_DAY] if EARLY_DAY <= s.follow_up_days else [])}
    )
    early: dict[str, float] = {}
    response = None
    for day in checkpoints:
        _advance(model, s.screen_days + day)
        if day == EARLY_DAY:
            now = _window_metrics(model)
            early = {f"d21_{k}": now[k] - baseline[k] for k in now}
            early["d21_sld_pct"] = 100.0 * (_target_sld(model) / sld0 - 1.0) if sld0 else math.nan
        if day in schedule:
            response = _score(model, s, day, schedule)
            if response.pfs_event:  # with iRECIST: confirmed (iCPD); treatment beyond iUPD goes on
                break
    if response is None:  # follow-up shorter than one scan interval
        response = _score(model, s, s.follow_up_days)
    row.update({k: early.get(k, math.nan) for k in EARLY_FEATURES})
    stopped = model.steps * model.dt_h / 24.0 - s.screen_days
    row.update(_response_columns(response, stopped))
    row["treatment_days"] = on_treatment_days(task.scenario.arms[task.arm], s.screen_days, stopped)
    row.update(_abscopal(model, task, s, response.scan_days))
    row["new_lesions"] = sum(les.appeared_day > 0 for les in model.lesions)
    row["window_reseeds"] = sum(les.reseeds for les in model.lesions)
    return row


def _response_columns(r: Any, simulated_days: float) -> dict[str, Any]:
    sld = np.asarray(r.sld_mm, dtype=float)
    change = 100.0 * (sld[1:] / sld[0] - 1.0) if len(sld) > 1 and sld[0] > 0 else np.array([])
    # categories are those of the follow-up scans; the baseline scan has none
    responded = [d for d, c in zip(r.scan_days[1:], r.categories, strict=True) if c in RESPONSES]
    return {
        "best_response": r.best_response,
        "objective_response": bool(r.objective_response),
        "disease_control": bool(r.disease_control),
        "best_pct_change": float(change.min()) if len(change) else math.nan,
        "pfs_days": float(r.pfs_days),
        "pfs_event": bool(r.pfs_event),
        "dor_days": math.nan if r.dor_days is None else float(r.dor_days),
        "dor_event": bool(r.dor_event),
        "response_day": float(responded[0]) if responded else math.nan,
        "followed_days": float(simulated_days),
        "scan_days": [float(d) for d in r.scan_days],
        "scan_sld_mm": [float(x) for x in sld],
        "scan_categories": ["baseline", *r.categories],
    }


def on_treatment_days(arm: Any, screen_days: float, stopped_day: float) -> float:
    """Days on treatment: from day 0 to the end of the last dose's interval given before the
    run stopped (the dose covers the gap to the dose before it; a single dose, one day), capped
    at the stop. 0 for an untreated arm."""
    end = 0.0
    for t in arm.treatments:
        days = [d - screen_days for d in t.schedule.dose_days() if d - screen_days <= stopped_day]
        if days:
            cover = days[-1] - days[-2] if len(days) > 1 else 1.0
            end = max(end, days[-1] + cover)
    return float(min(end, stopped_day))


def _abscopal(
    model: PatientModel, task: PatientTask, s: Settings, scans: np.ndarray
) -> dict[str, Any]:
    """Lesions outside every radiation field of the arm that shrank by ≥ 30 % of their
    baseline diameter at a scan (a lesion-level partial response): the abscopal count.
    ``abscopal_evaluable``: the arm irradiates some lesion and spares another."""
    arm = task.scenario.arms[task.arm]
    fields = [t for t in arm.treatments if isinstance(t, Radiotherapy)]
    baseline = [les for les in model.lesions if les.parent is None and les.appeared_day == 0]
    hit = {les.name for les in baseline if any(applies_to(t, les.spec) for t in fields)}
    spared = [les.name for les in baseline if les.name not in hit]
    out: dict[str, Any] = {
        "irradiated_lesions": len(hit),
        "abscopal_evaluable": bool(hit and spared),
        "abscopal_lesions": 0,
    }
    if not out["abscopal_evaluable"] or len(scans) < 2:
        return out
    table = _on_treatment(model, s.screen_days)
    at_scans = table[np.isclose(table["time_days"].to_numpy()[:, None], scans[None, :]).any(1)]
    for name in spared:
        d = at_scans.loc[at_scans["lesion"] == name, "diameter_mm"].to_numpy(dtype=float)
        if len(d) > 1 and d[0] > 0 and d[1:].min() <= (1.0 - ABSCOPAL_SHRINKAGE) * d[0]:
            out["abscopal_lesions"] += 1
    return out


def _inside(value: float, b: Bounds) -> bool:
    if not math.isfinite(value):
        return False
    return (b.min is None or value >= b.min) and (b.max is None or value <= b.max)


def _g(x: float | None) -> str:
    return "–" if x is None else f"{x:g}"


def simulate(task: PatientTask) -> PatientOutcome:
    """One task, in a worker; an exception becomes a failed outcome with its traceback."""
    done = attempt(lambda: run_patient(task))
    if done.error is not None:
        return PatientOutcome(
            task.task_id, False, error=done.error, traceback=done.traceback, **done.timing
        )
    return PatientOutcome(task.task_id, True, done.value, **done.timing)


__all__ = ["PatientOutcome", "PatientTask", "Settings", "arm_scenario", "simulate"]
