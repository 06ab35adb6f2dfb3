"""Oncolytic virus: the transport and infection kernels, spread from an injection and
clearance, dose, neutralising antibodies on repeat IV dosing, immunogenic lysis, determinism,
checkpoints and located errors for every new field (../shared/reference/sensitisers.md).
Small models (60² sites, 300 µm tumour, days); the numbers in comments are what these tests
measured when written."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import quad

from gcsim.checkpoint import capture, restore
from gcsim.kernels.rng import stream_handle
from gcsim.kernels.virus import virus_infection, virus_transport
from gcsim.model import GastricTumorModel
from gcsim.scenario import Scenario
from gcsim.state import EMPTY, NECROTIC, STROMA, TUMOR, VESSEL
from gcsim.therapies.pk import Pharmacokinetics
from test_scenario_errors import assert_located
from treatments import pembrolizumab


def injection(pfu_per_ml: float = 1e9, days=(0.0,), radius_um: float | None = 60.0, **extra):
    """An intratumoral injection, into a central disc of ``radius_um`` (None: the lesion)."""
    entry = {
        "type": "oncolytic_virus",
        "route": "intratumoral",
        "dose": {"value": pfu_per_ml, "unit": "PFU/mL"},
        "injected_fraction": 1.0,
        "schedule": {"days": list(days)},
        **extra,
    }
    if radius_um is not None:
        entry["region"] = {"center_um": [0, 0], "radius_um": radius_um}
    return entry


def infusion(pfu: float = 1e12, days=(0.0, 14.0)) -> dict:
    return {
        "type": "oncolytic_virus",
        "route": "intravenous",
        "dose": {"value": pfu, "unit": "PFU"},
        "schedule": {"days": list(days)},
    }


def model(treatments: list[dict], seed: int = 1, days: float = 3.0, **fields):
    spec = {
        "name": "virus",
        "seed": seed,
        "domain": {"width": 60, "height": 60},
        "tumor": {"initial_radius_um": 300},
        "time": {"days": days, "record_every_hours": 24},
        "arms": {"arm": treatments},
        **fields,
    }
    return GastricTumorModel(Scenario.model_validate(spec), rng=seed)


def ran(m: GastricTumorModel) -> GastricTumorModel:
    m.run()
    return m


# --- kernels -----------------------------------------------------------------------------------
def transport_reference(virus, tissue, infection, r, substeps, dt, decay, uptake, half, stroma):
    """The transport rule as array operations (an independent formulation of the kernel):
    5-point diffusion with zero beyond the edge, then exact loss at the substep's start rate."""
    virus, taken = virus.copy(), np.zeros_like(virus)
    susceptible = (tissue == TUMOR) & (infection == 0)
    for _ in range(substeps):
        padded = np.pad(virus, 1)
        around = padded[:-2, 1:-1] + padded[2:, 1:-1] + padded[1:-1, :-2] + padded[1:-1, 2:]
        virus = virus + r * (around - 4.0 * virus)
        rate = np.full(virus.shape, decay)
        cell = np.where(susceptible, uptake * virus / (virus + half), 0.0)
        rate += cell + np.where(tissue == STROMA, stroma, 0.0)
        lost = virus * -np.expm1(-rate * dt)
        taken += np.where(susceptible & (lost > 0), lost * cell / np.maximum(rate, 1e-300), 0.0)
        virus = virus - lost
    return virus, taken


def test_transport_kernel_equals_the_array_formulation():
    rng = np.random.default_rng(4)
    shape = (13, 9)
    tissue = rng.choice(np.array([EMPTY, TUMOR, STROMA, VESSEL, NECROTIC], np.int8), shape)
    infection = np.where(rng.random(shape) < 0.3, 0.4, 0.0).astype(np.float32)
    virus = rng.random(shape) * 50.0
    virus[3, 4] = 6600.0  # a burst
    args = (0.18, 3, 20.0, 0.0029, 0.02, 10.0, 1.0)
    expected, expected_taken = transport_reference(virus, tissue, infection, *args)
    out, taken = virus.copy(), np.zeros(shape)
    left = virus_transport(out, np.empty(shape), taken, tissue, infection, *args)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(taken, expected_taken, rtol=1e-12, atol=1e-14)
    assert left == pytest.approx(out.sum(), rel=1e-12)
    assert taken[(tissue != TUMOR) | (infection > 0)].max() == 0.0  # only uninfected tumour


