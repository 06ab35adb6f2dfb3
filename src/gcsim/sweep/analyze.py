"""`gcsim analyze SWEEP_DIR`: sensitivity indices (SALib) or main effects, from the files only.

Replicates are averaged per design point first: the indices describe how the expected outcome
depends on the factors, and averaging removes part of the stochastic noise that would otherwise
show up as spurious sensitivity. Which analysis follows from the design:

* sobol → first-order and total Sobol' indices (S1, ST; S2 with ``second_order``), bootstrap CIs;
* morris → μ* (mean absolute elementary effect, in units of the metric per full factor range)
  with its bootstrap CI, and σ (spread, a sign of interactions or non-linearity);
* latin → RBD-FAST first-order indices with bootstrap CIs (M = min(10, N/16) harmonics);
* factorial → main effects: the metric's mean ± s.e. at each level of each factor.

Categorical metrics (best response) are skipped by the index methods.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gcsim.io import atomic_path, write_parquet
from gcsim.scenario.schema import arm_file_stem
from gcsim.summary import CATEGORICAL_METRICS
from gcsim.sweep.plots import _numeric, plot_indices, plot_main_effects
from gcsim.sweep.results import read_run_table

CONFIDENCE = 0.95
RESAMPLES = 200


class AnalysisError(Exception):
    """The directory is not a finished sweep that can be analysed."""


@dataclass
class Analysis:
    method: str
    table: pd.DataFrame  # long format: metric, factor, index|level, value/mean, conf/sem
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _read(sweep_dir: Path) -> tuple[dict[str, Any], pd.DataFrame]:
    if not sweep_dir.is_dir():
        what = "does not exist" if not sweep_dir.exists() else "is a file, not a sweep directory"
        raise AnalysisError(f"{sweep_dir}: {what}")
    try:
        return read_run_table(sweep_dir)
    except FileNotFoundError as exc:
        missing = Path(exc.filename).name
        message = f"{sweep_dir}: not a finished sweep ({missing} missing; run or resume it first)"
        raise AnalysisError(message) from None


def analyze_sweep(sweep_dir: Path | str) -> Analysis:
    """Compute and write ``analysis/`` (CSV + Parquet table, bar or main-effect plot)."""
    sweep_dir = Path(sweep_dir)
    info, table = _read(sweep_dir)
    design = info["sweep"]["design"]
    factors, names = info["factors"], info["metrics"]
    out = sweep_dir / "analysis"
    out.mkdir(exist_ok=True)
    notes = []
    failed = int((table["status"] != "ok").sum())
    if failed:
        notes.append(f"{failed} run(s) without a result are left out")
    table = _censored_at_follow_up(table, info, notes)
    # each treatment arm is analysed on its own: a factor's effect differs between arms
    arms = list(dict.fromkeys(table["arm"]))
    parts, files = [], []
    for arm in arms:
        runs = table[table["arm"] == arm]
        suffix = f"_{arm_file_stem(arm)}" if len(arms) > 1 else ""
        if design["method"] == "factorial":
            method, stem = "main effects", "main_effects"
            part = main_effects(runs[runs["status"] == "ok"], factors, names)
            files.append(plot_main_effects(part, out / f"main_effects{suffix}.png"))
        else:
            arm_notes: list[str] = []
            found = sensitivity(runs, info, arm_notes)
            method, stem, part = found.method, "indices", found.table
            notes += [f"{arm}: {note}" if len(arms) > 1 else note for note in arm_notes]
            if not part.empty:
                title = f"{info['name']}, {arm}: {method} ({CONFIDENCE:.0%} CI)"
                files.append(plot_indices(part, out / f"indices{suffix}.png", title))
        parts.append(part.assign(arm=arm) if not part.empty else part)
    merged = pd.concat(parts, ignore_index=True)
    if "arm" in merged:
        merged = merged[["arm", *[c for c in merged.columns if c != "arm"]]]
    result = Analysis(method, merged, files=files, notes=notes)
    with atomic_path(out / f"{stem}.csv") as tmp:
        result.table.to_csv(tmp, index=False)
    write_parquet(out / f"{stem}.parquet", result.table)
    result.files[:0] = [out / f"{stem}.csv", out / f"{stem}.parquet"]
    return result


def _censored_at_follow_up(
    table: pd.DataFrame, info: dict[str, Any], notes: list[str]
) -> pd.DataFrame:
    """Runs without progression count with their censoring time as time to progression: their
    last scan (``last_scan_day``) when the sweep kept that metric, else their follow-up time.

    A censored time is a lower bound; leaving it out would drop exactly the best outcomes, and a
    NaN would stop SALib. The note says so, since indices then describe ``min(TTP, censoring)``.
    """
    name = "time_to_progression_days"
    if name not in table:
        return table
    censored = (table["status"] == "ok") & table[name].isna()
    if not censored.any():
        return table
    if "last_scan_day" in table:
        at, where = table["last_scan_day"], "last scan"
    else:
        days = info["base_scenario"]["time"]["days"]
        at = table["time.days"] if "time.days" in info["factors"] else days
        where = "follow-up time"
    table = table.copy()
    table[name] = table[name].where(~censored, at)
    count = int(censored.sum())
    notes.append(f"{name}: {count} run(s) without progression count at their {where}")
    return table


def main_effects(ok: pd.DataFrame, factors: list[str], names: list[str]) -> pd.DataFrame:
    """Mean, standard error and count of each metric at each level of each factor."""
    rows = []
    for metric in names:
        y = _numeric(ok, metric)
        for factor in factors:
            for level, values in y.groupby(ok[factor], sort=True):
                values = values.dropna()
                sem = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else np.nan
                rows.append(
                    {
                        "metric": metric,
                        "factor": factor,
                        "level": level,
                        "mean": values.mean(),
                        "sem": sem,
                        "n": len(values),
                    }
                )
    effects = pd.DataFrame(rows)
    if effects["level"].map(type).nunique() > 1:  # mixed levels cannot be one Parquet type
        effects["level"] = effects["level"].astype(str)
    return effects


def sensitivity(table: pd.DataFrame, info: dict[str, Any], notes: list[str]) -> Analysis:
    """SALib indices of each numeric metric, on per-point means over replicates."""
    design = info["sweep"]["design"]
    factors = info["factors"]
    problem = {"num_vars": len(factors), "names": factors, "bounds": [[0.0, 1.0]] * len(factors)}
    points = table.groupby("point", sort=True)
    unit = points[[f"unit:{f}" for f in factors]].first().to_numpy()
    seed = info["sweep"]["seed"]
    method = {"sobol": "Sobol' indices", "morris": "Morris screening", "latin": "RBD-FAST"}
    rows = []
    for metric in info["metrics"]:
        if metric in CATEGORICAL_METRICS:
            notes.append(f"{metric}: categorical, no indices")
            continue
        y = _numeric(table.where(table["status"] == "ok"), metric).groupby(table["point"]).mean()
        y = y.reindex(range(len(unit))).to_numpy()
        missing = int(np.isnan(y).sum())
        if missing:
            notes.append(f"{metric}: {missing} design point(s) without a value, no indices")
            continue
        if np.ptp(y) == 0:
            notes.append(f"{metric}: the same at every point, no indices")
            continue
        try:
            rows += _indices(design, problem, unit, y, seed, metric)
        except (ValueError, ZeroDivisionError, FloatingPointError) as exc:  # too few points
            notes.append(f"{metric}: SALib could not compute indices ({exc})")
    return Analysis(method[design["method"]], pd.DataFrame(rows), notes=notes)


def _indices(
    design: dict[str, Any],
    problem: dict[str, Any],
    unit: np.ndarray,
    y: np.ndarray,
    seed: int,
    metric: str,
) -> list[dict[str, Any]]:
    common = {"num_resamples": RESAMPLES, "conf_level": CONFIDENCE, "seed": seed}
    if design["method"] == "sobol":
        from SALib.analyze import sobol

        result = sobol.analyze(problem, y, calc_second_order=design["second_order"], **common)
        pairs = [("S1", "S1_conf"), ("ST", "ST_conf")]
    elif design["method"] == "morris":
        from SALib.analyze import morris

        result = morris.analyze(problem, unit, y, num_levels=design["morris_levels"], **common)
        result["sigma_conf"] = np.full(len(problem["names"]), np.nan)  # SALib gives none
        pairs = [("mu_star", "mu_star_conf"), ("sigma", "sigma_conf")]
    else:
        from SALib.analyze import rbd_fast

        # RBD-FAST's harmonics M: SALib's 10 needs ~100+ points; fewer make its bootstrap fail
        harmonics = max(1, min(10, len(y) // 16))
        result = rbd_fast.analyze(problem, unit, y, M=harmonics, **common)
        pairs = [("S1", "S1_conf")]
    names = problem["names"]
    rows = [
        {
            "metric": metric,
            "factor": factor,
            "index": index,
            "value": float(result[index][i]),
            "conf": float(result[conf][i]),
        }
        for index, conf in pairs
        for i, factor in enumerate(names)
    ]
    if design["method"] == "sobol" and design["second_order"]:
        rows += [
            {
                "metric": metric,
                "factor": f"{names[i]} × {names[j]}",
                "index": "S2",
                "value": float(result["S2"][i, j]),
                "conf": float(result["S2_conf"][i, j]),
            }
            for i in range(len(names))
            for j in range(i + 1, len(names))
        ]
    return rows
