"""Rule kernels: compiled code equals the same rules run as plain Python, and independent
numpy formulations of the sources and sinks.

A second, hand-written copy of each stochastic rule consuming the same random stream would be a
copy of the kernel, not a check of it (see docs/decisions/0003-kernel-references.md). Instead the
compiled kernel is compared with its own source executed by the Python interpreter (``py_func``),
which catches numba typing, overflow and float32 rounding differences, and the rules' outcomes are
checked against invariants and mechanisms in test_model.py.
"""

from __future__ import annotations

import copy
import inspect

import numpy as np
import pytest

from conftest import small_model
from gcsim.kernels.immune import immune_step, kill_probability, recruit
from gcsim.kernels.rng import stream_handle
from gcsim.kernels.secretion import oxygen_coefficients, secretion_sources
from gcsim.kernels.tumor import TUMOR_STATE, tumor_step
from gcsim.kernels.vessels import vessel_step
from gcsim.state import (
    CD8,
    CHEMO_RESISTANT,
    HRD,
    MACROPHAGE,
    MDSC,
    NECROTIC,
    STROMA,
    TREG,
    TUMOR,
    VESSEL,
)


@pytest.fixture(scope="module")
def stepped():
    model = small_model(seed=3)
    for _ in range(30):
        model.step()
    return model


# Compiled kernels draw through the model's stream handle (or a Generator); their Python
# source draws from a Generator. Both must give the same results.
RNG_FORMS = pytest.mark.parametrize("rng_form", ["handle", "generator"])


def _run_twice(kernel, build_args, rng_form):
    """Run ``kernel`` compiled and as Python on identical copies; return both argument lists."""
    compiled_args, python_args = build_args(), build_args()
    if rng_form == "handle":
        compiled_args[0] = stream_handle(compiled_args[0])
    compiled_out = kernel(*compiled_args)
    python_out = kernel.py_func(*python_args)
    return compiled_args, python_args, compiled_out, python_out


def _assert_same(a_args, b_args, a_out, b_out):
    assert a_out == b_out
    for a, b in zip(a_args, b_args, strict=True):
        if isinstance(a, np.ndarray) and a.dtype.kind == "f":
            # NumPy 2 keeps float32 arithmetic for float32 scalars where numba promotes to
            # float64: float32 state may differ in its last bit, never more.
            np.testing.assert_allclose(a, b, rtol=2e-7, atol=1e-12)
        elif isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b)  # cell codes, markers, counters: exact


def test_tumor_state_names_the_kernels_array_arguments():
    names = list(inspect.signature(tumor_step.py_func).parameters)
    assert tuple(names[4:]) == TUMOR_STATE


@RNG_FORMS
def test_tumor_kernel_equals_python(stepped, rng_form):
    s = stepped.state

    def args():
        state = copy.deepcopy(s)
        order = np.flatnonzero((state.tissue == TUMOR) | (state.tissue == NECROTIC))
        np.random.default_rng(9).shuffle(order)
        # half the cells lethally irradiated and near mitosis: exercises mitotic catastrophe
        marked = np.random.default_rng(10).random(state.tissue.shape) < 0.5
        state.doomed[marked & (state.tissue == TUMOR)] = 1
        state.cycle[state.tissue == TUMOR] = 0.99
        # the other half carry two markers that daughters may lose: exercises the inheritance
        state.marker[:] = np.where(~marked & (state.tissue == TUMOR), HRD | CHEMO_RESISTANT, 0)
        loss = np.zeros(8)
        loss[[3, 5]] = 0.4  # the HRD and chemo-resistant bits, 8 and 32
        # a third of them infected by a virus: those wait instead of dividing
        infected = np.random.default_rng(12).random(state.tissue.shape) < 0.3
        state.infection[infected & (state.tissue == TUMOR)] = 0.5
        return [
            np.random.default_rng(11),
            stepped.tumor_rules,
            loss,
            order,
            *(getattr(state, name) for name in TUMOR_STATE),
        ]

    compiled, python, out, python_out = _run_twice(tumor_step, args, rng_form)
    _assert_same(compiled, python, out, python_out)
    assert out[3] > 0  # mitotic deaths happened: the comparison exercised them
    # a cell with one of the two bits arises only by losing the other at division
    one_bit = np.isin(compiled[9], (HRD, CHEMO_RESISTANT)) & (compiled[4] == TUMOR)
    assert one_bit.any()


@RNG_FORMS
def test_vessel_kernel_equals_python(stepped, rng_form):
    s = stepped.state

    def args():
        state = copy.deepcopy(s)
        state.vegf[:] = 2.0  # saturating VEGF so that sprouting happens
        order = np.flatnonzero(state.tissue == VESSEL)
        return [
            np.random.default_rng(12),
            stepped.vessel_rules,
            order,
            state.tissue,
            state.maturity,
            state.vegf,
        ]

    _assert_same(*_run_twice(vessel_step, args, rng_form))


