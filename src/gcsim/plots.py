"""Figures of a run: dynamics over time, a snapshot of the lattice, and a patient's lesions
(RECIST spider plot and diameter panel)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from gcsim import cells, recist
from gcsim.markers import marker_fractions
from gcsim.state import MARKER_BITS, TUMOR
from gcsim.therapies import exposure_styles

if TYPE_CHECKING:
    from gcsim.interface import ModelView
    from gcsim.scenario.schema import Scenario


def _colours(layer: cells.Layer) -> dict[int, tuple[str, str]]:
    """``{code: (colour, legend label)}`` of the registered cell types of ``layer``."""
    return {c.code: (c.colour, c.label) for c in cells.cell_types(layer)}


# As declared in the registry (gcsim.cells); kept as names for notebooks that import them.
TISSUE_COLOURS = _colours("tissue")
IMMUNE_COLOURS = _colours("immune")


def lattice_image(model: ModelView) -> np.ndarray:
    """RGB image (height, width, 3) of the model's cells now (public: notebooks use it)."""
    return codes_image(model.state.tissue, model.state.immune)


def codes_image(tissue: np.ndarray, immune: np.ndarray) -> np.ndarray:
    """RGB image (height, width, 3) of tissue and immune codes indexed [x, y] (as the model's
    arrays and stored snapshots are), immune cells drawn over the tissue site they sit on."""
    # a palette indexed by code (not by position), so codes need not be contiguous
    palette = np.zeros((256, 3))
    for code, (colour, _) in _colours("tissue").items():
        palette[code] = matplotlib.colors.to_rgb(colour)
    rgb = palette[tissue]
    for code, (colour, _) in _colours("immune").items():
        rgb[immune == code] = matplotlib.colors.to_rgb(colour)
    return np.transpose(rgb, (1, 0, 2))  # arrays are [x, y]; images are [row = y, column = x]


def legend_handles() -> list[Patch]:
    """One patch per registered cell type (tissue, then immune), for a lattice legend."""
    return [
        Patch(color=c.colour, label=c.label)
        for layer in cells.LAYERS
        for c in cells.cell_types(layer)
    ]


MARKER_POSITIVE = "#d62728"  # a marker's carriers on the marker panel
MARKER_NEGATIVE = "#c7c7c7"  # the other tumour cells; the rest of the lattice is white


def marker_image(tissue: np.ndarray, marker: np.ndarray, bit: int) -> np.ndarray:
    """RGB image (height, width, 3) of one subclone marker: tumour cells carrying ``bit`` of
    ``marker`` (``state.py: MARKER_BITS``) in red, the other tumour cells grey, every other
    site white; arrays indexed [x, y] as the model's are."""
    tumour = tissue == TUMOR
    rgb = np.ones((*tissue.shape, 3))
    rgb[tumour] = matplotlib.colors.to_rgb(MARKER_NEGATIVE)
    rgb[tumour & (marker & bit > 0)] = matplotlib.colors.to_rgb(MARKER_POSITIVE)
    return np.transpose(rgb, (1, 0, 2))


def plot_lattice(model: ModelView, path: Path, title: str = "", marker: str | None = None) -> None:
    """Cells (left) and oxygen (right) at the model's current time, with a legend; with
    ``marker`` (a name of ``state.py: MARKER_BITS``, e.g. ``"hrd"``), a third panel shows which
    tumour cells carry it."""
    extent_mm = [
        0,
        model.state.tissue.shape[0] * model.site_um / 1000,
        0,
        model.state.tissue.shape[1] * model.site_um / 1000,
    ]
    if marker is not None and marker not in MARKER_BITS:
        raise ValueError(f"unknown marker {marker!r}; markers: {', '.join(MARKER_BITS)}")
    panels = 2 if marker is None else 3
    fig, axes = plt.subplots(1, panels, figsize=(6.5 * panels, 6), constrained_layout=True)
    left, right = axes[:2]
    left.imshow(
        lattice_image(model),
        origin="lower",
        extent=extent_mm,
        interpolation="nearest",
    )
    left.set_title(f"cells, day {model.time_h / 24:.1f}")
    left.legend(handles=legend_handles(), loc="upper right", fontsize=7, framealpha=0.8)
    image = right.imshow(model.state.oxygen.T, origin="lower", extent=extent_mm, cmap="viridis")
    right.set_title("oxygen (mmHg)")
    fig.colorbar(image, ax=right, shrink=0.8)
    if marker is not None:
        s = model.state
        axes[2].imshow(
            marker_image(s.tissue, s.marker, MARKER_BITS[marker]),
            origin="lower",
            extent=extent_mm,
            interpolation="nearest",
        )
        share = marker_fractions(s.marker, s.tissue == TUMOR)[f"marker_{marker}_fraction"]
        axes[2].set_title(f"{marker}+ tumour cells ({100 * share:.1f} %)")
    for ax in axes:
        ax.set_xlabel("mm")
        ax.set_ylabel("mm")
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# (column, line style, label) of each therapy's exposure line, as the therapies declare them.
EXPOSURE_STYLES = tuple((e.column, e.linestyle, e.label) for e in exposure_styles())
_EXPOSURES = {e.column: e for e in exposure_styles()}


