"""Immune-cell rules: recruitment through perfused vessels, migration, killing, suppression,
exhaustion, division, death and macrophage polarisation."""

from typing import NamedTuple

import numpy as np
from numba import njit

from gcsim.kernels.common import DX, DY, hill, ramp, site_flow
from gcsim.kernels.rng import random_index, uniform
from gcsim.state import CD8, EMPTY, MACROPHAGE, MDSC, NO_IMMUNE, STROMA, TREG, TUMOR, VESSEL


class ImmuneRules(NamedTuple):
    dt_h: float
    cd8_substeps: int  # lattice moves per step of a free CD8 T cell
    other_substeps: int  # lattice moves per step of a Treg, MDSC or macrophage
    chemotaxis_bias: float
    stroma_permeability: float
    kill_p: float  # per engagement, after the t_cell_killing channel
    antigen_presentation: float  # factor on antigenicity seen by CD8 T cells (MHC-I channel)
    engagement_h: float
    exhaustion_per_kill: float  # 1 / kill capacity
    pd1_exhaustion_gain: float
    pd1_brake_max: float
    pd1_occupancy: float  # fraction of PD-1/PD-L1 axis blocked by checkpoint inhibitors
    reinvigoration_p: float  # per step, exhausted CD8 regains function (checkpoint blockade)
    reinvigorated_exhaustion: float  # exhaustion level a reinvigorated cell returns to
    tgfb_max: float
    tgfb_half_max: float
    tgfb_hill: float
    contact_suppression: float
    treg_suppression: float  # weight of an adjacent Treg in contact suppression (channel)
    mdsc_suppression: float  # weight of an adjacent MDSC in contact suppression (channel)
    division_p: float
    max_divisions: int
    cd8_death_p: float
    exhausted_death_p: float
    treg_death_p: float
    mdsc_death_p: float
    macrophage_death_p: float
    polarisation_relax: float
    m1_ifng_half_max: float  # IFN-γ pushing macrophages to M1
    m1_ifng_hill: float
    m2_tgfb_half_max: float  # suppressive cytokine pushing macrophages to M2
    m2_tgfb_hill: float
    hypoxia_m2: float
    vegf_m2: float  # weight of the VEGF signal pushing macrophages to M2
    vegf_half_max: float
    vegf_hill: float
    m1_stimulus: float  # treatment-driven M1 drive (low-dose radiation), added to Hill(IFN-γ)
    hypoxia_lo: float  # pO₂ at which the hypoxic push to M2 is maximal (mmHg)
    hypoxia_hi: float  # pO₂ above which there is no hypoxic push (mmHg)


class RecruitmentRules(NamedTuple):
    perfusion_threshold: float
    leak_max: float
    leak_half_max: float  # ng/mL
    leak_hill: float
    leak_relaxes: float  # 1: flow reads the relaxed leak state, 0: the VEGF signal at once
    cd8_p: float  # per perfused vessel site and step at full perfusion, chemokine and priming
    treg_ratio: float
    mdsc_p: float
    macrophage_p: float
    chemokine_half_max: float
    chemokine_hill: float
    vegf_half_max: float  # MDSC recruitment by VEGF
    vegf_hill: float


@njit(cache=True)
def _free_neighbour(rng, tissue, immune, x, y):
    """A random Moore neighbour whose immune layer is free and tissue is not stroma, or -1."""
    nx, ny = tissue.shape
    options = np.empty(8, dtype=np.int64)
    n = 0
    for d in range(8):
        u = x + DX[d]
        v = y + DY[d]
        if 0 <= u < nx and 0 <= v < ny and immune[u, v] == NO_IMMUNE and tissue[u, v] != STROMA:
            options[n] = d
            n += 1
    if n == 0:
        return -1
    return options[random_index(rng, n)]


@njit(cache=True)
def kill_probability(rules, antigen, target_pdl1, tgfb, n_suppressors):
    """Probability that one engagement kills its target.

    kill_p · antigenicity · (1 − PD-1 brake) · (1 − cytokine suppression) · (1 − contact
    suppression), with brake = brake_max · PD-L1 · (1 − checkpoint-inhibitor occupancy),
    cytokine suppression = tgfb_max · Hill(suppressive cytokine) and contact suppression =
    min(1, contact · n_suppressors), where ``n_suppressors`` is the adjacent Tregs and MDSCs,
    each weighted by its suppression channel. ``antigen`` is the presented antigenicity.
    """
    brake = rules.pd1_brake_max * target_pdl1 * (1.0 - rules.pd1_occupancy)
    cytokine = rules.tgfb_max * hill(tgfb, rules.tgfb_half_max, rules.tgfb_hill)
    contact = min(1.0, rules.contact_suppression * n_suppressors)
    return rules.kill_p * antigen * (1.0 - brake) * (1.0 - cytokine) * (1.0 - contact)


