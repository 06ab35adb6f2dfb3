"""The default parameter table: every value with its unit and its source.

Read it like a PhysiCell rule table: a behaviour is driven by a signal through a Hill function with
a half-max and a power, and each number says where it comes from. Sources marked "Assumption" are
choices of this project that a user should treat as free parameters (sweep them). Values taken
from other tumours or generic models are marked as such: they are plausible ranges, not gastric
truth. ``python -m gcsim.params > docs/parameters.md`` regenerates the documentation page.

The model converts every rate into a per-step probability (``p = 1 - exp(-rate * dt)``) at
construction, so a scenario may change ``dt_hours`` without re-deriving anything.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Mapping

from gcsim.behaviours import behaviour_table
from gcsim.parameter import Param, per_step
from gcsim.therapies import registry

__all__ = [
    "ALIASES",
    "CORE",
    "DEFAULTS",
    "DEFAULTS_BY_NAME",
    "REPLACED",
    "Param",
    "ParameterDeprecationWarning",
    "Parameters",
    "deprecation",
    "is_known",
    "markdown_table",
    "per_step",
    "resolve_aliases",
]

_PC = "PhysiCell `cancer_immune` sample (cancer_immune_3D.cpp)"
_PC_CORE = "PhysiCell core (PhysiCell_cell.cpp / standard models)"
_BIOFVM = "BioFVM/PhysiCell default microenvironment"
_KATHER = "Kather et al., Cancer Res 2017;77:6442 (getSystemParams.m); colorectal, not gastric"
_SPQSP = "spQSP-IO, Popel lab (param_all.xml)"
OXYGEN_CONSUMPTION_TUMOR = 150.0  # mmHg/min; calibrated to P5 (decision 0015)

CORE: tuple[Param, ...] = (
    # --- oxygen ------------------------------------------------------------------------------
    Param("oxygen.diffusion", 1.0e5, "µm²/min", "oxygen diffusion coefficient", _BIOFVM),
    Param("oxygen.background_decay", 0.1, "1/min", "oxygen loss in acellular tissue", _BIOFVM),
    Param(
        "oxygen.consumption_tumor",
        OXYGEN_CONSUMPTION_TUMOR,
        "mmHg/min",
        "maximal oxygen consumption of a tumour cell (Michaelis–Menten V_max, as a pO₂ rate)",
        "Range 50–400 mmHg/min: 1e-17 mol/cell/s at 1.25e8 cells/cm³ and 1.3 µM/mmHg "
        "solubility (≈60) up to PhysiCell's 10 /min at 38 mmHg (380; cancer_immune_3D.cpp); "
        "calibrated to P5 (HF2.5 of GI adenocarcinoma), decision 0015",
        lo=0,
        hi=1000,
    ),
    Param(
        "oxygen.consumption_immune",
        0.1 * OXYGEN_CONSUMPTION_TUMOR,
        "mmHg/min",
        "maximal oxygen consumption of an immune cell",
        "PhysiCell `cancer_immune` sample: immune uptake 0.1× tumour",
        lo=0,
        hi=1000,
    ),
    Param(
        "oxygen.consumption_stroma",
        0.1 * OXYGEN_CONSUMPTION_TUMOR,
        "mmHg/min",
        "maximal oxygen consumption of a stromal cell",
        "Assumption: as immune cells (0.1× tumour)",
        lo=0,
        hi=1000,
    ),
    Param(
        "oxygen.consumption_km",
        1.0,
        "mmHg",
        "pO₂ at half-maximal cellular oxygen consumption (Michaelis–Menten K_m)",
        "Mitochondrial respiration is half-maximal near 0.1 kPa ≈ 0.7 mmHg (Gnaiger et al., "
        "J Exp Biol 1998; M); cellular K_m 0.5–3 mmHg in models of tumour oxygenation "
        "(Grimes et al., J R Soc Interface 2014; M)",
        lo=0.01,
        hi=20,
    ),
    Param(
        "oxygen.vessel_exchange",
        1000.0,
        "1/min",
        "blood-to-tissue exchange of a vessel site at full flow (scaled by its perfusion)",
        "Assumption: large enough that a perfused vessel site sits near blood pO₂ unless its "
        "flow is small (lower values make oxygen delivery flow-limited: sweep it)",
    ),
    Param(
        "oxygen.blood",
        50.0,
        "mmHg",
        "capillary blood pO₂",
        "Assumption: between arterial (~95) and venous (~40 mmHg)",
        lo=1,
        hi=160,
    ),
    Param(
        "oxygen.boundary",
        38.0,
        "mmHg",
        "pO₂ of the normal tissue beyond the domain edge (Dirichlet)",
        "PhysiCell physioxia boundary (5% O₂)",
        hi=160,
    ),
    Param(
        "oxygen.solver_tolerance",
        1e-2,
        "mmHg",
        "red-black SOR stops when the largest update is below this",
        "Numerical choice",
        lo=1e-9,
        hi=1.0,
    ),
    # --- tumour cells ------------------------------------------------------------------------
    Param(
        "tumor.cycle_rate",
        1 / 96,
        "1/h",
        "maximal division rate of a well-oxygenated cell",
        "Potential doubling time of GI adenocarcinomas in vivo ≈ 4–5 days (flow-cytometric "
        "Tpot of rectal and gastric cancers; Wilson et al., Br J Cancer 1988 and later; M): "
        "4 days at full oxygenation, longer where hypoxic. Was 1/48 h (half of PhysiCell's "
        "in-vitro MCF10A rate), at which untreated sections grew 5× in 12 weeks (P1, P2; "
        "decision 0017)",
        hi=1.0,
    ),
    Param(
        "tumor.proliferation_po2",
        5.0,
        "mmHg",
        "below this pO₂ tumour cells are quiescent",
        _PC_CORE,
    ),
    Param(
        "tumor.proliferation_saturation",
        38.0,
        "mmHg",
        "pO₂ at which division reaches its maximal rate",
        _PC_CORE + " (older version)",
    ),
    Param(
        "tumor.necrosis_threshold",
        1.0,
        "mmHg",
        "necrosis starts below this pO₂",
        "Radiobiologically hypoxic cells (≤ 2.5 mmHg) are viable and clonogenic: that is why "
        "they resist radiation (Hall & Giaccia, Radiobiology for the Radiologist; M); necrosis "
        "comes with near-anoxia. PhysiCell's 5 mmHg would leave no viable cell ≤ 2.5 mmHg "
        "(P5); decision 0015",
        lo=0,
        hi=38,
    ),
    Param(
        "tumor.necrosis_max_po2",
        0.1,
        "mmHg",
        "necrosis rate is maximal below this pO₂",
        "Anoxia (< 0.1 mmHg, 0.01 % O₂); decision 0015",
        lo=0,
        hi=38,
    ),
    Param(
        "tumor.necrosis_rate",
        1 / 24,
        "1/h",
        "maximal anoxic necrosis rate",
        "Cells survive anoxia for about a day to a few days in vitro (Papandreou et al., Cancer "
        "Res 2005; M); PhysiCell's 1/(6 h) is the upper end; decision 0015",
    ),
    Param(
        "tumor.apoptosis_rate",
        0.0016,
        "1/h",
        "background apoptosis rate",
        "Calibrated to P5 (decision 0019): half of PhysiCell's default 5.32e-5 1/min (M), "
        "which is paired there with a fourfold faster cycle; with the in-vivo cycle rate "
        "(decision 0017) it emptied hypoxic lesions within ten days",
    ),
    Param(
        "tumor.stroma_invasion",
        0.05,
        "1",
        "probability that a division may push into an adjacent stromal site",
        "Assumption: stroma slows growth (Kather 2017, qualitative)",
        hi=1,
    ),
    Param(
        "tumor.necrotic_clearance_rate",
        1 / 120,
        "1/h",
        "rate at which a necrotic site is cleared and becomes free space",
        "Assumption: necrotic debris cleared over ~5 days",
    ),
    Param(
        "tumor.hypoxic_po2",
        15.0,
        "mmHg",
        "a cell below this pO₂ counts as hypoxic and secretes VEGF",
        _PC_CORE,
    ),
    # --- PD-L1 ------------------------------------------------------------------------------
    Param(
        "pdl1.positive_threshold",
        0.1,
        "1",
        "PD-L1 expression (0–1) above which a cell scores positive",
        _SPQSP + " (PDL1_th)",
        hi=1,
    ),
    Param(
        "pdl1.constitutive_level",
        0.5,
        "1",
        "expression of constitutively PD-L1+ tumour cells",
        "Assumption: half of the maximal IFN-γ-induced level",
        hi=1,
    ),
    Param(
        "pdl1.induction_half_max",
        0.11,
        "ng/mL",
        "IFN-γ at half-maximal PD-L1 induction",
        _SPQSP + " (value V, unit M)",
    ),
    Param("pdl1.induction_hill", 1.26, "1", "Hill power of IFN-γ → PD-L1", _SPQSP, lo=0.1, hi=10),
    Param(
        "pdl1.response_time",
        24.0,
        "h",
        "time constant of PD-L1 induction and decay",
        "Assumption: IFN-γ-induced PD-L1 rises over about a day in vitro (M)",
        lo=0.1,
    ),
    Param(
        "pdl1.myeloid_basal",
        0.05,
        "1",
        "PD-L1 of a macrophage without IFN-γ",
        "Assumption: tumour-associated macrophages are often PD-L1+ in GC CPS scoring",
        hi=1,
    ),
    # --- vessels ----------------------------------------------------------------------------
    Param(
        "vessel.perfusion_threshold",
        0.3,
        "1",
        "a vessel with maturity above this is counted as perfused and delivers cells",
        "Assumption",
        hi=1,
    ),
    Param(
        "vessel.sprout_rate",
        1 / 48,
        "1/h",
        "sprouting rate of a vessel site at saturating VEGF",
        "Assumption: ~0.5 site/day",
        hi=1,
    ),
    Param(
        "vessel.sprout_vegf_half_max",
        0.5,
        "ng/mL",
        "VEGF at half-maximal sprouting and destabilisation",
        "Assumption",
        lo=1e-6,
    ),
    Param(
        "vessel.vegf_hill",
        1.0,
        "1",
        "Hill power of VEGF → sprouting and destabilisation",
        "Assumption: power 1 (hyperbolic), as the kernels had it hard-coded",
        lo=0.1,
        hi=10,
    ),
    Param(
        "vessel.vegf_survival_hill",
        1.0,
        "1",
        "Hill power of VEGF → survival of immature vessels",
        "Assumption: power 1 (hyperbolic), as the kernels had it hard-coded",
        lo=0.1,
        hi=10,
    ),
    Param(
        "vessel.vegf_leak_max",
        0.6,
        "1",
        "largest fractional loss of a vessel's flow to VEGF-driven leak (permeability, raised "
        "interstitial pressure)",
        "Assumption (magnitude): anti-VEGFR2 lowers interstitial fluid pressure and raises "
        "perfusion within days, before pericyte coverage changes (Tong et al., Cancer Res 2004; "
        "Winkler et al., Cancer Cell 2004; Jain, Science 2005); decision 0020",
        hi=1,
    ),
    Param(
        "vessel.vegf_leak_half_max",
        0.5,
        "ng/mL",
        "VEGF signal at half of that loss",
        "Assumption: as vessel.sprout_vegf_half_max",
        lo=1e-9,
    ),
    Param(
        "vessel.vegf_leak_hill",
        1.0,
        "1",
        "Hill power of the VEGF leak",
        "Assumption: power 1 (hyperbolic)",
        lo=0.1,
        hi=10,
    ),
    Param(
        "vessel.leak_relaxation_time",
        0.0,
        "h",
        "time constant over which a vessel's VEGF-driven leak follows the VEGF signal "
        "(0: at once, the rule of decision 0020)",
        "Assumption (prior 24–96 h): after VEGFR2 blockade, vessel permeability and "
        "interstitial fluid pressure fall over days, not at once, and the normalisation window "
        "opens about day 1–2 and is widest about day 4–5 (Tong et al., Cancer Res 2004; Winkler "
        "et al., Cancer Cell 2004; M); decision 0028",
        hi=1000,
    ),
    Param(
        "vessel.maturation_time",
        336.0,
        "h",
        "time constant of pericyte coverage (maturity) changes",
        "Pericyte coverage of new vessels develops over weeks (Benjamin, Hemo & Keshet, "
        "Development 1998; M); was 168 h, at which new sprouts perfused a lesion within ten "
        "days and no viable cell stayed at ≤ 2.5 mmHg (P5); decision 0019",
        lo=1,
    ),
    Param("vessel.sprout_maturity", 0.1, "1", "maturity of a new sprout", "Assumption", hi=1),
    Param(
        "vessel.vegf_survival_half_max",
        0.05,
        "ng/mL",
        "VEGF at half-maximal endothelial survival signalling (≪ the destabilising half-max)",
        "Assumption; VEGF as endothelial survival factor: Gerber et al. 1998, Benjamin et al. 1999",
        lo=1e-6,
    ),
    Param(
        "vessel.stable_maturity",
        0.8,
        "1",
        "maturity (pericyte coverage) from which a vessel survives without VEGF",
        "Assumption; pericyte-covered vessels survive VEGF withdrawal (Benjamin et al. 1999)",
        lo=0.01,
        hi=1,
    ),
    Param(
        "vessel.immature_regression_rate",
        1 / 24,
        "1/h",
        "regression rate of a vessel without pericytes (maturity 0) and without VEGF support",
        "Inai et al., Am J Pathol 2004: VEGF inhibition regresses up to ~70 % of tumour "
        "capillaries within a week (M)",
    ),
    # --- soluble signals ----------------------------------------------------------------------
    Param(
        "vegf.diffusion",
        6000.0,
        "µm²/min",
        "VEGF diffusion coefficient",
        "Mac Gabhann & Popel (≈1e-6 cm²/s, recalled, M)",
    ),
    Param("vegf.decay", 0.0116, "1/min", "VEGF decay (half-life ≈ 1 h)", "Assumption (M)", lo=1e-6),
    Param(
        "vegf.secretion_hypoxic",
        0.1,
        "ng/mL/min",
        "VEGF secretion of a fully hypoxic tumour cell or M2 macrophage",
        "Assumption: with vegf.basal_fraction, keeps tumour vessels chronically immature "
        "without collapse (vessel maturity ≈ 0.5–0.7 in the lesion)",
    ),
    Param(
        "vegf.basal_fraction",
        0.1,
        "1",
        "fraction of maximal VEGF secreted by oxygenated tumour cells and M2 macrophages",
        "Assumption: oncogene-driven VEGF, independent of hypoxia (gastric cancers overexpress "
        "VEGF-A; Jain 2005 for the abnormal-vasculature consequence)",
        hi=1,
    ),
    Param(
        "chemokine.diffusion",
        1000.0,
        "µm²/min",
        "CXCL9/10-like chemokine diffusion",
        _PC + " (immunostimulatory factor)",
    ),
    Param("chemokine.decay", 0.016, "1/min", "chemokine decay", _PC, lo=1e-6),
    Param(
        "chemokine.secretion",
        0.01,
        "ng/mL/min",
        "chemokine secretion of a cell at saturating IFN-γ (tumour, M1 macrophage)",
        "Assumption",
    ),
    Param(
        "chemokine.basal_fraction",
        0.05,
        "1",
        "fraction of maximal chemokine secreted by tumour cells without IFN-γ",
        "Assumption",
        hi=1,
    ),
    Param(
        "chemokine.half_max",
        0.05,
        "ng/mL",
        "chemokine at half-maximal T-cell recruitment",
        "Assumption",
        lo=1e-9,
    ),
    Param(
        "chemokine.recruitment_hill",
        1.0,
        "1",
        "Hill power of chemokine → T-cell recruitment",
        "Assumption: power 1 (hyperbolic), as the kernels had it hard-coded",
        lo=0.1,
        hi=10,
    ),
    Param(
        "chemokine.ifng_half_max",
        0.11,
        "ng/mL",
        "IFN-γ at half-maximal induction of chemokine (CXCL9/10) secretion",
        "Assumption: as IFN-γ → PD-L1 (pdl1.induction_half_max), both STAT1/IRF1 targets",
    ),
    Param(
        "chemokine.ifng_hill",
        1.26,
        "1",
        "Hill power of IFN-γ → chemokine secretion",
        "Assumption: as IFN-γ → PD-L1 (pdl1.induction_hill)",
        lo=0.1,
        hi=10,
    ),
    Param(
        "ifng.diffusion",
        6000.0,
        "µm²/min",
        "IFN-γ diffusion coefficient",
        _SPQSP + " (1e-6, read as cm²/s)",
    ),
    Param("ifng.decay", 0.0039, "1/min", "IFN-γ decay", _SPQSP + " (6.5e-5, read as 1/s)", lo=1e-6),
    Param(
        "ifng.secretion",
        0.05,
        "ng/mL/min",
        "IFN-γ secretion of an engaged CD8 T cell",
        "About 24 fg/cell/h in a 20 µm site (8 pL): activated CD8 T cells release 1–40 "
        "fg/cell/h in culture (10⁵ cells/mL giving 1–100 ng/mL in a day; M); was 0.002 "
        "(≈1 fg/h), at which IFN-γ never induced PD-L1 (P8); decision 0016",
    ),
    Param(
        "tgfb.diffusion",
        1000.0,
        "µm²/min",
        "suppressive cytokine (TGF-β/IL-10-like) diffusion",
        "Assumption: as chemokine",
    ),
    Param("tgfb.decay", 0.01, "1/min", "suppressive cytokine decay", "Assumption", lo=1e-6),
    Param(
        "tgfb.secretion",
        0.01,
        "ng/mL/min",
        "suppressive cytokine secretion of a Treg, MDSC or M2 macrophage",
        "Assumption",
    ),
    Param(
        "suppression.tgfb_half_max",
        0.1,
        "ng/mL",
        "suppressive cytokine at half-maximal suppression of CD8 killing",
        "Assumption (was tgfb.half_max)",
        lo=1e-9,
    ),
    Param(
        "suppression.tgfb_hill",
        1.0,
        "1",
        "Hill power of suppressive cytokine → suppression of CD8 killing",
        "Assumption: power 1 (hyperbolic), as the kernels had it hard-coded",
        lo=0.1,
        hi=10,
    ),
    # --- CD8 T cells ------------------------------------------------------------------------
    Param(
        "cd8.speed",
        2.0,
        "µm/min",
        "CD8 T-cell motility (sets sub-steps per step)",
        "Kather 2017 (≈1–2 µm/min); PhysiCell 1 µm/min; Boissonnas 2007 5–10 µm/min "
        "without antigen",
        hi=20,
    ),
    Param(
        "cd8.chemotaxis_bias",
        0.5,
        "1",
        "probability that a move goes up the chemokine gradient",
        _PC,
        hi=1,
    ),
    Param(
        "cd8.stroma_permeability",
        0.05,
        "1",
        "probability that a T cell may step onto a stromal site",
        "Assumption; Kather 2017 uses 0.0025 per sub-step",
        hi=1,
    ),
    Param(
        "cd8.kill_probability",
        0.1,
        "1",
        "kill probability of one engagement at full antigenicity, no PD-1 brake, no suppression",
        _KATHER,
        hi=1,
    ),
    Param(
        "cd8.engagement_time", 6.0, "h", "time a T cell stays engaged after a kill", _KATHER, lo=0.1
    ),
    Param(
        "cd8.kill_capacity",
        5.0,
        "kills",
        "kills that exhaust a T cell without PD-1 signalling",
        _KATHER,
        lo=1,
    ),
    Param(
        "cd8.division_probability",
        0.5,
        "1",
        "probability of dividing after a kill",
        "Assumption",
        hi=1,
    ),
    Param("cd8.max_divisions", 7.0, "divisions", "division limit of a recruited clone", _SPQSP),
    Param(
        "cd8.death_rate", 1 / 240, "1/h", "death rate (mean lifespan 10 days)", _PC + "; spQSP-IO"
    ),
    Param(
        "cd8.exhausted_death_multiplier",
        2.0,
        "1",
        "death-rate multiplier of an exhausted T cell",
        "Assumption",
        lo=1,
    ),
    Param(
        "cd8.influx_rate",
        0.1,
        "1/h",
        "CD8 entry rate per perfused vessel site at full chemokine and priming",
        "Calibrated to P9 (CD8 density of the margin band, 100–600 /mm², and of the core): "
        "0.02 gave 28 /mm² in the margin once new vessels mature over weeks (decision 0019); "
        "decision 0020",
    ),
    Param(
        "pd1.brake_max",
        0.9,
        "1",
        "fraction of kill probability lost against a fully PD-L1+ target without ICI",
        "Assumption; a Kather-derived model uses 1",
        hi=1,
    ),
    Param(
        "pd1.exhaustion_gain",
        1.0,
        "1",
        "exhaustion per engagement with a fully PD-L1+ target, in units of one kill's",
        "Assumption",
    ),
    Param(
        "suppression.tgfb_max",
        0.7,
        "1",
        "maximal fractional loss of killing due to suppressive cytokine",
        "Assumption",
        hi=1,
    ),
    Param(
        "suppression.treg_contact",
        0.3,
        "1",
        "fractional loss of killing per adjacent Treg or MDSC (saturating at 1)",
        "Assumption",
        hi=1,
    ),
    # --- priming -----------------------------------------------------------------------------
    Param(
        "priming.delay",
        144.0,
        "h",
        "mean delay from antigen release to effector T-cell influx (two-stage lymph-node transit)",
        "Assumption: priming and expansion 5–7 days",
        lo=1,
    ),
    Param(
        "priming.half_max",
        2000.0,
        "cells",
        "dead-cell antigen in the priming compartment at half-maximal priming",
        "Assumption",
        lo=1e-9,
    ),
    Param(
        "priming.boost",
        1.0,
        "1",
        "priming added at saturating presented antigen, over the phenotype's baseline",
        "Assumption (the cancer–immunity cycle, Chen & Mellman, Immunity 2013: antigen from "
        "dying tumour cells expands tumour-specific T cells in every tumour, so an inflamed "
        "tumour's priming is not capped at its baseline); decision 0017",
        hi=10,
    ),
    Param(
        "priming.necrosis_weight",
        0.2,
        "1",
        "antigen released by a necrotic death relative to an immune kill",
        "Assumption",
        hi=1,
    ),
    # --- suppressive cells ------------------------------------------------------------------
    Param(
        "treg.influx_ratio",
        0.05,
        "1",
        "Treg influx relative to CD8 influx",
        "Calibrated to P9's CD8:Treg ratio in the core (1–5; CD8/FOXP3 2.0–3.8 in the GI proxy): "
        "0.25 gave 0.6, 0.1 gave 0.93, 0.05 gives 1.9 (8 replicates): Tregs do not arrest on "
        "antigen and reach the core, CD8 T cells stop at the first tumour cells; decisions "
        "0020, 0022",
    ),
    Param("treg.death_rate", 1 / 240, "1/h", "Treg death rate", "Assumption: as CD8"),
    Param(
        "mdsc.influx_rate",
        0.005,
        "1/h",
        "MDSC entry rate per perfused vessel site at saturating VEGF",
        "Assumption",
    ),
    Param(
        "mdsc.vegf_half_max",
        0.5,
        "ng/mL",
        "VEGF signal at half-maximal MDSC recruitment",
        "Assumption: as vessel.sprout_vegf_half_max (both were vessel.vegf_half_max)",
        lo=1e-6,
    ),
    Param(
        "mdsc.vegf_hill",
        1.0,
        "1",
        "Hill power of VEGF → MDSC recruitment",
        "Assumption: power 1 (hyperbolic), as the kernels had it hard-coded",
        lo=0.1,
        hi=10,
    ),
    Param("mdsc.death_rate", 1 / 72, "1/h", "MDSC death rate (lifespan ~3 days)", "Assumption"),
    Param(
        "macrophage.influx_rate",
        0.005,
        "1/h",
        "monocyte/macrophage entry rate per perfused vessel site",
        "Assumption",
    ),
    Param(
        "macrophage.death_rate",
        1 / 720,
        "1/h",
        "macrophage death rate (lifespan ~30 days)",
        "Assumption",
    ),
    Param(
        "macrophage.polarisation_time",
        24.0,
        "h",
        "time constant of M1/M2 repolarisation",
        "Assumption",
        lo=0.1,
    ),
    Param(
        "macrophage.vegf_m2",
        0.25,
        "1",
        "weight of the VEGF signal pushing macrophages to M2 (at Hill(VEGF) = 1)",
        "VEGF-A skews macrophages to an M2-like state (Linde et al., J Pathol 2012; M); weight "
        "calibrated to P9 (M1:M2, decision 0020; was 0.5)",
        hi=2,
    ),
    Param(
        "macrophage.vegf_m2_half_max",
        0.5,
        "ng/mL",
        "VEGF signal at half of its maximal push of macrophages to M2",
        "Assumption: as vessel.sprout_vegf_half_max (both were vessel.vegf_half_max)",
        lo=1e-6,
    ),
    Param(
        "macrophage.vegf_m2_hill",
        1.0,
        "1",
        "Hill power of VEGF → M2 push",
        "Assumption: power 1 (hyperbolic), as the kernels had it hard-coded",
        lo=0.1,
        hi=10,
    ),
    Param(
        "macrophage.ifng_m1_half_max",
        0.11,
        "ng/mL",
        "IFN-γ at half of its maximal push of macrophages to M1",
        "Assumption: as IFN-γ → PD-L1 (pdl1.induction_half_max)",
    ),
    Param(
        "macrophage.ifng_m1_hill",
        1.26,
        "1",
        "Hill power of IFN-γ → M1 push",
        "Assumption: as IFN-γ → PD-L1 (pdl1.induction_hill)",
        lo=0.1,
        hi=10,
    ),
    Param(
        "macrophage.tgfb_m2_half_max",
        1.0,
        "ng/mL",
        "suppressive cytokine at half of its maximal push of macrophages to M2",
        "Calibrated to P9 (M1:M2 0.05–1): at 0.1 the M2 → TGF-β → M2 loop held every "
        "macrophage M2 (Hill ≈ 0.7 everywhere); TGF-β polarises macrophages in vitro at "
        "ng/mL (M); decision 0020",
        lo=1e-9,
    ),
    Param(
        "macrophage.tgfb_m2_hill",
        1.0,
        "1",
        "Hill power of suppressive cytokine → M2 push",
        "Assumption: power 1 (hyperbolic), as the kernels had it hard-coded",
        lo=0.1,
        hi=10,
    ),
    Param(
        "macrophage.hypoxia_m2",
        0.5,
        "1",
        "weight of hypoxia pushing macrophages to M2",
        "Hypoxic TAMs are MHC-II-low (M2-like), normoxic ones MHC-II-high (Movahedi et al., "
        "Cancer Res 2010; M); weight calibrated to P9 (M1:M2, decision 0020; was 1)",
    ),
    Param(
        "macrophage.hypoxia_full_po2",
        5.0,
        "mmHg",
        "pO₂ at or below which the hypoxic push to M2 is maximal",
        "Assumption: as tumor.proliferation_po2 (both were tumor.proliferation_threshold)",
    ),
    Param(
        "macrophage.hypoxia_onset_po2",
        15.0,
        "mmHg",
        "pO₂ above which hypoxia no longer pushes macrophages to M2",
        "Assumption: as tumor.hypoxic_po2 (both were tumor.hypoxic_threshold)",
    ),
    Param(
        "observe.margin_half_width",
        250.0,
        "µm",
        "half-width of the invasive-margin band around the lesion boundary",
        "Immunoscore convention: a 500 µm band centred on the border (Galon; recalled, M)",
    ),
    Param(
        "lymphocyte.pdl1_induction",
        0.5,
        "1",
        "PD-L1 of a lymphocyte relative to tumour induction at the same IFN-γ (CPS counts them)",
        "Assumption",
        hi=1,
    ),
    Param(
        "suppressive.speed",
        0.5,
        "µm/min",
        "motility of Tregs, MDSCs and macrophages",
        "Assumption",
        hi=20,
    ),
    # --- patient
    Param(
        "patient.body_weight",
        70.0,
        "kg",
        "body weight for mg/kg doses",
        "Assumption",
        lo=20,
        hi=250,
    ),
    Param(
        "patient.body_surface",
        1.8,
        "m²",
        "body surface area for mg/m² doses",
        "Assumption",
        lo=0.5,
        hi=3,
    ),
    # --- checkpoint inhibitors ------------------------------------------------------------
    Param(
        "ici.reinvigoration_rate",
        1 / 72,
        "1/h",
        "rate at which an exhausted CD8 T cell regains function at full PD-1 blockade",
        "Assumption: partial, progenitor-exhausted reinvigoration (Pauken 2016; Huang 2017)",
    ),
    Param(
        "ici.priming_gain",
        2.0,
        "1",
        "gain on presented antigen in the draining lymph node at full PD-1 occupancy "
        "(priming_gain = 1 + gain × occupancy)",
        "PD-1/PD-L1 blockade acts in tumour-draining lymph nodes (Dammeijer et al., Cancer Cell "
        "2020; M); one dose of pembrolizumab raises proliferating PD-1⁺ CD8 T cells in blood "
        "about threefold (Huang et al., Nature 2017; M); decision 0017",
        hi=20,
    ),
    Param(
        "ici.reinvigorated_kills",
        2.0,
        "kills",
        "kill capacity restored to a reinvigorated T cell",
        "Assumption",
        lo=0,
        hi=10,
    ),
)


# Patient mode (gcsim.patient, docs/patient-scale.md): read only when a scenario has a
# ``patient:`` section; a single-section run never uses these rows.
PATIENT_PARAMETERS: tuple[Param, ...] = (
    Param(
        "patient.cell_density",
        2.0e8,
        "cells/mL",
        "tumour cells per mL of lesion volume: converts a lesion's cells into its volume and "
        "equivalent-sphere diameter",
        "spQSP-IO's tumour cell density (Gong et al., J R Soc Interface 2021; popellab/SPQSP_IO "
        "source, V); 10⁸–10⁹ cells/mL in the literature (M)",
        lo=1e6,
        hi=1e10,
    ),
    Param(
        "patient.displacement_growth",
        0.025,
        "1",
        "share of the division rate of a cell with room (tumor.cycle_rate × the core's "
        "cycling fraction) at which a lesion's packed core cells still divide, by displacing "
        "their neighbours outward: the interstitial growth a lattice with contact inhibition "
        "has no room for",
        "Calibrated to P10 (decision 0024): an untreated inflamed 30 mm primary at CPS 5 doubles "
        "in ≈ 6.2 months, the median of untreated T4 gastric cancer (Oh et al., Ann Surg Oncol "
        "2019; V-abs); 0.02 and 0.03 gave 233 and 150 days (4 replicates), 0 gave 1409. "
        "Plausible: a packed cell dividing at 2.5 % of its rate with room is the cell-loss factor "
        "of ≈ 0.9–0.98 that separates a Tpot of days from clinical doubling times of months "
        "(Steel, Growth Kinetics of Tumours 1977; M); interstitial growth by pushing: Drasdo & "
        "Höhme, Phys Biol 2005 (M)",
        lo=0.0,
        hi=1.0,
    ),
    Param(
        "patient.node_antigen_scale",
        1.0e-5,
        "1",
        "fraction of a lesion's released antigen (kill units) that the patient's lymph node "
        "sees, in the units priming.half_max is calibrated on (a section of ≈10⁴ cells): "
        "10⁻⁵ makes a 10⁹-cell lesion drive the node as one section does",
        "Assumption (range 10⁻⁷–10⁻³): priming.half_max was calibrated on sections, not on "
        "patients; check results against it",
        lo=0.0,
        hi=1.0,
    ),
    Param(
        "patient.min_lesion_cells",
        100.0,
        "cells",
        "a lesion with fewer viable tumour cells no longer steps its windows, and an emptied "
        "window is re-seeded only while its lesion holds at least this many",
        "spQSP-IO steps its window only while the tumour holds > 100 cells "
        "(popellab/SPQSP_IO source, V)",
        lo=1.0,
        hi=1e6,
    ),
    Param(
        "patient.stochastic_below",
        1.0e4,
        "cells",
        "below this many cells a lesion's births and deaths are drawn (Poisson, binomial) "
        "instead of taken at their expected value, so small lesions can go extinct",
        "Numerical choice (10³–10⁵): relative noise √n/n is < 1 % above 10⁴ cells",
        lo=0.0,
        hi=1e8,
    ),
    Param(
        "patient.seeding_rate",
        0.0,
        "1/(cell·day)",
        "occult micrometastases started per viable tumour cell per day (the shed cells that "
        "found a lesion); 0 = no new lesions",
        "Assumption (0–10⁻⁹): ≈10⁶ cells/g shed per day (Butler & Gullino 1975, M) of which "
        "a tiny fraction (≪ 0.01 %) founds a metastasis (Fidler 1970, M); off by default",
        lo=0.0,
        hi=1e-6,
    ),
    Param(
        "patient.new_lesion_cells",
        100.0,
        "cells",
        "tumour cells of a new (occult) lesion when it is seeded",
        "Assumption (1–10⁴): a micrometastasis that survived seeding",
        lo=1.0,
        hi=1e6,
    ),
)


def _therapy_parameters() -> tuple[Param, ...]:
    """The rows every registered therapy declares (``TreatmentConfig.parameters``), once each:
    therapies may share rows (drug delivery) but not two rows of one name."""
    rows: dict[str, Param] = {p.name: p for p in CORE}
    for cls in registry().values():
        for param in cls.parameters:
            known = rows.setdefault(param.name, param)
            if known is not param:
                raise TypeError(f"{cls.__name__} redefines parameter {param.name!r}")
    return tuple(rows.values())[len(CORE) :]


DEFAULTS: tuple[Param, ...] = CORE + _therapy_parameters() + PATIENT_PARAMETERS
DEFAULTS_BY_NAME: Mapping[str, Param] = {p.name: p for p in DEFAULTS}

# Deprecated names (docs/decisions/0009-channels-and-rules-as-data.md): each old name drove
# several behaviours and now sets every parameter it was split into (same defaults), so an old
# file keeps its old meaning, with a warning that names the new parameters.
ALIASES: Mapping[str, tuple[str, ...]] = {
    "tgfb.half_max": ("suppression.tgfb_half_max", "macrophage.tgfb_m2_half_max"),
    "pdl1.ifng_half_max": (
        "pdl1.induction_half_max",
        "chemokine.ifng_half_max",
        "macrophage.ifng_m1_half_max",
    ),
    "pdl1.ifng_hill": ("pdl1.induction_hill", "chemokine.ifng_hill", "macrophage.ifng_m1_hill"),
    "vessel.vegf_half_max": (
        "vessel.sprout_vegf_half_max",
        "mdsc.vegf_half_max",
        "macrophage.vegf_m2_half_max",
    ),
    "tumor.proliferation_threshold": ("tumor.proliferation_po2", "macrophage.hypoxia_full_po2"),
    "tumor.hypoxic_threshold": ("tumor.hypoxic_po2", "macrophage.hypoxia_onset_po2"),
}


class ParameterDeprecationWarning(FutureWarning):
    """A scenario, sweep or call uses a parameter name whose meaning moved (shown by default)."""


REPLACED: Mapping[str, str] = {
    name: f"{name!r} was replaced by {new!r} (mmHg/min): oxygen consumption is Michaelis–Menten "
    "in pO₂ (V_max·c/(K_m + c), oxygen.consumption_km), no longer first-order (decision 0015)"
    for name, new in (
        ("oxygen.uptake_tumor", "oxygen.consumption_tumor"),
        ("oxygen.uptake_immune", "oxygen.consumption_immune"),
        ("oxygen.uptake_stroma", "oxygen.consumption_stroma"),
    )
}
"""Removed parameters whose meaning changed (no alias can carry the value over): the message."""


def is_known(name: str) -> bool:
    """Whether ``name`` is a parameter or a deprecated alias of some."""
    return name in DEFAULTS_BY_NAME or name in ALIASES


def deprecation(name: str) -> str | None:
    """The warning for using ``name`` (None if it is a current name)."""
    if name in ALIASES:
        return f"{name!r} is deprecated: it now sets {', '.join(ALIASES[name])}; use those names"
    return None


def resolve_aliases(overrides: Mapping[str, float]) -> dict[str, float]:
    """``overrides`` with every deprecated alias replaced by the names it sets (no warning)."""
    out: dict[str, float] = {}
    for key, value in overrides.items():
        for name in ALIASES.get(key, (key,)):
            out.setdefault(name, value)  # an explicit new name wins over its alias
    for key, value in overrides.items():
        if key not in ALIASES:
            out[key] = value
    return out


class Parameters(Mapping[str, float]):
    """An immutable parameter set: the defaults with validated overrides.

    A deprecated alias in ``overrides`` works with a ``ParameterDeprecationWarning`` that names
    the new ones.
    """

    def __init__(self, overrides: Mapping[str, float] | None = None) -> None:
        values = {p.name: p.value for p in DEFAULTS}
        overrides = dict(overrides or {})
        for key in overrides:
            message = deprecation(key)
            if message is not None:
                warnings.warn(message, ParameterDeprecationWarning, stacklevel=2)
        for key, value in resolve_aliases(overrides).items():
            if key not in DEFAULTS_BY_NAME:
                raise KeyError(f"unknown parameter {key!r}")
            DEFAULTS_BY_NAME[key].check(float(value))
            values[key] = float(value)
        self._values = values

    def __getitem__(self, key: str) -> float:
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def digest(self) -> str:
        """SHA-256 of the resolved values (every parameter, defaults included, by name): two
        parameter sets with the same digest simulate with the same numbers, however they were
        written (defaults, overrides, aliases)."""
        canonical = json.dumps(self._values, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def markdown_table() -> str:
    """The parameter table as Markdown (docs/parameters.md)."""
    lines = [
        "# Default parameters",
        "",
        "Generated by `python -m gcsim.params > docs/parameters.md`; do not edit by hand.",
        "Rows whose source starts with *Assumption* are choices of this project, not measurements:",
        "sweep them before drawing conclusions. (M) marks a value recalled, not yet checked",
        "against a stored copy of its source.",
        "",
    ]
    group = None
    for p in DEFAULTS:
        if p.group != group:
            group = p.group
            lines += [
                "",
                f"## {group}",
                "",
                "| name | value | unit | meaning | source |",
                "|---|---|---|---|---|",
            ]
        lines.append(f"| `{p.name}` | {p.value:.6g} | {p.unit} | {p.description} | {p.source} |")
    lines += [
        "",
        "# Behaviour rules",
        "",
        "Signal → behaviour, read like PhysiCell's rule tables (also `gcsim rules`); the",
        "half-max and Hill power are the parameters above.",
        "",
    ]
    return "\n".join(lines) + "\n" + behaviour_table(DEFAULTS_BY_NAME)


if __name__ == "__main__":
    print(markdown_table(), end="")
