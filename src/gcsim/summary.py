"""Summary metrics of one run: pure functions of its time-series table.

Each function takes the table written by :func:`gcsim.runner.timeseries_table` (one row per
observation, ``time_h`` ascending, the columns of :data:`gcsim.observe.METRICS`) and the
scenario's ``response:`` settings, and returns one number or category, so sweeps, treatment arms
and notebooks compute them the same way.

Burden is the number of viable tumour cells. Response is scored by :mod:`gcsim.recist`, as a
trial scores it: at scans (baseline at day 0, then every ``response.scan_every_days``, 42 by
default), never on every observation. The lesion is measured as the diameter of a circle with
its area (viable plus necrotic sites: imaging measures the whole lesion, necrotic core
included), 0 once no viable tumour cell is left. Progression needs ≥ 20 % over the nadir of
previous scans and ≥ ``response.min_increase_mm`` absolute increase (RECIST 1.1's 5 mm; 0 by
default on a section of a few mm, where it would hide all growth); partial
response ≥ 30 % below baseline; complete response no viable tumour cell; confirmation of CR/PR by
a later scan only if ``response.confirm_after_days`` > 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.integrate import trapezoid

from gcsim import recist
from gcsim.scenario.schema import Response

DEFAULT_RESPONSE = Response()

RESPONSES = recist.RESPONSES  # best first; NE: no scan after baseline


def _days(table: pd.DataFrame) -> np.ndarray:
    return table["time_h"].to_numpy(dtype=float) / 24.0


def _burden(table: pd.DataFrame) -> np.ndarray:
    return table["tumor_cells"].to_numpy(dtype=float)


def final_burden_ratio(table: pd.DataFrame) -> float:
    """Viable tumour cells at the end over those at baseline (1 = unchanged, 0 = cleared)."""
    burden = _burden(table)
    return float(burden[-1] / burden[0]) if burden[0] > 0 else math.nan


def burden_auc(table: pd.DataFrame) -> float:
    """Area under the relative burden curve, in days (burden / baseline integrated over time).

    An untreated tumour that doubles has a larger AUC than one held at baseline; a response that
    comes late still counts less than an early one, which the final ratio cannot tell.
    """
    burden = _burden(table)
    if burden[0] <= 0:
        return math.nan
    return float(trapezoid(burden / burden[0], _days(table)))  # scipy's: numpy 1.26 lacks it


def lesion_diameter_mm(table: pd.DataFrame) -> np.ndarray:
    """Diameter (mm) of a circle with the lesion's area, viable plus necrotic sites, at every
    observation; 0 where no viable tumour cell is left (necrotic debris alone is no lesion).

    The site area is read off the table (``viable_tumor_mm2 / tumor_cells``), which keeps this a
    function of the table alone.
    """
    cells = table["tumor_cells"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_site = table["viable_tumor_mm2"].to_numpy(dtype=float) / cells
    known = per_site[np.isfinite(per_site) & (cells > 0)]
    if known.size == 0:
        return np.full(len(table), math.nan)
    sites = cells + table["necrotic_sites"].to_numpy(dtype=float)
    return np.where(cells > 0, recist.circle_diameter_mm(sites * known[0]), 0.0)


@dataclass(frozen=True)
class ResponseReading:
    """One run read at its scans: scan days, diameters there, and the RECIST outcomes."""

    scan_days: np.ndarray  # days from baseline, baseline (0) first
    diameter_mm: np.ndarray  # lesion diameter at each scan
    categories: np.ndarray  # category of each follow-up scan (len(scan_days) - 1)
    best: recist.BestResponse
    time_to_progression_days: float  # first PD scan, or the last scan if none (censored)
    progressed: bool
    duration_of_response_days: float  # NaN without a response
    response_ended: bool


def read_response(table: pd.DataFrame, response: Response = DEFAULT_RESPONSE) -> ResponseReading:
    """Score one run's time series with :mod:`gcsim.recist` at the scenario's scan schedule.

    Scans fall on days 0, ``scan_every_days``, … up to the last observation; each sees the last
    observation at or before its day.
    """
    days = _days(table) - _days(table)[0]
    scans = recist.scan_days(days[-1], response.scan_every_days)
    diameter = recist.sample_at_scans(days, lesion_diameter_mm(table), scans)
    categories = recist.scan_responses(diameter, min_increase_mm=response.min_increase_mm)
    confirm = response.confirm_after_days
    best = recist.best_overall_response(categories, scans, confirm_min_days=confirm)
    ttp, progressed = recist.time_to_progression(categories, scans)
    dor, ended = recist.duration_of_response(categories, scans, confirm_min_days=confirm)
    return ResponseReading(scans, diameter, categories, best, ttp, progressed, dor, ended)


def time_to_progression_days(table: pd.DataFrame, response: Response = DEFAULT_RESPONSE) -> float:
    """Day of the first scan showing progression; NaN if none (censored at ``last_scan_day``)."""
    reading = read_response(table, response)
    return reading.time_to_progression_days if reading.progressed else math.nan


def last_scan_day(table: pd.DataFrame, response: Response = DEFAULT_RESPONSE) -> float:
    """Day of the last scan: where a run without progression is censored (0: no follow-up scan)."""
    return float(read_response(table, response).scan_days[-1])


def best_response(table: pd.DataFrame, response: Response = DEFAULT_RESPONSE) -> str:
    """Best overall response at the scans before progression: "CR", "PR", "SD", "PD" or "NE"."""
    return read_response(table, response).best.category


def duration_of_response_days(table: pd.DataFrame, response: Response = DEFAULT_RESPONSE) -> float:
    """Days from the first CR/PR scan to the first PD scan, or to the last scan if none
    (censored: ``time_to_progression_days`` is then NaN); NaN without a response."""
    return read_response(table, response).duration_of_response_days


def final_value(column: str) -> Callable[[pd.DataFrame], float]:
    """The last recorded value of ``column`` (NaN stays NaN: no core means no core density)."""

    def metric(table: pd.DataFrame) -> float:
        return float(table[column].iloc[-1])

    metric.__doc__ = f"``{column}`` at the last observation."
    return metric


Metric = Callable[[pd.DataFrame, Response], float | str]


def _table_only(function: Callable[[pd.DataFrame], float]) -> Metric:
    """A metric that does not read response, in the two-argument form of the others."""

    def metric(table: pd.DataFrame, response: Response) -> float:
        return function(table)

    metric.__doc__ = function.__doc__
    return metric


SUMMARY_METRICS: dict[str, Metric] = {
    "final_burden_ratio": _table_only(final_burden_ratio),
    "burden_auc": _table_only(burden_auc),
    "time_to_progression_days": time_to_progression_days,
    "last_scan_day": last_scan_day,
    "best_response": best_response,
    "duration_of_response_days": duration_of_response_days,
    "cd8_core_per_mm2": _table_only(final_value("cd8_core_per_mm2")),
    "cd8_margin_per_mm2": _table_only(final_value("cd8_margin_per_mm2")),
    "hypoxic_fraction": _table_only(final_value("hypoxic_fraction")),
}
"""Every summary metric by name; a sweep file's ``metrics:`` chooses among these."""

CATEGORICAL_METRICS = frozenset({"best_response"})


def summarize(
    table: pd.DataFrame,
    names: tuple[str, ...] | None = None,
    response: Response = DEFAULT_RESPONSE,
) -> dict[str, float | str]:
    """The named summary metrics (all by default) of one run's time series, response read with
    the scenario's ``response`` settings."""
    if table.empty:
        raise ValueError("a time series needs at least the baseline observation")
    chosen = tuple(SUMMARY_METRICS) if names is None else names
    return {name: SUMMARY_METRICS[name](table, response) for name in chosen}
