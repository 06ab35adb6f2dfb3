"""Immune phenotype presets (inflamed, excluded, desert) as data.

A preset fills in what a scenario leaves unset. The numbers are assumptions chosen to reproduce
the three histological patterns (Chen & Mellman, Nature 2017, qualitative): T cells in the tumour
bed (inflamed), T cells held in the stroma at the margin (excluded), few T cells anywhere (desert).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class ImmunePreset:
    priming: float  # baseline systemic priming of tumour-specific T cells, 0..1
    cd8_per_mm2: float  # initial CD8 density where they are seeded, cells/mm²
    cd8_in_margin_only: bool  # seed CD8 in the stromal margin instead of the tumour bed
    capsule_width_um: float  # dense stromal ring around the tumour, µm
    macrophage_per_mm2: float
    mdsc_per_mm2: float
    treg_per_cd8: float


PRESETS: dict[str, ImmunePreset] = {
    "inflamed": ImmunePreset(
        priming=1.0,
        cd8_per_mm2=300.0,
        cd8_in_margin_only=False,
        capsule_width_um=0.0,
        macrophage_per_mm2=150.0,
        mdsc_per_mm2=20.0,
        treg_per_cd8=0.25,
    ),
    "excluded": ImmunePreset(
        priming=0.6,
        cd8_per_mm2=300.0,
        cd8_in_margin_only=True,
        capsule_width_um=120.0,
        macrophage_per_mm2=150.0,
        mdsc_per_mm2=40.0,
        treg_per_cd8=0.25,
    ),
    "desert": ImmunePreset(
        priming=0.05,
        cd8_per_mm2=10.0,
        cd8_in_margin_only=False,
        capsule_width_um=0.0,
        macrophage_per_mm2=100.0,
        mdsc_per_mm2=40.0,
        treg_per_cd8=0.5,
    ),
}