def exposure_fraction(column: str, values: np.ndarray) -> np.ndarray:
    """A time-series column on a 0–1 scale by its therapy's declared ``Exposure.scale``
    (C/EC50 columns as the fraction of maximal effect, C/(C + EC50)); other columns as they
    are."""
    exposure = _EXPOSURES.get(column)
    return values if exposure is None else exposure.fraction(values)


def plot_arms(table: pd.DataFrame, scenario: Scenario, path: Path) -> None:
    """Arms compared: mean over replicates (line) and range (band) of viable tumour relative to
    baseline, CD8 density in the core, hypoxic and perfused-vessel fractions, priming; and the
    exposure of each arm with its dosing days marked."""
    arms = list(scenario.arms)
    fig, axes = plt.subplots(2, 3, figsize=(15 + 1.5 * (len(arms) > 6), 8), layout="constrained")
    colours = arm_colours(len(arms))
    table = table.assign(
        day=table["time_h"] / 24.0,
        burden_ratio=table["tumor_cells"]
        / table.groupby("run_id")["tumor_cells"].transform("first").replace(0, np.nan),
    )
    panels = (
        ("burden_ratio", "viable tumour / day 0"),
        ("cd8_core_per_mm2", "CD8 in the core (cells/mm²)"),
        ("hypoxic_fraction", "hypoxic fraction of tumour"),
        ("perfused_vessel_fraction", "perfused-vessel fraction"),
        ("priming", "T-cell priming (baseline + boost)"),
    )
    for ax, (column, label) in zip(axes.flat, panels, strict=False):
        for i, arm in enumerate(arms):
            runs = table[table["arm"] == arm].pivot(index="day", columns="replicate", values=column)
            colour = colours[i % len(colours)]
            ax.plot(runs.index, runs.mean(axis=1), color=colour, label=arm)
            if runs.shape[1] > 1:
                ax.fill_between(
                    runs.index,
                    runs.min(axis=1),
                    runs.max(axis=1),
                    color=colour,
                    alpha=0.2,
                    linewidth=0,
                )
        ax.set_title(label)
        ax.set_xlabel("day")
        ax.ticklabel_format(axis="y", useOffset=False)  # no "+0.3" offset hiding the values
    axes.flat[0].axhline(1.0, color="grey", linewidth=0.5)
    # priming is the phenotype's baseline plus up to priming.boost (decision 0017): from 0, with a
    # margin that keeps a line at its top in view
    top = float(np.nanmax(table["priming"])) if len(table) else 1.0
    axes.flat[4].set_ylim(-0.02, max(1.0, top) * 1.02)
    # outside the axes, so that it never covers the curves; one entry per arm
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", fontsize=8, ncols=1 + len(arms) // 25)
    _plot_exposure(axes.flat[5], table, scenario, colours)
    fig.suptitle(f"{scenario.name}: {scenario.replicates} replicate(s) per arm (band = range)")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def arm_colours(n: int) -> list[tuple[float, ...]]:
    """``n`` distinct qualitative colours: tab10 up to 10 arms, tab20 up to 20, then evenly
    spaced hues of a perceptual map (never a colour used twice)."""
    if n <= 10:
        return [tuple(c) for c in plt.get_cmap("tab10").colors[:n]]
    if n <= 20:
        pairs = plt.get_cmap("tab20").colors  # dark/light pairs: dark ones first
        return [tuple(c) for c in (pairs[0::2] + pairs[1::2])[:n]]
    return [tuple(plt.get_cmap("turbo")(x)) for x in np.linspace(0.05, 0.95, n)]


