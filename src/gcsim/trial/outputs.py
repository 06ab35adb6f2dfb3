"""What a finished trial shows: its endpoints (for trial.json and the terminal), its report with
the biomarker sections, and the lines naming failed patient runs."""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.table import Table

from gcsim.trial.report import number_text, percent_text, write_report
from gcsim.trial.stats import hazard_ratio, km_summary, response_rates


def endpoints(patients: pd.DataFrame, meta: dict[str, Any]) -> dict[str, Any]:
    """ORR, DCR (exact CIs), median PFS (KM, months) per arm; HR of each arm vs the reference."""
    arms = [a for a in meta["arms"] if a in set(patients["arm"])]
    rates = response_rates(patients, arms).set_index("arm")
    km = km_summary(patients, arms).set_index("arm")
    out: dict[str, Any] = {"arms": {}, "versus_reference": {}}
    for arm in arms:
        r, k = rates.loc[arm], km.loc[arm]
        out["arms"][arm] = {
            "n": int(r["n"]),
            "orr": _f(r["orr"]),
            "orr_ci": [_f(r["orr_low"]), _f(r["orr_high"])],
            "dcr": _f(r["dcr"]),
            "median_pfs_months": _f(k["median_months"]),
            "median_pfs_reached": bool(math.isfinite(k["median_months"])),
            "median_pfs_ci_months": [_f(k["median_low_months"]), _f(k["median_high_months"])],
            "pfs_events": int(k["events"]),
        }
    reference = meta["reference_arm"]
    for arm in arms:
        if arm == reference or reference not in arms:
            continue
        hr = hazard_ratio(patients, reference, arm)
        out["versus_reference"][arm] = {
            "hr": _f(hr["hr"]),
            "hr_ci": [_f(hr["hr_low"]), _f(hr["hr_high"])],
            "logrank_p": _f(hr["logrank_p"]),
            "ph_p": _f(hr["ph_p"]),
            "note": hr["note"],
        }
    return out


def _f(x: Any) -> float | None:
    """A finite number for JSON, else None (NaN: no estimate; a median not reached is flagged
    by ``median_pfs_reached``)."""
    x = float(x)
    return round(x, 6) if math.isfinite(x) else None


def biomarker_features(patients: pd.DataFrame, meta: dict[str, Any]) -> list[str]:
    """Baseline characteristics and measured features that vary in the cohort."""
    names = [
        *meta["characteristics"],
        "n_lesions",
        "baseline_sld_mm",
        *meta["features"]["baseline"],
        *meta["features"]["early"],
    ]
    return [n for n in names if n in patients.columns and patients[n].nunique(dropna=True) > 1]


def parameter_uncertainty(patients: pd.DataFrame, meta: dict[str, Any]) -> dict[str, Any]:
    """The endpoints under each parameter set of an ensemble, and their spread across sets
    (median and 5–95 % range): parameter uncertainty, apart from the cohort's sampling."""
    by_set = {
        int(s): endpoints(group, meta) for s, group in patients.groupby("parameter_set", sort=True)
    }
    spread: dict[str, Any] = {}
    for arm in meta["arms"]:
        rows = {
            "orr": [e["arms"][arm]["orr"] for e in by_set.values() if arm in e["arms"]],
            "median_pfs_months": [
                e["arms"][arm]["median_pfs_months"] for e in by_set.values() if arm in e["arms"]
            ],
            "pfs_hr": [
                e["versus_reference"][arm]["hr"]
                for e in by_set.values()
                if arm in e["versus_reference"]
            ],
        }
        spread[arm] = {name: _spread(values) for name, values in rows.items() if values}
    return {"sets": len(by_set), "by_set": by_set, "spread": spread}


def _spread(values: list[float | None]) -> dict[str, Any]:
    finite = np.asarray([v for v in values if v is not None], dtype=float)
    if not len(finite):
        return {"median": None, "p5": None, "p95": None, "estimable": 0}
    p5, median, p95 = np.percentile(finite, [5, 50, 95])
    return {"median": _f(median), "p5": _f(p5), "p95": _f(p95), "estimable": len(finite)}