def test_transport_conserves_virus_away_from_the_edge_without_loss():
    virus = np.zeros((21, 21))
    virus[10, 10] = 1000.0
    tissue = np.zeros((21, 21), np.int8)
    out = virus.copy()
    left = virus_transport(
        out, np.empty_like(out), np.zeros_like(out), tissue, np.zeros((21, 21), np.float32),
        0.2, 5, 10.0, 0.0, 0.02, 10.0, 1.0,
    )  # fmt: skip
    assert left == pytest.approx(1000.0, rel=1e-12) and out.min() >= 0.0
    assert out[10, 10] < 1000.0 and out[10, 15] > 0.0  # spread five sites in five substeps


def infection_state(seed: int = 5):
    """A sheet of tumour cells: some infected at all stages, two infected sites whose cell died
    (killed), virus taken up by the rest."""
    rng = np.random.default_rng(seed)
    shape = (20, 20)
    tissue = np.full(shape, TUMOR, np.int8)
    infection = np.where(rng.random(shape) < 0.4, rng.random(shape), 0.0).astype(np.float32)
    infection[0, 0] = infection[0, 1] = 0.5
    tissue[0, 0], tissue[0, 1] = EMPTY, NECROTIC
    taken = np.where(infection == 0, rng.random(shape) * 2.0, 0.0)
    antigen = (rng.random(shape) * 0.5).astype(np.float32)
    return taken, tissue, infection, antigen, np.zeros(shape)


@pytest.mark.parametrize("rng_form", ["handle", "generator"])
def test_infection_kernel_equals_its_python_source(rng_form):
    compiled, python = list(infection_state()), list(infection_state())
    rng = np.random.default_rng(6)
    out = virus_infection(
        stream_handle(rng) if rng_form == "handle" else rng, 0.06, 0.26, 1.0, 6600.0, *compiled
    )
    python_out = virus_infection.py_func(np.random.default_rng(6), 0.06, 0.26, 1.0, 6600.0, *python)
    assert out == python_out
    for a, b in zip(compiled, python, strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-7, atol=0)
    infections, lyses, cleared, infected, tumour = out
    assert infections > 0 and lyses > 0 and cleared == 2  # every branch ran
    assert 0 < infected < tumour == int((compiled[1] == TUMOR).sum())


def test_an_infected_cell_presents_viral_antigen_then_lyses_with_its_burst():
    taken, tissue, infection, antigen, virus = (a[:1, :1].copy() for a in infection_state())
    tissue[0, 0], infection[0, 0], antigen[0, 0] = TUMOR, 0.0, 0.1
    taken[0, 0] = 50.0  # PFU taken up: certainly infected
    progress = 0.0081 * 60.0 / math.log(6600.0)  # one hour steps: lysis 18.1 h after infection
    steps, rng = 0, np.random.default_rng(0)
    while tissue[0, 0] == TUMOR:
        virus_infection(rng, progress, math.log(10) / math.log(6600), 0.9, 6600.0,
                        taken, tissue, infection, antigen, virus)  # fmt: skip
        steps += 1
        if infection[0, 0] >= math.log(10) / math.log(6600):
            assert antigen[0, 0] == np.float32(0.9)  # recognisable past 10 virions
        elif tissue[0, 0] == TUMOR:
            assert antigen[0, 0] == np.float32(0.1)
    assert steps == math.ceil(1.0 / progress) == 19
    assert tissue[0, 0] == EMPTY and infection[0, 0] == 0.0 and virus[0, 0] == 6600.0


def test_an_infected_cell_does_not_divide():
    m = model([], days=1.0)
    tumour = m.state.tissue == TUMOR
    m.state.infection[tumour] = 0.01  # far from lysis; no virus therapy runs
    before = int(tumour.sum())
    for _ in range(24):
        m.step()
    assert m.counters["tumor_divisions"] == 0 and before > 500


# --- mechanisms --------------------------------------------------------------------------------
def test_virus_spreads_from_the_injection_and_is_cleared():
    m = model([injection()], days=12.0)
    nx, ny = m.state.tissue.shape
    x, y = np.meshgrid(np.arange(nx) - (nx - 1) / 2, np.arange(ny) - (ny - 1) / 2, indexing="ij")
    distance = np.hypot(x, y) * m.site_um
    farthest = []
    for _ in range(3):
        for _ in range(24):
            m.step()
        farthest.append(float(distance[m.state.infection > 0].max()))
    # infected cells 153, 272, 326 µm from the centre on days 1–3 (the disc is 60 µm); the
    # 300 µm tumour is lysed by day 4 and the field falls below the floor on day 10
    assert farthest[0] > 100.0 and farthest[0] < farthest[1] < farthest[2]
    m.run()
    virus = m.therapies[0]
    assert not m.state.infection.any() and not virus.virus.any() and not virus.active
    assert m.counters["virus_lyses"] > 0.5 * m.counters["virus_infections"]


