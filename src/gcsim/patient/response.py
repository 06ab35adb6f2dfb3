"""RECIST 1.1 on a patient's lesions, for ``runs.parquet``: the patient-level scoring of
``gcsim.recist.score_patient`` read into the response columns of one run."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from gcsim.recist import score_patient
from gcsim.scenario.schema import Response

# The response columns of runs.parquet that the patient's RECIST scoring fills.
PATIENT_RESPONSE_COLUMNS = (
    "best_response",
    "objective_response",
    "disease_control",
    "time_to_progression_days",
    "pfs_days",
    "pfs_event",
    "duration_of_response_days",
    "dor_event",
    "last_scan_day",
)


def patient_response(lesions: pd.DataFrame, response: Response) -> dict[str, Any]:
    """The response columns of one run from its ``lesions`` rows (the tidy lesions table),
    scored at the scenario's scan schedule (``response.scan_every_days``; confirmation of
    CR/PR when ``response.confirm_after_days`` > 0). A patient without a target lesion has no
    measurable disease: not evaluable (NE) for objective response, PFS not read."""
    if not lesions["target"].astype(bool).any():
        return {
            "best_response": "NE",
            "objective_response": False,
            "disease_control": False,
            "time_to_progression_days": math.nan,
            "pfs_days": math.nan,
            "pfs_event": False,
            "duration_of_response_days": math.nan,
            "last_scan_day": math.nan,
        }
    result = score_patient(
        lesions,
        scan_every_days=response.scan_every_days,
        confirm=response.confirm_after_days > 0,
    )
    scans = list(result.scan_days)
    return {
        "best_response": result.best_response,
        "objective_response": bool(result.objective_response),
        "disease_control": bool(result.disease_control),
        "time_to_progression_days": float(result.pfs_days) if result.pfs_event else math.nan,
        "pfs_days": float(result.pfs_days),
        "pfs_event": bool(result.pfs_event),
        "duration_of_response_days": math.nan
        if result.dor_days is None
        else float(result.dor_days),
        # the response ended in progression (True) or is censored at the last scan (False);
        # False without a response
        "dor_event": bool(result.dor_event),
        "last_scan_day": float(scans[-1]) if scans else 0.0,
    }


def patient_series(lesions: pd.DataFrame) -> pd.DataFrame:
    """The patient's viable tumour cells summed over its lesions (baseline and new) at each
    record time: ``time_h``, ``tumor_cells`` (a section's burden columns, for the readouts
    that take a section's time series)."""
    total = lesions.groupby("time_days", sort=True)["tumor_cells"].sum()
    return pd.DataFrame({"time_h": total.index.to_numpy() * 24.0, "tumor_cells": total.values})


def patient_burden(lesions: pd.DataFrame) -> dict[str, float]:
    """``final_burden_ratio`` and ``burden_auc`` (gcsim.summary) of the patient's viable tumour
    cells summed over its lesions (baseline and new), in place of one section's."""
    from gcsim.summary import burden_auc, final_burden_ratio

    table = patient_series(lesions)
    return {"final_burden_ratio": final_burden_ratio(table), "burden_auc": burden_auc(table)}
