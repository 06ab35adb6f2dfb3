"""Trial-level calibration by reweighting one pre-simulated pool (never re-simulating it).

The pool is a finished trial: candidates drawn from the *proposal* p (its trial file's
characteristic distributions), screened for plausibility, every plausible one run once in every
arm. A calibration fits a few cohort-level parameters θ, each a family q_θ over one
characteristic, by importance weights

    w_i ∝ Π_c q_θ,c(x_ic) / p_c(x_ic)        (normalised to sum to n, the pool's patients)

so that the weighted endpoints (ORR, Kaplan–Meier median PFS, Cox PFS HR; overall and in
populations such as ``cps >= 5``) meet the targets: differential evolution (seeded) minimises
Σ ((estimate − value) / half-width)² plus a penalty when the weights' Kish effective size
(Σw)²/Σw² falls below ``min_effective_size``.

Why this is the calibrated trial's cohort: a trial drawn from q and screened keeps patient x with
probability ∝ q(x) P(plausible | x); the pool's plausible patients are drawn ∝ p(x)
P(plausible | x), so weighting them by q/p estimates the calibrated trial's plausible cohort
without simulating anything again.

Choices, and their limits:

* Each fitted q is truncated to the support of the pool's proposal (the written trial file says
  so with ``range``): the pool has no patients outside it, so mass there could not be weighted,
  and every weight stays finite. A choice_by family may only give probability to values the
  pool draws.
* Paired design: a patient has one row per arm and the same weight in each.
* During the fit, estimates come from exact vectorised estimators (weighted Kaplan–Meier with
  lifelines' median convention; weighted Cox partial likelihood with Efron ties, as lifelines
  fits it), tested against lifelines; the reported estimates are lifelines' own
  (``KaplanMeierFitter(weights=)``, ``CoxPHFitter(weights_col=, robust=True)``, clustered by
  patient), computed from the weights of the trial file as written.
* Rows with weight 0 are left out of every estimate (as lifelines would need).
* PFS progressions are seen at scans, so a median moves in steps of the scan interval: the loss
  is piecewise constant in θ, which differential evolution (no gradient, no polishing) tolerates.
* The fit reproduces the targets it was given: that is not validation, and the effective size
  of the weights (not the pool's n, nor the written trial's) limits the precision.
"""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.exceptions import ConvergenceError
from numpy.typing import ArrayLike
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from scipy.optimize import differential_evolution

from gcsim.io import (
    OutputExistsError,
    ResultsKeptError,
    atomic_directory,
    atomic_path,
    check_output_dir,
    package_versions,
    write_json,
    write_marker,
    write_parquet,
    write_text,
)
from gcsim.scenario import ScenarioError
from gcsim.trial.calibrate_spec import Family, Target, TrialCalibration, load_trial_calibration
from gcsim.trial.density import characteristic_density, intervals
from gcsim.trial.load import load_trial
from gcsim.trial.spec import Characteristic
from gcsim.trial.stats import DAYS_PER_MONTH

FORMAT = 1
KIND = "trial-calibration"  # the marker of its output directory
FILES = ("calibration.json", "weights.parquet", "calibration.md", "selected")
HEADER = "Written by gcsim's trial calibration"  # the first words of a written trial file
USER_ERROR = 2  # as the command line's: a file problem, nothing was fitted or written
NOT_PASSED = 3  # fitted and written, but a target is outside its interval (or the ESS too low)
MISSING_PENALTY = 1e4  # a target whose estimate does not exist (an arm without progressions)
ESS_PENALTY = 1e4  # × (1 − ESS / minimum)² below the minimum
DIGITS = 6  # significant digits of the fitted values written to the trial file
LOG_EVERY = 25  # generations between progress lines
_MAX_NEWTON = 50


class Estimator(Protocol):
    """A fast estimate of one target from the weights of every row of the pool."""

    def __call__(self, w: np.ndarray) -> float: ...


def kish_effective_size(weights: ArrayLike) -> float:
    """Kish's effective sample size (Σw)² / Σw² of non-negative weights (0 if all are 0)."""
    w = np.asarray(weights, dtype=float)
    total = float(np.sum(w * w))
    return float(w.sum()) ** 2 / total if total > 0 else 0.0


def normalised(log_weights: np.ndarray) -> np.ndarray:
    """Weights from their logs, scaled to sum to their number (all 0 if every log is −inf)."""
    top = np.max(log_weights)
    if not np.isfinite(top):
        return np.zeros(log_weights.size)
    w = np.exp(log_weights - top)
    return w * (w.size / w.sum())


# --- the fitted families: log q_θ at each patient, up to a constant (the weights are
# normalised, so q's normalisation, the same for every patient, cancels) -------------------


@dataclass(frozen=True)
class _Continuous:
    """A lognormal (θ = log median, sigma) or normal (θ = mean, sd), truncated to the pool's
    support of the characteristic."""

    name: str
    family: Family
    z: np.ndarray  # each patient's value (its log, for a lognormal): normal in q
    log_jacobian: np.ndarray  # −log x for a lognormal (its density's 1/x), else 0
    support: tuple[float, float]

    @property
    def bounds(self) -> list[tuple[float, float]]:
        f = self.family
        if f.family == "lognormal":
            lo, hi = f.median  # type: ignore[misc]
            return [(math.log(lo), math.log(hi)), f.sigma]  # type: ignore[list-item]
        return [f.mean, f.sd]  # type: ignore[list-item]

    def log_q(self, theta: np.ndarray) -> np.ndarray:
        centre, spread = theta
        return -0.5 * ((self.z - centre) / spread) ** 2 + self.log_jacobian

    def fitted(self, theta: np.ndarray) -> dict[str, float]:
        if self.family.family == "lognormal":
            return {"median": _short(math.exp(theta[0])), "sigma": _short(theta[1])}
        return {"mean": _short(theta[0]), "sd": _short(theta[1])}

    @property
    def range(self) -> tuple[float, float] | None:
        """The truncation to write: the pool's support, unless it holds the family's own."""
        lo, hi = self.support
        if self.family.family == "lognormal":
            return None if lo <= 0 and hi == math.inf else (max(lo, 0.0), hi)
        return None if (lo, hi) == (-math.inf, math.inf) else (lo, hi)

    def update(self, theta: np.ndarray) -> dict[str, Any]:
        dist: dict[str, Any] = {self.family.family: self.fitted(theta)}
        if self.range is not None:
            dist["range"] = list(self.range)
        return {"distribution": dist}


