"""Oncolytic virus: injected into the tumour or given intravenously; it infects tumour cells,
replicates, lyses them with a burst of new virus that spreads, and dies immunogenically.

Mechanism, per step (../shared/reference/sensitisers.md, oncolytic-virus row: the PhysiCell
oHSV-1 glioblastoma model of Jenner et al. 2022, V; literature.md):

* **Free virus** is a field of infectious units (PFU per site) kept by the therapy. It diffuses
  (``virus.diffusion``), decays (``virus.decay``: half-life 4 h), is taken up by uninfected
  tumour cells at ``virus.tumour_uptake`` × c/(c + ``virus.uptake_half_max``) (density-
  dependent as in Jenner's model: scattered virions decay before a cell takes one up) and is
  sequestered by stroma (``virus.stroma_uptake``, fifty times the largest tumour uptake:
  stroma is what stops spread in Jenner's model); the edge of the section drains it.
  ``kernels.virus.virus_transport`` steps it explicitly in substeps.
* **Dosing.** Intratumoral: ``dose`` in PFU/mL of injectate, as on a label (T-VEC: 10⁶ PFU/mL
  first, 10⁸ after: ``first_dose`` and ``dose``), times ``injected_fraction`` (injectate
  volume per volume of the lesion it is dispersed in) gives the tissue concentration,
  deposited at once over the lesion or a disc (``region``). Intravenous: ``dose`` in PFU (or
  PFU/kg of ``patient.body_weight``) into the plasma (``virus.plasma_volume``), cleared with
  ``virus.plasma_half_life``; virus enters the tissue at perfused vessels at
  ``virus.vessel_permeability`` × the vessel site's wall (4 dx²) × its flow × plasma
  concentration (the rest is lost to liver, spleen and blood).
* **Neutralising antibodies** rise after every dose: each adds ``virus.nab_per_dose`` to the
  titre with time constant ``virus.nab_rise_time`` (titre in units that neutralise half of an
  IV dose; ``virus.nab_baseline`` before the first). An IV dose reaches plasma at 1/(1 + titre),
  so repeat IV doses lose potency; injected virus does not pass through blood and is spared.
* **Infection and lysis** (``kernels.virus.virus_infection``): a tumour cell that took up m PFU
  is infected with probability 1 − exp(−m). Its intracellular virus grows e-fold at
  ``virus.replication_rate`` from one virion to the burst (``virus.burst_size``), so it lyses
  ln(burst)/rate = 18 h later, freeing its site and releasing the burst there. It does not
  divide meanwhile (``tumor_step``). Normal stroma is never infected.
* **Clearance by the immune response**: once its viral load passes ``virus.recognition_load``
  an infected cell presents viral antigen (antigenicity at least
  ``virus.infected_antigenicity``), so CD8 T cells engage and kill it through the ordinary
  immune rules (PD-1 brake, suppression, exhaustion included); killed before lysis it releases
  no virus.
* **Immunogenic death**: each lysis sends ``virus.icd_weight`` of antigen to the lymph node
  (the ``antigen`` channel). Infected cells make type-I interferon: with f the infected
  fraction of tumour cells, the signal f/(f + ``virus.ifn_half_fraction``) raises tumour PD-L1
  targets by 1 + ``virus.pdl1_gain`` × signal (``pdl1_expression``) and MHC-I presentation by
  1 + ``virus.presentation_gain`` × signal (``antigen_presentation``). Both are lattice-wide,
  as every channel is.

Once no infected cell is left and the field holds less than ``VIRUS_FLOOR`` PFU, the field is
zeroed and nothing runs until the next dose. Not modelled: an antiviral state of uninfected
cells (type-I IFN), innate clearance by macrophages and NK cells beyond the decay, CD8
chemotaxis to infected cells, virus entering blood from the tumour, transgenes (GM-CSF),
antibodies against the injected virus, and the lesion scale of patient mode (a window's lyses
are not scaled up to its lesion).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from gcsim.cells import LESION_SITES
from gcsim.parameter import Param
from gcsim.therapies.base import Effects, Exposure, Therapy, TreatmentConfig
from gcsim.therapies.pk import Pharmacokinetics
from gcsim.therapies.radiotherapy import Region, field_mask
from gcsim.validation import FieldError, Strict

if TYPE_CHECKING:
    from gcsim.interface import ModelView

VirusUnit = Literal["PFU", "PFU/kg", "PFU/mL"]
ROUTE_UNITS = {"intratumoral": ("PFU/mL",), "intravenous": ("PFU", "PFU/kg")}
# Upper bounds per unit catch a slip of unit or exponent (a total typed as a concentration)
# without judging a regimen: stocks rarely exceed 10⁹–10¹⁰ PFU/mL, IV doses 10¹¹–10¹² PFU.
MAX_DOSE = {"PFU/mL": 1e10, "PFU": 1e13, "PFU/kg": 1e11}
DEFAULT_INJECTED_FRACTION = 0.2
VIRUS_FLOOR = 1e-6  # PFU in the whole section: below it no infectious unit is left
MAX_DIFFUSION_NUMBER = 0.2  # D·Δt/dx² of a substep; explicit diffusion is stable up to 1/4
UM3_PER_ML = 1e12
UM3_PER_L = 1e15

_JENNER = (
    "Jenner et al., iScience 2022, oHSV-1 in glioblastoma, PhysiCell config "
    "(adriannejnner/PhysiCell-GBM-oHSV1; sensitisers.md, V)"
)


class VirusDose(Strict):
    """An amount of virus with its unit: PFU/mL of injectate (intratumoral), PFU or PFU/kg of
    body weight (intravenous)."""

    value: Annotated[float, Field(gt=0, description="amount per administration, in `unit`")]
    unit: Annotated[VirusUnit, Field(description="PFU/mL (intratumoral), PFU or PFU/kg (IV)")]


class OncolyticVirus(TreatmentConfig):
    """An oncolytic virus, injected into the lesion or infused, on the schedule's days."""

    type: Literal["oncolytic_virus"]
    route: Annotated[
        Literal["intratumoral", "intravenous"], Field(description="intratumoral or intravenous")
    ]
    dose: VirusDose
    first_dose: Annotated[
        VirusDose | None,
        Field(
            description="the first administration, if it differs from `dose` (T-VEC: 10⁶ "
            "PFU/mL, then 10⁸)"
        ),
    ] = None
    injected_fraction: Annotated[
        float | None,
        Field(
            gt=0,
            le=1,
            description="intratumoral: injectate volume per volume of the lesion it is "
            f"dispersed in (0–1; default {DEFAULT_INJECTED_FRACTION}: T-VEC's 1 mL into a "
            "2.5 cm lesion is 0.12, 0.5 mL into 1.5 cm 0.28)",
        ),
    ] = None
    region: Annotated[
        Region | Literal["lesion"] | None,
        Field(description="intratumoral: where the injectate goes, 'lesion' (default) or a disc"),
    ] = None

    parameters: ClassVar[tuple[Param, ...]] = (
        Param(
            "virus.diffusion",
            1.4766,
            "µm²/min",
            "diffusion coefficient of free virus in tissue",
            _JENNER,
            lo=1e-3,
            hi=1000,
        ),
        Param(
            "virus.decay",
            0.0029,
            "1/min",
            "loss of infectivity of free virus (half-life 4.0 h)",
            _JENNER,
            hi=1,
        ),
        Param(
            "virus.tumour_uptake",
            0.02,
            "1/min",
            "largest rate at which a tumour cell takes up the free virus at its site",
            f"{_JENNER}: GBM virus uptake rate (the config gives 0.002 and 0.02 under one "
            "name; prior 0.002–0.02)",
            hi=10,
        ),
        Param(
            "virus.uptake_half_max",
            1.25e9,
            "PFU/mL",
            "free-virus concentration at which a tumour cell's uptake is half its maximum",
            f"{_JENNER}: uptake ∝ density/(density + m_half), m_half = 10 virions in a "
            "20-µm voxel (sensitisers.md: infection half-max 10 virions)",
            lo=1,
            hi=1e13,
        ),
        Param(
            "virus.stroma_uptake",
            1.0,
            "1/min",
            "rate at which stroma takes up and sequesters free virus (never infected)",
            _JENNER,
            hi=100,
        ),
        Param(
            "virus.burst_size",
            6600.0,
            "PFU/cell",
            "infectious virus released by one lysed cell",
            f"{_JENNER}: 6,600 virions, every virion counted infectious (prior 100–10,000 "
            "for particle:PFU ratios of 1–50)",
            lo=1,
            hi=1e6,
        ),
        Param(
            "virus.replication_rate",
            0.0081,
            "1/min",
            "exponential growth rate of intracellular virus, from one virion to the burst "
            "(lysis ln(burst)/rate = 18 h after infection)",
            _JENNER,
            lo=1e-5,
            hi=1,
        ),
        Param(
            "virus.recognition_load",
            10.0,
            "virions/cell",
            "intracellular virus above which CD8 T cells recognise an infected cell",
            f"{_JENNER}: CTLs attach to cells holding more than m_half = 10",
            lo=1,
            hi=1e6,
        ),
        Param(
            "virus.infected_antigenicity",
            1.0,
            "1",
            "antigenicity of an infected cell past the recognition load (viral epitopes)",
            f"{_JENNER}: CTLs attach to every such cell and kill it in 50 min; T-VEC's ICP47 "
            "deletion keeps MHC-I presentation (Imlygic label, M) (prior 0.3–1)",
            hi=1,
        ),
        Param(
            "virus.icd_weight",
            1.0,
            "1",
            "antigen released to priming per lysis, relative to a CTL kill",
            "Assumption: oncolysis is immunogenic death releasing tumour antigen with viral "
            "danger signals (literature.md) (prior 0.3–3)",
            hi=10,
        ),
        Param(
            "virus.ifn_half_fraction",
            0.05,
            "1",
            "fraction of tumour cells infected at which the type-I interferon signal is "
            "half-maximal",
            "Assumption: a few per cent of infected cells make enough interferon to act "
            "across the lesion (prior 0.01–0.3)",
            lo=1e-6,
            hi=1,
        ),
        Param(
            "virus.pdl1_gain",
            0.5,
            "1",
            "rise of the tumour PD-L1 target at full interferon signal (× 1 + gain × signal)",
            "Assumption: interferon induces PD-L1, which is why Storey & Jackson 2021 add "
            "anti-PD-1 (sensitisers.md) (prior 0–1)",
            hi=5,
        ),
        Param(
            "virus.presentation_gain",
            0.3,
            "1",
            "rise of MHC-I presentation at full interferon signal (× 1 + gain × signal)",
            "Assumption: type-I interferon raises MHC-I (literature.md) (prior 0–1)",
            hi=5,
        ),
        Param(
            "virus.plasma_half_life",
            0.5,
            "h",
            "half-life of infectious virus in blood after an IV dose",
            "Assumption: circulating virus is cleared in minutes to hours by complement, "
            "natural antibodies and liver and spleen macrophages (Ferguson et al., Adv Virol "
            "2012, V-abs) (prior 0.05–6 h)",
            lo=0.01,
            hi=240,
        ),
        Param(
            "virus.plasma_volume",
            3.0,
            "L",
            "volume an IV dose is diluted in (plasma)",
            "Adult plasma volume ≈ 40 mL/kg (M)",
            lo=0.1,
            hi=20,
        ),
        Param(
            "virus.vessel_permeability",
            1.0,
            "µm/h",
            "permeability of a perfused tumour vessel's wall to virions (× wall 4 dx² × flow)",
            "Assumption: tumour vessels pass 100–400 nm particles at 10⁻⁸–10⁻⁷ cm/s "
            "(0.4–4 µm/h; Yuan et al., Cancer Res 1995, M) (prior 0.1–10 µm/h)",
            hi=1000,
        ),
        Param(
            "virus.nab_per_dose",
            5.0,
            "titre units",
            "neutralising-antibody titre a dose adds once risen (1 unit neutralises half of "
            "an IV dose)",
            "Assumption: neutralising antibodies are the main barrier to repeat IV dosing "
            "(Ferguson 2012, V-abs); an immune donor's whole blood ablates Ad5 activity "
            "(ColoAd1 study, V-abs) (prior 1–100)",
            hi=1e4,
        ),
        Param(
            "virus.nab_rise_time",
            168.0,
            "h",
            "time constant of the rise of neutralising antibodies after a dose",
            "Assumption: seroconversion 1–3 weeks after exposure (M) (prior 72–504 h)",
            lo=1,
            hi=8760,
        ),
        Param(
            "virus.nab_baseline",
            0.0,
            "titre units",
            "neutralising-antibody titre before the first dose (0: seronegative)",
            "Assumption: a seronegative patient; most adults carry antibodies to HSV-1 and "
            "adenovirus 5 (M) (prior 0–10)",
            hi=1e4,
        ),
    )
    channels: ClassVar[tuple[str, ...]] = ("antigen", "pdl1_expression", "antigen_presentation")
    exposure: ClassVar[Exposure] = Exposure(
        "exposure_oncolytic_virus", (0, (8, 2, 1, 2)), "infected fraction of tumour cells"
    )
    counters: ClassVar[tuple[str, ...]] = (
        "virus_delivered",
        "virus_infections",
        "virus_lyses",
        "virus_infected_cleared",
    )
    marks_doses: ClassVar[bool] = True

    @model_validator(mode="after")
    def _fits_the_route(self) -> OncolyticVirus:
        units = ROUTE_UNITS[self.route]
        for name in ("dose", "first_dose"):
            dose = getattr(self, name)
            if dose is None:
                continue
            if dose.unit not in units:
                raise FieldError(
                    (name, "unit"),
                    f"{name}.unit {dose.unit!r} does not fit {self.route} dosing: give "
                    f"{' or '.join(units)}",
                )
            if dose.value > MAX_DOSE[dose.unit]:
                raise FieldError(
                    (name, "value"),
                    f"{name}.value {dose.value:g} {dose.unit} is implausibly large "
                    f"(limit {MAX_DOSE[dose.unit]:g} {dose.unit}); check the unit",
                )
        if self.route == "intravenous":
            for name in ("injected_fraction", "region"):
                if getattr(self, name) is not None:
                    raise FieldError((name,), f"{name} is for intratumoral dosing only")
        return self

    @classmethod
    def check_arm(cls, entries: list[TreatmentConfig]) -> None:
        """One virus per arm: its field and its antibody titre are the run's."""
        if sum(isinstance(e, OncolyticVirus) for e in entries) > 1:
            raise ValueError(
                "an arm takes one oncolytic_virus entry (one virus field and one antibody "
                "titre per run); give its doses in one schedule"
            )

    def name(self) -> str:
        return self.label or f"virus {self.route} × {len(self.schedule.dose_days())}"

    def start(self, model: ModelView) -> OncolyticVirusTherapy:
        return OncolyticVirusTherapy(self, model)


