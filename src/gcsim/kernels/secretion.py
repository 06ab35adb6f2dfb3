"""Sources and sinks of the soluble fields: who secretes and who consumes what."""

from typing import NamedTuple

from numba import njit

from gcsim.kernels.common import hill, ramp, site_flow
from gcsim.state import CD8, MACROPHAGE, MDSC, NO_IMMUNE, STROMA, TREG, TUMOR, VESSEL


class SecretionRules(NamedTuple):
    consumption_tumor: float  # mmHg/min, Michaelis–Menten V_max
    consumption_stroma: float
    consumption_immune: float
    consumption_km: float  # mmHg
    uptake_background: float  # 1/min, first order
    vessel_exchange: float  # 1/min at maturity 1
    perfusion_threshold: float
    leak_max: float  # largest fractional loss of flow to VEGF-driven permeability
    leak_half_max: float  # ng/mL
    leak_hill: float
    leak_relaxes: float  # 1: flow reads the relaxed leak state, 0: the VEGF signal at once
    vegf_hypoxic: float  # ng/mL/min
    vegf_basal_fraction: float  # of vegf_hypoxic, secreted by oxygenated tumour cells and M2
    hypoxic_threshold: float  # mmHg
    chemokine: float  # ng/mL/min
    chemokine_basal_fraction: float
    chemokine_ifng_half_max: float  # ng/mL IFN-γ inducing half the chemokine
    chemokine_ifng_hill: float
    ifng: float  # ng/mL/min
    tgfb: float  # ng/mL/min


@njit(cache=True)
def oxygen_coefficients(rules, tissue, immune, maturity, vegf, leak, oxygen, uptake, supply):
    """Fill ``uptake`` (consumption coefficient, 1/min) and ``supply`` (vessel exchange, 1/min).

    Cells consume oxygen at the Michaelis–Menten rate V·c/(K_m + c) (mmHg/min; V the sum of the
    site's tissue cell and immune cell ``consumption_*``, K_m ``consumption_km``): zero order
    while oxygen is plentiful, so pO₂ falls to anoxia within a finite distance of a vessel, and
    first order near anoxia. The solver's equation is linear in c, so the rate enters as the
    coefficient V/(K_m + c̃) at the current estimate c̃ = ``oxygen`` (mmHg); iterating the solve
    with the coefficient refreshed converges monotonically to the Michaelis–Menten solution
    (GastricTumorModel._solve_fields). The acellular background loss stays first order.
    A vessel supplies oxygen at ``vessel_exchange × perfusion(maturity) ×
    permeability_factor(VEGF)``: immature vessels deliver less, none below the perfusion
    threshold, and VEGF-driven leak stalls flow (``vegf`` is the VEGF signal after blockade;
    ``leak`` the relaxed leak state, read instead when ``leak_relaxes``:
    ``common.site_flow``).
    """
    nx, ny = tissue.shape
    for x in range(nx):
        for y in range(ny):
            code = tissue[x, y]
            v = 0.0
            if code == TUMOR:
                v += rules.consumption_tumor
            elif code == STROMA:
                v += rules.consumption_stroma
            if immune[x, y] != NO_IMMUNE:
                v += rules.consumption_immune
            uptake[x, y] = rules.uptake_background + v / (rules.consumption_km + oxygen[x, y])
            if code == VESSEL:
                flow = site_flow(rules, maturity[x, y], vegf[x, y], leak[x, y])
                supply[x, y] = rules.vessel_exchange * flow
            else:
                supply[x, y] = 0.0


@njit(cache=True)
def secretion_sources(
    rules,
    tissue,
    immune,
    engaged,
    polarisation,
    oxygen,
    ifng,
    vegf_src,
    chemokine_src,
    ifng_src,
    tgfb_src,
):
    """Fill the secretion rates (ng/mL/min) of VEGF, chemokine, IFN-γ and suppressive cytokine.

    * VEGF: tumour cells and M2-leaning macrophages, a basal fraction (oncogene-driven,
      hypoxia-independent) plus the rest in proportion to hypoxia (1 − ramp of pO₂ from 0 to the
      hypoxic threshold).
    * Chemokine (CXCL9/10-like): tumour cells at a basal fraction plus the IFN-γ-induced rest
      (Hill of IFN-γ); macrophages in proportion to their M1 polarisation and IFN-γ.
    * IFN-γ: engaged CD8 T cells.
    * Suppressive cytokine (TGF-β/IL-10-like): Tregs, MDSCs, and macrophages in proportion to
      their M2 polarisation.
    """
    nx, ny = tissue.shape
    for x in range(nx):
        for y in range(ny):
            kind = immune[x, y]
            if tissue[x, y] != TUMOR and kind != MACROPHAGE:
                # Only tumour cells and macrophages read hypoxia and IFN-γ induction; skipping
                # the Hill function's pow elsewhere (0.78 → 0.30 ms at 200²).
                hypoxia = 0.0
                induced = 0.0
            else:
                hypoxia = 1.0 - ramp(oxygen[x, y], 0.0, rules.hypoxic_threshold)
                induced = hill(ifng[x, y], rules.chemokine_ifng_half_max, rules.chemokine_ifng_hill)
            vegf_drive = rules.vegf_basal_fraction + (1.0 - rules.vegf_basal_fraction) * hypoxia
            v = 0.0
            c = 0.0
            g = 0.0
            t = 0.0
            if tissue[x, y] == TUMOR:
                v += rules.vegf_hypoxic * vegf_drive
                basal = rules.chemokine_basal_fraction
                c += rules.chemokine * (basal + (1.0 - basal) * induced)
            if kind == CD8:
                if engaged[x, y] > 0.0:
                    g += rules.ifng
            elif kind == TREG or kind == MDSC:
                t += rules.tgfb
            elif kind == MACROPHAGE:
                m1 = polarisation[x, y]
                c += rules.chemokine * m1 * induced
                t += rules.tgfb * (1.0 - m1)
                v += rules.vegf_hypoxic * (1.0 - m1) * vegf_drive
            vegf_src[x, y] = v
            chemokine_src[x, y] = c
            ifng_src[x, y] = g
            tgfb_src[x, y] = t