def _plot_exposure(ax, table: pd.DataFrame, scenario: Scenario, colours: list) -> None:
    """Effect-level exposure per arm (0–1) and, below zero, one row of dosing marks per arm
    with its treatments' names after its last dose (rows a line apart: names never overlap)."""
    step = 0.1
    for i, (arm, spec) in enumerate(scenario.arms.items()):
        colour = colours[i % len(colours)]
        first = table[(table["arm"] == arm) & (table["replicate"] == 0)]
        for column, style, _ in EXPOSURE_STYLES:
            values = exposure_fraction(column, first[column])
            if values.any():
                ax.plot(first["day"], values, linestyle=style, color=colour)
        row = -step * (i + 1)
        last = 0.0
        for treatment in spec.treatments:
            days = treatment.schedule.dose_days()
            ax.plot(days, [row] * len(days), "|", color=colour, markersize=5)
            last = max(last, *days)
        if spec.treatments:
            ax.annotate(
                " + ".join(t.name() for t in spec.treatments),
                (last, row),
                fontsize=6,
                color=colour,
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
            )
    ax.set_ylim(-step * (len(scenario.arms) + 1), 1.05)
    shown = [(s, n) for c, s, n in EXPOSURE_STYLES if c in table and table[c].to_numpy().any()]
    handles = [plt.Line2D([], [], linestyle=s, color="black", label=n) for s, n in shown]
    if handles:  # only the exposures this scenario gives
        ax.legend(handles=handles, fontsize=7, loc="upper right")
    ax.set_title("exposure (lines) and doses (marks)")
    ax.set_xlabel("day")
    ax.set_xlim(0, scenario.time.days)


def _criteria(scoring: dict[str, Any]) -> str:
    """The response criteria a plot's ``scoring`` applies (its title's name for them)."""
    return "iRECIST" if scoring.get("irecist") else "RECIST 1.1"


