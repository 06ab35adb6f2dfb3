"""Figures of a virtual trial from its ``patients`` table: Kaplan–Meier PFS, a forest plot of
subgroup hazard ratios, and the per-patient waterfall, spider and swimmer plots.

Each function returns a ``matplotlib.figure.Figure`` of its own (no pyplot state: nothing to
close, safe to call in a loop). Times on the axes are in months (30.4375 d); the patients
table is described in docs/trials.md. An arm without responders, progressions or follow-up
scans gives an empty (labelled) panel, never an error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.plotting import add_at_risk_counts
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, FormatStrFormatter, NullFormatter

from gcsim.trial.stats import DAYS_PER_MONTH, _arms, _require

DPI = 100
ARM_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink")
# RECIST and iRECIST best responses share a colour per level of response
RESPONSE_COLOURS = {
    "CR": "#1a7f37",
    "iCR": "#1a7f37",
    "PR": "#6cc24a",
    "iPR": "#6cc24a",
    "SD": "#e3b505",
    "iSD": "#e3b505",
    "iUPD": "#f28e2b",
    "PD": "#d62728",
    "iCPD": "#d62728",
    "NE": "#9e9e9e",
}
RESPONSE_ORDER = tuple(RESPONSE_COLOURS)
HR_TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)
PR_LINE_PCT, PD_LINE_PCT = -30.0, 20.0  # RECIST 1.1: partial response, progression (SLD)


def _arm_colours(arms: Sequence[str]) -> dict[str, str]:
    return {arm: ARM_COLOURS[i % len(ARM_COLOURS)] for i, arm in enumerate(arms)}


def _response_colour(best: Any) -> str:
    return RESPONSE_COLOURS.get(str(best), RESPONSE_COLOURS["NE"])


def _response_legend(responses: Sequence[Any]) -> list[Patch]:
    present = {str(r) for r in responses}
    return [Patch(color=RESPONSE_COLOURS[r], label=r) for r in RESPONSE_ORDER if r in present]


def _empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="0.4")


def _recist_lines(ax: Axes) -> None:
    ax.axhline(0, color="0.3", lw=0.8)
    ax.axhline(PR_LINE_PCT, color="0.3", lw=0.8, ls="--")
    ax.axhline(PD_LINE_PCT, color="0.3", lw=0.8, ls=":")


def _month_ticks(last_month: float) -> np.ndarray:
    """Ticks every 1, 3 or 6 months, the last one at or just past ``last_month``: the at-risk
    counts are given at the ticks, so the end of follow-up gets one."""
    step = 1 if last_month <= 6 else 3 if last_month <= 24 else 6
    # a follow-up of 365 d is 11.99 months: round before taking the ceiling
    return np.arange(0, step * math.ceil(round(last_month, 1) / step) + 1e-9, step)


def km_figure(patients: pd.DataFrame, arms: Sequence[str] | None = None) -> Figure:
    """Kaplan–Meier curves of progression-free survival per arm (95 % pointwise CI bands,
    censoring ticks), x in months, with the numbers at risk under the axis.

    Parameters
    ----------
    patients : DataFrame
        Needs ``arm``, ``pfs_days``, ``pfs_event``.
    arms : sequence of str, optional
        Arms to draw, in order; default: the table's arms in order of appearance.
    """
    _require(patients, ("arm", "pfs_days", "pfs_event"))
    arms = _arms(patients, arms)
    colours = _arm_colours(arms)
    fig = Figure(figsize=(7.5, 4.2 + 0.25 * len(arms)), dpi=DPI)
    # fixed margins, not a layout engine: the at-risk table is placed from the axes position;
    # the left one leaves room for the arm names that label its rows
    widest = max(len(str(a)) for a in arms)
    fig.subplots_adjust(
        left=min(0.12 + 0.011 * widest, 0.4), right=0.96, top=0.92, bottom=0.2 + 0.05 * len(arms)
    )
    ax = fig.add_subplot()
    fitters = []
    for arm in arms:
        group = patients[patients["arm"] == arm]
        fitter = KaplanMeierFitter().fit(
            group["pfs_days"].to_numpy(dtype=float) / DAYS_PER_MONTH,
            group["pfs_event"].to_numpy(dtype=bool),
            label=str(arm),
        )
        fitter.plot_survival_function(
            ax=ax, color=colours[arm], show_censors=True, censor_styles={"ms": 5, "marker": "|"}
        )
        fitters.append(fitter)
    last = max(float(patients.loc[patients["arm"].isin(arms), "pfs_days"].max()), 1.0)
    ticks = _month_ticks(last / DAYS_PER_MONTH)
    ax.set_xticks(ticks)
    ax.set_xlim(0, ticks[-1])
    ax.set_ylim(0, 1.03)
    ax.set_xlabel("months since the first treatment day")
    ax.set_ylabel("progression-free")
    ax.set_title("Progression-free survival (Kaplan–Meier)")
    ax.legend(loc="upper right", frameon=False)
    add_at_risk_counts(*fitters, ax=ax, fig=fig, rows_to_show=["At risk"], xticks=list(ticks))
    return fig


def forest_figure(table: pd.DataFrame) -> Figure:
    """Forest plot of hazard ratios with 95 % CIs, one row per subgroup (and per arm when the
    table holds several), log x axis, a line at HR = 1, n and HR printed on the right.

    Parameters
    ----------
    table : DataFrame
        ``gcsim.trial.stats.subgroup_hazard_ratios`` output (several arms' concatenated are
        drawn with one colour per arm). Rows without an estimate say "not estimable".
    """
    if table.empty:  # e.g. a single-arm trial: nothing to compare
        fig = Figure(figsize=(8.5, 1.6), dpi=DPI, layout="constrained")
        ax = fig.add_subplot()
        _empty(ax, "no hazard ratios to show")
        ax.set_axis_off()
        return fig
    _require(
        table, ("subgroup", "arm", "reference", "n_reference", "n_arm", "hr", "hr_low", "hr_high")
    )
    subgroups = list(pd.unique(table["subgroup"]))
    arms = list(pd.unique(table["arm"]))
    colours = _arm_colours(arms)
    n_lines = max(len(subgroups) * len(arms), 1)
    fig = Figure(figsize=(8.5, 1.6 + 0.32 * n_lines), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    finite = table[["hr_low", "hr_high"]].to_numpy(dtype=float)
    finite = finite[np.isfinite(finite) & (finite > 0)]
    low = min(float(finite.min()) if finite.size else 0.5, 0.5) / 1.3
    high = max(float(finite.max()) if finite.size else 2.0, 2.0) * 1.3
    ax.set_xscale("log")
    ax.set_xlim(low, high)
    ax.axvline(1.0, color="0.3", lw=0.9, ls="--")

    # top to bottom: subgroups in table order, within each the arms in table order
    for i, subgroup in enumerate(subgroups):
        for j, arm in enumerate(arms):
            row = table[(table["subgroup"] == subgroup) & (table["arm"] == arm)]
            if row.empty:
                continue
            row = row.iloc[0]
            y = n_lines - i * len(arms) - j
            hr, lo, hi = (float(row[k]) for k in ("hr", "hr_low", "hr_high"))
            if math.isfinite(hr) and hr > 0:
                shown_lo, shown_hi = max(lo, low), min(hi, high)  # a bound off the axis: clipped
                ax.errorbar(
                    hr,
                    y,
                    xerr=[[hr - shown_lo], [shown_hi - hr]],
                    fmt="s",
                    color=colours[arm],
                    ms=5,
                    capsize=3,
                    lw=1.2,
                )
                text = f"{hr:.2f} ({lo:.2f}–{hi:.2f})"
            else:
                text = "not estimable"
            ax.annotate(
                f"{text}, n {int(row['n_reference'])}/{int(row['n_arm'])}",
                xy=(1.01, y),
                xycoords=("axes fraction", "data"),
                va="center",
                fontsize=8,
            )
    ticks = [n_lines - i * len(arms) - (len(arms) - 1) / 2 for i in range(len(subgroups))]
    ax.set_yticks(ticks, [str(s) for s in subgroups])
    ax.set_ylim(0.4, n_lines + 0.6)
    reference = str(table["reference"].iloc[0])
    ax.set_xlabel(f"hazard ratio of progression vs {reference} (log scale; < 1 favours the arm)")
    ax.set_title("Subgroups: HR (95 % CI), n reference/arm", loc="left")
    if len(arms) > 1:
        for i in range(1, len(subgroups)):  # separate the subgroups' blocks of arms
            ax.axhline(n_lines - i * len(arms) + 0.5, color="0.85", lw=0.8)
        fig.legend(
            handles=[Line2D([], [], color=colours[a], marker="s", label=str(a)) for a in arms],
            loc="outside lower center",
            ncols=len(arms),
            frameon=False,
        )
    ax.xaxis.set_major_locator(FixedLocator([t for t in HR_TICKS if low <= t <= high]))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    return fig


def waterfall_figure(
    patients: pd.DataFrame,
    arms: Sequence[str] | None = None,
    colour_by: Literal["arm", "best_response"] = "arm",
) -> Figure:
    """Waterfall plot: each patient's best % change of the SLD from baseline, one bar per
    patient and arm, sorted from the largest growth to the largest shrinkage, with the RECIST
    lines at −30 % (partial response) and +20 % (progression).

    Parameters
    ----------
    patients : DataFrame
        Needs ``arm``, ``best_pct_change`` (%, NaN without a follow-up scan: not drawn, but
        counted in the title) and, to colour by it, ``best_response``.
    arms : sequence of str, optional
        Arms to draw; default: all, in order of appearance.
    colour_by : {"arm", "best_response"}
        What the bar colours show.
    """
    _require(patients, ("arm", "best_pct_change"))
    if colour_by not in ("arm", "best_response"):
        raise ValueError(f"colour_by must be 'arm' or 'best_response', not {colour_by!r}")
    if colour_by == "best_response":
        _require(patients, ("best_response",))
    arms = _arms(patients, arms)
    rows = patients[patients["arm"].isin(arms)]
    change = rows["best_pct_change"].to_numpy(dtype=float)
    shown = rows[np.isfinite(change)].sort_values("best_pct_change", ascending=False)
    fig = Figure(figsize=(8.5, 4.2), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    missing = len(rows) - len(shown)
    ax.set_title(
        "Best % change of the sum of lesion diameters"
        + (f" ({missing} without a follow-up scan not shown)" if missing else ""),
        loc="left",
    )
    ax.set_ylabel("best change from baseline (%)")
    ax.set_xticks([])
    ax.set_xlabel("patients (one bar per patient and arm), sorted")
    _recist_lines(ax)
    if shown.empty:
        _empty(ax, "no patient has a follow-up scan")
        return fig
    if colour_by == "arm":
        colours = _arm_colours(arms)
        bar_colours = [colours[a] for a in shown["arm"]]
        handles = [Patch(color=colours[a], label=str(a)) for a in arms if a in set(shown["arm"])]
    else:
        bar_colours = [_response_colour(b) for b in shown["best_response"]]
        handles = _response_legend(shown["best_response"])
    ax.bar(np.arange(len(shown)), shown["best_pct_change"], color=bar_colours, width=0.85)
    ax.set_xlim(-0.6, len(shown) - 0.4)
    ax.legend(handles=handles, loc="upper right", frameon=False, ncols=min(len(handles), 4))
    return fig


def _scans(row: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """A patient's scan days and % change of the SLD from baseline (finite scans only)."""
    days, sld = row.get("scan_days"), row.get("scan_sld_mm")
    if days is None or sld is None or np.ndim(days) != 1 or len(days) == 0:
        return np.empty(0), np.empty(0)
    days, sld = np.asarray(days, dtype=float), np.asarray(sld, dtype=float)
    baseline = float(row.get("baseline_sld_mm", math.nan))
    if not (math.isfinite(baseline) and baseline > 0):
        baseline = float(sld[0])  # the first scan is the baseline scan (day 0)
    if not (math.isfinite(baseline) and baseline > 0):
        return np.empty(0), np.empty(0)
    keep = np.isfinite(days) & np.isfinite(sld)
    return days[keep], 100.0 * (sld[keep] / baseline - 1.0)