@dataclass(frozen=True)
class _ChoiceBy:
    """Free probabilities of the values in each bin of ``given``, by stick-breaking: each bin's
    K values take K − 1 fractions in [0, 1] (value k gets fraction k of what is left; the last
    value the rest), so the box of θ covers every point of the simplex."""

    name: str
    family: Family
    bin: np.ndarray  # each patient's bin of `given`
    value: np.ndarray  # each patient's value's index in family.values, −1 if not among them

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.family.below or []) + 1, len(self.family.values or [])

    @property
    def bounds(self) -> list[tuple[float, float]]:
        bins, k = self.shape
        return [(0.0, 1.0)] * (bins * (k - 1))

    def probabilities(self, theta: np.ndarray) -> np.ndarray:
        """(bins, values) probabilities, each row summing to 1."""
        bins, k = self.shape
        fractions = np.asarray(theta, dtype=float).reshape(bins, k - 1)
        left = np.cumprod(np.hstack([np.ones((bins, 1)), 1.0 - fractions]), axis=1)
        return np.hstack([fractions, np.ones((bins, 1))]) * left

    def log_q(self, theta: np.ndarray) -> np.ndarray:
        p = self.probabilities(theta)[self.bin, np.maximum(self.value, 0)]
        with np.errstate(divide="ignore"):
            return np.where(self.value >= 0, np.log(p), -np.inf)

    def fitted(self, theta: np.ndarray) -> dict[str, Any]:
        edges = [*(self.family.below or []), None]
        names = [str(v) for v in self.family.values or []]
        bins = []
        for edge, row in zip(edges, self.probabilities(theta), strict=True):
            shares = {v: _short(p) for v, p in zip(names, row, strict=True)}
            bins.append({"below": edge, "probabilities": shares})
        return {"given": self.family.given, "bins": bins}

    def update(self, theta: np.ndarray) -> dict[str, Any]:
        edges = [*(self.family.below or []), None]
        bins = []
        for edge, row in zip(edges, self.probabilities(theta), strict=True):
            choice = {"values": list(self.family.values or []), "weights": [_short(p) for p in row]}
            bins.append({"choice": choice} if edge is None else {"below": edge, "choice": choice})
        return {"given": self.family.given, "bins": bins}


def _short(x: float) -> float:
    return float(f"{float(x):.{DIGITS}g}")


@dataclass(frozen=True)
class _Pool:
    """The pool's patients, by patient (the weighted units) and by row (patient × arm)."""

    ids: np.ndarray  # patient ids, increasing
    table: pd.DataFrame  # one row per patient (its characteristics)
    rows: pd.DataFrame  # patients.parquet
    row_patient: np.ndarray  # each row's index into ids

    @classmethod
    def of(cls, cal: TrialCalibration) -> _Pool:
        rows = cal.patients.reset_index(drop=True)
        table = rows.drop_duplicates("patient").sort_values("patient").reset_index(drop=True)
        ids = table["patient"].to_numpy()
        return cls(ids, table, rows, np.searchsorted(ids, rows["patient"].to_numpy()))


def _families(cal: TrialCalibration, pool: _Pool) -> list[_Continuous | _ChoiceBy]:
    out: list[_Continuous | _ChoiceBy] = []
    for name, family in cal.spec.parameters.items():
        c = cal.characteristics[name]
        column = pool.table[name]
        if family.family == "choice_by":
            given = pool.table[family.given].to_numpy(dtype=float)
            lookup = {v: i for i, v in enumerate(family.values or [])}
            out.append(
                _ChoiceBy(
                    name,
                    family,
                    np.searchsorted(family.below or [], given, side="right"),
                    np.array([lookup.get(v, -1) for v in column], dtype=int),
                )
            )
        else:
            support = intervals(c.distribution)[0]  # type: ignore[arg-type]
            x = column.to_numpy(dtype=float)
            if family.family == "lognormal":
                out.append(_Continuous(name, family, np.log(x), -np.log(x), support))
            else:
                out.append(_Continuous(name, family, x, np.zeros(x.size), support))
    return out


def _log_proposal(cal: TrialCalibration, pool: _Pool) -> np.ndarray:
    """Σ over the fitted characteristics of log p(x_i): the pool's own draw of each."""
    total = np.zeros(len(pool.ids))
    for name in cal.spec.parameters:
        c = cal.characteristics[name]
        given = pool.table[c.given] if c.given is not None else None
        p = characteristic_density(c, pool.table[name], given)
        if (p <= 0).any():
            i = int(np.flatnonzero(p <= 0)[0])
            raise cal.issue(
                ("parameters", name),
                f"patient {pool.ids[i]}'s {name} = {pool.table[name].iloc[i]!r} has no density "
                "under the pool's distribution: the pool's trial file is not the one it ran",
            )
        total += np.log(p)
    return total


def weights_of(cal: TrialCalibration, characteristics: dict[str, Characteristic]) -> pd.Series:
    """The pool's weights for a trial whose fitted characteristics are drawn as given (the
    others as in the pool): Π q(x)/p(x) by :func:`characteristic_density`, summing to n.

    Parameters
    ----------
    cal : TrialCalibration
        The calibration and its pool.
    characteristics : dict
        The characteristic of each fitted name, as the calibrated trial draws it.

    Returns
    -------
    Series of weights indexed by patient id.
    """
    pool = _Pool.of(cal)
    log_q = np.zeros(len(pool.ids))
    for name, c in characteristics.items():
        given = pool.table[c.given] if c.given is not None else None
        with np.errstate(divide="ignore"):
            log_q += np.log(characteristic_density(c, pool.table[name], given))
    w = normalised(log_q - _log_proposal(cal, pool))
    return pd.Series(w, index=pd.Index(pool.ids, name="patient"), name="weight")


