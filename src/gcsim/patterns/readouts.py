"""Readouts: one number per run, pure functions of that run's time series.

Every function takes ``table`` (one run's time series as :func:`gcsim.runner.timeseries_table`
writes it: one row per observation, ``time_h`` ascending, the columns of
:mod:`gcsim.observe`), the scenario's ``response`` settings and the readout's arguments, and
returns a float. Days count from the first observation (t = 0). "At ``day``" is the observation
nearest that day (the earlier one on a tie); a window ``[from_day, to_day]`` includes both ends.

Response is read with the one RECIST implementation, :mod:`gcsim.recist`, through
:func:`gcsim.summary.read_response` (scan schedule, lesion diameter, categories): the table is
cut at ``until_day`` first, so only the scans up to that day count.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from gcsim.scenario.schema import Response
from gcsim.summary import read_response

_TOL = 1e-9


class MissingColumnError(KeyError):
    """A readout names a column the time series does not have."""

    def __init__(self, column: str) -> None:
        super().__init__(column)
        self.column = column

    def __str__(self) -> str:
        return f"the time series has no column {self.column!r}"


def _column(table: pd.DataFrame, column: str) -> np.ndarray:
    if column not in table.columns:
        raise MissingColumnError(column)
    return table[column].to_numpy(dtype=float)


def _days(table: pd.DataFrame) -> np.ndarray:
    hours = _column(table, "time_h")
    if len(hours) == 0:
        raise ValueError("the time series is empty")
    return (hours - hours[0]) / 24.0


def _nearest(table: pd.DataFrame, day: float) -> int:
    return int(np.argmin(np.abs(_days(table) - day)))  # argmin: the first of a tie


def _window(table: pd.DataFrame, column: str, from_day: float, to_day: float) -> np.ndarray:
    days, values = _days(table), _column(table, column)
    inside = (days >= from_day - _TOL) & (days <= to_day + _TOL)
    return values[inside]


def burden_ratio(table: pd.DataFrame, response: Response, *, day: float) -> float:
    """Viable tumour cells at ``day`` over those at day 0 (NaN if none at day 0).

    Parameters
    ----------
    table : DataFrame
        One run's time series (``time_h``, ``tumor_cells``).
    response : Response
        Not used (the common signature).
    day : float
        Day of the reading, from t = 0; the nearest observation is read.
    """
    cells = _column(table, "tumor_cells")
    return float(cells[_nearest(table, day)] / cells[0]) if cells[0] > 0 else math.nan


def growth_rate(
    table: pd.DataFrame, response: Response, *, from_day: float, to_day: float
) -> float:
    """Net growth rate of the viable tumour cells, ln(N(to_day) / N(from_day)) / (to_day −
    from_day), per day (ln 2 over it is the volume doubling time); −inf if none is left at
    ``to_day``, NaN if none at ``from_day``.

    Parameters
    ----------
    table : DataFrame
        One run's time series (``time_h``, ``tumor_cells``).
    response : Response
        Not used (the common signature).
    from_day, to_day : float
        Days of the two readings, from t = 0; the nearest observations are read.
    """
    cells = _column(table, "tumor_cells")
    i, j = _nearest(table, from_day), _nearest(table, to_day)
    days = _days(table)
    if cells[i] <= 0 or j <= i:
        return math.nan
    if cells[j] <= 0:
        return -math.inf
    return float(math.log(cells[j] / cells[i]) / (days[j] - days[i]))


def value_at(table: pd.DataFrame, response: Response, *, column: str, day: float) -> float:
    """``column`` at the observation nearest ``day`` (NaN stays NaN: no core, no density)."""
    return float(_column(table, column)[_nearest(table, day)])


def peak(
    table: pd.DataFrame, response: Response, *, column: str, from_day: float, to_day: float
) -> float:
    """Largest finite value of ``column`` over the observations in ``[from_day, to_day]``
    (NaN if there is none: a window after the end of a run, or all NaN)."""
    values = _window(table, column, from_day, to_day)
    values = values[np.isfinite(values)]
    return float(values.max()) if values.size else math.nan


def mean_over(
    table: pd.DataFrame, response: Response, *, column: str, from_day: float, to_day: float
) -> float:
    """Mean of the finite values of ``column`` over the observations in ``[from_day, to_day]``
    (each observation weighs the same; NaN if there is none)."""
    values = _window(table, column, from_day, to_day)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else math.nan


def _until(table: pd.DataFrame, until_day: float) -> pd.DataFrame:
    return table.loc[_days(table) <= until_day + _TOL]


def responder(table: pd.DataFrame, response: Response, *, until_day: float) -> float:
    """1.0 if the run responds by ``until_day`` and has not progressed, else 0.0.

    Response: a scan up to ``until_day`` shows a decrease of the lesion diameter of ≥ 30 % from
    baseline (RECIST PR or CR: :func:`gcsim.recist.scan_responses`; with
    ``response.confirm_after_days`` > 0 it must also be confirmed, as
    :func:`gcsim.recist.best_overall_response` counts it); and no scan up to ``until_day`` shows
    progression (≥ 20 % over the nadir of the previous scans, plus
    ``response.min_increase_mm``: :func:`gcsim.recist.progression_at_scans`). Scans follow
    ``response.scan_every_days`` from day 0, up to the last observation before ``until_day``.
    """
    reading = read_response(_until(table, until_day), response)
    responded = reading.best.category in ("CR", "PR")
    return 1.0 if responded and not reading.progressed else 0.0


def progressed(table: pd.DataFrame, response: Response, *, until_day: float) -> float:
    """1.0 if a scan up to ``until_day`` shows progression (RECIST, see :func:`responder`)."""
    return 1.0 if read_response(_until(table, until_day), response).progressed else 0.0


def extinct(table: pd.DataFrame, response: Response, *, day: float) -> float:
    """1.0 if no viable tumour cell is left at the observation nearest ``day``, else 0.0."""
    return 1.0 if _column(table, "tumor_cells")[_nearest(table, day)] == 0 else 0.0


READOUTS: dict[str, Callable[..., float]] = {
    "burden_ratio": burden_ratio,
    "growth_rate": growth_rate,
    "value_at": value_at,
    "peak": peak,
    "mean_over": mean_over,
    "responder": responder,
    "progressed": progressed,
    "extinct": extinct,
}
"""Every readout function by the name pattern files use (``fn:``)."""


def read(fn: str, table: pd.DataFrame, response: Response, args: dict[str, Any]) -> float:
    """The readout ``fn`` of one run; raises :class:`MissingColumnError` for a column the
    table does not have."""
    return READOUTS[fn](table, response, **args)