def spider_figure(patients: pd.DataFrame, arms: Sequence[str] | None = None) -> Figure:
    """Spider plot: % change of the SLD from baseline at each scan, one line per patient
    coloured by best response, one panel per arm, x in months.

    Parameters
    ----------
    patients : DataFrame
        Needs ``arm``, ``scan_days`` and ``scan_sld_mm`` (per-patient lists, same length; days
        and mm), ``best_response``; ``baseline_sld_mm`` (mm) if present is the 0 % line,
        otherwise the first scan.
    arms : sequence of str, optional
        Arms to draw, one panel each; default: all, in order of appearance.
    """
    _require(patients, ("arm", "scan_days", "scan_sld_mm", "best_response"))
    arms = _arms(patients, arms)
    fig = Figure(figsize=(4.0 * len(arms) + 1.2, 4.2), dpi=DPI, layout="constrained")
    axes = fig.subplots(1, len(arms), sharey=True, squeeze=False)[0]
    for ax, arm in zip(axes, arms, strict=True):
        drawn = 0
        for _, row in patients[patients["arm"] == arm].iterrows():
            days, pct = _scans(row)
            if days.size < 2:  # the baseline scan alone is not a line
                continue
            ax.plot(
                days / DAYS_PER_MONTH,
                pct,
                color=_response_colour(row["best_response"]),
                lw=0.9,
                alpha=0.7,
                marker="o",
                ms=2,
            )
            drawn += 1
        _recist_lines(ax)
        ax.set_title(f"{arm} ({drawn} patients)", loc="left")
        ax.set_xlabel("months")
        if not drawn:
            _empty(ax, "no follow-up scans")
    axes[0].set_ylabel("change of SLD from baseline (%)")
    handles = _response_legend(patients.loc[patients["arm"].isin(arms), "best_response"])
    if handles:
        fig.legend(handles=handles, loc="outside right upper", frameon=False)
    return fig