# --- fast exact weighted estimators (tested against lifelines) -----------------------------


def _reverse_cumsum(v: np.ndarray) -> np.ndarray:
    return np.cumsum(v[::-1])[::-1]


@dataclass(frozen=True)
class _Orr:
    rows: np.ndarray
    responded: np.ndarray

    def __call__(self, w: np.ndarray) -> float:
        total = w[self.rows].sum()
        return float(w[self.rows] @ self.responded[self.rows] / total) if total > 0 else math.nan


class _KaplanMeierMedian:
    """Weighted Kaplan–Meier median (days) of fixed rows: lifelines' product-limit estimate
    and its median (the first time S(t) ≤ 0.5; inf if S stays above)."""

    def __init__(self, rows: np.ndarray, durations: np.ndarray, events: np.ndarray) -> None:
        self.rows = rows[np.argsort(durations[rows], kind="stable")]
        self.times, self.starts = np.unique(durations[self.rows], return_index=True)
        self.events = events[self.rows].astype(float)

    def __call__(self, w: np.ndarray) -> float:
        w = w[self.rows]
        if not w.sum() > 0:
            return math.nan
        removed = np.add.reduceat(w, self.starts)
        deaths = np.add.reduceat(w * self.events, self.starts)
        at_risk = _reverse_cumsum(removed)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.log(np.maximum(at_risk - deaths, 0.0)) - np.log(at_risk)
        survival = np.exp(np.cumsum(np.where(at_risk > 0, step, 0.0)))
        hit = np.flatnonzero(survival <= 0.5)
        return float(self.times[hit[0]]) if hit.size else math.inf


class _CoxHazardRatio:
    """Weighted Cox HR of ``treated`` (1) vs the rest (0) on fixed rows: the maximum of the
    weighted partial likelihood with Efron's ties as lifelines writes it (a tie of m deaths
    shares their mean weight over m terms log(R − k/m · T), k = 0..m−1), by Newton–Raphson
    with step halving. NaN when an arm has fewer than 2 weighted patients or no progression."""

    def __init__(
        self, rows: np.ndarray, durations: np.ndarray, events: np.ndarray, treated: np.ndarray
    ) -> None:
        self.rows = rows[np.argsort(durations[rows], kind="stable")]
        _, self.starts = np.unique(durations[self.rows], return_index=True)
        self.events = events[self.rows].astype(float)
        self.treated = treated[self.rows].astype(float)
        deaths = np.add.reduceat(self.events, self.starts).astype(int) if self.rows.size else []
        # one (time, k) pair per death: k counts the deaths tied before it at that time
        self.pair_time = np.repeat(np.arange(len(deaths)), deaths)
        self.pair_k = np.arange(self.pair_time.size) - np.repeat(np.cumsum(deaths) - deaths, deaths)

    def __call__(self, w: np.ndarray) -> float:
        w = w[self.rows]
        w1 = w * self.treated
        w0 = w - w1
        positive = w > 0
        for arm in (self.treated == 0, self.treated == 1):
            if (positive & arm).sum() < 2 or not (w * self.events * arm).sum() > 0:
                return math.nan

        def at_times(v: np.ndarray) -> np.ndarray:
            return np.add.reduceat(v, self.starts)

        r0, r1 = _reverse_cumsum(at_times(w0)), _reverse_cumsum(at_times(w1))
        d0, d1 = at_times(w0 * self.events), at_times(w1 * self.events)
        m = at_times(positive * self.events)  # zero-weight rows are left out, ties included
        j, k = self.pair_time, self.pair_k
        keep = k < m[j]
        j, k = j[keep], k[keep]
        frac = k / m[j]
        share = (d0 + d1)[j] / m[j]
        r0, r1, t0, t1 = r0[j], r1[j], frac * d0[j], frac * d1[j]
        events_treated = d1.sum()

        def loglik(beta: float) -> float:
            phi = math.exp(beta)
            return events_treated * beta - float(share @ np.log(r0 - t0 + (r1 - t1) * phi))

        beta, current = 0.0, loglik(0.0)
        for _ in range(_MAX_NEWTON):
            phi = math.exp(beta)
            ratio = (r1 - t1) * phi / (r0 - t0 + (r1 - t1) * phi)
            gradient = events_treated - float(share @ ratio)
            curvature = float(share @ (ratio - ratio * ratio))
            if curvature <= 0:
                return math.nan
            step = gradient / curvature
            for _ in range(30):  # the partial likelihood is concave: halve until it rises
                candidate = loglik(beta + step)
                if candidate >= current:
                    break
                step /= 2
            beta, current = beta + step, candidate
            if abs(step) < 1e-10:
                return math.exp(beta)
        return math.nan


# --- lifelines' weighted estimates (what is reported) --------------------------------------


_INTEGER_WEIGHTS = r"(?s).*weights are not integers"  # the point here: they are not


