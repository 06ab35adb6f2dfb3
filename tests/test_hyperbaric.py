"""Hyperbaric oxygen: arterial pO₂ from the gas equation, and tumour oxygenation during and
after a session with the numbers of its sources (../shared/reference/sensitisers.md)."""

from __future__ import annotations

import numpy as np
import pytest

from gcsim.model import GastricTumorModel
from gcsim.params import Parameters
from gcsim.scenario import Scenario
from gcsim.state import TUMOR
from gcsim.therapies.hyperbaric import arterial_po2

SESSION_DAY = 2.0
SESSION_H = 1.5
DT_H = 0.25  # resolves a session of 1.5 h and the hour after it


def test_arterial_po2_follows_the_alveolar_gas_equation():
    p = Parameters()
    assert arterial_po2(1.0, 0.21, p) == pytest.approx(100, abs=5)  # breathing air
    assert 1500 <= arterial_po2(2.5, 1.0, p) <= 2000  # 1,500–2,000 mmHg at 2–3 ATA
    assert arterial_po2(3.0, 1.0, p) == pytest.approx(2183, abs=1)


def _model(pressure_ata: float | None, oxygen_fraction: float = 1.0) -> GastricTumorModel:
    treatments = (
        []
        if pressure_ata is None
        else [
            {
                "type": "hyperbaric_oxygen",
                "pressure_ata": pressure_ata,
                "oxygen_fraction": oxygen_fraction,
                "session_hours": SESSION_H,
                "schedule": {"days": [SESSION_DAY]},
            }
        ]
    )
    scenario = Scenario.model_validate(
        {
            "name": "hbo",
            "domain": {"width": 90, "height": 90},
            "tumor": {"initial_radius_um": 700.0},
            "time": {"days": 3.0, "dt_hours": DT_H, "record_every_hours": DT_H},
            "arms": {"arm": treatments},
        }
    )
    return GastricTumorModel(scenario, rng=5)


def _oxygenation(model: GastricTumorModel) -> tuple[float, float, float]:
    """Median and maximum tumour pO₂ (mmHg) and the fraction of tumour cells ≤ 10 mmHg."""
    po2 = model.state.oxygen[model.state.tissue == TUMOR]
    return float(np.median(po2)), float(po2.max()), float((po2 <= 10.0).mean())


def _run_to(model: GastricTumorModel, hours: float) -> None:
    while model.time_h < hours - 1e-9:
        model.step()


@pytest.fixture(scope="module")
def session():
    """Tumour oxygenation with and without a 1.5 h session, sampled from the same seed just
    before it, in its middle, and one hour after its end."""
    start = SESSION_DAY * 24.0
    times = {"before": start, "during": start + SESSION_H / 2, "after": start + SESSION_H + 1.0}
    out = {}
    for label, pressure in (("control", None), ("2.5", 2.5), ("3", 3.0)):
        model = _model(pressure)
        out[label] = {}
        for when, hours in times.items():
            _run_to(model, hours)
            out[label][when] = _oxygenation(model)
    return out


@pytest.mark.parametrize("pressure", ["2.5", "3"])
def test_a_session_raises_tumour_po2_several_fold_but_not_to_plasma_level(session, pressure):
    median_control = session["control"]["during"][0]
    median, highest, _ = session[pressure]["during"]
    assert session[pressure]["before"] == session["control"]["before"]  # untreated until then
    fold = median / median_control
    assert 3.0 <= fold <= 12.0, fold  # several-fold: the rat data, 8 → 55 mmHg (6.9×) at 3 ATA
    assert highest < 0.5 * arterial_po2(float(pressure), 1.0, Parameters())  # not plasma level


def test_the_fold_rises_with_pressure(session):
    assert session["3"]["during"][0] > session["2.5"]["during"][0]


def test_the_hypoxic_fraction_falls_during_a_session(session):
    hypoxic_control = session["control"]["during"][2]
    assert hypoxic_control > 0.0  # the section has hypoxic cells to reoxygenate
    assert session["2.5"]["during"][2] < 0.5 * hypoxic_control


@pytest.mark.parametrize("pressure", ["2.5", "3"])
def test_tumour_po2_is_back_near_baseline_within_the_hour_after_a_session(session, pressure):
    # The supply is gone within the washout (minutes): an hour on, at least 90 % of the
    # session's rise is lost. What is left (≈ 15 % above control, gone within ~3 h) is the
    # VEGF-driven leak: VEGF secretion falls at once during the session (the model has no HIF
    # delay) and the vessels it leaves less leaky carry more flow for an hour or two
    # (decision 0020; the recalled source says minutes to tens of minutes: a known gap).
    control = session["control"]["after"][0]
    rise = session[pressure]["during"][0] - session["control"]["during"][0]
    assert session[pressure]["after"][0] - control < 0.10 * rise
    assert session[pressure]["after"][0] == pytest.approx(control, rel=0.25)


def test_overlapping_sessions_and_pressures_beyond_3_ata_are_refused():
    with pytest.raises(ValueError, match="overlaps"):
        _session_config(session_hours=2.0, schedule={"days": [1.0, 1.05]})
    with pytest.raises(ValueError, match="less than or equal to 3"):
        _session_config(pressure_ata=4.0)


def _session_config(**fields):
    from gcsim.therapies.hyperbaric import HyperbaricOxygen

    entry = {"type": "hyperbaric_oxygen", "schedule": {"days": [1.0]}, **fields}
    return HyperbaricOxygen.model_validate(entry)


def test_two_hyperbaric_entries_of_one_arm_share_one_chamber():
    entry = {"type": "hyperbaric_oxygen", "pressure_ata": 3.0, "schedule": {"days": [1.0]}}
    with pytest.raises(ValueError, match="overlaps"):
        Scenario.model_validate({"name": "x", "arms": {"twice": [entry, entry]}})
    later = {**entry, "schedule": {"days": [2.0]}}
    Scenario.model_validate({"name": "x", "arms": {"apart": [entry, later]}})


@pytest.mark.parametrize("dt_h", [0.25, 1.0, 6.0])
def test_a_session_is_never_lost_at_a_coarse_step(dt_h):
    """Each step sees the session's time average: its integral over the steps equals the
    session's length plus the washout's (τ), whatever the step."""
    from gcsim.therapies.hyperbaric import HyperbaricOxygen, HyperbaricOxygenTherapy

    class Host:
        params = Parameters()
        dt_h = 0.0

    Host.dt_h = dt_h
    config = HyperbaricOxygen.model_validate(
        {"type": "hyperbaric_oxygen", "session_hours": SESSION_H, "schedule": {"days": [1.0]}}
    )
    therapy = HyperbaricOxygenTherapy(config, Host())
    steps = np.arange(0.0, 72.0, dt_h)
    integral = sum(therapy.mean_excess(t, t + dt_h) * dt_h for t in steps)
    assert integral == pytest.approx(SESSION_H + Parameters()["hbo.washout_time"], rel=1e-6)


def test_a_sham_session_of_air_at_one_ata_changes_nothing():
    sham, control = _model(1.0, oxygen_fraction=0.21), _model(None)
    _run_to(sham, SESSION_DAY * 24 + 2)
    _run_to(control, SESSION_DAY * 24 + 2)
    np.testing.assert_array_equal(sham.state.oxygen, control.state.oxygen)
