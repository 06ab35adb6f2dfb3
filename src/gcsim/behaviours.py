"""The behaviour rules as a PhysiCell-style table: cell type, signal, direction, behaviour,
half-max and Hill power, each a row naming its parameters.

This is the reader's view of the rules that ``gcsim.rules`` compiles for the kernels (a test
keeps the two in agreement). ``gcsim rules`` prints it and docs/parameters.md carries it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Behaviour:
    """One row of the PhysiCell-style rule table: signal → behaviour of a cell type."""

    cell: str
    signal: str
    direction: Literal["up", "down"]
    behaviour: str
    half_max: str | None  # parameter name
    hill: str | None  # parameter name (None: a linear ramp or a threshold)


BEHAVIOURS: tuple[Behaviour, ...] = (
    Behaviour(
        "tumor", "IFN-γ", "up", "PD-L1 expression", "pdl1.induction_half_max", "pdl1.induction_hill"
    ),
    Behaviour(
        "tumor",
        "IFN-γ",
        "up",
        "chemokine secretion",
        "chemokine.ifng_half_max",
        "chemokine.ifng_hill",
    ),
    Behaviour("tumor", "oxygen", "up", "cycle progression", "tumor.proliferation_po2", None),
    Behaviour("tumor", "oxygen", "down", "necrosis", "tumor.necrosis_threshold", None),
    Behaviour("tumor", "oxygen", "down", "VEGF secretion", "tumor.hypoxic_po2", None),
    Behaviour(
        "vessel",
        "VEGF",
        "up",
        "sprouting, destabilisation",
        "vessel.sprout_vegf_half_max",
        "vessel.vegf_hill",
    ),
    Behaviour(
        "vessel",
        "VEGF",
        "down",
        "regression of immature vessels",
        "vessel.vegf_survival_half_max",
        "vessel.vegf_survival_hill",
    ),
    Behaviour(
        "vessel",
        "VEGF",
        "down",
        "blood flow (leak raises interstitial pressure)",
        "vessel.vegf_leak_half_max",
        "vessel.vegf_leak_hill",
    ),
    Behaviour(
        "cd8",
        "chemokine",
        "up",
        "extravasation",
        "chemokine.half_max",
        "chemokine.recruitment_hill",
    ),
    Behaviour(
        "cd8",
        "suppressive cytokine",
        "down",
        "killing",
        "suppression.tgfb_half_max",
        "suppression.tgfb_hill",
    ),
    Behaviour("mdsc", "VEGF", "up", "extravasation", "mdsc.vegf_half_max", "mdsc.vegf_hill"),
    Behaviour(
        "macrophage",
        "IFN-γ",
        "up",
        "M1 polarisation",
        "macrophage.ifng_m1_half_max",
        "macrophage.ifng_m1_hill",
    ),
    Behaviour(
        "macrophage",
        "suppressive cytokine",
        "down",
        "M1 polarisation",
        "macrophage.tgfb_m2_half_max",
        "macrophage.tgfb_m2_hill",
    ),
    Behaviour(
        "macrophage",
        "VEGF",
        "down",
        "M1 polarisation",
        "macrophage.vegf_m2_half_max",
        "macrophage.vegf_m2_hill",
    ),
    Behaviour("macrophage", "oxygen", "up", "M1 polarisation", "macrophage.hypoxia_full_po2", None),
)


def behaviour_table(table: Mapping[str, Any]) -> str:
    """The behaviour rules as a Markdown table; ``table`` maps parameter names to ``Param``."""
    lines = [
        "| cell type | signal | direction | behaviour | half-max | Hill power | source |",
        "|---|---|---|---|---|---|---|",
    ]
    for b in BEHAVIOURS:
        half = table[b.half_max] if b.half_max else None
        hill = table[b.hill] if b.hill else None
        half_text = f"`{half.name}` = {half.value:.4g} {half.unit}" if half else "—"
        hill_text = f"`{hill.name}` = {hill.value:.4g}" if hill else "threshold / ramp"
        source = half.source if half else "—"
        lines.append(
            f"| {b.cell} | {b.signal} | {b.direction} | {b.behaviour} | {half_text} | "
            f"{hill_text} | {source} |"
        )
    return "\n".join(lines) + "\n"
