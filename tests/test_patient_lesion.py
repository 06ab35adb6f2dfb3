"""The whole-lesion compartment's rules (gcsim.patient.lesion): size, LQ at lesion scale,
cytotoxic kill, the advance of cell numbers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from gcsim.kernels.therapy import oxygen_modification
from gcsim.params import DEFAULTS_BY_NAME
from gcsim.patient.lesion import (
    LesionGeometry,
    LesionState,
    RegionRates,
    advance,
    birth_rate,
    cytotoxic_survival,
    fill_regions,
    lesion_survival,
    lq_survival_by_class,
)

SPHERE = LesionGeometry(3, DEFAULTS_BY_NAME["patient.cell_density"].value / 1000.0)
P = {name: DEFAULTS_BY_NAME[name].value for name in ("rt.alpha_tumor", "rt.beta_tumor", "rt.oer")}
OER_K = DEFAULTS_BY_NAME["rt.oer_k"].value


@pytest.mark.parametrize(("diameter", "cells"), [(10, 1.05e8), (20, 8.4e8), (30, 2.83e9)])
def test_sphere_cells_match_the_reference_table(diameter, cells):
    """patient-scale.md: 10 mm ≈ 1·10⁸, 20 mm ≈ 9·10⁸, 30 mm ≈ 3·10⁹ cells at 2·10⁸/mL."""
    assert SPHERE.cells(diameter) == pytest.approx(cells, rel=0.02)
    assert SPHERE.diameter_mm(SPHERE.cells(diameter)) == pytest.approx(diameter)
    assert SPHERE.diameter_mm(0.0) == 0.0


def test_margin_fraction_is_a_shell():
    cells = SPHERE.cells(30.0)
    # 1 − (1 − 0.25/15)³ for a 250 µm shell of a 15 mm radius
    assert SPHERE.margin_fraction(cells, 0.25) == pytest.approx(1 - (1 - 0.25 / 15) ** 3)
    assert SPHERE.margin_fraction(SPHERE.cells(0.4), 0.25) == 1.0
    disc = LesionGeometry(2, 2500.0)
    assert disc.margin_fraction(disc.cells(2.0), 0.25) == pytest.approx(1 - 0.75**2)


def test_lq_by_oxygen_class_follows_the_lattice_rule():
    """Survival per class is the lattice's LQ of the oxygen-modified dose; an anoxic cell gets
    D / OER."""
    po2 = np.array([0.0, 0.0, 1.0, 5.0, 40.0, 40.0])
    classes = lq_survival_by_class(
        po2, 8.0, P["rt.alpha_tumor"], P["rt.beta_tumor"], P["rt.oer"], OER_K
    )
    assert sum(share for share, _ in classes.values()) == pytest.approx(1.0)
    d = 8.0 / P["rt.oer"]
    assert classes["anoxic"] == pytest.approx(
        (2 / 6, math.exp(-P["rt.alpha_tumor"] * d - P["rt.beta_tumor"] * d * d))
    )
    d_oxic = 8.0 * float(oxygen_modification(40.0, P["rt.oer"], OER_K))
    oxic = math.exp(-P["rt.alpha_tumor"] * d_oxic - P["rt.beta_tumor"] * d_oxic**2)
    assert classes["oxic"][1] == pytest.approx(oxic)
    assert classes["anoxic"][1] > 10 * classes["oxic"][1]  # hypoxic cells resist


def test_ablative_rt_of_a_1e9_lesion_with_an_anoxic_tenth_leaves_millions():
    """8 Gy × 3 to 10⁹ cells of which 10 % are anoxic (OER 3, no reoxygenation): ≈ 5·10⁶
    survivors at the model's α, β — order 10⁶, not 0 — and ≈ 2·10³ from the oxic rest."""
    n = np.array([1e8, 9e8])  # anoxic, oxic
    po2 = np.array([0.0, 40.0])
    for _ in range(3):
        classes = lq_survival_by_class(
            po2, 8.0, P["rt.alpha_tumor"], P["rt.beta_tumor"], P["rt.oer"], OER_K
        )
        n = n * np.array([classes["anoxic"][1], classes["oxic"][1]])
    assert 1e6 < n[0] < 1e7
    assert n[1] < 1e4


def test_cytotoxic_survival():
    assert cytotoxic_survival(0.0, 1.0, 1.0, 0.05, 1.0) == 1.0
    sensitive = cytotoxic_survival(10.0, 1.0, 1.0, 0.05, 1.0)
    resistant = cytotoxic_survival(10.0, 1.0, 1.0, 0.05, 0.1)
    quiescent = cytotoxic_survival(10.0, 1.0, 0.0, 0.05, 1.0)
    assert sensitive == pytest.approx(1 - 0.05 * 10 / 11)
    assert sensitive < resistant < 1.0 and quiescent == 1.0


