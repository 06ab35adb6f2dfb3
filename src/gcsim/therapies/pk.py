"""One-compartment pharmacokinetics from a dosing calendar.

Plasma concentration is the superposition of each dose's one-compartment response with
first-order elimination ``k = ln 2 / half-life``: an IV bolus of amount ``A`` (mg) into volume ``V``
(L) gives ``A/V · exp(-k (t - t0))`` (µg/mL, since mg/L = µg/mL); a zero-order infusion over ``T``
hours gives ``A/(T k V) · (1 - exp(-k τ))`` while it runs (τ = t - t0 ≤ T) and decays from its end
value afterwards. Oral doses are treated as boluses (absorption is fast against the time scales
simulated; an assumption).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Pharmacokinetics:
    """A drug's one-compartment parameters: half-life (h) and volume of distribution (L)."""

    half_life_h: float
    volume_l: float

    @classmethod
    def of(cls, drug: str, params: Mapping[str, float]) -> Pharmacokinetics:
        return cls(params[f"drug.{drug}.half_life"], params[f"drug.{drug}.volume"])

    @property
    def elimination_per_h(self) -> float:
        return float(np.log(2.0) / self.half_life_h)

    def concentration(
        self,
        t_h: np.ndarray | float,
        dose_times_h: np.ndarray,
        amounts_mg: np.ndarray,
        infusion_h: float = 0.0,
    ) -> np.ndarray:
        """Plasma concentration (µg/mL) at times ``t_h`` (h) after doses at ``dose_times_h``.

        ``amounts_mg`` gives each dose (mg); ``infusion_h`` the infusion duration (0 = bolus).
        """
        t = np.atleast_1d(np.asarray(t_h, dtype=float))[:, None]
        t0 = np.asarray(dose_times_h, dtype=float)[None, :]
        amount = np.asarray(amounts_mg, dtype=float)[None, :]
        k = self.elimination_per_h
        tau = t - t0
        if infusion_h <= 0.0:
            c = np.where(
                tau >= 0.0, amount / self.volume_l * np.exp(-k * np.maximum(tau, 0.0)), 0.0
            )
        else:
            rate = amount / (infusion_h * k * self.volume_l)
            during = rate * (1.0 - np.exp(-k * np.clip(tau, 0.0, infusion_h)))
            after = np.exp(-k * np.maximum(tau - infusion_h, 0.0))
            c = np.where(tau >= 0.0, during * after, 0.0)
        return c.sum(axis=1)

    def area(
        self, t0_h: float, t1_h: float, dose_times_h: np.ndarray, amounts: np.ndarray
    ) -> float:
        """Area under the plasma curve of bolus doses over [t0, t1] (h): ∫ C dt in the amount's
        unit per L × h (µg/mL·h for mg). Exact, so that a step longer than the half-life
        (a virus cleared from blood in minutes) still gets the amount it sees."""
        t = np.asarray(dose_times_h, dtype=float)
        given = t < t1_h
        t, amount = t[given], np.asarray(amounts, dtype=float)[given]
        k = self.elimination_per_h
        start = np.maximum(t0_h, t)
        decayed = np.exp(-k * (start - t)) - np.exp(-k * (t1_h - t))
        return float(np.sum(amount / self.volume_l * decayed) / k)
