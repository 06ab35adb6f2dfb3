"""One-compartment pharmacokinetics against closed-form values, and dose units."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import trapezoid

from gcsim.params import Parameters
from gcsim.therapies import Dose
from gcsim.therapies.pk import Pharmacokinetics

PK = Pharmacokinetics(half_life_h=24.0, volume_l=5.0)
K = math.log(2) / 24.0


def test_single_bolus_decays_with_its_half_life():
    t = np.array([0.0, 24.0, 48.0, 100.0])
    c = PK.concentration(t, np.array([0.0]), np.array([100.0]))
    np.testing.assert_allclose(c, 100.0 / 5.0 * np.exp(-K * t))
    assert c[1] == pytest.approx(c[0] / 2)


def test_nothing_before_the_first_dose():
    c = PK.concentration(np.array([0.0, 9.99]), np.array([10.0]), np.array([100.0]))
    np.testing.assert_array_equal(c, [0.0, 0.0])


def test_repeated_doses_accumulate_to_the_geometric_limit():
    tau, n = 24.0, 60
    doses = np.arange(n) * tau
    c = PK.concentration(np.array([doses[-1]]), doses, np.full(n, 100.0))
    peak_steady_state = 100.0 / 5.0 / (1.0 - math.exp(-K * tau))  # Cmax,ss = C0 / (1 − e^−kτ)
    assert c[0] == pytest.approx(peak_steady_state, rel=1e-9)


def test_infusion_rises_to_its_plateau_and_decays_after():
    amount, duration = 480.0, 480.0  # 1 mg/h for 20 half-lives
    end = PK.concentration(np.array([duration]), np.array([0.0]), np.array([amount]), duration)
    plateau = (amount / duration) / (K * 5.0)  # R / (k V)
    assert end[0] == pytest.approx(plateau * (1 - math.exp(-K * duration)))
    later = PK.concentration(
        np.array([duration + 24.0]), np.array([0.0]), np.array([amount]), duration
    )
    assert later[0] == pytest.approx(end[0] / 2)
    # the same amount as a short infusion peaks lower than a bolus, with the same exposure (AUC)
    t = np.linspace(0, 2000, 200001)
    bolus = PK.concentration(t, np.array([0.0]), np.array([100.0]))
    short = PK.concentration(t, np.array([0.0]), np.array([100.0]), 2.0)
    assert short.max() < bolus.max()
    auc = 100.0 / (K * 5.0)
    assert trapezoid(bolus, t) == pytest.approx(auc, rel=1e-3)
    assert trapezoid(short, t) == pytest.approx(auc, rel=1e-3)


def test_dose_units_convert_with_the_patient():
    p = Parameters({"patient.body_weight": 80.0, "patient.body_surface": 2.0})
    assert Dose(value=200, unit="mg").milligrams(p) == 200
    assert Dose(value=10, unit="mg/kg").milligrams(p) == 800
    assert Dose(value=130, unit="mg/m2").milligrams(p) == 260
    with pytest.raises(ValueError, match="no mass"):
        Dose(value=2, unit="Gy").milligrams(p)
