"""Small numba helpers shared by the kernels."""

import numpy as np
from numba import njit

from gcsim.state import VESSEL

# Moore neighbourhood offsets.
DX = np.array([-1, -1, -1, 0, 0, 1, 1, 1], dtype=np.int64)
DY = np.array([-1, 0, 1, -1, 1, -1, 0, 1], dtype=np.int64)


@njit(cache=True)
def hill(x: float, half_max: float, power: float) -> float:
    """Hill activation x^n / (K^n + x^n) for x >= 0; 0 for x <= 0."""
    if x <= 0.0:
        return 0.0
    if power == 1.0:  # the usual case: no pow (x**1.0 is exactly x, so the value is the same)
        return x / (half_max + x)
    xn = x**power
    return xn / (half_max**power + xn)


@njit(cache=True)
def perfusion(maturity: float, threshold: float) -> float:
    """Blood flow of a vessel relative to a mature one: 0 up to the perfusion threshold, rising
    linearly to 1 at full pericyte coverage (immature vessels are leaky, with raised interstitial
    pressure and sluggish, intermittent flow; Jain, Science 2005)."""
    if maturity <= threshold:
        return 0.0
    return min(1.0, (maturity - threshold) / (1.0 - threshold))


@njit(cache=True)
def permeability_factor(vegf: float, leak_max: float, half_max: float, power: float) -> float:
    """Flow of a vessel relative to the same vessel without VEGF signal: 1 − leak_max·Hill(VEGF).

    VEGF is the vascular permeability factor: it makes vessels leak plasma, which raises the
    interstitial pressure toward the microvascular pressure and stalls flow; neutralising it
    lowers interstitial pressure and restores flow within days, before pericytes cover the
    vessels (Tong et al., Cancer Res 2004; Jain, Science 2005). ``vegf`` is the signal after any
    blockade (ng/mL).
    """
    return 1.0 - leak_max * hill(vegf, half_max, power)


@njit(cache=True)
def site_flow(rules, maturity: float, vegf: float, leak: float) -> float:
    """Flow of one vessel site as the kernels read it: ``perfusion(maturity)`` × the wall's
    permeability, ``1 − leak`` from the site's relaxed leak state when the leak relaxes
    (``rules.leak_relaxes`` > 0: ``vessel.leak_relaxation_time`` > 0), else
    ``permeability_factor`` of the VEGF signal ``vegf`` at once (the rule of decision 0020, bit
    for bit). ``rules``: any kernel rule tuple with ``perfusion_threshold``, ``leak_relaxes``,
    ``leak_max``, ``leak_half_max`` and ``leak_hill``."""
    flow = perfusion(maturity, rules.perfusion_threshold)
    if rules.leak_relaxes > 0.0:
        return flow * (1.0 - leak)
    return flow * permeability_factor(vegf, rules.leak_max, rules.leak_half_max, rules.leak_hill)


def leak_relaxes(params) -> bool:
    """Whether the leak follows the VEGF signal with a delay (``vessel.leak_relaxation_time``)."""
    return params["vessel.leak_relaxation_time"] > 0.0


def leak_parameters(params) -> tuple[float, float, float]:
    """(leak_max, half_max, power) of ``permeability_factor`` from a parameter set."""
    return (
        params["vessel.vegf_leak_max"],
        params["vessel.vegf_leak_half_max"],
        params["vessel.vegf_leak_hill"],
    )


def vessel_flow(
    tissue: np.ndarray,
    maturity: np.ndarray,
    threshold: float,
    vegf: np.ndarray | None = None,
    leak: tuple[float, float, float] = (0.0, 1.0, 1.0),
    wall: np.ndarray | None = None,
) -> np.ndarray:
    """Flow at every vessel site, 0 elsewhere (array form, for observers and drug delivery outside
    the kernels): ``perfusion(maturity, threshold)``, times ``1 − wall`` when the relaxed leak
    state ``wall`` is given, else times ``permeability_factor`` of the VEGF signal ``vegf`` with
    ``leak`` = (leak_max, half_max, power) when that is given."""
    flow = np.clip((maturity - threshold) / (1.0 - threshold), 0.0, 1.0)
    if wall is not None:
        flow = (flow * (1.0 - wall.astype(np.float64))).astype(flow.dtype)
    elif vegf is not None:
        leak_max, half_max, power = leak
        v = np.maximum(vegf.astype(np.float64), 0.0) ** power
        flow = (flow * (1.0 - leak_max * v / (half_max**power + v))).astype(flow.dtype)
    return np.where(tissue == VESSEL, flow, 0.0)


@njit(cache=True)
def ramp(x: float, lo: float, hi: float) -> float:
    """Linear ramp: 0 at or below ``lo``, 1 at or above ``hi``."""
    if x <= lo:
        return 0.0
    if x >= hi:
        return 1.0
    return (x - lo) / (hi - lo)


def lattice_flow(state, params, vegf_signal: np.ndarray) -> np.ndarray:
    """``vessel_flow`` of a lattice state as the kernels see it: from the relaxed leak state
    ``state.leak`` when the leak relaxes, else from the VEGF signal ``vegf_signal`` (after any
    blockade) at once."""
    threshold = params["vessel.perfusion_threshold"]
    if leak_relaxes(params):
        return vessel_flow(state.tissue, state.maturity, threshold, wall=state.leak)
    return vessel_flow(
        state.tissue, state.maturity, threshold, vegf_signal, leak_parameters(params)
    )