@contextmanager
def _lifelines_notes(notes: list[str]) -> Iterator[None]:
    """lifelines' warnings in the block as short lines in ``notes`` instead of on stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", message=_INTEGER_WEIGHTS)
        yield
    for w in caught:
        text = str(w.message).strip()
        line = text.splitlines()[0][:160] if text else ""
        if line and line not in notes:
            notes.append(line)


def weighted_km_median_days(durations: ArrayLike, events: ArrayLike, weights: ArrayLike) -> float:
    """Median PFS (days) of lifelines' weighted Kaplan–Meier estimate (rows with weight 0 left
    out; inf if the curve stays above 0.5; NaN without any weight)."""
    w = np.asarray(weights, dtype=float)
    keep = w > 0
    if not keep.any():
        return math.nan
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_INTEGER_WEIGHTS)
        fitter = KaplanMeierFitter().fit(
            np.asarray(durations, dtype=float)[keep],
            np.asarray(events, dtype=bool)[keep],
            weights=w[keep],
        )
    return float(fitter.median_survival_time_)


def weighted_hazard_ratio(frame: pd.DataFrame) -> dict[str, Any]:
    """lifelines' weighted Cox HR of ``treated`` with a robust (sandwich) 95 % CI clustered by
    patient, the right variance for a paired design where a patient is in both arms.

    Parameters
    ----------
    frame : DataFrame
        ``duration`` (days), ``event`` (bool), ``treated`` (0/1), ``weight`` (≥ 0), ``patient``.

    Returns
    -------
    dict
        ``hr``, ``hr_low``, ``hr_high``, ``note`` (why NaN, and lifelines' warnings).
    """
    frame = frame[frame["weight"] > 0]
    out: dict[str, Any] = {"hr": math.nan, "hr_low": math.nan, "hr_high": math.nan, "note": ""}
    for arm, name in ((0, "reference arm"), (1, "arm")):
        group = frame[frame["treated"] == arm]
        if len(group) < 2:
            out["note"] = f"the {name} has {len(group)} weighted patient(s): need at least 2"
            return out
        if not group["event"].any():
            out["note"] = f"no progression in the {name}: the Cox HR does not exist"
            return out
    notes: list[str] = []
    try:
        with _lifelines_notes(notes):
            fitter = CoxPHFitter().fit(
                frame[["duration", "event", "treated", "weight", "patient"]],
                "duration",
                "event",
                weights_col="weight",
                cluster_col="patient",
                robust=True,
            )
    except (ConvergenceError, np.linalg.LinAlgError) as exc:
        out["note"] = f"Cox fit failed: {exc}"
        return out
    row = fitter.summary.loc["treated"]
    out.update(
        hr=float(row["exp(coef)"]),
        hr_low=float(row["exp(coef) lower 95%"]),
        hr_high=float(row["exp(coef) upper 95%"]),
        note="; ".join(notes),
    )
    return out


# --- targets --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _TargetRows:
    target: Target
    rows: np.ndarray  # the rows it is estimated on (its population; its arm, or both arms)
    treated: np.ndarray  # pfs_hr: whether each row of the table is in the target's arm


def _target_rows(cal: TrialCalibration, pool: _Pool) -> list[_TargetRows]:
    arm = pool.rows["arm"].to_numpy()
    out = []
    for target in cal.spec.targets:
        rule = target.rule
        inside = (
            np.ones(len(arm), dtype=bool) if rule is None else rule.mask(pool.rows[rule.feature])
        )
        arms = {target.arm, cal.reference_arm} if target.endpoint == "pfs_hr" else {target.arm}
        rows = np.flatnonzero(inside & np.isin(arm, list(arms)))
        out.append(_TargetRows(target, rows, arm == target.arm))
    return out


class _Objective:
    """The loss of θ: the weights' product of q/p, then every target's fast estimate."""

    def __init__(self, cal: TrialCalibration, pool: _Pool) -> None:
        self.families = _families(cal, pool)
        sizes = [len(f.bounds) for f in self.families]
        self.slices = np.split(np.arange(sum(sizes)), np.cumsum(sizes)[:-1])
        self.bounds = [b for f in self.families for b in f.bounds]
        self.log_p = _log_proposal(cal, pool)
        self.row_patient = pool.row_patient
        self.minimum = cal.spec.min_effective_size
        durations = pool.rows["pfs_days"].to_numpy(dtype=float)
        events = pool.rows["pfs_event"].to_numpy(dtype=bool)
        responded = pool.rows["objective_response"].to_numpy(dtype=float)
        self.targets = _target_rows(cal, pool)
        self.estimators: list[Estimator] = []
        self.stand_ins: list[float] = []  # the estimate the loss uses for a median not reached
        for t in self.targets:
            if t.target.endpoint == "orr":
                self.estimators.append(_Orr(t.rows, responded))
            elif t.target.endpoint == "median_pfs_months":
                self.estimators.append(_months(_KaplanMeierMedian(t.rows, durations, events)))
            else:
                self.estimators.append(_CoxHazardRatio(t.rows, durations, events, t.treated))
            # a lower bound of the median (its longest follow-up) still points the way
            longest = durations[t.rows].max() / DAYS_PER_MONTH if t.rows.size else math.nan
            self.stand_ins.append(longest)

    def weights(self, theta: np.ndarray) -> np.ndarray:
        log_w = -self.log_p
        for family, part in zip(self.families, self.slices, strict=True):
            log_w = log_w + family.log_q(theta[part])
        return normalised(log_w)

    def estimates(self, w_patient: np.ndarray) -> np.ndarray:
        w = w_patient[self.row_patient]
        return np.array([estimate(w) for estimate in self.estimators])

    def __call__(self, theta: np.ndarray) -> float:
        w = self.weights(theta)
        return target_loss(
            [t.target for t in self.targets], self.estimates(w), self.stand_ins
        ) + ess_penalty(kish_effective_size(w), self.minimum)


def _months(median_days: _KaplanMeierMedian) -> Estimator:
    return lambda w: median_days(w) / DAYS_PER_MONTH


def target_loss(
    targets: list[Target], estimates: ArrayLike, stand_ins: ArrayLike | None = None
) -> float:
    """Σ ((estimate − value) / half-width)²; a median not reached (inf) counts at its stand-in
    (the longest follow-up), and an estimate that does not exist (NaN) adds MISSING_PENALTY."""
    est = np.asarray(estimates, dtype=float)
    if stand_ins is not None:
        est = np.where(np.isinf(est), np.asarray(stand_ins, dtype=float), est)
    value = np.array([t.value for t in targets])
    half = np.array([t.half_width for t in targets])
    terms = ((est - value) / half) ** 2
    return float(np.where(np.isfinite(terms), terms, MISSING_PENALTY).sum())


def ess_penalty(ess: float, minimum: float) -> float:
    """ESS_PENALTY × (1 − ESS / minimum)² when the effective size is below the minimum."""
    return ESS_PENALTY * (1.0 - ess / minimum) ** 2 if ess < minimum else 0.0


def reported_estimates(cal: TrialCalibration, weights: pd.Series) -> list[dict[str, Any]]:
    """Every target with lifelines' weighted estimate: ``estimate`` (ORR fraction, median PFS
    months, or HR), ``inside`` its interval, ``z`` = (estimate − value) / half-width, the
    patients of the estimate (``patients_weighted`` with weight > 0, ``ess`` of their weights),
    for a pfs_hr its robust 95 % CI (``hr_ci95``), and ``note``."""
    pool = _Pool.of(cal)
    by_patient = weights.reindex(pool.ids).to_numpy(dtype=float)
    w = by_patient[pool.row_patient]
    rows = pool.rows
    out = []
    for t in _target_rows(cal, pool):
        target, part = t.target, rows.iloc[t.rows]
        wt = w[t.rows]
        wp = by_patient[np.unique(pool.row_patient[t.rows])]  # a patient once, in any arm
        extra: dict[str, Any] = {}
        if target.endpoint == "orr":
            flags = part["objective_response"].to_numpy(dtype=float)
            estimate = float(wt @ flags / wt.sum()) if wt.sum() > 0 else math.nan
        elif target.endpoint == "median_pfs_months":
            days = weighted_km_median_days(part["pfs_days"], part["pfs_event"], wt)
            estimate = days / DAYS_PER_MONTH
        else:
            frame = pd.DataFrame(
                {
                    "duration": part["pfs_days"].to_numpy(dtype=float),
                    "event": part["pfs_event"].to_numpy(dtype=bool),
                    "treated": t.treated[t.rows].astype(float),
                    "weight": wt,
                    "patient": part["patient"].to_numpy(),
                }
            )
            hr = weighted_hazard_ratio(frame)
            estimate = hr.pop("hr")
            extra = {"hr_ci95": [hr["hr_low"], hr["hr_high"]], "note": hr["note"]}
        lo, hi = target.interval
        out.append(
            {
                "population": target.population,
                "endpoint": target.endpoint,
                "arm": target.arm,
                **({"reference_arm": cal.reference_arm} if target.endpoint == "pfs_hr" else {}),
                "value": target.value,
                "interval": list(target.interval),
                "code": target.code,
                "estimate": estimate,
                "inside": bool(lo <= estimate <= hi),
                "z": (estimate - target.value) / target.half_width,
                "patients_weighted": int((wp > 0).sum()),
                "ess": kish_effective_size(wp),
                "note": "",
                **extra,
            }
        )
    return out


# --- the fit --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrialCalibrationFit:
    """The fitted parameters, the weights of the trial file as written, and every target."""

    theta: np.ndarray
    parameters: dict[str, dict[str, Any]]  # fitted values, bounds, truncation, by name
    updates: dict[str, dict[str, Any]]  # the characteristic fields the written file gets
    weights: pd.Series  # by patient, summing to n
    targets: list[dict[str, Any]]  # see reported_estimates
    effective_size: float
    loss: float
    optimizer: dict[str, Any]

    @property
    def all_inside(self) -> bool:
        return all(t["inside"] for t in self.targets)

    @property
    def ess_ok(self) -> bool:
        return self.effective_size >= self.optimizer["min_effective_size"]

    @property
    def passed(self) -> bool:
        """Every target inside its interval, with the weights' ESS above the minimum."""
        return self.all_inside and self.ess_ok


