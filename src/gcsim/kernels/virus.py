"""Oncolytic virus: transport of free virus through tissue, and infection, replication and lysis
of tumour cells (the mechanism and its sources: ``gcsim.therapies.oncolytic_virus``).

Free virus is a field of infectious units, PFU per lattice site, in float64 (a site holds from
millionths of a PFU at the edge of a plume to thousands after a burst). Unlike the cytokines it
is not quasi-steady: a virion diffuses at ~1.5 µm²/min and lives ~6 h, so it moves about one
site in the hour before a tumour cell takes it up. The field is therefore stepped in time,
explicitly, in substeps short enough for the 5-point scheme to be stable (``r`` ≤ 1/4).
"""

import numpy as np
from numba import njit

from gcsim.kernels.rng import uniform
from gcsim.state import EMPTY, STROMA, TUMOR


@njit(cache=True)
def virus_transport(
    virus,
    previous,
    taken,
    tissue,
    infection,
    r,
    substeps,
    substep_min,
    decay,
    tumour_uptake,
    uptake_half_max,
    stroma_uptake,
):
    """Advance the free-virus field by ``substeps`` substeps of ``substep_min`` minutes.

    virus : (nx, ny) float64, PFU per site, updated in place.
    previous : (nx, ny) float64 scratch (overwritten).
    taken : (nx, ny) float64, PFU taken up by each uninfected tumour cell, added to.
    tissue : int8 codes; infection : float32 viral cycle (0 = not infected).
    r : D·Δt/dx² of one substep (dimensionless, ≤ 1/4 for stability; ≤ 0.2 from the caller).
    decay, stroma_uptake : first-order rates (1/min); tumour_uptake : the saturated uptake
    rate of a tumour cell (1/min), half-maximal at ``uptake_half_max`` PFU at its site.

    Each substep: explicit diffusion, c + r·(Σ neighbours − 4c), with no virus beyond the edge
    (the tissue around the section drains it, as for the cytokines); then loss over the
    substep, exact at the rate of its start: decay everywhere, plus uptake by an uninfected
    tumour cell at ``tumour_uptake`` · c/(c + ``uptake_half_max``) (which it keeps, in
    ``taken``: a few virions are mostly lost to decay before one is taken up, as in Jenner's
    density-dependent uptake) or by stroma at ``stroma_uptake`` (sequestered, never infected).
    Infected cells take up no more (superinfection exclusion), nor do vessels, necrotic or
    empty sites. Returns the PFU left in the field.
    """
    nx, ny = virus.shape
    keep_stroma = np.exp(-(decay + stroma_uptake) * substep_min)
    keep_other = np.exp(-decay * substep_min)
    total = 0.0
    for _ in range(substeps):
        previous[:, :] = virus
        total = 0.0
        for x in range(nx):
            for y in range(ny):
                c = previous[x, y]
                around = 0.0
                if x > 0:
                    around += previous[x - 1, y]
                if x < nx - 1:
                    around += previous[x + 1, y]
                if y > 0:
                    around += previous[x, y - 1]
                if y < ny - 1:
                    around += previous[x, y + 1]
                v = c + r * (around - 4.0 * c)
                code = tissue[x, y]
                if code == TUMOR and infection[x, y] == 0.0:
                    uptake = tumour_uptake * v / (v + uptake_half_max)
                    lost = v * -np.expm1(-(decay + uptake) * substep_min)
                    # of what the site loses, the share the cell takes up
                    taken[x, y] += lost * uptake / (decay + uptake) if lost > 0.0 else 0.0
                    v -= lost
                elif code == STROMA:
                    v *= keep_stroma
                else:
                    v *= keep_other
                virus[x, y] = v
                total += v
    return total


@njit(cache=True)
def virus_infection(
    rng,
    progress_per_step,
    recognition_progress,
    infected_antigenicity,
    burst,
    taken,
    tissue,
    infection,
    antigen,
    virus,
):
    """One step of infection, replication and lysis, site by site.

    taken : (nx, ny) float64, PFU each uninfected tumour cell took up this step (reset to 0).
    infection : float32 viral replication cycle of a tumour cell, 0 = not infected, 1 = lysis.
    antigen : float32 antigenicity seen by CD8 T cells; virus : float64 PFU per site.
    progress_per_step : viral cycle per step (dt over the time from one virion to a burst).
    recognition_progress : viral cycle at which an infected cell presents viral antigen.
    infected_antigenicity : antigenicity of a cell past that point (0..1); burst : PFU per lysis.

    An uninfected tumour cell that took up ``m`` PFU is infected with probability 1 − exp(−m)
    (one PFU is one infection on average) and starts its viral cycle. An infected cell advances
    by ``progress_per_step``; past ``recognition_progress`` its antigenicity is raised to at
    least ``infected_antigenicity`` (CD8 T cells recognise and kill it through the ordinary
    immune rules); at 1 it lyses: the site is freed and ``burst`` PFU enter the field there. An
    infected site that no longer holds a tumour cell lost it to another death before lysis (a
    T-cell kill, mostly): the infection is cleared, without a burst.
    Returns (infections, lyses, infected cells cleared, infected cells, tumour cells) after it.
    """
    nx, ny = tissue.shape
    n_infections = 0
    n_lyses = 0
    n_cleared = 0
    n_infected = 0
    n_tumour = 0
    for x in range(nx):
        for y in range(ny):
            code = tissue[x, y]
            cycle = infection[x, y]
            if cycle > 0.0:
                if code != TUMOR:
                    infection[x, y] = 0.0
                    n_cleared += 1
                    continue
                cycle += progress_per_step
            elif code == TUMOR:
                dose = taken[x, y]
                if dose <= 0.0:
                    n_tumour += 1
                    continue
                taken[x, y] = 0.0
                if uniform(rng) >= 1.0 - np.exp(-dose):
                    n_tumour += 1
                    continue
                cycle = progress_per_step  # infected at some time in this step
                n_infections += 1
            else:
                continue
            if cycle >= 1.0:
                tissue[x, y] = EMPTY
                infection[x, y] = 0.0
                virus[x, y] += burst
                n_lyses += 1
                continue
            infection[x, y] = cycle
            if cycle >= recognition_progress and antigen[x, y] < infected_antigenicity:
                antigen[x, y] = infected_antigenicity
            n_infected += 1
            n_tumour += 1
    return n_infections, n_lyses, n_cleared, n_infected, n_tumour