def swimmer_figure(patients: pd.DataFrame, arms: Sequence[str] | None = None) -> Figure:
    """Swimmer plot: time on treatment per patient (bars coloured by best response, longest on
    top), the first response (white triangle) and progression (black cross) marked; one panel
    per arm, x in months.

    Parameters
    ----------
    patients : DataFrame
        Needs ``arm``, ``treatment_days``, ``best_response``, ``response_day`` (NaN without a
        response), ``pfs_days`` and ``pfs_event`` (days).
    arms : sequence of str, optional
        Arms to draw, e.g. only the experimental one; default: all, in order of appearance.
    """
    _require(
        patients,
        ("arm", "treatment_days", "best_response", "response_day", "pfs_days", "pfs_event"),
    )
    arms = _arms(patients, arms)
    per_arm = max(int((patients["arm"] == a).sum()) for a in arms)
    fig = Figure(
        figsize=(4.0 * len(arms) + 1.2, min(2.0 + 0.06 * per_arm, 14.0)),
        dpi=DPI,
        layout="constrained",
    )
    axes = fig.subplots(1, len(arms), sharex=True, squeeze=False)[0]
    for ax, arm in zip(axes, arms, strict=True):
        group = patients[patients["arm"] == arm].sort_values("treatment_days")
        y = np.arange(len(group))
        months = group["treatment_days"].to_numpy(dtype=float) / DAYS_PER_MONTH
        ax.barh(
            y,
            np.nan_to_num(months),
            color=[_response_colour(b) for b in group["best_response"]],
            height=0.8,
        )
        responded = group["response_day"].to_numpy(dtype=float)
        has_response = np.isfinite(responded)
        ax.scatter(
            responded[has_response] / DAYS_PER_MONTH,
            y[has_response],
            marker=">",
            s=18,
            facecolor="white",
            edgecolor="black",
            linewidth=0.7,
            zorder=3,
        )
        progressed = group["pfs_event"].to_numpy(dtype=bool)
        ax.scatter(
            group["pfs_days"].to_numpy(dtype=float)[progressed] / DAYS_PER_MONTH,
            y[progressed],
            marker="x",
            s=16,
            color="black",
            linewidth=0.9,
            zorder=3,
        )
        ax.set_yticks([])
        ax.set_ylim(-0.8, max(len(group), 1) - 0.2)
        ax.set_title(
            f"{arm}\n{int(has_response.sum())} responses, {int(progressed.sum())} progressions",
            loc="left",
        )
        ax.set_xlabel("months on treatment")
    axes[0].set_ylabel("patients")
    handles: list[Any] = _response_legend(patients.loc[patients["arm"].isin(arms), "best_response"])
    handles += [
        Line2D([], [], ls="", marker=">", mfc="white", mec="black", label="first response"),
        Line2D([], [], ls="", marker="x", color="black", label="progression"),
    ]
    fig.legend(handles=handles, loc="outside right upper", frameon=False)
    return fig
