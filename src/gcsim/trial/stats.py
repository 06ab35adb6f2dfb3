"""Endpoints of a virtual trial from its ``patients`` table: response rates, Kaplan–Meier PFS,
hazard ratios (overall and per subgroup).

The table has one row per patient × arm (its contract: docs/trials.md; in short: ``arm``,
``objective_response``, ``disease_control``, ``pfs_days``, ``pfs_event`` and the baseline
characteristics that subgroups select on). Times are in days; months are 30.4375 days
(365.25 / 12).

Paired designs (every virtual patient treated in every arm) are analysed as if the arms were
independent samples. The point estimates (rates, medians, HRs) are unaffected by this; the
confidence intervals and p-values do not use the pairing, which removes between-patient noise
from arm differences: with outcomes correlated within a patient they are usually wider than a
paired analysis would give.

Degenerate comparisons (an arm with fewer than two patients, an arm without events) give NaN
estimates and a ``note`` saying why; lifelines' warnings are caught and reported in the note
instead of being emitted.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.exceptions import ConvergenceError
from lifelines.statistics import logrank_test, proportional_hazard_test
from lifelines.utils import median_survival_times
from scipy.stats import binomtest

DAYS_PER_MONTH = 30.4375
PFS_RATE_MONTHS = (6, 12)
ALPHA = 0.05  # 95 % intervals; also the threshold of the proportional-hazards verdict
SUBGROUP_RULES = ("below", "at_least", "equals")
_NOTE_CHARS = 160  # lifelines' warnings run to paragraphs: keep their first line, shortened
_URL = re.compile(r"\s*https?://\S+")
_NO_ESTIMATE = {"hr": math.nan, "hr_low": math.nan, "hr_high": math.nan, "p_wald": math.nan}


# --- input checks -----------------------------------------------------------------------------


def _require(patients: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in patients.columns]
    if missing:
        raise ValueError(
            f"the patients table lacks column(s) {', '.join(missing)} "
            f"(it has: {', '.join(map(str, patients.columns))})"
        )


def _arms(patients: pd.DataFrame, arms: Sequence[str] | None) -> list[str]:
    """The arms asked for (default: in order of first appearance), each present in the table."""
    present = list(pd.unique(patients["arm"]))
    if arms is None:
        return present
    unknown = [a for a in arms if a not in present]
    if unknown:
        raise ValueError(
            f"arm(s) {', '.join(map(repr, unknown))} not in the patients table "
            f"(its arms: {', '.join(map(repr, present))})"
        )
    return list(arms)


def _flags(column: pd.Series) -> np.ndarray:
    return column.to_numpy(dtype=bool)


# --- warnings and notes -----------------------------------------------------------------------


@contextmanager
def _caught(notes: list[str]) -> Iterator[None]:
    """Record the warnings of the block in ``notes`` (one short line each) instead of emitting
    them: a subgroup table would otherwise print a screenful per degenerate row."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for warning in caught:
        _add_note(notes, f"{warning.category.__name__}: {warning.message}")


def _add_note(notes: list[str], text: str) -> None:
    # lifelines' messages point to its online docs: the report stays free of external links
    text = _URL.sub("", str(text)).strip()
    line = text.splitlines()[0] if text else ""
    if len(line) > _NOTE_CHARS:
        line = line[: _NOTE_CHARS - 1].rstrip() + "…"
    if line and line not in notes:
        notes.append(line)


# --- response rates ---------------------------------------------------------------------------


def _proportion(k: int, n: int) -> tuple[float, float, float]:
    """``k / n`` with its exact (Clopper–Pearson) 95 % interval; NaNs when ``n`` is 0."""
    if n == 0:
        return math.nan, math.nan, math.nan
    ci = binomtest(k, n).proportion_ci(confidence_level=1 - ALPHA, method="exact")
    return k / n, float(ci.low), float(ci.high)


