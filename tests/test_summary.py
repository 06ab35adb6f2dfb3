"""Summary metrics of a time series: hand-made tables with known answers, and one real run."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from gcsim.runner import timeseries_table
from gcsim.scenario.schema import Response
from gcsim.summary import (
    SUMMARY_METRICS,
    best_response,
    burden_auc,
    duration_of_response_days,
    final_burden_ratio,
    last_scan_day,
    lesion_diameter_mm,
    summarize,
    time_to_progression_days,
)

SITE_MM2 = 0.02**2


def series(cells: list[int], necrotic: list[int] | None = None, every_days: float = 1.0):
    """A time series with the columns the summary reads; one row per ``every_days``."""
    n = len(cells)
    return pd.DataFrame(
        {
            "time_h": np.arange(n) * 24.0 * every_days,
            "tumor_cells": cells,
            "viable_tumor_mm2": np.asarray(cells) * SITE_MM2,
            "necrotic_sites": necrotic or [0] * n,
            "cd8_core_per_mm2": np.linspace(10, 20, n),
            "cd8_margin_per_mm2": np.linspace(5, 1, n),
            "hypoxic_fraction": np.linspace(0.0, 0.3, n),
        }
    )


def test_burden_ratio_and_auc():
    table = series([100, 200, 300], every_days=2)
    assert final_burden_ratio(table) == 3.0
    assert burden_auc(table) == pytest.approx(2 * (1 + 2) / 2 + 2 * (2 + 3) / 2)


def test_diameter_is_that_of_a_circle_of_viable_plus_necrotic_sites():
    table = series([100, 50], necrotic=[0, 50])
    expected = 2 * math.sqrt(100 * SITE_MM2 / math.pi)
    assert lesion_diameter_mm(table) == pytest.approx([expected, expected])


def test_diameter_is_zero_once_no_viable_cell_is_left():
    table = series([100, 0], necrotic=[0, 50])
    assert lesion_diameter_mm(table)[1] == 0.0


# Response is read at scans (every 42 days by default; the rules are tested in test_recist.py):
# here every row is a scan (every_days=42) unless the row spacing says otherwise.
NO_5MM = Response(min_increase_mm=0)  # the default on a section
WITH_5MM = Response(min_increase_mm=5)  # RECIST 1.1's absolute rule


def test_progression_is_read_at_scans_against_the_nadir():
    # area ×1.44 = diameter ×1.2; the lesion first shrinks to 64 (nadir), so 1.44 × 64 = 92.16
    # sites is progression even though it is below baseline.
    table = series([100, 64, 80, 93, 200], every_days=42)
    assert time_to_progression_days(table, NO_5MM) == 3 * 42
    assert math.isnan(time_to_progression_days(series([100, 110, 120, 130], every_days=42)))
    assert time_to_progression_days(table) == 3 * 42  # the default: the 20 % rule alone
    # a 1 mm lesion never grows 5 mm on a section: no progression with RECIST's 5 mm rule
    assert math.isnan(time_to_progression_days(table, WITH_5MM))
    assert last_scan_day(table) == 4 * 42


def test_daily_growth_between_scans_is_not_progression():
    # doubled area on days 1–41, back at baseline on the day-42 scan
    table = series([100] + [200] * 40 + [100] * 2)
    assert math.isnan(time_to_progression_days(table, NO_5MM))
    assert best_response(table, NO_5MM) == "SD"


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        ([100, 90, 0, 50], "CR"),  # no viable cell at the second scan
        ([100, 40, 45, 48], "PR"),  # diameter × √0.4 ≈ 0.63 < 0.7
        ([100, 95, 105, 110], "SD"),
        ([100, 150, 40, 40], "PD"),  # progressed at the first scan: later PR does not count
        ([100, 90, 300, 0], "SD"),  # a response after progression does not count
    ],
)
def test_best_response(cells, expected):
    assert best_response(series(cells, every_days=42), NO_5MM) == expected


def test_confirmation_and_scan_interval_come_from_the_response_settings():
    table = series([100, 40, 90, 90], every_days=42)  # PR once, then SD
    assert best_response(table) == "PR"
    assert best_response(table, Response(confirm_after_days=28)) == "SD"
    assert best_response(series([100, 40, 40], every_days=14)) == "NE"  # no scan by day 28
    assert best_response(series([100, 40, 40], every_days=14), Response(scan_every_days=14)) == "PR"
    assert duration_of_response_days(table) == 42  # PR at day 42, PD (×1.5 the nadir) at 84
    assert duration_of_response_days(table, WITH_5MM) == 2 * 42  # no PD: censored at last scan
    assert math.isnan(duration_of_response_days(series([100, 95], every_days=42)))


def test_summarize_a_real_run(ran_small_model):
    table = timeseries_table(ran_small_model, "r", "untreated", 0)
    summary = summarize(table)
    assert set(summary) == set(SUMMARY_METRICS)
    cells = table["tumor_cells"].to_numpy()
    assert summary["final_burden_ratio"] == cells[-1] / cells[0]
    assert summary["best_response"] in {"CR", "PR", "SD", "PD", "NE"}
    assert summary["hypoxic_fraction"] == table["hypoxic_fraction"].iloc[-1]
    assert summarize(table, ("burden_auc",)).keys() == {"burden_auc"}
    with pytest.raises(ValueError, match="baseline"):
        summarize(table.iloc[:0])