@RNG_FORMS
def test_immune_kernel_equals_python(stepped, rng_form):
    s = stepped.state

    def args():
        state = copy.deepcopy(s)
        order = np.flatnonzero(state.immune > 0)
        return [
            np.random.default_rng(13),
            stepped.immune_rules,
            order,
            state.tissue,
            state.antigen,
            state.pdl1,
            state.immune,
            state.exhaustion,
            state.engaged,
            state.divisions,
            state.polarisation,
            state.oxygen,
            state.chemokine,
            state.ifng,
            state.tgfb,
            state.vegf,
            np.zeros_like(state.immune, dtype=np.uint8),
            np.zeros(4, dtype=np.int64),
        ]

    compiled, python, *_ = _run_twice(immune_step, args, rng_form)
    _assert_same(compiled, python, None, None)
    assert compiled[-1][0] > 0  # engagements happened: the comparison exercised killing


@RNG_FORMS
def test_recruitment_kernel_equals_python(stepped, rng_form):
    s = stepped.state

    def args():
        state = copy.deepcopy(s)
        state.chemokine[:] = 10.0
        state.vegf[:] = 10.0
        return [
            np.random.default_rng(14),
            stepped.recruitment_rules,
            1.0,  # priming
            0.8,  # lymphocyte supply
            np.flatnonzero(state.tissue == VESSEL),
            state.tissue,
            state.maturity,
            state.immune,
            state.polarisation,
            state.chemokine,
            state.vegf,
            state.leak,
            np.zeros(5, dtype=np.int64),
        ]

    compiled, python, *_ = _run_twice(recruit, args, rng_form)
    _assert_same(compiled, python, None, None)
    assert compiled[-1][CD8] > 0


def test_oxygen_coefficients_match_numpy(stepped):
    s, r = stepped.state, stepped.secretion_rules
    uptake, supply = np.zeros(s.tissue.shape), np.zeros(s.tissue.shape)
    oxygen_coefficients(r, s.tissue, s.immune, s.maturity, s.vegf, s.leak, s.oxygen, uptake, supply)
    # Michaelis–Menten: the coefficient is V / (K_m + c) at the current pO₂, so that
    # coefficient × c is V·c/(K_m + c)
    v_max = (
        r.consumption_tumor * (s.tissue == TUMOR)
        + r.consumption_stroma * (s.tissue == STROMA)
        + r.consumption_immune * (s.immune > 0)
    )
    expected_uptake = r.uptake_background + v_max / (r.consumption_km + s.oxygen)
    perfused = (s.tissue == VESSEL) & (s.maturity >= r.perfusion_threshold)
    np.testing.assert_allclose(uptake, expected_uptake)
    flow = (s.maturity - r.perfusion_threshold) / (1 - r.perfusion_threshold)
    v = s.vegf.astype(float) ** r.leak_hill
    flow = flow * (1 - r.leak_max * v / (r.leak_half_max**r.leak_hill + v))
    np.testing.assert_allclose(supply, np.where(perfused, r.vessel_exchange * flow, 0.0))


def test_secretion_sources_match_numpy(stepped):
    s, r = stepped.state, stepped.secretion_rules
    out = [np.zeros(s.tissue.shape) for _ in range(4)]
    secretion_sources(r, s.tissue, s.immune, s.engaged, s.polarisation, s.oxygen, s.ifng, *out)
    hypoxia = 1.0 - np.clip(s.oxygen / r.hypoxic_threshold, 0.0, 1.0)
    h, k = r.chemokine_ifng_hill, r.chemokine_ifng_half_max
    induced = s.ifng**h / (k**h + s.ifng**h)
    tumour, mac = s.tissue == TUMOR, s.immune == MACROPHAGE
    m1 = s.polarisation.astype(float)
    basal = r.chemokine_basal_fraction
    drive = r.vegf_basal_fraction + (1 - r.vegf_basal_fraction) * hypoxia
    vegf = r.vegf_hypoxic * drive * (tumour + mac * (1 - m1))
    chem = r.chemokine * (tumour * (basal + (1 - basal) * induced) + mac * m1 * induced)
    ifng = r.ifng * ((s.immune == CD8) & (s.engaged > 0))
    tgfb = r.tgfb * (((s.immune == TREG) | (s.immune == MDSC)) + mac * (1 - m1))
    for got, want in zip(out, (vegf, chem, ifng, tgfb), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-12)


def test_kill_probability_follows_its_formula(stepped):
    r = stepped.immune_rules
    p = kill_probability(r, 0.8, 0.5, 0.0, 0)
    assert p == pytest.approx(r.kill_p * 0.8 * (1 - r.pd1_brake_max * 0.5))
    assert kill_probability(r, 0.8, 1.0, 0.0, 0) < p < kill_probability(r, 0.8, 0.0, 0.0, 0)
    assert kill_probability(r, 0.8, 0.5, 1.0, 0) < p  # suppressive cytokine
    assert kill_probability(r, 0.8, 0.5, 0.0, 2) < p  # adjacent Tregs / MDSCs
    blocked = r._replace(pd1_occupancy=1.0)
    assert kill_probability(blocked, 0.8, 1.0, 0.0, 0) == pytest.approx(
        kill_probability(blocked, 0.8, 0.0, 0.0, 0)
    )
    assert kill_probability(r, 0.0, 0.0, 0.0, 0) == 0.0


