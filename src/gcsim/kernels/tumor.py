"""Tumour-cell rules: anoxic necrosis, apoptosis, adaptive PD-L1, oxygen-limited division."""

from typing import NamedTuple

import numpy as np
from numba import njit

from gcsim.kernels.common import DX, DY, hill, ramp
from gcsim.kernels.rng import random_index, uniform
from gcsim.state import EMPTY, NECROTIC, STROMA, TUMOR


class TumorRules(NamedTuple):
    """Per-step constants of the tumour rules (probabilities per step, pO₂ in mmHg)."""

    cycle_per_step: float  # cycle progress per step at full oxygen (rate × dt)
    proliferation_threshold: float
    proliferation_saturation: float
    necrosis_threshold: float
    necrosis_max_po2: float
    necrosis_p: float
    apoptosis_p: float
    stroma_invasion: float
    pdl1_relax: float  # fraction of the gap to the PD-L1 target closed per step
    pdl1_ifng_half_max: float
    pdl1_ifng_hill: float
    pdl1_factor: float  # factor on the PD-L1 target (pdl1_expression channel); capped at 1
    clearance_p: float  # necrotic site cleared per step


@njit(cache=True)
def inherited_markers(rng, parent, marker_loss):
    """The marker bits of one daughter of a cell whose bits are ``parent``: each set bit
    ``1 << b`` is lost with probability ``marker_loss[b]`` (one uniform draw per set bit whose
    loss is above 0, in bit order); none is gained."""
    bits = int(parent)
    for b in range(marker_loss.shape[0]):
        bit = 1 << b
        if parent & bit and marker_loss[b] > 0.0 and uniform(rng) < marker_loss[b]:
            bits ^= bit
    return bits


TUMOR_STATE = (
    "tissue",
    "cycle",
    "pdl1",
    "pdl1_const",
    "antigen",
    "marker",
    "doomed",
    "infection",
    "oxygen",
    "ifng",
)
"""The ``LatticeState`` arrays ``tumor_step`` takes after its four leading arguments, in order."""


@njit(cache=True)
def tumor_step(
    rng,
    rules,
    marker_loss,
    order,
    tissue,
    cycle,
    pdl1,
    pdl1_const,
    antigen,
    marker,
    doomed,
    infection,
    oxygen,
    ifng,
):
    """Apply one step of the tumour rules to the tumour sites listed in ``order`` (flat indices).

    For each cell, in the given (shuffled) order:
    1. necrosis with probability ``necrosis_p · ramp`` as pO₂ falls from the necrosis threshold to
       its maximum, leaving a necrotic site; otherwise apoptosis with ``apoptosis_p``, leaving
       free space;
    2. PD-L1 relaxes toward ``max(constitutive, Hill(IFN-γ))`` (adaptive resistance);
    3. the cycle advances in proportion to ``ramp(pO₂)`` between the proliferation threshold and
       saturation (hypoxic quiescence below the threshold); a cell that completes its cycle
       divides into a random free Moore neighbour, or into a stromal one with probability
       ``stroma_invasion``; with no room it waits (contact inhibition). A ``doomed`` cell
       (lethally irradiated) dies instead of dividing: mitotic catastrophe. A cell infected by
       an oncolytic virus (``infection`` > 0) does not divide: the virus has taken over its
       synthesis and it lyses first (``kernels.virus``); a daughter starts uninfected. The
       daughter copies the cell's heritable state; a marker bit whose ``marker_loss`` (per bit,
       entry b for ``1 << b``; ``gcsim.markers.marker_loss``) is above 0 is kept by each of the
       two daughters with probability 1 − loss (``inherited_markers``).
    Necrotic sites are cleared to free space with ``clearance_p``.
    Returns (divisions, necrotic deaths, apoptoses, mitotic deaths).
    """
    nx, ny = tissue.shape
    # Flat views: a cell is one index; its (x, y) is needed only to divide near the edge.
    tis = tissue.reshape(-1)
    cyc = cycle.reshape(-1)
    pd = pdl1.reshape(-1)
    pd_const = pdl1_const.reshape(-1)
    ant = antigen.reshape(-1)
    mark = marker.reshape(-1)
    doom = doomed.reshape(-1)
    infected = infection.reshape(-1)
    o2_field = oxygen.reshape(-1)
    ifn = ifng.reshape(-1)
    n_div = 0
    n_necrotic = 0
    n_apoptotic = 0
    n_mitotic = 0
    candidates = np.empty(8, dtype=np.int64)
    unstable = 0  # the bits a daughter may lose: none by default, and then nothing is drawn
    for b in range(marker_loss.shape[0]):
        if marker_loss[b] > 0.0:
            unstable |= 1 << b
    for k in range(order.shape[0]):
        p = order[k]
        code = tis[p]
        if code == NECROTIC:
            if uniform(rng) < rules.clearance_p:
                tis[p] = EMPTY
            continue
        if code != TUMOR:
            continue
        o2 = o2_field[p]
        anoxia = 1.0 - ramp(o2, rules.necrosis_max_po2, rules.necrosis_threshold)
        if anoxia > 0.0 and uniform(rng) < rules.necrosis_p * anoxia:
            tis[p] = NECROTIC
            n_necrotic += 1
            continue
        if uniform(rng) < rules.apoptosis_p:
            tis[p] = EMPTY
            n_apoptotic += 1
            continue
        induced = hill(ifn[p], rules.pdl1_ifng_half_max, rules.pdl1_ifng_hill)
        target = min(1.0, rules.pdl1_factor * max(pd_const[p], induced))
        pd[p] += rules.pdl1_relax * (target - pd[p])
        drive = ramp(o2, rules.proliferation_threshold, rules.proliferation_saturation)
        cyc[p] = min(1.0, cyc[p] + rules.cycle_per_step * drive)
        if cyc[p] < 1.0:
            continue
        if doom[p]:
            tis[p] = EMPTY
            doom[p] = 0
            n_mitotic += 1
            continue
        if infected[p] > 0.0:
            continue
        x = p // ny
        y = p - x * ny
        n_free = 0
        for d in range(8):
            u = x + DX[d]
            v = y + DY[d]
            if u < 0 or u >= nx or v < 0 or v >= ny:
                continue
            q = u * ny + v
            if tis[q] == EMPTY or (tis[q] == STROMA and uniform(rng) < rules.stroma_invasion):
                candidates[n_free] = q
                n_free += 1
        if n_free == 0:
            continue
        q = candidates[random_index(rng, n_free)]
        tis[q] = TUMOR
        cyc[p] = 0.0
        cyc[q] = 0.0
        pd[q] = pd[p]
        pd_const[q] = pd_const[p]
        ant[q] = ant[p]
        parent = mark[p]
        if parent & unstable:
            mark[p] = inherited_markers(rng, parent, marker_loss)
            mark[q] = inherited_markers(rng, parent, marker_loss)
        else:
            mark[q] = parent
        doom[q] = 0
        infected[q] = 0.0
        n_div += 1
    return n_div, n_necrotic, n_apoptotic, n_mitotic
