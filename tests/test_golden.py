"""The golden-output check's comparison and truncation (not the golden runs themselves: those take
minutes, see benchmarks/golden.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import golden


@pytest.fixture
def table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "run_id": ["a/r0", "a/r0", "b/r0", "b/r0"],
            "arm": ["a", "a", "b", "b"],
            "time_h": [0.0, 24.0, 0.0, 24.0],
            "tumor_cells": np.array([10, 12, 10, 11], dtype=np.int64),
            "cd8_treg_ratio": [np.nan, 1.5, 0.1, np.nan],
        }
    )


def test_identical_tables_and_nan_equal_nan(table: pd.DataFrame) -> None:
    assert golden.compare(table, table.copy()) is None


def test_one_ulp_is_a_difference(table: pd.DataFrame) -> None:
    changed = table.copy()
    changed.loc[2, "cd8_treg_ratio"] = np.nextafter(0.1, 1.0)
    message = golden.compare(table, changed)
    assert message is not None
    assert "run_id='b/r0'" in message and "time_h=0.0" in message
    assert "cd8_treg_ratio" in message and "1 column(s) differ" in message


def test_nan_against_a_number_and_signed_zero_differ(table: pd.DataFrame) -> None:
    changed = table.copy()
    changed.loc[0, "cd8_treg_ratio"] = 0.0
    assert golden.compare(table, changed) is not None
    zero, negative_zero = table.copy(), table.copy()
    zero.loc[0, "cd8_treg_ratio"] = 0.0
    negative_zero.loc[0, "cd8_treg_ratio"] = -0.0
    assert golden.compare(zero, negative_zero) is not None  # bit-identical means the sign too


def test_first_difference_and_largest(table: pd.DataFrame) -> None:
    changed = table.copy()
    changed.loc[3, "tumor_cells"] = 20
    changed.loc[1, "cd8_treg_ratio"] = 1.75
    message = golden.compare(table, changed)
    assert message is not None
    assert "time_h=24.0: cd8_treg_ratio 1.5 → 1.75" in message  # row 1 comes before row 3
    assert "max |Δ| 9 (tumor_cells)" in message


def test_shape_and_dtype_differences(table: pd.DataFrame) -> None:
    assert "columns differ" in str(golden.compare(table, table.drop(columns="arm")))
    assert "rows differ" in str(golden.compare(table, table.iloc[:3]))
    as_float = table.astype({"tumor_cells": float})
    assert "dtype of tumor_cells" in str(golden.compare(table, as_float))


def test_scenarios_and_truncation() -> None:
    from gcsim.scenario.loader import load_scenario

    names = [path.stem for path in golden.scenario_files()]
    assert "baseline" in names and "chemo_ici" in names
    full = load_scenario(golden.SCENARIOS / "chemo_ici.yaml")
    short = golden.truncated(full)
    assert short.time.days == golden.DAYS < full.time.days
    assert short.replicates == min(full.replicates, golden.REPLICATES)
    assert list(short.arms) == list(full.arms) and short.seed == full.seed


def test_reference_files_match_their_record() -> None:
    meta = json.loads((golden.DEFAULT_DIR / golden.META).read_text())
    assert meta["days"] == golden.DAYS and meta["replicates"] == golden.REPLICATES
    for name, info in meta["scenarios"].items():
        reference = pd.read_parquet(golden.DEFAULT_DIR / f"{name}.parquet")
        assert len(reference) == info["rows"]
