"""History matching: rule out the parameter space whose emulated readouts cannot match.

For a target z of readout i, the implausibility of a parameter set x is

    I_i(x) = |z_i − E[f_i(x)]| / sqrt(Var_emulator,i(x) + Var_obs,i + Var_discrepancy,i)

and x is non-implausible when max_i I_i(x) ≤ cutoff (3 by default: Pukelsheim's three-sigma
rule holds for any unimodal distribution, so a match would fall outside it less than 5 % of the
time). Waves refocus: each wave's emulator is fitted on every run so far, and a point must pass
the emulators of all waves (the non-implausible space only shrinks). Only readouts whose emulator
was accepted (Q² ≥ q2_min) take part.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gcsim.calibrate.emulator import Emulator
from gcsim.calibrate.spec import Target

CANDIDATES_LOG2 = 14  # 16,384 scrambled Sobol' candidates per wave


def implausibility(emulator: Emulator, targets: Sequence[Target], unit: np.ndarray) -> np.ndarray:
    """I_i(x) (points × targets with an accepted emulator), dimensionless.

    Parameters
    ----------
    emulator : Emulator
        Fitted emulators; targets whose readout was rejected are left out.
    targets : sequence of Target
        Observed values with their observation and discrepancy sd.
    unit : (points, d) array
        Parameter sets in prior-quantile coordinates.
    """
    used = [t for t in targets if t.readout in emulator.accepted]
    if not used:
        return np.zeros((len(np.atleast_2d(unit)), 0))
    mean, var = emulator.predict(unit, [t.readout for t in used])
    z = np.array([t.mean for t in used])
    extra = np.array([t.variance for t in used])
    return np.abs(z - mean) / np.sqrt(var + extra)


def non_implausible(
    emulators: Sequence[Emulator], targets: Sequence[Target], unit: np.ndarray, cutoff: float
) -> np.ndarray:
    """Whether each point passes every wave's emulator: max_i I_i(x) ≤ ``cutoff``."""
    unit = np.atleast_2d(unit)
    keep = np.ones(len(unit), dtype=bool)
    for emulator in emulators:
        if not keep.any():
            break
        scores = implausibility(emulator, targets, unit[keep])
        if scores.shape[1]:
            keep[np.flatnonzero(keep)] = scores.max(axis=1) <= cutoff
    return keep


def candidates(d: int, seed: int, wave: int) -> np.ndarray:
    """Space-filling candidate points of ``wave`` in [0, 1]^d (scrambled Sobol'), reproducible."""
    from scipy.stats import qmc

    sequence = np.random.SeedSequence(seed, spawn_key=(7, wave))
    sampler = qmc.Sobol(d, scramble=True, seed=np.random.default_rng(sequence))
    return sampler.random_base2(CANDIDATES_LOG2)


def wave_points(
    emulators: Sequence[Emulator],
    targets: Sequence[Target],
    cutoff: float,
    n: int,
    d: int,
    seed: int,
    wave: int,
) -> tuple[np.ndarray, float]:
    """Up to ``n`` non-implausible points for ``wave`` and the non-implausible fraction of the
    prior space (estimated on the candidates).

    The survivors are taken in candidate order: a prefix of a Sobol' sequence, filtered, stays
    spread over the non-implausible region. Fewer than ``n`` survivors are all returned.
    """
    pool = candidates(d, seed, wave)
    keep = non_implausible(emulators, targets, pool, cutoff)
    return pool[keep][:n], float(keep.mean())