@njit(cache=True)
def immune_step(
    rng,
    rules,
    order,
    tissue,
    antigen,
    pdl1,
    immune,
    exhaustion,
    engaged,
    divisions,
    polarisation,
    oxygen,
    chemokine,
    ifng,
    tgfb,
    vegf,
    done,
    counters,
):
    """One step for the immune cells at the flat indices in ``order`` (shuffled).

    Per cell: death (exhausted CD8s die faster); then by type —
    CD8: an exhausted cell regains function with ``reinvigoration_p`` × the highest PD-L1 of
    the tumour cells it touches (blockade releases PD-1 signalling only where there is PD-L1);
    an engaged cell stays put; a free one tries to engage an adjacent tumour cell, else
    migrates up the chemokine gradient and arrests beside antigen; Treg/MDSC: slow random walk
    biased to chemokine (they suppress through contact and cytokine, see ``kill_probability``);
    macrophage: slow walk, polarisation relaxes toward 0.5 + 0.5·(Hill(IFN-γ) + M1 stimulus −
    Hill(suppressive cytokine) − hypoxia push − VEGF push) clipped to [0, 1] (1 = M1); ``vegf``
    is the VEGF signal after any blockade.
    ``done`` is a zeroed scratch array marking cells that already acted (moved or newborn).
    ``counters`` accumulates [engagements, kills, CD8 divisions, deaths].
    """
    nx, ny = tissue.shape
    options = np.empty(9, dtype=np.int64)  # one scratch buffer per call, not one per cell

    # The per-cell rules below are closures over the arrays, not separate jitted functions:
    # numba inlines closures, whereas each call of a jitted function that takes arrays
    # increments and decrements every array's reference count atomically, and those atomics
    # cost more than the rules themselves (docs/decisions/0005-performance.md).

    def inside(x, y):
        return 0 < x < nx - 1 and 0 < y < ny - 1  # all eight neighbours on the lattice

    def sees_antigen(x, y):
        inner = inside(x, y)
        for d in range(-1, 8):
            u = x + (DX[d] if d >= 0 else 0)
            v = y + (DY[d] if d >= 0 else 0)
            if (inner or (0 <= u < nx and 0 <= v < ny)) and tissue[u, v] == TUMOR:
                if antigen[u, v] * rules.antigen_presentation > 0.0:
                    return True
        return False

    def pdl1_around(x, y):
        best = 0.0
        for d in range(-1, 8):
            u = x + (DX[d] if d >= 0 else 0)
            v = y + (DY[d] if d >= 0 else 0)
            if 0 <= u < nx and 0 <= v < ny and tissue[u, v] == TUMOR and pdl1[u, v] > best:
                best = pdl1[u, v]
        return best

    def enterable(u, v):
        """Whether a cell may move onto lattice site (u, v): its immune layer is free and, if it
        is stroma, with probability ``stroma_permeability`` (drawn only then)."""
        free = immune[u, v] == NO_IMMUNE
        if free & (tissue[u, v] == STROMA):
            free = uniform(rng) < rules.stroma_permeability
        return free

    def relocate(x, y, u, v):
        immune[u, v] = immune[x, y]
        exhaustion[u, v] = exhaustion[x, y]
        engaged[u, v] = engaged[x, y]
        divisions[u, v] = divisions[x, y]
        polarisation[u, v] = polarisation[x, y]
        immune[x, y] = NO_IMMUNE
        exhaustion[x, y] = 0.0
        engaged[x, y] = 0.0
        divisions[x, y] = 0
        polarisation[x, y] = 0.0

    def migrate(x, y, substeps, stop_on_antigen):
        """Biased random walk of the immune cell at (x, y) for ``substeps`` lattice moves.

        Each move: with probability ``chemotaxis_bias`` go to the accessible Moore neighbour with
        the highest chemokine, otherwise to a random accessible one. A site is accessible when
        its immune layer is free and, if it is stroma, with probability
        ``stroma_permeability``. With ``stop_on_antigen`` the cell arrests next to an
        antigen-bearing tumour cell (Boissonnas 2007). Returns the final position.
        """
        for _ in range(substeps):
            if stop_on_antigen and sees_antigen(x, y):
                break
            n = 0
            # A branch-free count (options[n] is kept only if enterable: data the branch
            # predictor cannot learn), in two loops so that the usual case, away from the
            # edge, has no bounds checks at all (one loop with both costs ~20 % more).
            if inside(x, y):
                for d in range(8):
                    options[n] = d
                    n += enterable(x + DX[d], y + DY[d])
            else:
                for d in range(8):
                    u = x + DX[d]
                    v = y + DY[d]
                    if 0 <= u < nx and 0 <= v < ny:
                        options[n] = d
                        n += enterable(u, v)
            if n == 0:
                break
            if uniform(rng) < rules.chemotaxis_bias:
                pick = options[0]
                best = chemokine[x + DX[pick], y + DY[pick]]
                for i in range(1, n):
                    d = options[i]
                    level = chemokine[x + DX[d], y + DY[d]]
                    better = level > best
                    pick = d if better else pick
                    best = level if better else best
            else:
                pick = options[random_index(rng, n)]
            u = x + DX[pick]
            v = y + DY[pick]
            relocate(x, y, u, v)
            x = u
            y = v
        return x, y

    def cd8_act(x, y):
        """Engagement of a free, non-exhausted CD8 T cell with an adjacent tumour cell, if any.

        The T cell recognises a tumour cell with probability equal to its antigenicity and forms
        a conjugate for one step (secreting IFN-γ); a kill holds it for ``engagement_h``.
        Exhaustion grows by 1/kill_capacity per kill (Kather 2017's kill limit) and, through
        PD-1, by pd1_exhaustion_gain/kill_capacity × unblocked PD-L1 per engagement. A kill frees
        the site and may trigger division.
        Returns True when the cell engaged (and therefore does not migrate this step).
        """
        n_targets = 0
        n_tregs = 0
        n_mdscs = 0
        inner = inside(x, y)
        for d in range(-1, 8):
            u = x + (DX[d] if d >= 0 else 0)
            v = y + (DY[d] if d >= 0 else 0)
            if inner or (0 <= u < nx and 0 <= v < ny):
                options[n_targets] = d  # branch-free: kept only where there is a tumour cell
                n_targets += tissue[u, v] == TUMOR
                neighbour = immune[u, v]
                n_tregs += neighbour == TREG
                n_mdscs += neighbour == MDSC
        if n_targets == 0:
            return False
        d = options[random_index(rng, n_targets)]
        u = x + (DX[d] if d >= 0 else 0)
        v = y + (DY[d] if d >= 0 else 0)
        presented = min(1.0, antigen[u, v] * rules.antigen_presentation)
        if uniform(rng) >= presented:
            return False
        counters[0] += 1  # engagements
        engaged[x, y] = rules.dt_h  # a conjugate forms (and IFN-γ is secreted) for this step
        pd1_signal = pdl1[u, v] * (1.0 - rules.pd1_occupancy)
        exhaustion[x, y] += rules.exhaustion_per_kill * rules.pd1_exhaustion_gain * pd1_signal
        suppressors = rules.treg_suppression * n_tregs + rules.mdsc_suppression * n_mdscs
        p = kill_probability(rules, presented, pdl1[u, v], tgfb[x, y], suppressors)
        if uniform(rng) < p:
            tissue[u, v] = EMPTY
            engaged[x, y] = rules.engagement_h  # the lytic hit holds the T cell (Kather 2017)
            exhaustion[x, y] += rules.exhaustion_per_kill
            counters[1] += 1  # kills
            if divisions[x, y] < rules.max_divisions and uniform(rng) < rules.division_p:
                d2 = _free_neighbour(rng, tissue, immune, x, y)  # rare: a call is cheap here
                if d2 >= 0:
                    a = x + DX[d2]
                    b = y + DY[d2]
                    divisions[x, y] += 1
                    immune[a, b] = CD8
                    exhaustion[a, b] = exhaustion[x, y]
                    divisions[a, b] = divisions[x, y]
                    engaged[a, b] = 0.0
                    done[a, b] = 1
                    counters[2] += 1  # divisions
        return True

    for k in range(order.shape[0]):
        x = order[k] // ny
        y = order[k] % ny
        kind = immune[x, y]
        if kind == NO_IMMUNE or done[x, y]:
            continue
        if kind == CD8:
            p_death = rules.exhausted_death_p if exhaustion[x, y] >= 1.0 else rules.cd8_death_p
        elif kind == TREG:
            p_death = rules.treg_death_p
        elif kind == MDSC:
            p_death = rules.mdsc_death_p
        else:
            p_death = rules.macrophage_death_p
        if uniform(rng) < p_death:
            immune[x, y] = NO_IMMUNE
            exhaustion[x, y] = 0.0
            engaged[x, y] = 0.0
            divisions[x, y] = 0
            polarisation[x, y] = 0.0
            counters[3] += 1
            continue
        if kind == CD8:
            if exhaustion[x, y] >= 1.0 and uniform(rng) < rules.reinvigoration_p * pdl1_around(
                x, y
            ):
                exhaustion[x, y] = rules.reinvigorated_exhaustion
            if engaged[x, y] > 0.0:
                engaged[x, y] = max(0.0, engaged[x, y] - rules.dt_h)
                if engaged[x, y] > 0.0:
                    done[x, y] = 1
                    continue
            if exhaustion[x, y] < 1.0 and cd8_act(x, y):
                done[x, y] = 1
                continue
            x, y = migrate(x, y, rules.cd8_substeps, True)
        else:
            if kind == MACROPHAGE:
                m1 = (
                    hill(ifng[x, y], rules.m1_ifng_half_max, rules.m1_ifng_hill) + rules.m1_stimulus
                )
                hypoxia = 1.0 - ramp(oxygen[x, y], rules.hypoxia_lo, rules.hypoxia_hi)
                m2 = (
                    hill(tgfb[x, y], rules.m2_tgfb_half_max, rules.m2_tgfb_hill)
                    + rules.hypoxia_m2 * hypoxia
                    + rules.vegf_m2 * hill(vegf[x, y], rules.vegf_half_max, rules.vegf_hill)
                )
                target = min(1.0, max(0.0, 0.5 + 0.5 * (m1 - m2)))
                polarisation[x, y] += rules.polarisation_relax * (target - polarisation[x, y])
            x, y = migrate(x, y, rules.other_substeps, False)
        done[x, y] = 1


