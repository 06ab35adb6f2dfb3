"""Subclone markers (gcsim.markers): the spatial patterns give the fraction asked and are
clustered, ``length_um`` sets the patch size, heritability below 1 loses the marker at the rate
it says, a plain fraction is today's scattered draw, and under a PARP inhibitor the HRD fraction
of the new time-series column falls (the marker-negative cells take over). Bad marker entries
are refused with a located error in tests/test_scenario_errors.py."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from PIL import Image

from conftest import small_model
from gcsim.initial import seed_lattice
from gcsim.kernels.tumor import TUMOR_STATE, tumor_step
from gcsim.markers import MARKER_METRICS, patchy_carriers, sectoral_carriers
from gcsim.model import GastricTumorModel
from gcsim.params import Parameters
from gcsim.phenotypes import PRESETS
from gcsim.plots import MARKER_POSITIVE, marker_image, plot_lattice
from gcsim.rules import CompiledRules
from gcsim.scenario import Scenario
from gcsim.scenario.sections import MarkerDistribution
from gcsim.state import CHEMO_RESISTANT, HRD, MARKER_BITS, TUMOR, LatticeState

P = Parameters()
HER2 = MARKER_BITS["her2"]


def seeded(her2, size: int = 100, radius_um: float = 800.0, seed: int = 0) -> LatticeState:
    """The initial lattice of a scenario whose HER2 marker is ``her2``."""
    scenario = Scenario.model_validate(
        {
            "name": "markers",
            "domain": {"width": size, "height": size},
            "tumor": {"initial_radius_um": radius_um, "subclones": {"her2": her2}},
        }
    )
    state = LatticeState.empty(size, size)
    rng = np.random.default_rng(seed)
    seed_lattice(state, scenario, PRESETS[scenario.immune.phenotype], P, rng)
    return state


def carriers_of(state: LatticeState, bit: int = HER2) -> tuple[np.ndarray, np.ndarray]:
    """(tumour mask, marker-positive mask) of the lattice."""
    tumour = state.tissue == TUMOR
    return tumour, tumour & (state.marker & bit > 0)


def neighbour_agreement(tumour: np.ndarray, positive: np.ndarray) -> float:
    """Of the pairs of side-by-side tumour cells with a positive first cell, the fraction whose
    second cell is positive too: the marker fraction itself when cells are independent."""
    hits = pairs = 0
    for a, b in ((np.s_[:-1, :], np.s_[1:, :]), (np.s_[:, :-1], np.s_[:, 1:])):
        for first, second in ((a, b), (b, a)):
            both = tumour[first] & tumour[second] & positive[first]
            pairs += int(both.sum())
            hits += int((both & positive[second]).sum())
    return hits / pairs


def correlation_length(tumour: np.ndarray, positive: np.ndarray) -> int:
    """The first lag (sites, along x and y) at which the correlation of the marker indicator
    between pairs of tumour cells falls below 1/e."""
    for lag in range(1, min(tumour.shape) // 2):
        firsts, seconds = [], []
        for a, b in ((np.s_[:-lag, :], np.s_[lag:, :]), (np.s_[:, :-lag], np.s_[:, lag:])):
            both = tumour[a] & tumour[b]
            firsts.append(positive[a][both])
            seconds.append(positive[b][both])
        first, second = np.concatenate(firsts), np.concatenate(seconds)
        if np.corrcoef(first, second)[0, 1] < 1 / math.e:
            return lag
    raise AssertionError("the marker is correlated across the whole tumour")


# --- the patterns ----------------------------------------------------------------------------
def test_a_plain_fraction_is_the_scattered_pattern_draw_for_draw():
    plain = seeded(0.3)
    mapping = seeded({"fraction": 0.3, "pattern": "scattered", "heritability": 1.0})
    for name, array in plain.arrays().items():
        np.testing.assert_array_equal(array, getattr(mapping, name), err_msg=name)


@pytest.mark.parametrize("fraction", [0.1, 0.3, 0.6])
def test_patchy_and_sectoral_give_the_fraction_asked_and_cluster(fraction):
    tumour, scattered = carriers_of(seeded(fraction))
    n = int(tumour.sum())
    assert abs(scattered.sum() / n - fraction) < 4 * math.sqrt(fraction * (1 - fraction) / n)
    # scattered cells are independent: a positive cell's neighbour is positive at the fraction
    assert neighbour_agreement(tumour, scattered) == pytest.approx(fraction, abs=0.05)
    for pattern in ("patchy", "sectoral"):
        tumour, positive = carriers_of(seeded({"fraction": fraction, "pattern": pattern}))
        assert positive.sum() == round(fraction * tumour.sum()), pattern  # exactly, by rank
        # measured 0.90-0.97 (patchy, 200 µm) and 0.96-0.99 (sectoral)
        assert neighbour_agreement(tumour, positive) > 0.85, pattern


def test_a_sector_is_one_arc_around_the_tumour_centre():
    fraction = 0.25
    tumour, positive = carriers_of(seeded({"fraction": fraction, "pattern": "sectoral"}))
    x, y = np.nonzero(tumour)
    px, py = np.nonzero(positive)
    angles = np.sort(np.arctan2(py - y.mean(), px - x.mean()))
    gaps = np.diff(np.concatenate([angles, angles[:1] + 2 * np.pi]))
    # the carriers leave the rest of the circle empty: one gap of the other 75 % of the turn
    assert gaps.max() > 2 * np.pi * (1 - fraction) - 0.1


def test_patch_size_grows_with_length_um():
    lengths = (40.0, 80.0, 160.0)  # µm: 2, 4 and 8 sites
    measured = []
    for length in lengths:
        spec = {"fraction": 0.5, "pattern": "patchy", "length_um": length}
        tumour, positive = carriers_of(seeded(spec, size=220, radius_um=2000.0))
        measured.append(correlation_length(tumour, positive))
    # a median-thresholded Gaussian field: correlation 1/e at ≈ 1.56 length, here 3, 6, 12
    for small, large in itertools.pairwise(measured):
        assert 1.5 < large / small < 2.7, measured


def test_the_pattern_functions_are_pure_and_exact():
    cells = np.zeros((30, 30), dtype=bool)
    cells[5:25, 5:25] = True
    noise = np.random.default_rng(1).standard_normal(cells.shape)
    patchy = patchy_carriers(cells, 0.37, 3.0, noise)
    assert patchy.shape == (400,) and patchy.sum() == 148
    np.testing.assert_array_equal(patchy, patchy_carriers(cells, 0.37, 3.0, noise.copy()))
    sector = sectoral_carriers(cells, 0.5, 0.0)
    assert sector.sum() == 200
    y = np.nonzero(cells)[1]
    assert y[sector].min() >= 14  # the half turn from +x counter-clockwise: the upper half
    assert not sectoral_carriers(cells, 0.0, 1.0).any()
    assert sectoral_carriers(cells, 1.0, 1.0).all()


def test_a_marker_mapping_round_trips_and_a_new_fraction_keeps_its_pattern():
    spec = {"fraction": 0.01, "pattern": "sectoral", "heritability": 0.9}
    scenario = Scenario.model_validate({"name": "a", "tumor": {"subclones": {"hrd": spec}}})
    # a run's scenario is stored as its dump and read back (run.json, checkpoints)
    assert Scenario.model_validate(scenario.model_dump()) == scenario
    subclones = scenario.tumor.subclones
    assert subclones.hrd == MarkerDistribution(**spec)
    assert subclones.distribution("her2") == MarkerDistribution(fraction=0.0)
    # the patient bridge re-seeds a window at the lesion's own fraction (patient/window.py)
    changed = subclones.with_fraction("hrd", 0.2)
    assert changed.hrd == MarkerDistribution(**{**spec, "fraction": 0.2})
    assert subclones.with_fraction("chemo_resistant", 0.2).chemo_resistant == 0.2  # stays plain


# --- heritability ----------------------------------------------------------------------------
def dividing_sheet(n: int = 93) -> LatticeState:
    """Tumour cells every third site (room for each daughter), oxygenated, at mitosis: every
    cell divides in one step, and a daughter lies within one site of its parent."""
    state = LatticeState.empty(n, n)
    parents = np.zeros((n, n), dtype=bool)
    parents[1::3, 1::3] = True
    state.tissue[parents] = TUMOR
    state.cycle[parents] = 1.0
    state.oxygen[:] = 40.0
    return state


@pytest.mark.parametrize("heritability", [1.0, 0.7, 0.3])
def test_each_daughter_keeps_a_marker_with_probability_heritability(heritability):
    state = dividing_sheet()
    # HRD on the parents of every other block column; all carry the resistant bit (kept always)
    block_x = np.arange(state.tissue.shape[0])[:, None] // 3
    carrier = (state.tissue == TUMOR) & (block_x % 2 == 0)
    state.marker[state.tissue == TUMOR] = CHEMO_RESISTANT
    state.marker[carrier] |= HRD
    loss = np.zeros(8)
    loss[3] = 1.0 - heritability  # HRD is bit 8 = 1 << 3
    rules = CompiledRules(P, 1.0, 20.0).base["tumor"]._replace(apoptosis_p=0.0)
    order = np.flatnonzero(state.tissue == TUMOR)
    divisions, *_ = tumor_step(
        np.random.default_rng(5),
        rules,
        loss,
        order,
        *(getattr(state, name) for name in TUMOR_STATE),
    )
    assert divisions == order.size
    tumour = state.tissue == TUMOR
    assert (state.marker[tumour] & CHEMO_RESISTANT).all()  # a fully heritable bit is kept
    # per parent's 3×3 block: how many of its two cells still carry HRD
    has = (tumour & (state.marker & HRD > 0)).reshape(31, 3, 31, 3).sum(axis=(1, 3))
    carriers = has[::2, :].ravel()
    assert not has[1::2, :].any()  # never gained
    h = heritability
    counts = np.bincount(carriers, minlength=3) / carriers.size
    expected = np.array([(1 - h) ** 2, 2 * h * (1 - h), h**2])  # the two daughters independent
    tolerance = 4 * np.sqrt(expected * (1 - expected) / carriers.size) + 1e-12
    assert np.all(np.abs(counts - expected) <= tolerance), (counts, expected)


def test_loss_at_division_makes_the_marker_fraction_fall_in_an_untreated_run():
    def run(heritability: float):
        spec = {"fraction": 1.0, "heritability": heritability}
        m = small_model(tumor__subclones__dkk1_high=spec, time__days=6.0)
        m.run()
        return m, m.datacollector.get_model_vars_dataframe()

    _, kept = run(1.0)
    assert kept["marker_dkk1_high_fraction"].eq(1.0).all()
    h = 0.8
    m, lost = run(h)
    fraction = lost["marker_dkk1_high_fraction"].to_numpy()
    assert fraction[0] == 1.0 and np.all(np.diff(fraction) < 0)  # falls, never regained
    # Non-carriers arise only at division, 2(1 − h) per division of a carrier on average; deaths
    # and the few divisions of non-carriers blur it. Measured: 63 non-carriers for 185
    # divisions, 0.85 of 2(1 − h)·185 (a loss by one daughter only would give half).
    non_carriers = (1.0 - fraction[-1]) * lost["tumor_cells"].iloc[-1]
    expected = 2 * (1 - h) * m.counters["tumor_divisions"]
    assert 0.65 < non_carriers / expected < 1.15, (non_carriers, expected)


# --- readouts --------------------------------------------------------------------------------
def test_the_time_series_has_a_fraction_column_per_marker(ran_small_model):
    assert MARKER_METRICS == tuple(f"marker_{name}_fraction" for name in MARKER_BITS)
    table = ran_small_model.datacollector.get_model_vars_dataframe()
    s = ran_small_model.state
    tumour = s.tissue == TUMOR
    for name, bit in MARKER_BITS.items():
        column = table[f"marker_{name}_fraction"]
        assert column.iloc[-1] == np.count_nonzero(s.marker[tumour] & bit) / tumour.sum()
    # the default tumour: no marker but the small chemo-resistant subclone
    assert table["marker_hrd_fraction"].eq(0.0).all()
    assert 0 < table["marker_chemo_resistant_fraction"].iloc[0] < 0.01


def olaparib(days: float) -> dict:
    return {
        "type": "parp_inhibitor",
        "drug": "olaparib",
        "dose": {"value": 300, "unit": "mg"},
        "schedule": {"start_day": 0, "interval_days": 0.5, "doses": round(2 * days)},
    }


def test_under_a_parp_inhibitor_hr_proficient_cells_take_over_a_sector():
    """Olaparib dooms HRD cells at their next mitosis (therapies/parp.py): the HRD fraction of
    the time series falls, where untreated it only drifts."""
    days = 28.0
    spec = {
        "name": "selection",
        "seed": 3,
        "domain": {"width": 60, "height": 60},
        "tumor": {
            "initial_radius_um": 300,
            "subclones": {"hrd": {"fraction": 0.5, "pattern": "sectoral"}},
        },
        "time": {"days": days, "record_every_hours": 24},
        "arms": {"none": [], "olaparib": [olaparib(days)]},
    }
    fractions = {}
    for arm in ("none", "olaparib"):
        m = GastricTumorModel(Scenario.model_validate(spec), arm=arm)
        m.run()
        fractions[arm] = m.datacollector.get_model_vars_dataframe()["marker_hrd_fraction"]
    start = fractions["olaparib"].iloc[0]
    assert start == pytest.approx(0.5, abs=0.01)
    # measured: 0.50 -> 0.20 treated (282 cells doomed), 0.50 -> 0.50 untreated
    assert fractions["olaparib"].iloc[-1] < start - 0.15
    assert abs(fractions["none"].iloc[-1] - start) < 0.1


def test_the_lattice_figure_can_show_a_marker(tmp_path: Path):
    tissue = np.full((4, 3), TUMOR, dtype=np.int8)
    tissue[0, 0] = 0
    marker = np.zeros((4, 3), dtype=np.uint8)
    marker[1, 2] = HRD | HER2
    marker[0, 0] = HRD  # not a tumour cell: not shown
    rgb = marker_image(tissue, marker, HRD)
    assert rgb.shape == (3, 4, 3)  # rows are y
    red = np.all(rgb == to_rgb(MARKER_POSITIVE), axis=-1)
    assert red.sum() == 1 and red[2, 1]
    assert np.all(rgb[0, 0] == 1.0)  # white: no tumour cell
    model = small_model(time__days=1.0)
    path = tmp_path / "lattice.png"
    plot_lattice(model, path, marker="chemo_resistant")
    with Image.open(path) as image:
        assert image.size[0] > 1.4 * image.size[1]  # three panels side by side
    with pytest.raises(ValueError, match="unknown marker 'her3'"):
        plot_lattice(model, path, marker="her3")