def response_rates(patients: pd.DataFrame, arms: Sequence[str] | None = None) -> pd.DataFrame:
    """Objective response and disease control rates per arm, with exact 95 % CIs.

    Parameters
    ----------
    patients : DataFrame
        The trial's patients table (needs ``arm``, ``objective_response``, ``disease_control``).
    arms : sequence of str, optional
        Arms in the order of the output rows; default: the table's arms in order of appearance.

    Returns
    -------
    DataFrame
        One row per arm: ``arm``, ``n``, ``responders`` (CR + PR), ``orr``, ``orr_low``,
        ``orr_high``, ``disease_control`` (CR + PR + SD), ``dcr``, ``dcr_low``, ``dcr_high``.
        Rates are fractions (0–1) of all the arm's patients, non-evaluable ones (NE) included;
        intervals are Clopper–Pearson (``scipy.stats.binomtest(...).proportion_ci("exact")``).

    Raises
    ------
    ValueError
        A column is missing, or an arm asked for is not in the table.
    """
    _require(patients, ("arm", "objective_response", "disease_control"))
    rows = []
    for arm in _arms(patients, arms):
        group = patients[patients["arm"] == arm]
        n = len(group)
        responders = int(_flags(group["objective_response"]).sum())
        controlled = int(_flags(group["disease_control"]).sum())
        orr, orr_low, orr_high = _proportion(responders, n)
        dcr, dcr_low, dcr_high = _proportion(controlled, n)
        rows.append(
            {
                "arm": arm,
                "n": n,
                "responders": responders,
                "orr": orr,
                "orr_low": orr_low,
                "orr_high": orr_high,
                "disease_control": controlled,
                "dcr": dcr,
                "dcr_low": dcr_low,
                "dcr_high": dcr_high,
            }
        )
    return pd.DataFrame(rows)


# --- Kaplan–Meier -----------------------------------------------------------------------------