def _uncertainty_html(u: dict[str, Any]) -> str:
    rows = []
    for arm, endpoints_ in u["spread"].items():
        for name, s in endpoints_.items():
            spread = (number_text(s[k]) for k in ("median", "p5", "p95"))
            cells = [arm, name, *spread, s["estimable"]]
            rows.append(
                "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>"
            )
    head = "".join(
        f"<th>{h}</th>" for h in ("arm", "endpoint", "median", "5 %", "95 %", "sets estimable")
    )
    return (
        f"<p>The cohort ran under each of {u['sets']} parameter sets; the spread of each "
        "endpoint across sets is the parameter uncertainty, apart from the sampling uncertainty "
        "of the cohort (the intervals of the other sections, computed on the sets pooled).</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def write_trial_report(
    patients: pd.DataFrame, meta: dict[str, Any], out: Path, biomarkers: bool = True
) -> dict[str, Any]:
    """report.html and its PNGs in ``out``; returns the endpoints (with the ensemble's spread
    under ``parameter_uncertainty`` when the trial ran over parameter sets)."""

    sections: list[tuple[str, str]] = []
    ensemble = "parameter_set" in patients and patients["parameter_set"].nunique() > 1
    uncertainty = parameter_uncertainty(patients, meta) if ensemble else None
    if uncertainty is not None:
        sections.append(("Parameter uncertainty", _uncertainty_html(uncertainty)))
    if biomarkers:
        from gcsim.trial.biomarkers import biomarker_html, predictive_contrast, rank_biomarkers

        features = biomarker_features(patients, meta)
        arms = [a for a in meta["arms"] if a in set(patients["arm"])]
        # side by side: a feature that predicts response in every arm is prognostic
        contrast = predictive_contrast(patients, features, arms=arms) if len(arms) > 1 else None
        for arm in arms:
            result = rank_biomarkers(patients, features, arm=arm, seed=meta["seed"])
            html = biomarker_html(result, contrast if arm == arms[-1] else None)
            sections.append((f"Biomarkers of response: {arm}", html))
    write_report(patients, meta, out, extra_sections=sections)
    result = endpoints(patients, meta)
    if uncertainty is not None:
        result["parameter_uncertainty"] = uncertainty
    return result


def endpoint_table(out: Path) -> Table:
    """The endpoints in trial.json, one row per arm."""
    meta = json.loads((Path(out) / "trial.json").read_text())
    acc = meta.get("accounting", {})
    table = Table(
        title=f"trial {meta['name']}: {acc.get('selected', '?')} patients "
        f"({acc.get('candidates', '?')} candidates, "
        f"{100 * acc.get('rejected_fraction', 0):.0f} % implausible)"
    )
    for column in (
        "arm",
        "n",
        "ORR (95 % CI)",
        "DCR",
        "median PFS, months (95 % CI)",
        "HR (95 % CI)",
    ):
        table.add_column(column, justify="left" if column == "arm" else "right")
    ends = meta.get("endpoints", {"arms": {}, "versus_reference": {}})
    for arm, e in ends["arms"].items():
        hr = ends["versus_reference"].get(arm)
        table.add_row(
            arm,
            str(e["n"]),
            f"{_pct(e['orr'])} ({_pct(e['orr_ci'][0])}–{_pct(e['orr_ci'][1])})",
            _pct(e["dcr"]),
            _median_text(e),
            "reference" if hr is None else _hr_text(hr),
        )
    return table


def _pct(x: float | None) -> str:
    return percent_text(x, digits=0)


def _median_text(e: dict[str, Any]) -> str:
    """Median PFS (95 % CI) in months; a CI bound that is not reached is NR too."""
    if not e.get("median_pfs_reached", e["median_pfs_months"] is not None):
        return "NR"
    low, high = (number_text(math.inf if x is None else x) for x in e["median_pfs_ci_months"])
    return f"{number_text(e['median_pfs_months'])} ({low}–{high})"


def _hr_text(hr: dict[str, Any]) -> str:
    if hr["hr"] is None:
        return "not estimable"  # no progression, or complete separation (trial.json: note)
    low, high = (("–" if x is None else f"{x:.2f}") for x in hr["hr_ci"])
    return f"{hr['hr']:.2f} ({low}–{high})"


def trial_failure_lines(summary: Any, limit: int = 10) -> list[str]:
    lines = [f"failed {r['task_id']}: {r['error']}" for r in summary.failures[:limit]]
    if len(summary.failures) > limit:
        lines.append(f"… and {len(summary.failures) - limit} more (patients/*.json)")
    return lines