def _legend(ax: matplotlib.axes.Axes, own_figure: bool, fontsize: float) -> None:
    """In a figure of its own, the legend goes right of the axes (never over the curves); in a
    caller's figure (``ax=``, e.g. a grid of panels) inside the axes in a small font, so that it
    covers no other panel and is not clipped."""
    if own_figure:
        ax.legend(fontsize=fontsize, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        ax.legend(fontsize=6, loc="best", framealpha=0.7)


def plot_spider(
    lesions: pd.DataFrame,
    *,
    scan_every_days: float = recist.SCAN_EVERY_DAYS,
    ax: matplotlib.axes.Axes | None = None,
    **scoring: Any,
) -> matplotlib.axes.Axes:
    """Spider plot: percent change of the target sum of diameters from baseline at each scan.

    One line per run (``run_id``; a table without it is one run), coloured by ``arm`` (one
    legend entry per arm), with RECIST 1.1's thresholds drawn: +20 % (progression, before the
    5 mm rule and the nadir, which the diameter panel shows) and −30 % (partial response). The
    sums are the ones :func:`gcsim.recist.score_patient` scores (``scoring`` is passed to it).
    Lines carry ``gid`` ``"run <run_id>"``; the thresholds ``"pd_threshold"`` and
    ``"pr_threshold"``. Returns the Axes.
    """
    own_figure = ax is None
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    runs = lesions.groupby("run_id", sort=False) if "run_id" in lesions else [(None, lesions)]
    arms = list(dict.fromkeys(lesions["arm"])) if "arm" in lesions else [None]
    colours = dict(zip(arms, arm_colours(len(arms)), strict=True))
    labelled: set = set()
    for run_id, run in runs:
        response = recist.score_patient(run, scan_every_days=scan_every_days, **scoring)
        change = 100.0 * (response.sld_mm / response.sld_mm[0] - 1.0)
        arm = run["arm"].iloc[0] if "arm" in run else None
        label = str(arm) if arm is not None and arm not in labelled else "_nolegend_"
        labelled.add(arm)
        ax.plot(
            response.scan_days,
            change,
            "o-",
            color=colours[arm],
            markersize=3,
            linewidth=1,
            label=label,
            gid=f"run {run_id}",
        )
    pd_line = ax.axhline(100 * recist.PROGRESSION_INCREASE, color="grey", linestyle="--")
    pr_line = ax.axhline(-100 * recist.PARTIAL_RESPONSE_DECREASE, color="grey", linestyle=":")
    pd_line.set_gid("pd_threshold")
    pr_line.set_gid("pr_threshold")
    ax.axhline(0.0, color="grey", linewidth=0.5)
    ax.set_xlabel("day")
    ax.set_ylabel("sum of target diameters, % change from baseline")
    ax.set_title(f"spider plot ({_criteria(scoring)}: PD +20 % dashed, PR −30 % dotted)")
    if arms != [None]:
        _legend(ax, own_figure, 8)
    return ax


def plot_diameter_panel(
    lesions_of_one_run: pd.DataFrame,
    *,
    scan_every_days: float = recist.SCAN_EVERY_DAYS,
    ax: matplotlib.axes.Axes | None = None,
    **scoring: Any,
) -> matplotlib.axes.Axes:
    """One run's lesions: each diameter over time, the scans, the sum and its RECIST thresholds.

    Each lesion's recorded diameter (short axis for a node) is a continuous line (solid for
    targets, dashed for non-targets, dotted for new lesions; ``gid`` ``"lesion <name>"``); the
    scan days are vertical marks (``gid`` ``"scan"``); the target sum at the scans, as
    :func:`gcsim.recist.score_patient` scores it (``scoring`` is passed to it), is a line with
    markers (``"sld"``); the PR threshold, 70 % of the baseline sum, is a horizontal line
    (``"pr_threshold"``); the PD threshold is a step line (``"pd_threshold"``): the sum at
    which each follow-up scan progresses, ``nadir + max(20 % · nadir, 5 mm)`` from the nadir of
    the scans before it (:func:`gcsim.recist.progression_threshold_mm`). Returns the Axes.
    """
    own_figure = ax is None
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    response = recist.score_patient(lesions_of_one_run, scan_every_days=scan_every_days, **scoring)
    scans, sld = response.scan_days, response.sld_mm
    for day in scans:
        ax.axvline(day, color="0.85", linewidth=0.8, zorder=0, gid="scan")
    colours = arm_colours(lesions_of_one_run["lesion"].nunique())
    for colour, (name, lesion) in zip(
        colours, lesions_of_one_run.groupby("lesion", sort=False), strict=True
    ):
        lesion = lesion.sort_values("time_days", kind="stable")
        first = lesion.iloc[0]
        style = "-" if first["target"] else (":" if first["appeared_day"] > 0 else "--")
        kind = (
            "target" if first["target"] else ("new" if first["appeared_day"] > 0 else "non-target")
        ) + (" node" if first["node"] else "")
        ax.plot(
            lesion["time_days"],
            lesion["diameter_mm"],
            style,
            color=colour,
            linewidth=1,
            label=f"{name} ({first['site']}; {kind})",
            gid=f"lesion {name}",
        )
    ax.plot(scans, sld, "ko-", markersize=4, linewidth=1.5, label="sum of targets", gid="sld")
    ax.axhline(
        (1 - recist.PARTIAL_RESPONSE_DECREASE) * sld[0],
        color="tab:green",
        linestyle=":",
        label="PR: −30 % of baseline sum",
        gid="pr_threshold",
    )
    if len(scans) > 1:
        threshold = recist.progression_threshold_mm(sld)
        ax.plot(
            scans,
            np.concatenate([threshold[:1], threshold]),
            color="tab:red",
            linestyle="--",
            drawstyle="steps-pre",
            label="PD: nadir + max(20 %, 5 mm)",
            gid="pd_threshold",
        )
    for day, category in zip(scans[1:], response.categories, strict=True):
        ax.annotate(
            category,
            (day, 0.98),
            xycoords=("data", "axes fraction"),
            fontsize=7,
            ha="center",
            va="top",
        )
    ax.set_xlabel("day")
    ax.set_ylabel("diameter (mm; nodes: short axis)")
    ax.set_title(
        f"lesions and {_criteria(scoring)} at the scans: best response {response.best_response}"
    )
    _legend(ax, own_figure, 7)
    return ax


def patient_figure(lesions: pd.DataFrame, scenario: Scenario) -> matplotlib.figure.Figure:
    """A patient run's lesions per arm: the spider plot of every replicate (top row) and the
    diameter panel of replicate 0 (bottom row), scored at the scenario's scan schedule as
    ``runs.parquet`` scores them (confirmation when ``response.confirm_after_days`` > 0)."""
    arms = [arm for arm in scenario.arms if (lesions["arm"] == arm).any()]
    scoring = {
        "scan_every_days": scenario.response.scan_every_days,
        "confirm": scenario.response.confirm_after_days > 0,
    }
    fig, axes = plt.subplots(
        2, len(arms), figsize=(5.5 * len(arms), 8), layout="constrained", squeeze=False
    )
    for column, arm in enumerate(arms):
        runs = lesions[lesions["arm"] == arm]
        plot_spider(runs, ax=axes[0, column], **scoring)
        axes[0, column].set_title(f"{arm}: % change of the target sum")
        first = runs[runs["replicate"] == runs["replicate"].min()]
        plot_diameter_panel(first, ax=axes[1, column], **scoring)
        axes[1, column].set_title(f"{arm}, replicate {int(first['replicate'].iloc[0])}")
    fig.suptitle(f"{scenario.name}: RECIST 1.1 on the patient's lesions")
    return fig


def plot_patient(lesions: pd.DataFrame, scenario: Scenario, path: Path) -> None:
    """:func:`patient_figure`, saved to ``path`` (``patient.png`` of a patient run)."""
    fig = patient_figure(lesions, scenario)
    fig.savefig(path, dpi=110)
    plt.close(fig)
