"""Compare treatment arms: one summary row per arm over its replicates."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter

from gcsim.summary import RESPONSES


def median_time_to_progression(ttp_days: pd.Series, censored_at_days: pd.Series | float) -> float:
    """Kaplan–Meier median time to progression (days); runs that never progressed (NaN) are
    censored at ``censored_at_days`` (their last scan: ``runs.parquet``'s ``last_scan_day``).
    NaN when the median is not reached."""
    progressed = ttp_days.notna().to_numpy()
    censor = np.broadcast_to(np.asarray(censored_at_days, dtype=float), progressed.shape)
    durations = np.where(progressed, ttp_days.to_numpy(dtype=float), censor)
    fitter = KaplanMeierFitter().fit(durations, event_observed=progressed)
    median = float(fitter.median_survival_time_)
    return median if math.isfinite(median) else math.nan


def _responses(best: pd.Series) -> str:
    counts = best.value_counts()
    return " · ".join(f"{r} {counts[r]}" for r in RESPONSES if r in counts)


def arm_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Per-arm summary of the per-run table (columns of ``gcsim.summary.summarize``).

    Columns: arm, replicates, best responses (counts), objective response rate (CR + PR over
    all runs, NE included), final burden relative to baseline (mean, SD, min, max), burden AUC
    (mean), number progressed at a scan, Kaplan–Meier median time to progression (censored at
    each run's last scan), final CD8 core density and hypoxic fraction (means).
    """
    rows = []
    for arm, group in runs.groupby("arm", sort=False):
        burden = group["final_burden_ratio"]
        rows.append(
            {
                "arm": arm,
                "replicates": len(group),
                "best_responses": _responses(group["best_response"]),
                "objective_response_rate": float(group["best_response"].isin(["CR", "PR"]).mean()),
                "final_burden_ratio_mean": float(burden.mean()),
                "final_burden_ratio_sd": float(burden.std(ddof=1)) if len(group) > 1 else 0.0,
                "final_burden_ratio_min": float(burden.min()),
                "final_burden_ratio_max": float(burden.max()),
                "burden_auc_mean": float(group["burden_auc"].mean()),
                "progressed": int(group["time_to_progression_days"].notna().sum()),
                "median_ttp_days": median_time_to_progression(
                    group["time_to_progression_days"], group["last_scan_day"]
                ),
                "cd8_core_per_mm2_mean": float(group["cd8_core_per_mm2"].mean()),
                "hypoxic_fraction_mean": float(group["hypoxic_fraction"].mean()),
            }
        )
    return pd.DataFrame(rows)
