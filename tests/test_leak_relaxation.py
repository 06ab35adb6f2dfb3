"""The VEGF-driven leak relaxes toward the VEGF signal over ``vessel.leak_relaxation_time``
(decision 0028): kernel against its slow reference, the mechanism, and τ → 0 as the instant rule
of decision 0020."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from gcsim.effects import Effects
from gcsim.kernels.common import lattice_flow, leak_parameters, vessel_flow
from gcsim.kernels.vessels import relax_leak, relax_leak_reference
from gcsim.model import GastricTumorModel
from gcsim.params import Parameters
from gcsim.rules import VESSELS, Context
from gcsim.scenario.schema import Scenario
from gcsim.state import VESSEL


def _rules(tau_h: float, dt_h: float = 1.0, **overrides: float):
    params = Parameters({"vessel.leak_relaxation_time": tau_h, **overrides})
    return VESSELS.compile(Context(params, dt_h, 20.0), Effects())


@pytest.mark.parametrize("tau_h", [0.0, 6.0, 48.0])
@pytest.mark.parametrize("hill", [1.0, 1.7])
def test_relax_leak_equals_its_reference(tau_h, hill):
    rng = np.random.default_rng(5)
    rules = _rules(tau_h, **{"vessel.vegf_leak_hill": hill})
    leak = (rng.random((7, 5)) * 0.6).astype(np.float32)
    vegf = (rng.random((7, 5)) * 3.0).astype(np.float32)
    vegf[0, 0] = 0.0
    expected = relax_leak_reference(rules, leak, vegf)
    relax_leak(rules, leak, vegf)
    np.testing.assert_allclose(leak, expected, rtol=1e-6, atol=1e-7)  # float32 state


def test_relax_fraction_is_one_at_zero_time_constant():
    assert _rules(0.0).leak_relax == 1.0
    assert _rules(48.0).leak_relax == pytest.approx(1.0 - math.exp(-1.0 / 48.0))


def test_leak_falls_monotonically_over_the_time_constant_after_vegf_drops():
    tau = 48.0
    rules = _rules(tau)
    vegf = np.full((3, 3), 2.0, np.float32)
    leak = np.zeros((3, 3), np.float32)
    relax_leak(rules._replace(leak_relax=1.0), leak, vegf)  # in equilibrium with VEGF 2 ng/mL
    start = float(leak[1, 1])
    assert start == pytest.approx(rules.leak_max * 2.0 / (rules.leak_half_max + 2.0))
    vegf[:] = 0.0  # VEGF signalling blocked
    trace = [start]
    for _ in range(int(4 * tau)):
        relax_leak(rules, leak, vegf)
        trace.append(float(leak[1, 1]))
    assert all(b < a for a, b in itertools.pairwise(trace))
    # an exponential with time constant τ: e⁻¹ of the leak left after τ, e⁻⁴ after 4τ
    assert trace[int(tau)] / start == pytest.approx(math.exp(-1.0), rel=1e-3)
    assert trace[-1] / start == pytest.approx(math.exp(-4.0), rel=1e-2)
    # and back up toward a restored signal
    vegf[:] = 2.0
    relax_leak(rules, leak, vegf)
    assert trace[-1] < float(leak[1, 1]) < start
    # τ = 0: the target at once
    relax_leak(_rules(0.0), leak, vegf)
    assert float(leak[1, 1]) == pytest.approx(start, rel=1e-6)


def _model(tau_h: float, dose: float = 16.0) -> GastricTumorModel:
    spec = {
        "name": "leak",
        "seed": 3,
        "domain": {"width": 50, "height": 50},
        "tumor": {"initial_radius_um": 250},
        "time": {"days": 3, "record_every_hours": 6},
        "parameters": {"vessel.leak_relaxation_time": tau_h},
        "arms": {
            "ram": [
                {
                    "type": "anti_vegf",
                    "drug": "ramucirumab",
                    "dose": {"value": dose, "unit": "mg/kg"},
                    "schedule": {"start_day": 0.5, "interval_days": 14, "doses": 1},
                }
            ]
        },
    }
    return GastricTumorModel(Scenario.model_validate(spec), rng=3)


def _tumour_leak(model: GastricTumorModel) -> float:
    s = model.state
    return float(s.leak[s.tissue == VESSEL].mean())


def test_under_anti_vegf_the_leak_lags_the_blockade_and_flow_reads_it():
    slow, instant = _model(48.0), _model(0.0)
    for m in (slow, instant):
        for _ in range(12):  # to just before the dose
            m.step()
    before = _tumour_leak(slow)
    leaks = []
    for _ in range(36):
        slow.step()
        instant.step()
        leaks.append(_tumour_leak(slow))
    assert slow.effects.vegf_block > 0.5
    # the instant rule has dropped the leak to its blocked target (leak_max · Hill of the blocked
    # VEGF signal at the instant model's vessels); the relaxed one falls day by day
    s, p = instant.state, instant.params
    signal = (s.vegf * (1.0 - instant.effects.vegf_block))[s.tissue == VESSEL].astype(float)
    hill = signal ** p["vessel.vegf_leak_hill"]
    hill /= p["vessel.vegf_leak_half_max"] ** p["vessel.vegf_leak_hill"] + hill
    target = float((p["vessel.vegf_leak_max"] * hill).mean())
    assert target < leaks[-1] < before
    assert leaks[5] > leaks[-1]
    assert sum(b <= a + 1e-6 for a, b in itertools.pairwise(leaks)) >= 30
    # the observed and delivered flow read the relaxed state, not the VEGF signal
    s, p = slow.state, slow.params
    signal = s.vegf * (1.0 - slow.effects.vegf_block)
    relaxed = lattice_flow(s, p, signal)
    at_once = vessel_flow(
        s.tissue, s.maturity, p["vessel.perfusion_threshold"], signal, leak_parameters(p)
    )
    assert relaxed.sum() < at_once.sum()


def test_a_tiny_relaxation_time_is_the_instant_rule():
    tiny, instant = _model(1e-3), _model(0.0)
    for _ in range(18):
        tiny.step()
        instant.step()
    assert tiny.effects.vegf_block > 0.5
    # the same oxygen (the supply reads the leak the step's VEGF signal sets, stored as float32)
    np.testing.assert_allclose(tiny.state.oxygen, instant.state.oxygen, rtol=1e-4, atol=1e-4)
    a, b = tiny.metrics, instant.metrics
    assert a["tumor_perfusion_per_mm2"] == pytest.approx(b["tumor_perfusion_per_mm2"], rel=1e-2)
    assert a["tumor_cells"] == b["tumor_cells"]
