"""Summary metrics of one run: pure functions of its time-series table.

Each function takes the table written by :func:`gcsim.runner.timeseries_table` (one row per
observation, ``time_h`` ascending, the columns of :data:`gcsim.observe.METRICS`) and returns one
number or category, so sweeps, treatment arms and notebooks compute them the same way.

Burden is the number of viable tumour cells. Response follows RECIST 1.1 in spirit, on the
diameter of a circle with the lesion's area (viable plus necrotic sites: imaging measures the
whole lesion, necrotic core included):

* progression: diameter ≥ 1.2 × the smallest diameter so far (baseline included). RECIST's extra
  5 mm absolute increase is left out by default, because simulated lesions are a few mm across;
  ``min_increase_mm`` restores it.
* best response: CR when no viable tumour cell is left, PR at ≥ 30 % diameter decrease from
  baseline, PD when the first assessment already progressed, SD otherwise; only assessments
  before progression count, as in RECIST's best overall response (no confirmation scan).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy.integrate import trapezoid

PROGRESSION_INCREASE = 0.20
PARTIAL_RESPONSE_DECREASE = 0.30
RESPONSES = ("CR", "PR", "SD", "PD")  # best first


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
    """Diameter (mm) of a circle with the lesion's area, viable plus necrotic sites.

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
    return 2.0 * np.sqrt(sites * known[0] / math.pi)


def _progression_index(diameter: np.ndarray, min_increase_mm: float) -> int | None:
    """Index of the first assessment that progressed over the nadir before it, or None."""
    nadir = diameter[0]
    for i in range(1, len(diameter)):
        grown = diameter[i] - nadir
        # strict growth: after a complete response (nadir 0) only a lesion that reappears counts
        if (
            diameter[i] > nadir
            and diameter[i] >= (1.0 + PROGRESSION_INCREASE) * nadir
            and grown >= min_increase_mm
        ):
            return i
        nadir = min(nadir, diameter[i])
    return None


def time_to_progression_days(table: pd.DataFrame, min_increase_mm: float = 0.0) -> float:
    """Days from baseline to the first RECIST-like progression; NaN if none (censored)."""
    index = _progression_index(lesion_diameter_mm(table), min_increase_mm)
    return math.nan if index is None else float(_days(table)[index] - _days(table)[0])


def best_response(table: pd.DataFrame, min_increase_mm: float = 0.0) -> str:
    """Best RECIST-like response before progression: "CR", "PR", "SD" or "PD"."""
    diameter = lesion_diameter_mm(table)
    cells = table["tumor_cells"].to_numpy()
    if len(table) < 2:
        return "SD"  # no assessment after baseline
    stop = _progression_index(diameter, min_increase_mm)
    assessed = range(1, len(table) if stop is None else stop)
    best = "PD"
    for i in assessed:
        if cells[i] == 0:
            current = "CR"
        elif diameter[i] <= (1.0 - PARTIAL_RESPONSE_DECREASE) * diameter[0]:
            current = "PR"
        else:
            current = "SD"
        best = min(best, current, key=RESPONSES.index)
    return best


def final_value(column: str) -> Callable[[pd.DataFrame], float]:
    """The last recorded value of ``column`` (NaN stays NaN: no core means no core density)."""

    def metric(table: pd.DataFrame) -> float:
        return float(table[column].iloc[-1])

    metric.__doc__ = f"``{column}`` at the last observation."
    return metric


SUMMARY_METRICS: dict[str, Callable[[pd.DataFrame], float | str]] = {
    "final_burden_ratio": final_burden_ratio,
    "burden_auc": burden_auc,
    "time_to_progression_days": time_to_progression_days,
    "best_response": best_response,
    "cd8_core_per_mm2": final_value("cd8_core_per_mm2"),
    "cd8_margin_per_mm2": final_value("cd8_margin_per_mm2"),
    "hypoxic_fraction": final_value("hypoxic_fraction"),
}
"""Every summary metric by name; a sweep file's ``metrics:`` chooses among these."""

CATEGORICAL_METRICS = frozenset({"best_response"})


def summarize(table: pd.DataFrame, names: tuple[str, ...] | None = None) -> dict[str, float | str]:
    """The named summary metrics (all by default) of one run's time series."""
    if table.empty:
        raise ValueError("a time series needs at least the baseline observation")
    chosen = tuple(SUMMARY_METRICS) if names is None else names
    return {name: SUMMARY_METRICS[name](table) for name in chosen}
