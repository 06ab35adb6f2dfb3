"""Reading a sweep's results back: the design joined with the metrics, one row per run (for
the analysis and the plots, which must not depend on the executor that wrote them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

RUN_KEYS = ["run_id", "point", "replicate", "arm", "seed"]  # what identifies a run


def read_run_table(out: Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """``sweep.json`` and one row per planned run: its design (factor values) joined with its
    metrics and status (empty where the run has no result). FileNotFoundError names the file
    missing from an unfinished sweep."""
    out = Path(out)
    info = json.loads((out / "sweep.json").read_text())
    design = pd.read_parquet(out / "design.parquet")
    metrics = pd.read_parquet(out / "metrics.parquet")
    return info, design.merge(metrics, on=RUN_KEYS, how="left", validate="one_to_one")
