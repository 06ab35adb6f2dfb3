"""Initial conditions: a disc of tumour in stromal tissue with vessels and an immune infiltrate."""

from __future__ import annotations

import numpy as np

from gcsim.markers import carriers
from gcsim.params import Parameters
from gcsim.phenotypes import ImmunePreset
from gcsim.scenario.schema import Scenario
from gcsim.state import (
    CD8,
    MACROPHAGE,
    MARKER_BITS,
    MDSC,
    STROMA,
    TREG,
    TUMOR,
    VESSEL,
    LatticeState,
)

INITIAL_M1 = 0.3  # tumour-associated macrophages start M2-leaning (assumption)
# tumour vessels start partly immature, near 1 − Hill(VEGF) of an untreated tumour (assumption)
INTRATUMORAL_MATURITY = 0.6


def seed_lattice(
    state: LatticeState,
    scenario: Scenario,
    preset: ImmunePreset,
    params: Parameters,
    rng: np.random.Generator,
) -> None:
    """Fill ``state`` with the scenario's initial tissue, vessels, tumour cells and immune cells.

    The tumour's PD-L1 is set so that the CPS measured on the lattice at t = 0 equals
    ``tumor.pdl1_cps`` (immune cells start PD-L1 negative: there is no IFN-γ yet, and the
    myeloid basal level is below the positivity threshold by default).
    """
    nx, ny = state.tissue.shape
    dx = scenario.domain.site_size_um
    x, y = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    r_um = np.hypot(x - (nx - 1) / 2, y - (ny - 1) / 2) * dx
    radius = scenario.tumor.initial_radius_um
    capsule = _or_default(scenario.stroma.capsule_width_um, preset.capsule_width_um)
    tumour = r_um <= radius
    ring = (r_um > radius) & (r_um <= radius + capsule)
    normal = ~tumour & ~ring

    state.tissue[normal & (rng.random((nx, ny)) < scenario.stroma.fraction)] = STROMA
    state.tissue[ring] = STROMA
    state.tissue[tumour] = TUMOR
    normal_vessels = normal & (rng.random((nx, ny)) < scenario.vessels.density)
    tumour_vessels = tumour & (rng.random((nx, ny)) < scenario.vessels.intratumoral_density)
    state.tissue[normal_vessels | tumour_vessels] = VESSEL
    state.maturity[normal_vessels] = 1.0
    state.maturity[tumour_vessels] = INTRATUMORAL_MATURITY

    cells = state.tissue == TUMOR
    n = int(cells.sum())
    state.cycle[cells] = rng.random(n)
    ag = scenario.tumor.antigenicity
    state.antigen[cells] = np.clip(rng.normal(ag.mean, ag.sd, n), 0.0, 1.0)
    markers = np.zeros(n, dtype=np.uint8)
    for name, bit in MARKER_BITS.items():
        markers[carriers(scenario.tumor.subclones.distribution(name), cells, dx, rng)] |= bit
    state.marker[cells] = markers
    positive = rng.permutation(n) < round(scenario.tumor.pdl1_cps / 100.0 * n)
    level = np.where(positive, params["pdl1.constitutive_level"], 0.0)
    state.pdl1_const[cells] = level
    state.pdl1[cells] = level

    per_site_mm2 = (dx / 1000.0) ** 2
    cd8_density = _or_default(scenario.immune.cd8_per_mm2, preset.cd8_per_mm2)
    cd8_zone = (
        ring | (normal & (r_um <= radius + max(capsule, 200.0)))
        if (preset.cd8_in_margin_only)
        else tumour
    )
    _scatter(state, rng, cd8_zone, CD8, cd8_density * per_site_mm2)
    _scatter(state, rng, tumour, TREG, cd8_density * preset.treg_per_cd8 * per_site_mm2)
    near = r_um <= radius + 500.0
    _scatter(state, rng, near, MACROPHAGE, preset.macrophage_per_mm2 * per_site_mm2)
    state.polarisation[state.immune == MACROPHAGE] = INITIAL_M1
    _scatter(state, rng, near, MDSC, preset.mdsc_per_mm2 * per_site_mm2)


def _or_default(value: float | None, default: float) -> float:
    return default if value is None else value


def _scatter(
    state: LatticeState, rng: np.random.Generator, zone: np.ndarray, kind: int, probability: float
) -> None:
    """Place cells of ``kind`` on free immune sites of ``zone``, each with ``probability``."""
    free = zone & (state.immune == 0)
    draw = rng.random(state.immune.shape) < min(1.0, probability)
    state.immune[free & draw] = kind