@njit(cache=True)
def _place(rng, tissue, immune, polarisation, x, y, kind, m1_start):
    """Put a new immune cell of ``kind`` at vessel (x, y) or a free neighbour; False if full."""
    if immune[x, y] != NO_IMMUNE:
        d = _free_neighbour(rng, tissue, immune, x, y)
        if d < 0:
            return False
        x = x + DX[d]
        y = y + DY[d]
    immune[x, y] = kind
    polarisation[x, y] = m1_start
    return True


@njit(cache=True)
def recruit(
    rng,
    rules,
    priming,
    supply,
    order,
    tissue,
    maturity,
    immune,
    polarisation,
    chemokine,
    vegf,
    leak,
    counts,
):
    """Extravasation of immune cells through perfused vessels (flat indices in ``order``).

    At a vessel with maturity above the perfusion threshold, per step: CD8 with
    ``cd8_p · flow · Hill(chemokine) · priming · supply``; Tregs with ``treg_ratio · cd8_p ·
    flow · Hill(chemokine) · supply`` (not tumour-specific, so priming does not scale them;
    ``supply`` is the lymphocyte supply from blood, lowered by lymphodepleting therapy);
    MDSCs with ``mdsc_p · flow · Hill(VEGF)`` (hypoxia-driven recruitment);
    monocyte-derived macrophages with ``macrophage_p · flow`` (arriving unpolarised, 0.5), where
    flow = ``perfusion(maturity) × permeability_factor(VEGF)`` (see ``gcsim.kernels.common``;
    from the relaxed ``leak`` state when ``leak_relaxes``: ``site_flow``).
    ``counts`` accumulates recruits by immune code.
    """
    ny = tissue.shape[1]
    for k in range(order.shape[0]):
        x = order[k] // ny
        y = order[k] % ny
        if tissue[x, y] != VESSEL:
            continue
        flow = site_flow(rules, maturity[x, y], vegf[x, y], leak[x, y])
        if flow == 0.0:
            continue  # not perfused
        attraction = hill(chemokine[x, y], rules.chemokine_half_max, rules.chemokine_hill)
        p_cd8 = rules.cd8_p * flow * attraction * priming * supply
        if uniform(rng) < p_cd8 and _place(rng, tissue, immune, polarisation, x, y, CD8, 0.0):
            counts[CD8] += 1
        if uniform(rng) < rules.treg_ratio * rules.cd8_p * flow * attraction * supply and _place(
            rng, tissue, immune, polarisation, x, y, TREG, 0.0
        ):
            counts[TREG] += 1
        p_mdsc = rules.mdsc_p * flow * hill(vegf[x, y], rules.vegf_half_max, rules.vegf_hill)
        if uniform(rng) < p_mdsc and _place(rng, tissue, immune, polarisation, x, y, MDSC, 0.0):
            counts[MDSC] += 1
        if uniform(rng) < rules.macrophage_p * flow and _place(
            rng, tissue, immune, polarisation, x, y, MACROPHAGE, 0.5
        ):
            counts[MACROPHAGE] += 1
