"""Gaussian-process emulators of readouts, with cross-validated Q² and an acceptance rule.

One :class:`sklearn.gaussian_process.GaussianProcessRegressor` per readout, fitted on every run
(replicates as separate rows) in prior-quantile coordinates ``u`` ∈ [0, 1]^d, so uniform and
log-uniform priors look alike and one length-scale prior fits all. The kernel is
``C · RBF(ARD) + White``: the white-noise term learns the run-to-run (replicate) variance, and the
emulator's predictive variance includes it, because a target is one observed tumour, not the
mean of many.

Q² (k-fold, by design point: replicates of a point are never split between training and test)
is ``1 − PRESS / SS`` over the points' replicate means, with PRESS = Σ (ȳ_p − ŷ_p,cv)² and SS =
Σ (ȳ_p − mean ȳ)². A readout's emulator is accepted when Q² ≥ ``q2_min``; the rejected ones are
left out of history matching and ABC, and reported.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

MIN_POINTS = 4


@dataclass
class ReadoutEmulator:
    """One readout's emulator and its validation."""

    readout: str
    q2: float
    accepted: bool
    points: int  # design points with a finite readout
    runs: int
    gp: Any = field(repr=False, default=None)  # None when there were too few points
    note: str = ""


@dataclass
class Emulator:
    """Emulators of several readouts over the same d parameters (prior-quantile space)."""

    readouts: dict[str, ReadoutEmulator]
    q2_min: float

    @property
    def accepted(self) -> list[str]:
        return [name for name, e in self.readouts.items() if e.accepted]

    @property
    def rejected(self) -> list[str]:
        return [name for name, e in self.readouts.items() if not e.accepted]

    def predict(self, unit: np.ndarray, names: list[str] | None = None) -> tuple[np.ndarray, ...]:
        """Mean and variance (points × readouts) at ``unit`` (points × d), accepted readouts by
        default, in readout units (variance: units squared, including run-to-run noise)."""
        unit = np.atleast_2d(np.asarray(unit, dtype=float))
        names = self.accepted if names is None else names
        mean = np.empty((len(unit), len(names)))
        var = np.empty_like(mean)
        for j, name in enumerate(names):
            m, s = self.readouts[name].gp.predict(unit, return_std=True)
            mean[:, j], var[:, j] = m, s**2
        return mean, var

    def summary(self) -> dict[str, Any]:
        return {
            "q2_min": self.q2_min,
            "readouts": {
                name: {
                    "q2": _finite(e.q2),
                    "accepted": e.accepted,
                    "points": e.points,
                    "runs": e.runs,
                    **({"note": e.note} if e.note else {}),
                }
                for name, e in self.readouts.items()
            },
            "accepted": self.accepted,
            "rejected": self.rejected,
        }


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _kernel(d: int) -> Any:
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

    return ConstantKernel(1.0, (1e-3, 1e3)) * RBF(
        length_scale=np.full(d, 0.3), length_scale_bounds=(1e-2, 1e2)
    ) + WhiteKernel(1e-2, (1e-8, 1e1))


def _gp(kernel: Any, seed: int, restarts: int) -> Any:
    from sklearn.gaussian_process import GaussianProcessRegressor

    return GaussianProcessRegressor(
        kernel=kernel,
        normalize_y=True,
        n_restarts_optimizer=restarts,
        random_state=seed % 2**32,
    )


def _fit(gp: Any, x: np.ndarray, y: np.ndarray) -> Any:
    with warnings.catch_warnings():  # hyperparameters at a bound: the fit is still usable
        warnings.simplefilter("ignore")
        return gp.fit(x, y)


def cross_validated_q2(
    unit: np.ndarray, y: np.ndarray, groups: np.ndarray, kernel: Any, folds: int, seed: int
) -> float:
    """k-fold Q² = 1 − PRESS/SS over design points (replicate means), folds by point.

    Parameters
    ----------
    unit : (runs, d) array
        Run coordinates in prior-quantile space.
    y : (runs,) array
        The readout of each run (finite).
    groups : (runs,) array
        Design-point id of each run.
    kernel : sklearn kernel
        Starting kernel of every fold's fit (the full fit's, to keep the optimiser near it).
    folds : int
        k; at most the number of points.
    """
    points = np.unique(groups)
    k = min(folds, len(points))
    order = np.random.default_rng(seed).permutation(points)
    fold_of = {p: i % k for i, p in enumerate(order)}
    observed, predicted = [], []
    for fold in range(k):
        test = np.array([fold_of[g] == fold for g in groups])
        gp = _fit(_gp(kernel, seed, 0), unit[~test], y[~test])
        for p in np.unique(groups[test]):
            rows = groups == p
            observed.append(y[rows].mean())
            predicted.append(float(gp.predict(unit[rows][:1])[0]))
    observed_, predicted_ = np.array(observed), np.array(predicted)
    ss = float(np.sum((observed_ - observed_.mean()) ** 2))
    press = float(np.sum((observed_ - predicted_) ** 2))
    if ss == 0:
        return 1.0 if press == 0 else -np.inf
    return 1.0 - press / ss


def fit_emulator(
    unit: np.ndarray,
    readouts: pd.DataFrame,
    groups: np.ndarray,
    *,
    q2_min: float = 0.8,
    folds: int = 5,
    seed: int = 0,
) -> Emulator:
    """Fit and cross-validate one GP per column of ``readouts``.

    Parameters
    ----------
    unit : (runs, d) array
        Prior quantiles of each run's parameters, in [0, 1].
    readouts : DataFrame (runs × readouts)
        Readout values, in their own units; NaN rows (failed runs, undefined readouts) are left
        out of that readout's fit.
    groups : (runs,) array
        Design-point id of each run (replicates share it).
    q2_min : float
        Acceptance threshold on the k-fold Q².
    folds : int
        k of the cross-validation.
    seed : int
        Seeds the optimiser's restarts and the fold assignment: same inputs, same emulator.
    """
    unit = np.atleast_2d(np.asarray(unit, dtype=float))
    groups = np.asarray(groups)
    emulators = {}
    for name in readouts.columns:
        y = readouts[name].to_numpy(dtype=float)
        ok = np.isfinite(y)
        n_points = len(np.unique(groups[ok]))
        if n_points < max(MIN_POINTS, 2):
            note = f"only {n_points} design point(s) with a finite value"
            emulators[name] = ReadoutEmulator(
                name, -np.inf, False, n_points, int(ok.sum()), None, note
            )
            continue
        gp = _fit(_gp(_kernel(unit.shape[1]), seed, 2), unit[ok], y[ok])
        q2 = cross_validated_q2(unit[ok], y[ok], groups[ok], gp.kernel_, folds, seed)
        emulators[name] = ReadoutEmulator(name, q2, q2 >= q2_min, n_points, int(ok.sum()), gp)
    return Emulator(emulators, q2_min)