def test_without_a_core_window_the_core_is_inert():
    margin = RegionRates(birth=0.01, death=0.002, kill=0.003, cd8_per_cell=0.2, cycling=0.6)
    rates = fill_regions({"margin": margin})
    assert rates["core"].inert
    assert rates["core"].birth == rates["core"].kill == rates["core"].death == 0.0
    assert rates["core"].cycling == 0.6  # oxygen and cycling taken from the margin
    state = LesionState(1e6, 0.0)
    weights = {"margin": 0.1, "core": 0.9}
    cycle = 1 / 96
    assert birth_rate(rates, weights, state, cycle, displacement=0.0) == pytest.approx(0.001)
    state.doomed = 9e6  # after ablative RT the survivors have room: they cycle freely
    assert birth_rate(rates, weights, state, cycle, displacement=0.0) == pytest.approx(
        0.001 + 0.9 * 0.9 * cycle * 0.6
    )


def test_displacement_grows_the_packed_core_at_its_share_of_the_cycling_rate():
    cycle = 1 / 96
    weights = {"margin": 0.1, "core": 0.9}
    state = LesionState(1e6, 0.0)
    oxic = fill_regions({"margin": RegionRates(birth=0.01, cycling=0.6)})
    grown = birth_rate(oxic, weights, state, cycle, displacement=0.02)
    assert grown == pytest.approx(0.001 + 0.9 * 0.02 * cycle * 0.6)
    # a hypoxic core cycles less, so displaces (and grows) less
    hypoxic = fill_regions({"margin": RegionRates(birth=0.01, cycling=0.2)})
    assert birth_rate(hypoxic, weights, state, cycle, displacement=0.02) < grown
    # a measured core adds displacement to its births into freed room
    core = RegionRates(birth=0.004, cycling=0.5)
    both = {"margin": RegionRates(birth=0.01, cycling=0.6), "core": core}
    assert birth_rate(both, weights, state, cycle, displacement=0.02) == pytest.approx(
        0.001 + 0.9 * (0.004 + 0.02 * cycle * 0.5)
    )
    # doomed cells give their room to their neighbours: no double count of displacement
    state.doomed = 1e6
    assert birth_rate(both, weights, state, cycle, displacement=0.02) == pytest.approx(
        0.001 + 0.9 * (0.5 * (0.004 + 0.02 * cycle * 0.5) + 0.5 * cycle * 0.5)
    )


def test_advance_grows_shrinks_and_dies_out():
    rng = np.random.default_rng(0)
    grow = fill_regions({"margin": RegionRates(birth=0.01)})
    state = LesionState(1e6, 1e4)
    events = advance(
        state, grow, {"margin": 1.0, "core": 0.0}, 10.0, 1 / 96, rng, 1e4, displacement=0.02
    )
    assert state.viable == pytest.approx(1.01e6 * 1.1)  # n (1 + b t), expected counts
    assert events.births == pytest.approx(1.01e5)
    kill = fill_regions({"margin": RegionRates(kill=0.5, death=0.5)})
    small = LesionState(50.0, 0.0)
    for _ in range(20):
        advance(small, kill, {"margin": 1.0, "core": 0.0}, 6.0, 1 / 96, rng, 1e4, displacement=0.02)
    assert small.viable == 0.0  # below patient.stochastic_below: drawn, and gone


def test_lesion_survival_weights_regions_and_classes():
    oxic = lq_survival_by_class(
        np.full(9, 40.0), 8.0, P["rt.alpha_tumor"], P["rt.beta_tumor"], P["rt.oer"], OER_K
    )
    anoxic = lq_survival_by_class(
        np.zeros(3), 8.0, P["rt.alpha_tumor"], P["rt.beta_tumor"], P["rt.oer"], OER_K
    )
    total, classes = lesion_survival({"margin": oxic, "core": anoxic}, {"margin": 0.9, "core": 0.1})
    assert classes["anoxic"][0] == pytest.approx(0.1) and classes["oxic"][0] == pytest.approx(0.9)
    assert total == pytest.approx(0.9 * oxic["oxic"][1] + 0.1 * anoxic["anoxic"][1])
    empty = lq_survival_by_class(np.zeros(0), 8.0, 0.3, 0.03, 3.0, 3.0)
    alone, _ = lesion_survival({"margin": oxic, "core": empty}, {"margin": 0.2, "core": 0.8})
    assert alone == pytest.approx(oxic["oxic"][1])  # the unsampled core takes the margin's
    assert lesion_survival({"margin": empty, "core": empty}, {"margin": 0.5, "core": 0.5})[0] == 1.0


def test_a_patient_without_a_target_lesion_is_not_evaluable():
    """No measurable disease: NE, no PFS; with a target the same rows are scored (RECIST)."""
    from gcsim.patient.response import patient_response
    from gcsim.scenario.schema import Response

    days = [0.0, 42.0, 84.0]
    lesions = pd.DataFrame(
        {
            "lesion": "A",
            "site": "liver",
            "target": False,
            "node": False,
            "appeared_day": 0.0,
            "time_days": days,
            "diameter_mm": [20.0, 12.0, 10.0],
        }
    )
    unscored = patient_response(lesions, Response())
    assert unscored["best_response"] == "NE" and math.isnan(unscored["pfs_days"])
    scored = patient_response(lesions.assign(target=True), Response())
    assert scored["best_response"] == "PR" and scored["objective_response"]