def test_more_virus_kills_more_tumour():
    control = ran(model([], days=3.0))
    cells, lyses = [], []
    for dose in (1e7, 1e8, 1e9):
        m = ran(model([injection(dose, radius_um=None, injected_fraction=0.2)], days=3.0))
        cells.append(int((m.state.tissue == TUMOR).sum()))
        lyses.append(m.counters["virus_lyses"])
    # lyses 0, 537, 572; tumour cells 601, 35, 0 against 606 untreated: 10⁷ PFU/mL gives
    # 0.016 PFU per site, too sparse for density-dependent uptake to infect any cell
    assert lyses[0] <= lyses[1] < lyses[2]
    assert cells[2] < cells[1] <= cells[0] <= int((control.state.tissue == TUMOR).sum()) + 5


def test_a_second_iv_dose_after_neutralising_antibodies_delivers_less():
    def delivered_after_each_dose(**parameters) -> tuple[float, float]:
        m = model([infusion()], days=15.0, parameters=parameters)
        amounts = []
        for day in range(15):
            before = m.counters["virus_delivered"]
            for _ in range(24):
                m.step()
            if day in (0, 14):
                amounts.append(m.counters["virus_delivered"] - before)
        return amounts[0], amounts[1]

    first, second = delivered_after_each_dose()
    therapy = model([infusion()], days=15.0).therapies[0]
    titre = therapy.neutralising_titre(14 * 24.0)  # 5 × (1 − e⁻²) = 4.3
    assert therapy.amounts[1] == pytest.approx(1e12 / (1.0 + titre))
    assert second < 0.5 * first and first > 0  # 18.9 then 3.5 PFU into the section
    naive_first, naive_second = delivered_after_each_dose(**{"virus.nab_per_dose": 0.0})
    assert naive_first == pytest.approx(first)
    assert second / first < 0.5 * naive_second / naive_first  # the vessels alone: 0.98


def test_a_first_dose_of_its_own_is_deposited_first():
    tvec = injection(
        1e8, days=(0.0, 2.0), radius_um=None, first_dose={"value": 1e6, "unit": "PFU/mL"}
    )
    therapy = model([tvec]).therapies[0]
    assert therapy.per_site[1] == pytest.approx(100.0 * therapy.per_site[0])
    assert therapy.per_site[1] == pytest.approx(1e8 * 1.0 * 20.0**3 * 1e-12)  # 0.8 PFU per site


def test_plasma_area_of_boluses_is_the_integral_of_the_concentration():
    pk = Pharmacokinetics(0.5, 3.0)
    times, amounts = np.array([1.0, 3.0]), np.array([6.0, 3.0])

    def plasma(t: float) -> float:
        return float(pk.concentration(t, times, amounts)[0])

    numeric, _ = quad(plasma, 0.5, 4.0, points=[1.0, 3.0], epsabs=1e-12)
    assert pk.area(0.5, 4.0, times, amounts) == pytest.approx(numeric, rel=1e-9)
    assert pk.area(0.0, 1.0, times, amounts) == 0.0


def test_lysis_releases_antigen_that_primes_more_than_an_inert_virus():
    inert = ran(model([injection()], days=4.0, parameters={"virus.tumour_uptake": 0.0}))
    active = ran(model([injection()], days=4.0))
    assert inert.counters["virus_infections"] == 0 and active.counters["virus_lyses"] > 100
    # antigen 157 vs 723 kill units; priming 1.025 vs 1.103
    assert active.antigen_released > 2.0 * inert.antigen_released
    assert active.priming_level > inert.priming_level


def test_interferon_of_infected_cells_moves_pd_l1_and_presentation_with_pembrolizumab():
    m = model([injection(), pembrolizumab()], days=1.0)
    m.run()
    e = m.effects
    assert e.pd1_occupancy > 0.3 and e.pdl1_expression > 1.1 and e.antigen_presentation > 1.05