def fit_trial_calibration(
    cal: TrialCalibration, log: Callable[[str], None] | None = None
) -> TrialCalibrationFit:
    """Fit the calibration's parameters by differential evolution over their bounds.

    Parameters
    ----------
    cal : TrialCalibration
        A checked calibration (:func:`~gcsim.trial.calibrate_spec.load_trial_calibration`).
    log : callable, optional
        Receives a progress line every LOG_EVERY generations.

    Returns
    -------
    TrialCalibrationFit
        Nothing is written; an interrupt (KeyboardInterrupt) propagates.
    """
    started = time.perf_counter()
    pool = _Pool.of(cal)
    objective = _Objective(cal, pool)
    settings = cal.spec.optimizer
    generation = [0]

    def progress(intermediate_result: Any) -> None:  # scipy passes the result by this name
        generation[0] += 1
        if log is not None and generation[0] % LOG_EVERY == 0:
            log(f"generation {generation[0]}: loss {float(intermediate_result.fun):.4g}")

    result = differential_evolution(
        objective,
        objective.bounds,
        maxiter=settings.maxiter,
        popsize=settings.popsize,
        tol=settings.tol,
        rng=np.random.default_rng(cal.spec.seed),
        polish=False,  # the loss is piecewise constant (scan-day medians): no gradient to use
        callback=progress,
    )
    theta = np.asarray(result.x, dtype=float)
    parameters, updates = {}, {}
    for family, part in zip(objective.families, objective.slices, strict=True):
        parameters[family.name] = _described(cal, family, theta[part])
        updates[family.name] = family.update(theta[part])
    written = {
        name: _characteristic(cal.characteristics[name], update) for name, update in updates.items()
    }
    weights = weights_of(cal, written)
    targets = reported_estimates(cal, weights)
    ess = kish_effective_size(weights)
    estimates = [t["estimate"] for t in targets]
    loss = target_loss(cal.spec.targets, estimates, objective.stand_ins) + ess_penalty(
        ess, cal.spec.min_effective_size
    )
    optimizer = {
        "method": "scipy.optimize.differential_evolution",
        "seed": cal.spec.seed,
        "maxiter": settings.maxiter,
        "popsize": settings.popsize,
        "tol": settings.tol,
        "polish": False,
        "coordinates": len(objective.bounds),
        "generations": int(result.nit),
        "evaluations": int(result.nfev),
        "converged": bool(result.success),
        "message": str(result.message),
        "best_loss": float(result.fun),
        "min_effective_size": cal.spec.min_effective_size,
        "wall_s": round(time.perf_counter() - started, 2),
    }
    return TrialCalibrationFit(theta, parameters, updates, weights, targets, ess, loss, optimizer)