class OncolyticVirusTherapy(Therapy):
    config: OncolyticVirus

    def __init__(self, config: OncolyticVirus, model: ModelView) -> None:
        super().__init__(config, model)
        # numba loads when a model starts, not with a scenario file (imported once, here)
        from gcsim.kernels.common import lattice_flow
        from gcsim.kernels.virus import virus_infection, virus_transport

        self._transport, self._infection = virus_transport, virus_infection
        self._lattice_flow = lattice_flow
        p = self.params = model.params
        shape = model.state.tissue.shape
        self.virus = np.zeros(shape)  # PFU per site
        self._previous = np.empty(shape)
        self._taken = np.zeros(shape)
        dt_min = 60.0 * model.dt_h
        number = p["virus.diffusion"] * dt_min / model.site_um**2
        self.substeps = max(1, math.ceil(number / MAX_DIFFUSION_NUMBER))
        self.substep_r, self.substep_min = number / self.substeps, dt_min / self.substeps
        site_ml = model.site_um**3 / UM3_PER_ML
        self.uptake_half_max = p["virus.uptake_half_max"] * site_ml  # PFU per site
        log_burst = math.log(p["virus.burst_size"])
        self.progress_per_step = p["virus.replication_rate"] * dt_min / log_burst
        self.recognition_progress = math.log(p["virus.recognition_load"]) / log_burst
        doses = [config.dose] * len(self.dose_times_h)
        if config.first_dose is not None:
            doses[0] = config.first_dose
        self.injected: np.ndarray | None = None  # the disc, if one was given
        if config.route == "intratumoral":
            fraction = config.injected_fraction or DEFAULT_INJECTED_FRACTION
            self.per_site = np.array([d.value * fraction * site_ml for d in doses])  # per dose
            if isinstance(config.region, Region):
                self.injected = field_mask(config.region, shape, model.site_um).astype(bool)
        else:
            self.pk = Pharmacokinetics(p["virus.plasma_half_life"], p["virus.plasma_volume"])
            pfu = [
                d.value * (p["patient.body_weight"] if d.unit == "PFU/kg" else 1.0) for d in doses
            ]
            titres = [self.neutralising_titre(t) for t in self.dose_times_h]
            # PFU reaching plasma per dose: neutralising antibodies take the rest
            self.amounts = np.array(pfu) / (1.0 + np.array(titres))
            # PFU entering through one vessel site per (PFU·h/L) of plasma exposure, at flow 1
            self.entry = p["virus.vessel_permeability"] * 4.0 * model.site_um**2 / UM3_PER_L
        self.active = False  # virus in the field or infected cells: the kernels run
        self.infected_fraction = 0.0

    def neutralising_titre(self, t_h: float) -> float:
        """Neutralising-antibody titre at ``t_h`` (units that neutralise half of an IV dose):
        the baseline plus, for each earlier dose, ``virus.nab_per_dose`` × (1 − exp(−Δt/τ))."""
        p = self.params
        since = t_h - self.dose_times_h[self.dose_times_h < t_h]
        risen = -np.expm1(-since / p["virus.nab_rise_time"])
        return p["virus.nab_baseline"] + p["virus.nab_per_dose"] * float(risen.sum())

    def apply(self, model: ModelView, effects: Effects) -> None:
        start = model.step_start_h
        delivered = self._deliver(model, start, start + model.dt_h)
        if delivered > 0.0:
            model.counters["virus_delivered"] += delivered
            self.active = True
        if not self.active:
            return
        p, s = self.params, model.state
        left = self._transport(
            self.virus,
            self._previous,
            self._taken,
            s.tissue,
            s.infection,
            self.substep_r,
            self.substeps,
            self.substep_min,
            p["virus.decay"],
            p["virus.tumour_uptake"],
            self.uptake_half_max,
            p["virus.stroma_uptake"],
        )
        infections, lyses, cleared, infected, tumour = self._infection(
            model.kernel_rng,
            self.progress_per_step,
            self.recognition_progress,
            p["virus.infected_antigenicity"],
            p["virus.burst_size"],
            self._taken,
            s.tissue,
            s.infection,
            s.antigen,
            self.virus,
        )
        c = model.counters
        c["virus_infections"] += infections
        c["virus_lyses"] += lyses
        c["virus_infected_cleared"] += cleared
        if lyses:
            effects.combine("antigen", p["virus.icd_weight"] * lyses)
        self.infected_fraction = infected / tumour if tumour else 0.0
        if infected:
            f = self.infected_fraction
            signal = f / (f + p["virus.ifn_half_fraction"])
            effects.combine("pdl1_expression", 1.0 + p["virus.pdl1_gain"] * signal)
            effects.combine("antigen_presentation", 1.0 + p["virus.presentation_gain"] * signal)
        elif left + lyses * p["virus.burst_size"] < VIRUS_FLOOR:
            self.virus[:] = 0.0
            self.active = False

    def _deliver(self, model: ModelView, t0_h: float, t1_h: float) -> float:
        """Deposit the virus that enters the section in [t0, t1): intratumoral doses at once over
        their region, intravenous virus at perfused vessels. Returns the PFU deposited."""
        s = model.state
        if self.config.route == "intratumoral":
            given = self.doses_between(t0_h, t1_h)
            if given.size == 0:
                return 0.0
            per_site = float(self.per_site[given].sum())
            region = LESION_SITES.take(s.tissue) if self.injected is None else self.injected
            self.virus[region] += per_site
            return per_site * float(np.count_nonzero(region))
        area = self.pk.area(t0_h, t1_h, self.dose_times_h, self.amounts)  # PFU·h/L
        if area * self.entry * self.virus.size < VIRUS_FLOOR:
            return 0.0  # no dose yet, or washed out: skip the flow
        # the step before's blockade
        flow = self._lattice_flow(s, self.params, s.vegf * (1.0 - model.effects.vegf_block))
        entering = flow * (area * self.entry)
        self.virus += entering
        return float(entering.sum())

    def get_state(self) -> dict[str, float | np.ndarray]:
        """The free-virus field (PFU per site), whether the kernels run, the infected fraction."""
        return {
            "virus": self.virus,
            "active": float(self.active),
            "infected_fraction": self.infected_fraction,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        self.virus[...] = state["virus"]
        self.active = bool(state["active"])
        self.infected_fraction = float(state["infected_fraction"])

    def exposure(self, t_h: float) -> float:
        """Fraction of tumour cells infected after the last step (0–1), for plots."""
        return self.infected_fraction