def test_same_seed_same_run_and_no_effect_before_the_first_dose():
    a, b = ran(model([injection()], seed=3)), ran(model([injection()], seed=3))
    ta, tb = (m.datacollector.get_model_vars_dataframe() for m in (a, b))
    assert ta.equals(tb) and ta["cum_virus_lyses"].iloc[-1] > 0
    assert np.array_equal(a.therapies[0].virus, b.therapies[0].virus)
    assert np.array_equal(a.state.infection, b.state.infection)
    later = model([injection(days=(3.5,))], seed=3, days=4.0)
    untreated = model([], seed=3, days=4.0)
    for _ in range(72):  # to day 3, before the dose
        later.step()
        untreated.step()
    for name, array in untreated.state.arrays().items():
        assert np.array_equal(array, getattr(later.state, name)), name
    assert untreated.rng.bit_generator.state == later.rng.bit_generator.state


def test_a_checkpoint_mid_infection_continues_identically():
    reference = model([injection()], days=3.0)
    for _ in range(30):
        reference.step()
    assert reference.therapies[0].virus.sum() > 0 and reference.state.infection.any()
    checkpoint = capture(reference)
    restored = model([injection()], days=3.0)
    restore(restored, checkpoint)
    reference.run()
    restored.run()
    assert np.array_equal(reference.therapies[0].virus, restored.therapies[0].virus)
    for name, array in reference.state.arrays().items():
        assert np.array_equal(array, getattr(restored.state, name)), name
    assert reference.counters == restored.counters


# --- scenario errors ---------------------------------------------------------------------------
HEAD = "name: t\ntime: {days: 30}\narms:\n  a:\n    - type: oncolytic_virus\n"


def entry(route="intratumoral", value="1.0e8", unit="PFU/mL", extra="") -> str:
    return (
        HEAD
        + f"      route: {route}\n"
        + f"      dose: {{value: {value}, unit: {unit}}}\n"
        + extra
        + "      schedule: {days: [0]}\n"
    )


# (case id, YAML, line, field path, message fragment)
ERRORS = [
    ("negative-pfu", entry(value=-5), 7, "arms.a[0].dose.value", "greater than 0"),
    ("unknown-unit", entry(unit="vp"), 7, "arms.a[0].dose.unit", "'PFU', 'PFU/kg' or 'PFU/mL'"),
    ("mg-for-a-virus", entry(unit="mg"), 7, "arms.a[0].dose.unit", "'PFU'"),
    ("iv-in-pfu-per-ml", entry("intravenous"), 7, "arms.a[0].dose.unit", "PFU or PFU/kg"),
    ("it-in-pfu", entry(unit="PFU"), 7, "arms.a[0].dose.unit", "give PFU/mL"),
    ("implausible", entry(value="1.0e14"), 7, "arms.a[0].dose.value", "check the unit"),
    (
        "first-dose-unit",
        entry(extra="      first_dose: {value: 1.0e6, unit: PFU}\n"),
        8,
        "arms.a[0].first_dose.unit",
        "give PFU/mL",
    ),
    (
        "fraction-above-one",
        entry(extra="      injected_fraction: 1.5\n"),
        8,
        "arms.a[0].injected_fraction",
        "less than or equal to 1",
    ),
    (
        "fraction-zero",
        entry(extra="      injected_fraction: 0\n"),
        8,
        "arms.a[0].injected_fraction",
        "greater than 0",
    ),
    (
        "fraction-for-iv",
        entry("intravenous", unit="PFU", extra="      injected_fraction: 0.2\n"),
        8,
        "arms.a[0].injected_fraction",
        "intratumoral dosing only",
    ),
    ("unknown-route", entry("oral"), 6, "arms.a[0].route", "'intratumoral' or 'intravenous'"),
    (
        "negative-radius",
        entry(extra="      region: {center_um: [0, 0], radius_um: -10}\n"),
        8,
        "arms.a[0].region",
        "greater than 0",
    ),
    (
        "two-viruses",
        entry() + "    - {type: oncolytic_virus, route: intravenous, dose: {value: 1.0e9, "
        "unit: PFU}, schedule: {days: [7]}}\n",
        4,
        "arms.a",
        "one oncolytic_virus entry",
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "field", "fragment"), [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS]
)
def test_bad_virus_entry_is_a_located_error(
    tmp_path: Path, text: str, line: int, field: str, fragment: str
) -> None:
    assert_located(tmp_path, text, line, field, fragment)