def _characteristic(c: Characteristic, update: dict[str, Any]) -> Characteristic:
    """The pool's characteristic drawn as ``update`` says (validated as a trial file would)."""
    fields = c.model_dump(exclude_none=True, exclude={"distribution", "given", "bins"})
    return Characteristic.model_validate({**fields, **update})


def _described(
    cal: TrialCalibration, family: _Continuous | _ChoiceBy, theta: np.ndarray
) -> dict[str, Any]:
    """The fitted values with their bounds, the pool's draw and the truncation, for the record."""
    c = cal.characteristics[family.name]
    fitted = family.fitted(theta)
    out: dict[str, Any] = {"family": family.family.family, **fitted}
    out["proposal"] = c.model_dump(mode="json", exclude_none=True, exclude={"set", "scale"})
    if isinstance(family, _Continuous):
        bounds = {k: list(getattr(family.family, k)) for k in fitted}
        out["bounds"] = bounds
        out["truncated_to"] = list(family.range) if family.range is not None else None
        # within 1 % of a bound (of the bounds' width): the best fit may lie beyond it
        out["at_bound"] = [
            k
            for k, v in fitted.items()
            if min(v - bounds[k][0], bounds[k][1] - v) < 0.01 * (bounds[k][1] - bounds[k][0])
        ]
    return out


# --- writing --------------------------------------------------------------------------------


def _flow(value: Any) -> Any:
    """Plain data as ruamel nodes written in flow style ({...}, [...])."""
    if isinstance(value, dict):
        node = CommentedMap((k, _flow(v)) for k, v in value.items())
    elif isinstance(value, list):
        node = CommentedSeq(_flow(v) for v in value)
    else:
        return value
    node.fa.set_flow_style()
    return node


def _yaml() -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 200  # a fitted bin stays on its line
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _leading_comment(text: str) -> list[str]:
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line[1:].removeprefix(" "))
    return lines


def calibrated_trial_text(cal: TrialCalibration, fit: TrialCalibrationFit) -> str:
    """The pool's trial file (its comments kept, by ruamel.yaml's round trip) with each fitted
    characteristic drawn from its fitted family, the cohort's size, name and description set,
    and a header saying where it came from."""
    source = Path(cal.pool_trial.file)
    text = source.read_text(encoding="utf-8")
    yaml = _yaml()
    data = yaml.load(text)
    here = cal.write.parent
    data["name"] = cal.spec.name
    description = cal.spec.description or (
        f"The pool {cal.proposal.name}'s cohort reweighted to the targets of {Path(cal.file).name}."
    )
    if "description" in data:
        data["description"] = description
    else:
        data.insert(1, "description", description)
    if source.parent.resolve() != here.resolve():
        data["scenario"] = os.path.relpath(Path(cal.pool_trial.base_file).resolve(), here.resolve())
    data["cohort"]["patients"] = cal.spec.patients
    chars = data["cohort"]["characteristics"]
    for name, update in fit.updates.items():
        node = chars[name]
        keys = list(node)
        at = min(keys.index(k) for k in ("distribution", "given", "bins") if k in node)
        for key in ("distribution", "given", "bins"):
            node.pop(key, None)
        for offset, (key, value) in enumerate(update.items()):
            # one bin a line
            written = CommentedSeq(_flow(b) for b in value) if key == "bins" else _flow(value)
            node.insert(at + offset, key, written)
        truncated = fit.parameters[name].get("truncated_to")
        note = "fitted by the calibration" + (
            "; range: the pool's support" if truncated is not None else ""
        )
        node.yaml_add_eol_comment(note, next(iter(update)))
    digest = cal.pool_meta.get("plan_digest", "unknown")
    header = [
        f"{HEADER} (gcsim.trial.calibrate) from {_rel(Path(cal.file), here)}:",
        "do not edit; change the calibration file and rerun it.",
        f"Pool: {_rel(cal.pool, here)} (plan digest {digest}), "
        f"{len(fit.weights)} plausible patients reweighted, never re-simulated.",
        f"Fitted: {', '.join(fit.updates)} (each truncated to the pool's support); "
        f"{sum(t['inside'] for t in fit.targets)} of {len(fit.targets)} targets inside their "
        f"interval, Kish ESS {fit.effective_size:.1f}.",
        f"The pool's trial file was {_rel(source, here)}; its comments follow.",
        "",
    ]
    data.yaml_set_start_comment("\n".join(header + _leading_comment(text)))
    stream = _Text()
    yaml.dump(data, stream)
    return stream.text


class _Text:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, s: str | bytes) -> None:
        self.parts.append(s if isinstance(s, str) else s.decode())

    @property
    def text(self) -> str:
        return "".join(self.parts)


def _rel(path: Path, start: Path) -> str:
    return os.path.relpath(path.resolve(), start.resolve())


def check_written_file(cal: TrialCalibration, overwrite: bool) -> None:
    """Refuse to replace the trial file ``write:`` unless ``overwrite`` and a calibration wrote
    it (its first line says so): a hand-written trial file is never replaced."""
    path = cal.write
    if not path.exists():
        return
    if not overwrite:
        raise OutputExistsError(f"{path}: exists (use --overwrite to replace it)")
    first = path.read_text(encoding="utf-8").partition("\n")[0]
    if HEADER not in first:
        raise OutputExistsError(
            f"{path}: not written by a trial calibration; refusing to replace it"
        )