def _durations(group: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    durations = group["pfs_days"].to_numpy(dtype=float)
    if np.isnan(durations).any() or (durations < 0).any():
        raise ValueError(
            f"pfs_days must be a time >= 0 for every patient (arm {group['arm'].iloc[0]!r} has "
            "NaN or negative values): the contract censors patients without progression"
        )
    return durations, _flags(group["pfs_event"])


def _rate_at(fitter: KaplanMeierFitter, durations: np.ndarray, day: float) -> float:
    """S(day), or NaN past the last follow-up while the curve is above 0 (unknown there)."""
    at_last = float(fitter.survival_function_.iloc[-1, 0])
    if day > durations.max() and at_last > 0:
        return math.nan
    return float(fitter.survival_function_at_times(day).iloc[0])


def km_summary(patients: pd.DataFrame, arms: Sequence[str] | None = None) -> pd.DataFrame:
    """Kaplan–Meier progression-free survival per arm.

    Parameters
    ----------
    patients : DataFrame
        The trial's patients table (needs ``arm``, ``pfs_days``, ``pfs_event``).
    arms : sequence of str, optional
        Arms in the order of the output rows; default: the table's arms in order of appearance.

    Returns
    -------
    DataFrame
        One row per arm: ``arm``, ``n``, ``events`` (progressions), ``censored``,
        ``median_days`` with its 95 % CI ``median_low_days``, ``median_high_days`` (the CI is
        where lifelines' pointwise CI of the curve crosses 0.5), the same in months
        (``median_months``, ``median_low_months``, ``median_high_months``; 30.4375 d), and
        ``pfs_6m``, ``pfs_12m``: the fraction progression-free at 6 and 12 months.
        A median (or CI bound) that is not reached is ``inf``, as in lifelines; a PFS rate past
        the arm's last follow-up is NaN unless the curve has already reached 0.

    Raises
    ------
    ValueError
        A column is missing, an arm asked for is not in the table, or a ``pfs_days`` is NaN
        or negative.
    """
    _require(patients, ("arm", "pfs_days", "pfs_event"))
    rows = []
    for arm in _arms(patients, arms):
        group = patients[patients["arm"] == arm]
        durations, events = _durations(group)
        fitter = KaplanMeierFitter(alpha=ALPHA).fit(durations, events, label=str(arm))
        median = float(fitter.median_survival_time_)
        bounds = median_survival_times(fitter.confidence_interval_)
        low, high = (float(v) for v in bounds.iloc[0])
        row: dict[str, Any] = {
            "arm": arm,
            "n": len(group),
            "events": int(events.sum()),
            "censored": int((~events).sum()),
            "median_days": median,
            "median_low_days": low,
            "median_high_days": high,
        }
        for key in ("median", "median_low", "median_high"):
            row[f"{key}_months"] = row[f"{key}_days"] / DAYS_PER_MONTH
        for months in PFS_RATE_MONTHS:
            row[f"pfs_{months}m"] = _rate_at(fitter, durations, months * DAYS_PER_MONTH)
        rows.append(row)
    return pd.DataFrame(rows)


# --- hazard ratios ----------------------------------------------------------------------------


def _comparison_frame(patients: pd.DataFrame, reference: str, arm: str) -> pd.DataFrame:
    """``duration`` (days), ``event``, ``treated`` (1 in ``arm``, 0 in ``reference``)."""
    parts = []
    for name, treated in ((reference, 0.0), (arm, 1.0)):
        group = patients[patients["arm"] == name]
        if group.empty:
            durations, events = np.empty(0), np.empty(0, dtype=bool)
        else:
            durations, events = _durations(group)
        parts.append(pd.DataFrame({"duration": durations, "event": events, "treated": treated}))
    return pd.concat(parts, ignore_index=True)


def _counts(frame: pd.DataFrame) -> dict[str, int]:
    treated = frame["treated"] == 1
    return {
        "n_reference": int((~treated).sum()),
        "n_arm": int(treated.sum()),
        "events_reference": int(frame.loc[~treated, "event"].sum()),
        "events_arm": int(frame.loc[treated, "event"].sum()),
    }


def _why_not_cox(counts: Mapping[str, int], reference: str, arm: str) -> str | None:
    """Why a Cox HR cannot be estimated, or None: with no events in one arm the partial
    likelihood has no maximum (the HR runs off to 0 or infinity)."""
    for name, which in ((reference, "reference"), (arm, "arm")):
        if counts[f"n_{which}"] < 2:
            return f"arm {name!r} has {counts[f'n_{which}']} patient(s): need at least 2"
    if counts["events_reference"] + counts["events_arm"] == 0:
        return "no progression in either arm"
    for name, which in ((reference, "reference"), (arm, "arm")):
        if counts[f"events_{which}"] == 0:
            return f"no progression in arm {name!r}: the Cox HR does not exist"
    return None


def _fit_cox(
    frame: pd.DataFrame, reference: str, arm: str, notes: list[str]
) -> tuple[CoxPHFitter | None, dict[str, float]]:
    """The fitted Cox model of ``treated`` and its HR, 95 % CI and Wald p; (None, NaNs) and a
    note when it cannot be estimated or the fit failed."""
    reason = _why_not_cox(_counts(frame), reference, arm)
    if reason is not None:
        _add_note(notes, reason)
        return None, dict(_NO_ESTIMATE)
    try:
        with _caught(notes):
            fitter = CoxPHFitter(alpha=ALPHA).fit(frame, "duration", "event")
    except (ConvergenceError, np.linalg.LinAlgError) as exc:
        _add_note(notes, f"Cox fit failed: {exc}")
        return None, dict(_NO_ESTIMATE)
    summary = fitter.summary.loc["treated"]
    level = round(100 * (1 - ALPHA))
    estimate = {
        "hr": float(summary["exp(coef)"]),
        "hr_low": float(summary[f"exp(coef) lower {level}%"]),
        "hr_high": float(summary[f"exp(coef) upper {level}%"]),
        "p_wald": float(summary["p"]),
    }
    if not (estimate["hr_low"] > 0 and math.isfinite(estimate["hr_high"])):
        # a CI of [0, inf]: the partial likelihood kept rising (complete separation), so the
        # "estimate" is wherever Newton–Raphson stopped
        _add_note(notes, "the Cox HR does not exist (complete separation of the arms' times)")
        return None, dict(_NO_ESTIMATE)
    return fitter, estimate


def _proportional_hazards(fitter: CoxPHFitter, frame: pd.DataFrame, notes: list[str]) -> float:
    """p of the Grambsch–Therneau test (rank time transform) of the fitted model."""
    try:
        with _caught(notes):
            result = proportional_hazard_test(fitter, frame, time_transform="rank")
    except (ConvergenceError, np.linalg.LinAlgError, ValueError) as exc:
        _add_note(notes, f"proportional-hazards test failed: {exc}")
        return math.nan
    return float(np.asarray(result.p_value).ravel()[0])


def ph_verdict(p: float) -> str:
    """Plain words for the p of a proportional-hazards test."""
    if math.isnan(p):
        return "not checked"
    if p < ALPHA:
        return (
            f"hazards not proportional (p = {p:.2g}): the HR averages an effect that changes "
            "over time; read the Kaplan–Meier curves"
        )
    return f"no evidence against proportional hazards (p = {p:.2g})"


def hazard_ratio(patients: pd.DataFrame, reference: str, arm: str) -> dict[str, Any]:
    """Progression hazard of ``arm`` relative to ``reference``: Cox HR, log-rank test, and a
    check of the proportional-hazards assumption.

    The arms are compared as independent samples; in a paired design this leaves the HR as it
    is but its CI and the p-values do not use the pairing (see the module docstring).

    Parameters
    ----------
    patients : DataFrame
        The trial's patients table (needs ``arm``, ``pfs_days``, ``pfs_event``).
    reference, arm : str
        The control arm and the arm compared with it.

    Returns
    -------
    dict
        ``reference``, ``arm``; ``n_reference``, ``n_arm``, ``events_reference``,
        ``events_arm``; ``hr`` (Cox PH, ``arm`` vs ``reference``: < 1 means fewer
        progressions), ``hr_low``, ``hr_high`` (95 % CI), ``p_wald``; ``logrank_statistic``,
        ``logrank_p``; ``ph_p`` (Grambsch–Therneau test, rank transform) and ``ph_verdict``
        (plain words); ``note``: "" or why estimates are NaN and which warnings lifelines gave.
        An arm with fewer than 2 patients gives NaN for every estimate, and so does a
        comparison without any event; an arm without events gives NaN Cox estimates (its HR
        does not exist) but a log-rank test. None of these raise.

    Raises
    ------
    ValueError
        A column is missing, an arm is not in the table, or a ``pfs_days`` is NaN or negative.
    """
    _require(patients, ("arm", "pfs_days", "pfs_event"))
    _arms(patients, [reference, arm])
    frame = _comparison_frame(patients, reference, arm)
    counts = _counts(frame)
    notes: list[str] = []
    fitter, estimate = _fit_cox(frame, reference, arm, notes)
    result: dict[str, Any] = {"reference": reference, "arm": arm, **counts, **estimate}
    result.update(logrank_statistic=math.nan, logrank_p=math.nan, ph_p=math.nan)
    if fitter is not None:
        result["ph_p"] = _proportional_hazards(fitter, frame, notes)

    if min(counts["n_reference"], counts["n_arm"]) >= 2 and frame["event"].any():
        control, treated = frame[frame["treated"] == 0], frame[frame["treated"] == 1]
        with _caught(notes):
            test = logrank_test(
                control["duration"],
                treated["duration"],
                event_observed_A=control["event"],
                event_observed_B=treated["event"],
            )
        result["logrank_statistic"] = float(test.test_statistic)
        result["logrank_p"] = float(test.p_value)

    result["ph_verdict"] = ph_verdict(result["ph_p"])
    result["note"] = "; ".join(notes)
    return result


# --- subgroups --------------------------------------------------------------------------------


def _rule_text(subgroup: Mapping[str, Any]) -> str:
    feature = subgroup["feature"]
    if "equals" in subgroup:
        return f"{feature} = {subgroup['equals']}"
    if "at_least" in subgroup and "below" in subgroup:
        return f"{subgroup['at_least']:g} ≤ {feature} < {subgroup['below']:g}"
    if "at_least" in subgroup:
        return f"{feature} ≥ {subgroup['at_least']:g}"
    return f"{feature} < {subgroup['below']:g}"


def subgroup_mask(patients: pd.DataFrame, subgroup: Mapping[str, Any]) -> pd.Series:
    """Which rows of ``patients`` belong to ``subgroup``.

    Parameters
    ----------
    patients : DataFrame
        The trial's patients table.
    subgroup : mapping
        ``{"name": str, "feature": column}`` with either ``"equals": value`` or one or both of
        ``"at_least": x`` (feature >= x) and ``"below": x`` (feature < x). A missing (NaN)
        feature value belongs to no threshold subgroup.

    Returns
    -------
    Series of bool, aligned with ``patients``.

    Raises
    ------
    ValueError
        The feature is not a column (the message names the subgroup and the feature and lists
        the known columns), the rule is missing, unknown or mixes ``equals`` with thresholds,
        or a threshold is applied to a non-numeric column.
    """
    name = subgroup.get("name", "<unnamed>")
    feature = subgroup.get("feature")
    if feature not in patients.columns:
        raise ValueError(
            f"subgroup {name!r}: feature {feature!r} is not a column of the patients table; "
            f"known columns: {', '.join(map(str, patients.columns))}"
        )
    unknown = sorted(set(subgroup) - {"name", "feature", *SUBGROUP_RULES})
    rules = [r for r in SUBGROUP_RULES if r in subgroup]
    if unknown or not rules or ("equals" in rules and len(rules) > 1):
        raise ValueError(
            f"subgroup {name!r}: give either 'equals' or 'at_least' and/or 'below' "
            f"(got keys: {', '.join(map(str, subgroup))})"
        )
    values = patients[feature]
    if "equals" in subgroup:
        return values == subgroup["equals"]
    if not pd.api.types.is_numeric_dtype(values):
        raise ValueError(
            f"subgroup {name!r}: thresholds need a numeric feature; {feature!r} is {values.dtype}"
        )
    mask = pd.Series(True, index=patients.index)
    if "at_least" in subgroup:
        mask &= values >= float(subgroup["at_least"])
    if "below" in subgroup:
        mask &= values < float(subgroup["below"])
    return mask


def _subgroup_row(
    patients: pd.DataFrame, reference: str, arm: str, subgroup: str, rule: str
) -> dict[str, Any]:
    frame = _comparison_frame(patients, reference, arm)
    notes: list[str] = []
    _, estimate = _fit_cox(frame, reference, arm, notes)
    return {
        "subgroup": subgroup,
        "rule": rule,
        "reference": reference,
        "arm": arm,
        **_counts(frame),
        **estimate,
        "note": "; ".join(notes),
    }


def subgroup_hazard_ratios(
    patients: pd.DataFrame,
    reference: str,
    arm: str,
    subgroups: Sequence[Mapping[str, Any]],
) -> pd.DataFrame:
    """Cox HR of ``arm`` vs ``reference`` in all patients and in each subgroup.

    Parameters
    ----------
    patients : DataFrame
        The trial's patients table (needs ``arm``, ``pfs_days``, ``pfs_event`` and the
        subgroups' features).
    reference, arm : str
        The control arm and the arm compared with it.
    subgroups : sequence of mapping
        Subgroup specs as in the trial metadata (see ``subgroup_mask``). All are checked before
        any model is fitted.

    Returns
    -------
    DataFrame
        One row per subgroup, "all patients" first: ``subgroup`` (its name), ``rule`` (as
        text), ``reference``, ``arm``, ``n_reference``, ``n_arm``, ``events_reference``,
        ``events_arm``, ``hr``, ``hr_low``, ``hr_high`` (95 % CI), ``p_wald``, ``note``
        (NaN estimates come with the reason; see ``hazard_ratio``). Subgroup p-values are not
        adjusted for multiplicity.

    Raises
    ------
    ValueError
        A column or arm is missing, or a subgroup spec is invalid (see ``subgroup_mask``).
    """
    _require(patients, ("arm", "pfs_days", "pfs_event"))
    _arms(patients, [reference, arm])
    masks = [subgroup_mask(patients, spec) for spec in subgroups]
    rows = [_subgroup_row(patients, reference, arm, "all patients", "")]
    for spec, mask in zip(subgroups, masks, strict=True):
        rows.append(
            _subgroup_row(
                patients[mask],
                reference,
                arm,
                str(spec.get("name") or _rule_text(spec)),
                _rule_text(spec),
            )
        )
    return pd.DataFrame(rows)
