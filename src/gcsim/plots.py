"""Figures of a run: dynamics over time and a snapshot of the lattice."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from gcsim import cells
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


def plot_lattice(model: ModelView, path: Path, title: str = "") -> None:
    """Cells (left) and oxygen (right) at the model's current time, with a legend."""
    extent_mm = [
        0,
        model.state.tissue.shape[0] * model.site_um / 1000,
        0,
        model.state.tissue.shape[1] * model.site_um / 1000,
    ]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 6), constrained_layout=True)
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
    for ax in (left, right):
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
                ax.plot(first["day"], values, style, color=colour)
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