def write_trial_calibration(
    cal: TrialCalibration, fit: TrialCalibrationFit, out: Path, overwrite: bool = False
) -> Path:
    """Write the output directory and the calibrated trial file, or nothing.

    The trial file is written beside its destination and checked with
    :func:`~gcsim.trial.spec.load_trial` first; the directory (calibration.json,
    weights.parquet, calibration.md) is built in a temporary sibling and renamed into place;
    the trial file is renamed onto ``write:`` last. A failure before that leaves both as they
    were.

    Raises
    ------
    OutputExistsError
        ``out`` or the trial file exists and may not be replaced.
    ScenarioError
        The written trial file does not load (a bug: the message says where).
    """
    out = Path(out)
    check_written_file(cal, overwrite)
    text = calibrated_trial_text(cal, fit)
    cal.write.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(cal.write) as tmp_trial:
        tmp_trial.write_text(text, encoding="utf-8")
        load_trial(tmp_trial)
        with atomic_directory(out, overwrite, KIND) as tmp:
            write_json(tmp / "calibration.json", _summary(cal, fit))
            write_parquet(tmp / "weights.parquet", fit.weights.reset_index())
            write_text(tmp / "calibration.md", calibration_markdown(cal, fit))
            write_selected(cal, fit, tmp / "selected")
            write_marker(tmp, KIND, list(FILES))
    return out


def selected_patients(cal: TrialCalibration, fit: TrialCalibrationFit) -> pd.DataFrame:
    """The pool's patients accepted with probability weight / largest weight (seeded): an
    unweighted virtual population whose characteristics follow the fitted distributions
    (acceptance–rejection, as Allen et al. 2016 select a virtual population from plausible
    patients); every arm row of an accepted patient."""
    weights = fit.weights.to_numpy(dtype=float)
    rng = np.random.default_rng(np.random.SeedSequence(cal.spec.seed, spawn_key=(2**31 + 4,)))
    accepted = fit.weights.index[rng.random(len(weights)) < weights / weights.max()]
    return cal.patients[cal.patients["patient"].isin(accepted)].reset_index(drop=True)


def write_selected(cal: TrialCalibration, fit: TrialCalibrationFit, out: Path) -> None:
    """The selected virtual population's patients.parquet and trial report, in ``out``: what a
    trial of the fitted cohort gives on the patients already simulated (no new run)."""
    from gcsim.trial.execute import report_meta
    from gcsim.trial.outputs import write_trial_report

    out.mkdir(parents=True)
    patients = selected_patients(cal, fit)
    write_parquet(out / "patients.parquet", patients)
    meta = report_meta(cal.pool_trial)
    meta["name"] = f"{cal.spec.name} (selected from the pool)"
    pooled = cal.pool_meta.get("accounting", {})
    meta["accounting"] = {**pooled, "selected": int(patients["patient"].nunique())}
    # no biomarker ranking: a run of the calibrated trial file gives it on new patients
    meta["endpoints"] = write_trial_report(patients, meta, out, biomarkers=False)
    write_json(out / "trial.json", meta)


def _summary(cal: TrialCalibration, fit: TrialCalibrationFit) -> dict[str, Any]:
    accounting = cal.pool_meta.get("accounting", {})
    return {
        "format": FORMAT,
        "name": cal.spec.name,
        "calibration_file": os.path.abspath(cal.file),
        "pool": os.path.abspath(cal.pool),
        "pool_plan_digest": cal.pool_meta.get("plan_digest"),
        "pool_trial_file": os.path.abspath(cal.pool_trial.file),
        "pool_candidates": accounting.get("candidates"),
        "patients_weighted": len(fit.weights),
        "reference_arm": cal.reference_arm,
        "written_trial_file": os.path.abspath(cal.write),
        "written_patients": cal.spec.patients,
        "parameters": fit.parameters,
        "targets": fit.targets,
        "targets_inside": sum(t["inside"] for t in fit.targets),
        "all_inside": fit.all_inside,
        "effective_size": fit.effective_size,
        "min_effective_size": cal.spec.min_effective_size,
        "effective_size_ok": fit.ess_ok,
        "passed": fit.passed,
        "loss": fit.loss,
        "optimizer": fit.optimizer,
        "versions": package_versions(),
    }


def _number(endpoint: str, x: float) -> str:
    if not math.isfinite(x):
        return "not reached" if x == math.inf else "n/a"
    return f"{100 * x:.1f} %" if endpoint == "orr" else f"{x:.2f}"


def target_lines(fit: TrialCalibrationFit) -> list[str]:
    """One line per target: ``label | code | interval | estimate | inside``."""
    lines = []
    for t in fit.targets:
        lo, hi = t["interval"]
        e = t["endpoint"]
        lines.append(
            f"{t['population']} {e} {t['arm']} ({t['code']}): {_number(e, t['value'])} "
            f"[{_number(e, lo)}, {_number(e, hi)}] → {_number(e, t['estimate'])} "
            f"{'inside' if t['inside'] else 'OUTSIDE'}"
        )
    return lines


def verdict(fit: TrialCalibrationFit) -> str:
    outside = sum(not t["inside"] for t in fit.targets)
    if fit.passed:
        return "passed: every target inside its interval, effective size above the minimum"
    reasons = [f"{outside} of {len(fit.targets)} targets outside their interval"] if outside else []
    if not fit.ess_ok:
        reasons.append(
            f"effective size {fit.effective_size:.1f} below the minimum "
            f"{fit.optimizer['min_effective_size']:g}"
        )
    return "NOT passed: " + "; ".join(reasons)