def test_vessel_flow_is_the_array_form_of_perfusion():
    from gcsim.kernels.common import perfusion, vessel_flow

    rng = np.random.default_rng(2)
    tissue = rng.integers(0, 5, size=(12, 9)).astype(np.int8)
    maturity = rng.random((12, 9)).astype(np.float32)
    flow = vessel_flow(tissue, maturity, 0.3)
    for (x, y), value in np.ndenumerate(flow):
        expected = perfusion(float(maturity[x, y]), 0.3) if tissue[x, y] == VESSEL else 0.0
        assert value == pytest.approx(expected, abs=1e-6)  # float32 maturity
    assert (flow[tissue == VESSEL] > 0).any() and (flow[tissue == VESSEL] == 0).any()


def test_vessel_flow_with_vegf_is_the_array_form_of_the_permeability_rule():
    from gcsim.kernels.common import perfusion, permeability_factor, vessel_flow

    rng = np.random.default_rng(3)
    tissue = rng.integers(0, 5, size=(12, 9)).astype(np.int8)
    maturity = rng.random((12, 9)).astype(np.float32)
    vegf = (rng.random((12, 9)) * 2).astype(np.float32)
    leak = (0.6, 0.5, 1.3)
    flow = vessel_flow(tissue, maturity, 0.3, vegf, leak)
    for (x, y), value in np.ndenumerate(flow):
        expected = (
            perfusion(float(maturity[x, y]), 0.3) * permeability_factor(float(vegf[x, y]), *leak)
            if tissue[x, y] == VESSEL
            else 0.0
        )
        assert value == pytest.approx(expected, abs=1e-6)
    # VEGF stalls flow: blocking it can only raise a vessel's flow
    blocked = vessel_flow(tissue, maturity, 0.3, vegf * 0.2, leak)
    assert (blocked >= flow - 1e-12).all() and (blocked > flow).any()


def test_changing_any_kernel_source_clears_numbas_cache(tmp_path):
    # numba would keep a caller's machine code after a helper in another file changed
    from gcsim.kernels import clear_stale_cache

    (tmp_path / "helper.py").write_text("A = 1\n")
    (tmp_path / "kernel.py").write_text("from helper import A\n")
    cache = tmp_path / "__pycache__"
    cache.mkdir()
    compiled = [cache / "kernel.step-3.py312.nbi", cache / "kernel.step-3.py312.1.nbc"]
    for path in compiled:
        path.write_bytes(b"machine code")

    assert clear_stale_cache(tmp_path)  # no stamp yet: cleared, stamped
    assert not any(path.exists() for path in compiled)
    for path in compiled:
        path.write_bytes(b"machine code")
    assert not clear_stale_cache(tmp_path)  # sources unchanged: cache kept
    assert all(path.exists() for path in compiled)
    (tmp_path / "helper.py").write_text("A = 2\n")
    assert clear_stale_cache(tmp_path)  # a helper changed: cache cleared
    assert not any(path.exists() for path in compiled)
    assert (cache / "kernel-sources.sha256").exists()
    codes = tmp_path.parent / f"{tmp_path.name}-state.py"  # constants from outside the package
    codes.write_text("TUMOR = 1\n")
    assert clear_stale_cache(tmp_path, also=(codes,))
    assert not clear_stale_cache(tmp_path, also=(codes,))
    codes.write_text("TUMOR = 5\n")
    assert clear_stale_cache(tmp_path, also=(codes,))


def test_lymphocyte_supply_scales_cd8_and_treg_influx_but_not_myeloid(stepped):
    # Lymphodepleting therapy lowers the supply of T cells from blood: CD8s and Tregs alike.
    rules = stepped.recruitment_rules._replace(
        cd8_p=0.5, treg_ratio=0.5, mdsc_p=0.5, macrophage_p=0.5
    )

    def recruits(supply: float) -> np.ndarray:
        state = copy.deepcopy(stepped.state)
        state.immune[:] = 0
        state.chemokine[:] = 10.0
        state.vegf[:] = 10.0
        counts = np.zeros(5, dtype=np.int64)
        vessels = np.flatnonzero(state.tissue == VESSEL)
        recruit(
            np.random.default_rng(2),
            rules,
            1.0,
            supply,
            vessels,
            state.tissue,
            state.maturity,
            state.immune,
            state.polarisation,
            state.chemokine,
            state.vegf,
            state.leak,
            counts,
        )
        return counts

    full, none = recruits(1.0), recruits(0.0)
    assert full[CD8] > 0 and full[TREG] > 0
    assert none[CD8] == 0 and none[TREG] == 0
    assert none[MDSC] > 0 and none[MACROPHAGE] > 0
