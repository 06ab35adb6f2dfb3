"""Vessel rules: VEGF-driven sprouting, maturation (pericyte coverage) and regression."""

from typing import NamedTuple

import numpy as np
from numba import njit

from gcsim.kernels.common import DX, DY, hill
from gcsim.kernels.rng import uniform
from gcsim.state import EMPTY, STROMA, VESSEL


class VesselRules(NamedTuple):
    sprout_p: float  # sprouting probability per step at saturating VEGF
    vegf_half_max: float  # ng/mL
    vegf_hill: float
    maturity_relax: float  # fraction of the gap to the target maturity closed per step
    sprout_maturity: float
    survival_half_max: float  # ng/mL, VEGF as endothelial survival factor
    survival_hill: float
    stable_maturity: float  # maturity from which a vessel survives without VEGF
    regression_p: float  # per step, immature vessel without VEGF support
    leak_relax: float  # fraction of the gap to the target leak closed per step (1: at once)
    leak_max: float  # largest fractional loss of flow to VEGF-driven permeability
    leak_half_max: float  # ng/mL
    leak_hill: float


@njit(cache=True)
def _vessels_around(tissue, x, y):
    """Number of vessel sites among the Moore neighbours of (x, y)."""
    nx, ny = tissue.shape
    n = 0
    for d in range(8):
        u = x + DX[d]
        v = y + DY[d]
        if 0 <= u < nx and 0 <= v < ny and tissue[u, v] == VESSEL:
            n += 1
    return n


@njit(cache=True)
def vessel_step(rng, rules, order, tissue, maturity, vegf):
    """One step of the vessel rules for the vessel sites in ``order`` (flat indices, shuffled).

    ``vegf`` is the VEGF *signal* seen by endothelium (ng/mL), i.e. after any neutralisation.
    1. Maturity relaxes toward ``1 − Hill(VEGF)``: VEGF destabilises pericyte coverage, so vessels
       in VEGF-rich tumour stay immature, leaky and poorly perfused; removing VEGF matures them.
    2. Endothelium without pericytes needs a little VEGF to survive: a vessel regresses with
       probability ``regression_p · (1 − Hill(VEGF; survival half-max)) · dependence``, where
       dependence = max(0, 1 − maturity / stable_maturity) (pericyte-covered vessels no longer
       need VEGF, so normal tissue keeps its vessels). The
       survival half-max is far below the destabilising one, so partial blockade matures
       vessels while they survive, and near-complete blockade prunes the immature ones before
       they mature (Benjamin et al. 1999; Inai et al. 2004): the normalisation window.
    3. A vessel sprouts with probability ``sprout_p · Hill(VEGF)`` into the free or stromal
       neighbour with the highest VEGF (tip-cell chemotaxis) among those touching no other vessel
       (Dll4–Notch lateral inhibition keeps sprouts apart; without it vessel density grows
       without bound wherever VEGF diffuses); the sprout starts immature.
    Returns (sprouts, regressions).
    """
    nx, ny = tissue.shape
    n_sprouts = 0
    n_regressed = 0
    for k in range(order.shape[0]):
        x = order[k] // ny
        y = order[k] % ny
        if tissue[x, y] != VESSEL:
            continue
        signal = hill(vegf[x, y], rules.vegf_half_max, rules.vegf_hill)
        maturity[x, y] += rules.maturity_relax * ((1.0 - signal) - maturity[x, y])
        survival = hill(vegf[x, y], rules.survival_half_max, rules.survival_hill)
        dependence = max(0.0, 1.0 - maturity[x, y] / rules.stable_maturity)
        if dependence > 0.0 and uniform(rng) < rules.regression_p * (1.0 - survival) * dependence:
            tissue[x, y] = EMPTY
            maturity[x, y] = 0.0
            n_regressed += 1
            continue
        if uniform(rng) >= rules.sprout_p * signal:
            continue
        best = -1
        best_vegf = -1.0
        for d in range(8):
            u = x + DX[d]
            v = y + DY[d]
            if u < 0 or u >= nx or v < 0 or v >= ny:
                continue
            if (
                (tissue[u, v] == EMPTY or tissue[u, v] == STROMA)
                and vegf[u, v] > best_vegf
                and _vessels_around(tissue, u, v) == 1
            ):
                best = d
                best_vegf = vegf[u, v]
        if best >= 0:
            u = x + DX[best]
            v = y + DY[best]
            tissue[u, v] = VESSEL
            maturity[u, v] = rules.sprout_maturity
            n_sprouts += 1
    return n_sprouts, n_regressed


@njit(cache=True)
def relax_leak(rules, leak, vegf):
    """The VEGF-driven leak of every site relaxes toward ``leak_max · Hill(VEGF)``.

    ``vegf`` is the VEGF signal after any blockade (ng/mL); ``leak`` the fractional loss of a
    vessel's flow at each site (0..leak_max), read by the kernels as ``1 − leak`` when
    ``vessel.leak_relaxation_time`` > 0 (``common.site_flow``). Each step closes the
    fraction ``leak_relax`` = 1 − exp(−dt/τ) of the gap: VEGF makes vessels leak, the leak raises
    interstitial fluid pressure and stalls flow, and when VEGF signalling is blocked
    permeability and interstitial pressure fall over days (Tong et al., Cancer Res 2004), not
    at once. ``leak_relax`` = 1 sets the target itself. Every site relaxes, not only vessels, so
    a site that becomes a vessel starts at the leak its VEGF has been setting (a sprout stays
    below the perfusion threshold for days anyway).
    """
    nx, ny = leak.shape
    for x in range(nx):
        for y in range(ny):
            target = rules.leak_max * hill(vegf[x, y], rules.leak_half_max, rules.leak_hill)
            if rules.leak_relax >= 1.0:
                leak[x, y] = target
            else:
                leak[x, y] += rules.leak_relax * (target - leak[x, y])


def relax_leak_reference(rules, leak, vegf):
    """Slow reference of ``relax_leak`` (tests compare the two on small grids): the same rule
    written as whole-array arithmetic in float64, returning the new leak."""
    v = np.maximum(np.asarray(vegf, dtype=np.float64), 0.0)
    target = (
        rules.leak_max
        * v**rules.leak_hill
        / (rules.leak_half_max**rules.leak_hill + v**rules.leak_hill)
    )
    old = np.asarray(leak, dtype=np.float64)
    if rules.leak_relax >= 1.0:
        return target
    return old + rules.leak_relax * (target - old)
