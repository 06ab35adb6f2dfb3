"""A synthetic patients table (the contract's columns) with a known hazard ratio: exponential
progression times, administrative censoring at the end of follow-up, scans every 6 weeks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

SCAN_EVERY_DAYS = 42.0
FOLLOW_UP_DAYS = 365.0
SUBGROUPS = [
    {"name": "CPS < 1", "feature": "cps", "below": 1},
    {"name": "CPS 1-9", "feature": "cps", "at_least": 1, "below": 10},
    {"name": "CPS >= 10", "feature": "cps", "at_least": 10},
    {"name": "inflamed", "feature": "phenotype", "equals": "inflamed"},
]


def _best(pct: np.ndarray) -> str:
    if pct.size == 0:
        return "NE"
    if pct.min() <= -99.0:
        return "CR"
    if pct.min() <= -30.0:
        return "PR"
    return "PD" if pct[-1] >= 20.0 else "SD"


def synthetic_patients(
    n: int = 120,
    hazard_ratio: float = 0.6,
    seed: int = 0,
    arms: tuple[str, str] = ("chemo", "chemo+pembro"),
    paired: bool = False,
    median_days: float = 150.0,
) -> pd.DataFrame:
    """``n`` patients per arm (the same ones in both arms when ``paired``), progression hazard
    of the second arm ``hazard_ratio`` times the first's (median ``median_days`` there)."""
    rng = np.random.default_rng(seed)
    base_rate = np.log(2) / median_days
    rows: list[dict[str, Any]] = []
    for k, arm in enumerate(arms):
        if k == 0 or not paired:  # randomised: other patients in each arm
            cps = rng.choice([0.0, 0.5, 3.0, 7.0, 15.0, 40.0], size=n)
            phenotype = rng.choice(["inflamed", "excluded", "desert"], size=n)
            baseline = rng.uniform(30.0, 120.0, size=n)
        rate = base_rate * (hazard_ratio if k else 1.0)
        time = rng.exponential(1.0 / rate, size=n)
        # % change of the SLD reached by 12 weeks (-100: every lesion gone)
        depth = np.maximum(rng.normal(-45.0 if k else -20.0, 30.0, size=n), -100.0)
        for i in range(n):
            event = bool(time[i] < FOLLOW_UP_DAYS)
            pfs = float(min(time[i], FOLLOW_UP_DAYS))
            days = np.arange(0.0, pfs + 1e-9, SCAN_EVERY_DAYS)
            pct = depth[i] * np.minimum(days / 84.0, 1.0)
            if event:  # progression is seen at a scan: +25 % over the nadir
                days = np.append(days, pfs)
                pct = np.append(pct, pct.min() + 25.0)
            later = pct[1:]
            best = _best(later)
            responded = np.flatnonzero(later <= -30.0)
            rows.append(
                {
                    "patient": i if paired else k * n + i,
                    "arm": arm,
                    "seed": seed * 1000 + i,
                    "allocated": True,
                    "cps": float(cps[i]),
                    "phenotype": str(phenotype[i]),
                    "n_lesions": 2,
                    "baseline_sld_mm": float(baseline[i]),
                    "best_response": best,
                    "objective_response": best in ("CR", "PR"),
                    "disease_control": best in ("CR", "PR", "SD"),
                    "best_pct_change": float(later.min()) if later.size else np.nan,
                    "pfs_days": pfs,
                    "pfs_event": event,
                    "response_day": float(days[1:][responded[0]]) if responded.size else np.nan,
                    "treatment_days": pfs,
                    "scan_days": days.tolist(),
                    "scan_sld_mm": (baseline[i] * (1 + pct / 100)).tolist(),
                    "scan_categories": ["baseline"] + ["SD"] * (len(days) - 1),
                }
            )
    return pd.DataFrame(rows)


def meta_for(table: pd.DataFrame, paired: bool = False) -> dict[str, Any]:
    arms = list(pd.unique(table["arm"]))
    return {
        "name": "synthetic",
        "seed": 0,
        "design": "paired" if paired else "randomised",
        "arms": arms,
        "reference_arm": arms[0],
        "characteristics": ["cps", "phenotype"],
        "features": {"baseline": [], "early": []},
        "subgroups": SUBGROUPS,
        "follow_up_days": FOLLOW_UP_DAYS,
        "scan_every_days": SCAN_EVERY_DAYS,
    }
