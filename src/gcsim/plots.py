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

from gcsim.state import (
    CD8,
    EMPTY,
    MACROPHAGE,
    MDSC,
    NECROTIC,
    STROMA,
    TREG,
    TUMOR,
    VESSEL,
)

if TYPE_CHECKING:
    from gcsim.model import GastricTumorModel

TISSUE_COLOURS = {
    EMPTY: ("#f4efe6", "free space"),
    TUMOR: ("#c8553d", "tumour cell"),
    STROMA: ("#d9c7a7", "stroma"),
    VESSEL: ("#7a1e1e", "vessel"),
    NECROTIC: ("#3b3b3b", "necrotic"),
}
IMMUNE_COLOURS = {
    CD8: ("#1f77ff", "CD8 T cell"),
    TREG: ("#9b5de5", "Treg"),
    MDSC: ("#f15bb5", "MDSC"),
    MACROPHAGE: ("#00a36c", "macrophage"),
}


def plot_dynamics(table: pd.DataFrame, path: Path, title: str = "") -> None:
    """Six panels of the main metrics against time in days."""
    days = table["time_h"] / 24.0
    fig, axes = plt.subplots(2, 3, figsize=(13, 7), constrained_layout=True)
    panels = [
        ("viable tumour (mm²)", ["viable_tumor_mm2"]),
        ("CD8 density (cells/mm²)", ["cd8_core_per_mm2", "cd8_margin_per_mm2"]),
        ("tumour fractions", ["hypoxic_fraction", "necrotic_fraction"]),
        ("vessels", ["perfused_vessel_fraction"]),
        ("PD-L1 CPS", ["cps"]),
        (
            "suppressive cells (count)",
            ["treg_cells", "mdsc_cells", "m2_macrophages", "m1_macrophages"],
        ),
    ]
    for ax, (label, columns) in zip(axes.flat, panels, strict=True):
        for column in columns:
            ax.plot(days, table[column], label=column)
        ax.set_title(label)
        ax.set_xlabel("day")
        if len(columns) > 1:
            ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def lattice_image(model: GastricTumorModel) -> np.ndarray:
    """RGB image (height, width, 3) of the tissue layer with immune cells drawn over it."""
    s = model.state
    codes = sorted(TISSUE_COLOURS)
    palette = np.array([matplotlib.colors.to_rgb(TISSUE_COLOURS[c][0]) for c in codes])
    rgb = palette[s.tissue]
    for code, (colour, _) in IMMUNE_COLOURS.items():
        rgb[s.immune == code] = matplotlib.colors.to_rgb(colour)
    return np.transpose(rgb, (1, 0, 2))  # arrays are [x, y]; images are [row = y, column = x]


def plot_lattice(model: GastricTumorModel, path: Path) -> None:
    """Cells (left) and oxygen (right) at the model's current time, with a legend."""
    extent_mm = [
        0,
        model.state.tissue.shape[0] * model.site_um / 1000,
        0,
        model.state.tissue.shape[1] * model.site_um / 1000,
    ]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 6), constrained_layout=True)
    left.imshow(lattice_image(model), origin="lower", extent=extent_mm, interpolation="nearest")
    left.set_title(f"cells, day {model.time_h / 24:.1f}")
    handles = [Patch(color=c, label=n) for c, n in TISSUE_COLOURS.values()]
    handles += [Patch(color=c, label=n) for c, n in IMMUNE_COLOURS.values()]
    left.legend(handles=handles, loc="upper right", fontsize=7, framealpha=0.8)
    image = right.imshow(model.state.oxygen.T, origin="lower", extent=extent_mm, cmap="viridis")
    right.set_title("oxygen (mmHg)")
    fig.colorbar(image, ax=right, shrink=0.8)
    for ax in (left, right):
        ax.set_xlabel("mm")
        ax.set_ylabel("mm")
    fig.savefig(path, dpi=110)
    plt.close(fig)