def calibration_markdown(cal: TrialCalibration, fit: TrialCalibrationFit) -> str:
    """calibration.md: the verdict, every target, the fitted parameters and how to read them."""
    n = len(fit.weights)
    lines = [
        f"# Trial calibration: {cal.spec.name}",
        "",
        f"Pool `{cal.pool.resolve()}` (plan digest `{cal.pool_meta.get('plan_digest')}`): {n} "
        f"plausible patients, each in every arm, reweighted (never re-simulated) to the targets "
        f"of `{Path(cal.file).resolve()}`. Calibrated trial file: `{cal.write.resolve()}` "
        f"({cal.spec.patients} candidates).",
        "",
        f"**{verdict(fit)}.**",
        "",
        "| target | code | value | interval | estimate | inside |",
        "|---|---|---|---|---|---|",
    ]
    for t in fit.targets:
        e = t["endpoint"]
        lo, hi = t["interval"]
        arm = t["arm"] + (f" vs {t['reference_arm']}" if "reference_arm" in t else "")
        lines.append(
            f"| {t['population']}: {e}, {arm} | {t['code']} | {_number(e, t['value'])} | "
            f"[{_number(e, lo)}, {_number(e, hi)}] | {_number(e, t['estimate'])} | "
            f"{'yes' if t['inside'] else '**no**'} |"
        )
    lines += [
        "",
        f"Kish effective size of the weights: {fit.effective_size:.1f} of {n} patients (minimum "
        f"{cal.spec.min_effective_size:g}). Loss Σ((estimate − value)/half-width)²: "
        f"{fit.loss:.3g}. Optimiser: differential evolution, seed {cal.spec.seed}, "
        f"{fit.optimizer['generations']} generations, {fit.optimizer['evaluations']} "
        f"evaluations ({'converged' if fit.optimizer['converged'] else 'budget used up'}).",
        "",
        "## Fitted parameters",
        "",
        "| characteristic | family | fitted | truncated to (the pool's support) |",
        "|---|---|---|---|",
    ]
    for name, p in fit.parameters.items():
        if p["family"] == "choice_by":
            fitted = "; ".join(
                ("rest" if b["below"] is None else f"{p['given']} < {b['below']:g}")
                + ": "
                + ", ".join(f"{v} {q:.3f}" for v, q in b["probabilities"].items())
                for b in p["bins"]
            )
            span = "the pool's values"
        else:
            fitted = ", ".join(f"{k} {p[k]:.4g}" for k in p["bounds"])
            if p["at_bound"]:
                fitted += f" (at its bound: {', '.join(p['at_bound'])})"
            span = "none needed" if p["truncated_to"] is None else str(p["truncated_to"])
        lines.append(f"| {name} | {p['family']} | {fitted} | {span} |")
    lines += [
        "",
        "## Reading this",
        "",
        "- Every target above was used for fitting: agreement with it is not validation. Judge "
        "the calibrated trial on endpoints it was not fitted to (other trials, OS, other "
        "populations).",
        f"- The pool limits the precision: the weighted estimates rest on an effective "
        f"{fit.effective_size:.0f} patients, not on the pool's {n} nor the trial's "
        f"{cal.spec.patients}; a target can be met by chance at this size, and missed by it.",
        "- Each fitted density is truncated to the pool's support of its characteristic: the "
        "pool has no patients outside it, so the calibration cannot put any there.",
        "- Progression is seen at scans, so median PFS moves in steps of the scan interval.",
        "- Codes: V seen in a stored copy of the source, V-abs abstract only, V-q quoted, M "
        "recalled (unverified).",
        "",
    ]
    return "\n".join(lines)


# --- the command ----------------------------------------------------------------------------


def calibrate_trial_command(
    spec_file: Path,
    out: Path | None = None,
    pool: Path | None = None,
    *,
    overwrite: bool = False,
    echo: Callable[[str], None] = print,
    error: Callable[[str], None] | None = None,
) -> int:
    """``gcsim trial-calibrate CALIBRATION.yaml``: load, fit, write, report.

    Parameters
    ----------
    spec_file : Path
        The calibration file.
    out : Path, optional
        The output directory (default: ``<pool>/calibration``).
    pool : Path, optional
        The pool directory instead of the file's ``pool:``.
    overwrite : bool
        Replace a previous calibration's directory and the trial file it wrote.
    echo, error : callable
        Receive the report lines and the problem lines (default: stdout, stderr).

    Returns
    -------
    int
        0 passed (every target inside, ESS above the minimum); NOT_PASSED (3) written but
        not passed; USER_ERROR (2) a problem with the files (one line each to ``error``;
        nothing written). KeyboardInterrupt propagates, with nothing written.
    """
    if error is None:
        error = _stderr
    try:
        cal = load_trial_calibration(spec_file, pool)
        target = Path(out) if out is not None else cal.pool / "calibration"
        check_output_dir(target, overwrite, KIND)
        check_written_file(cal, overwrite)
    except ScenarioError as exc:
        for line in exc.messages:
            error(line)
        return USER_ERROR
    except OutputExistsError as exc:
        error(str(exc))
        return USER_ERROR
    echo(
        f"{cal.spec.name}: {cal.patients['patient'].nunique()} pool patients "
        f"(plan digest {str(cal.pool_meta.get('plan_digest'))[:12]}), "
        f"{len(cal.spec.parameters)} parameters, {len(cal.spec.targets)} targets; "
        f"differential evolution, seed {cal.spec.seed}, at most {cal.spec.optimizer.maxiter} "
        "generations"
    )
    try:
        fit = fit_trial_calibration(cal, log=echo)
        write_trial_calibration(cal, fit, target, overwrite)
    except ScenarioError as exc:
        for line in exc.messages:
            error(line)
        return USER_ERROR
    except (OutputExistsError, ResultsKeptError) as exc:
        error(str(exc))
        return USER_ERROR
    for line in target_lines(fit):
        echo(line)
    echo(
        f"effective size {fit.effective_size:.1f} (minimum {cal.spec.min_effective_size:g}); "
        f"loss {fit.loss:.3g}"
    )
    echo(verdict(fit))
    echo(f"results: {target} (calibrated trial: {cal.write})")
    return 0 if fit.passed else NOT_PASSED


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


__all__ = [
    "TrialCalibrationFit",
    "calibrate_trial_command",
    "calibrated_trial_text",
    "calibration_markdown",
    "fit_trial_calibration",
    "kish_effective_size",
    "reported_estimates",
    "weighted_hazard_ratio",
    "weighted_km_median_days",
    "weights_of",
    "write_trial_calibration",
]
