"""Kernels of direct cell kill by treatments: radiation (linear-quadratic with oxygen enhancement),
cytotoxic drugs (cycling cells, lymphocytes) and PARP inhibition (synthetic lethality)."""

import numpy as np
from numba import njit

from gcsim.cells import LYMPHOCYTES, RADIOSENSITIVE
from gcsim.kernels.common import ramp
from gcsim.kernels.rng import uniform
from gcsim.state import CHEMO_RESISTANT, EMPTY, HRD, NO_IMMUNE, TUMOR


@njit(cache=True)
def oxygen_modification(po2, oer, k_mmhg):
    """Dose-modifying factor of oxygen, 1/OER (anoxia) … 1 (well oxygenated).

    Alper–Howard-Flanders: OMF = (OER·pO₂ + K) / (OER·(pO₂ + K)); pO₂ and K in mmHg.
    """
    return (oer * po2 + k_mmhg) / (oer * (po2 + k_mmhg))


@njit(cache=True)
def _clear_immune(x, y, immune, exhaustion, engaged, divisions):
    immune[x, y] = NO_IMMUNE
    exhaustion[x, y] = 0.0
    engaged[x, y] = 0.0
    divisions[x, y] = 0


@njit(cache=True)
def irradiate(
    rng,
    in_field,
    dose_gy,
    alpha,
    beta,
    oer,
    oer_k,
    alpha_lymphocyte,
    tissue,
    immune,
    oxygen,
    doomed,
    exhaustion,
    engaged,
    divisions,
):
    """One fraction of ``dose_gy`` over the sites where ``in_field`` is nonzero.

    A tumour cell survives with the LQ probability exp(−α d − β d²) of its oxygen-modified dose
    d = dose · OMF(pO₂); a cell that does not is marked ``doomed`` and dies at its next mitosis
    (``tumor_step``), so death is spread over the following cycle. Radiosensitive immune cells
    (the registry's ``radiosensitive`` flag: CD8 T cells, Tregs) die in interphase with
    probability 1 − exp(−α_L · dose). Returns (doomed, lymphocytes
    killed).
    """
    nx, ny = tissue.shape
    n_doomed = 0
    n_lymph = 0
    p_lymph = 1.0 - np.exp(-alpha_lymphocyte * dose_gy)
    for x in range(nx):
        for y in range(ny):
            if not in_field[x, y]:
                continue
            if tissue[x, y] == TUMOR and not doomed[x, y]:
                d = dose_gy * oxygen_modification(oxygen[x, y], oer, oer_k)
                if uniform(rng) >= np.exp(-alpha * d - beta * d * d):
                    doomed[x, y] = 1
                    n_doomed += 1
            kind = immune[x, y]
            if RADIOSENSITIVE[kind] and uniform(rng) < p_lymph:
                _clear_immune(x, y, immune, exhaustion, engaged, divisions)
                n_lymph += 1
    return n_doomed, n_lymph


@njit(cache=True)
def cytotoxic_kill(
    rng,
    exposure,
    p_tumor_max,
    resistant_sensitivity,
    p_lymphocyte,
    cycling_lo,
    cycling_hi,
    tissue,
    marker,
    immune,
    oxygen,
    exhaustion,
    engaged,
    divisions,
):
    """One step of a cytotoxic drug.

    ``exposure`` is the local concentration over EC50 at each site (delivery × plasma / EC50).
    A tumour cell dies with ``p_tumor_max · Hill(exposure) · cycling``, where cycling =
    ramp(pO₂) between the proliferation threshold and saturation (quiescent hypoxic cells are
    spared, as for S-phase and DNA-damaging drugs), times ``resistant_sensitivity`` for a cell of
    the heritable chemo-resistant subclone (``marker`` bit CHEMO_RESISTANT); a CD8 T cell or
    Treg dies with
    ``p_lymphocyte · Hill(exposure)``. Returns (tumour cells killed, lymphocytes killed).
    """
    nx, ny = tissue.shape
    n_tumor = 0
    n_lymph = 0
    for x in range(nx):
        for y in range(ny):
            e = exposure[x, y]
            if e <= 0.0:
                continue
            effect = e / (1.0 + e)
            if tissue[x, y] == TUMOR:
                cycling = ramp(oxygen[x, y], cycling_lo, cycling_hi)
                if marker[x, y] & CHEMO_RESISTANT:
                    cycling *= resistant_sensitivity
                if uniform(rng) < p_tumor_max * effect * cycling:
                    tissue[x, y] = EMPTY
                    n_tumor += 1
            kind = immune[x, y]
            if LYMPHOCYTES[kind] and uniform(rng) < p_lymphocyte * effect:
                _clear_immune(x, y, immune, exhaustion, engaged, divisions)
                n_lymph += 1
    return n_tumor, n_lymph


@njit(cache=True)
def synthetic_lethality(
    rng,
    exposure,
    hazard_hrd,
    hazard_proficient,
    cycle_per_step,
    cycling_lo,
    cycling_hi,
    tissue,
    cycle,
    marker,
    oxygen,
    doomed,
):
    """One step of a PARP inhibitor: replication-associated damage left unrepaired.

    ``exposure`` is the local concentration over EC50 at each site. A tumour cell not yet doomed
    is marked ``doomed`` (it dies at its next mitosis, ``tumor_step``) with probability
    1 − exp(−h · Hill(exposure) · Δcycle), where Δcycle = min(``cycle_per_step`` · ramp(pO₂),
    1 − cycle) is the cycle progress it makes this step (lesions arise at replication: quiescent
    hypoxic cells and cells waiting for room at the end of their cycle are spared) and h is
    ``hazard_hrd`` for a cell carrying the heritable HRD marker bit, ``hazard_proficient``
    otherwise (hazards per cell cycle at full inhibition). Returns the number of cells doomed.
    """
    nx, ny = tissue.shape
    n_doomed = 0
    for x in range(nx):
        for y in range(ny):
            if tissue[x, y] != TUMOR or doomed[x, y]:
                continue
            e = exposure[x, y]
            if e <= 0.0:
                continue
            progress = min(
                cycle_per_step * ramp(oxygen[x, y], cycling_lo, cycling_hi), 1.0 - cycle[x, y]
            )
            if progress <= 0.0:
                continue
            hazard = hazard_hrd if marker[x, y] & HRD else hazard_proficient
            if uniform(rng) < 1.0 - np.exp(-hazard * (e / (1.0 + e)) * progress):
                doomed[x, y] = 1
                n_doomed += 1
    return n_doomed
