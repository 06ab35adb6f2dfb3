"""External-beam radiotherapy: fractions of a dose over the whole section or a disc.

Mechanisms, per fraction of dose D (Gy):
* **Kill**: linear-quadratic survival of the oxygen-modified dose (hypoxic cells resist, OER up
  to ``rt.oer``); lethally hit tumour cells are marked and die at their next mitosis, so a
  tumour shrinks over the following days and quiescent hypoxic cells die late.
* **Lymphocytes** in the field die in interphase, 1 − exp(−α_L D), far more readily than tumour
  cells.
* **Adjuvant signal** (cytosolic DNA → cGAS–STING → type-I IFN) set to 1 − Hill(D; TREX1 dose):
  TREX1 induced above ~12–18 Gy degrades the DNA (Vanpouille-Box 2017). While it lasts
  (``rt.adjuvant_time``) each radiation death releases ``rt.icd_weight × signal`` of antigen to
  the priming compartment, so 8 Gy × 3 primes more than 20 Gy × 1.
* **Low-dose remodelling**: a window Hill(D; half-dose) × (1 − Hill(D; ceiling, 4)) that peaks for
  0.5–2 Gy fractions drives macrophages to M1 and normalises vessels (removes part of the VEGF
  signal) for ``rt.remodel_time`` (Klug 2013; Herrera 2022).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from gcsim.parameter import Param
from gcsim.therapies.base import (
    MIN_FRACTION_GAP_DAYS,
    Dose,
    Effects,
    Therapy,
    TreatmentConfig,
)
from gcsim.validation import Strict

if TYPE_CHECKING:
    from gcsim.interface import ModelView


# Probe of the oxygen effect in situ: tumour cells in the field at a fraction, by oxygen class
# (≤ 2.5 mmHg, the polarographic HF2.5 convention; ≥ 10 mmHg, oxic), how many survived and how
# many the LQ-OER rule predicts at each cell's own pO₂. Cumulative over the fractions given.
HYPOXIC_PROBE_PO2 = 2.5  # mmHg
OXIC_PROBE_PO2 = 10.0  # mmHg
PROBE_COUNTS = ("exposed", "survived", "expected")


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("nan")


class Region(Strict):
    """A disc-shaped field; the centre is given from the centre of the section."""

    center_um: Annotated[
        tuple[float, float],
        Field(description="(x, y) offset of the field centre from the section centre, µm"),
    ] = (0.0, 0.0)
    radius_um: Annotated[float, Field(gt=0, le=100000, description="field radius, µm")]


class Radiotherapy(TreatmentConfig):
    """Fractions of ``dose_per_fraction`` (Gy) on the schedule's days, over ``field``."""

    type: Literal["radiotherapy"]
    parameters: ClassVar[tuple[Param, ...]] = (
        Param(
            "rt.alpha_tumor",
            0.3,
            "1/Gy",
            "LQ α of tumour cells (SF2 ≈ 0.5)",
            "Typical carcinoma SF2 0.4–0.6 (M)",
            hi=5,
        ),
        Param(
            "rt.beta_tumor",
            0.03,
            "1/Gy²",
            "LQ β of tumour cells (α/β = 10 Gy)",
            "Conventional tumour α/β = 10 Gy (M)",
            hi=1,
        ),
        Param(
            "rt.alpha_lymphocyte",
            1.25,
            "1/Gy",
            "LQ α of lymphocytes (SF2 ≈ 0.08; β ≈ 0)",
            "1/D0 with D0 = 0.8 Gy, between unstimulated CD8 T cells in vitro (D0 0.55 Gy, "
            "Radiat Res) and blood lymphocytes in vivo (D0 1.2 Gy, PubMed 3303160) "
            "(literature.md Table 3, V); was 0.6 (SF2 0.30, outside P7's 0.02–0.2)",
            hi=10,
        ),
        Param(
            "rt.oer",
            3.0,
            "1",
            "maximal oxygen enhancement ratio",
            "Alper & Howard-Flanders; Wouters & Brown 1997 (M)",
            lo=1,
            hi=5,
        ),
        Param(
            "rt.oer_k",
            3.0,
            "mmHg",
            "pO₂ at half-maximal oxygen enhancement",
            "Wouters & Brown, Radiat Res 1997 (≈3 mmHg; M)",
            lo=0.01,
        ),
        Param(
            "rt.icd_weight",
            0.5,
            "1",
            "antigen released to priming per radiation death at full adjuvant signal "
            "(relative to a CTL kill)",
            "Assumption",
            hi=10,
        ),
        Param(
            "rt.trex1_dose",
            15.0,
            "Gy",
            "single dose at which TREX1 removes half of the cytosolic-DNA adjuvant signal",
            "Vanpouille-Box et al., Nat Commun 2017 (TREX1 induction above 12–18 Gy)",
            lo=1,
        ),
        Param(
            "rt.trex1_hill",
            6.0,
            "1",
            "steepness of the TREX1 dose threshold",
            "Assumption",
            lo=0.5,
            hi=20,
        ),
        Param(
            "rt.adjuvant_time",
            120.0,
            "h",
            "time constant of the type-I IFN adjuvant signal after a fraction",
            "Assumption (cGAS–STING signalling over days; Deng 2014; M)",
            lo=1,
        ),
        Param(
            "rt.remodel_half_dose",
            0.5,
            "Gy",
            "dose per fraction at half-maximal low-dose remodelling",
            "Klug et al., Cancer Cell 2013 (2 Gy); Herrera et al., Cancer Discov 2022 (0.5–1 Gy)",
            lo=0.01,
        ),
        Param(
            "rt.remodel_ceiling_dose",
            4.0,
            "Gy",
            "dose per fraction above which remodelling gives way to damage (half-max)",
            "Assumption: low-dose effects reported at ≤ 2 Gy per fraction",
            lo=0.1,
        ),
        Param(
            "rt.remodel_hill",
            2.0,
            "1",
            "Hill power of the rising side of the low-dose remodelling window",
            "Assumption (was hard-coded)",
            lo=0.1,
            hi=10,
        ),
        Param(
            "rt.remodel_ceiling_hill",
            4.0,
            "1",
            "Hill power of the falling side of the low-dose remodelling window",
            "Assumption (was hard-coded): remodelling gives way to damage sharply above "
            "the ceiling",
            lo=0.1,
            hi=10,
        ),
        Param(
            "rt.remodel_time",
            168.0,
            "h",
            "time constant of the remodelled (M1, normalised) state after a fraction",
            "Assumption",
            lo=1,
        ),
        Param(
            "rt.remodel_m1_stimulus",
            1.0,
            "1",
            "M1 drive at full remodelling (iNOS⁺ macrophages; Klug 2013)",
            "Assumption (magnitude)",
            hi=2,
        ),
        Param(
            "rt.remodel_normalisation",
            0.5,
            "1",
            "fraction of the VEGF signal removed at full remodelling "
            "(vessel normalisation; Klug 2013)",
            "Assumption (magnitude)",
            hi=1,
        ),
    )
    channels: ClassVar[tuple[str, ...]] = ("radiation_death_weight", "m1_stimulus", "vegf_block")
    counters: ClassVar[tuple[str, ...]] = (
        "radiation_doomed",
        "lymphocytes_killed",
        *(f"rt_{cls}_{what}" for cls in ("hypoxic", "oxic") for what in PROBE_COUNTS),
        "rt_lymphocytes_exposed",
        "rt_lymphocytes_killed",
    )
    derived_metrics: ClassVar[Mapping[str, Callable[[Mapping[str, float]], float]]] = {
        "rt_sf_lymphocyte": lambda c: (
            1.0 - _ratio(c["rt_lymphocytes_killed"], c["rt_lymphocytes_exposed"])
        ),
        "rt_sf_tumor_oxic": lambda c: _ratio(c["rt_oxic_survived"], c["rt_oxic_exposed"]),
        "rt_sf_tumor_hypoxic": lambda c: _ratio(c["rt_hypoxic_survived"], c["rt_hypoxic_exposed"]),
        "rt_sf_ratio_hypoxic_oxic": lambda c: _ratio(
            _ratio(c["rt_hypoxic_survived"], c["rt_hypoxic_exposed"]),
            _ratio(c["rt_oxic_survived"], c["rt_oxic_exposed"]),
        ),
        "rt_sf_ratio_vs_oer_model": lambda c: _ratio(
            _ratio(c["rt_hypoxic_survived"], c["rt_hypoxic_expected"]),
            _ratio(c["rt_oxic_survived"], c["rt_oxic_expected"]),
        ),
    }
    marks_doses: ClassVar[bool] = True
    dose_per_fraction: Dose
    field: Annotated[
        Literal["whole"] | Region, Field(description="'whole' section or a disc region")
    ] = "whole"
    lesions: Annotated[
        tuple[str, ...] | None,
        Field(
            min_length=1,
            description="patient mode: the lesions this course irradiates (names from "
            "patient.lesions); None = the lesions marked `irradiated`",
        ),
    ] = None

    @model_validator(mode="after")
    def _gray_and_gaps(self) -> Radiotherapy:
        if self.dose_per_fraction.unit != "Gy":
            raise ValueError(
                f"dose_per_fraction.unit {self.dose_per_fraction.unit!r} does not fit "
                "radiotherapy: give the dose per fraction in Gy"
            )
        if self.dose_per_fraction.value > 30:
            raise ValueError(
                f"dose_per_fraction.value {self.dose_per_fraction.value:g} Gy exceeds 30 Gy, "
                "more than any single fraction given clinically"
            )
        days = self.schedule.dose_days()
        for before, after in itertools.pairwise(days):
            if after - before < MIN_FRACTION_GAP_DAYS:
                raise ValueError(
                    f"schedule: fractions on day {before:g} and day {after:g} overlap: fractions "
                    f"must be at least {MIN_FRACTION_GAP_DAYS * 24:g} h apart"
                )
        return self

    def name(self) -> str:
        return (
            self.label
            or f"RT {self.dose_per_fraction.value:g} Gy × {len(self.schedule.dose_days())}"
        )

    def start(self, model: ModelView) -> RadiotherapyTherapy:
        return RadiotherapyTherapy(self, model)


class RadiotherapyTherapy(Therapy):
    config: Radiotherapy

    def __init__(self, config: Radiotherapy, model: ModelView) -> None:
        # numba loads when a model starts, not with a scenario file (imported once, here)
        from gcsim.kernels.common import hill
        from gcsim.kernels.therapy import irradiate

        self._irradiate = irradiate

        super().__init__(config, model)
        p = model.params
        self.dose = config.dose_per_fraction.value
        self.field = field_mask(config.field, model.state.tissue.shape, model.site_um)
        self.adjuvant = 0.0
        self.remodelling = 0.0
        self._adjuvant_decay = math.exp(-model.dt_h / p["rt.adjuvant_time"])
        self._remodel_decay = math.exp(-model.dt_h / p["rt.remodel_time"])
        self.adjuvant_per_fraction = 1.0 - hill(self.dose, p["rt.trex1_dose"], p["rt.trex1_hill"])
        self.remodel_per_fraction = hill(
            self.dose, p["rt.remodel_half_dose"], p["rt.remodel_hill"]
        ) * (1.0 - hill(self.dose, p["rt.remodel_ceiling_dose"], p["rt.remodel_ceiling_hill"]))

    def apply(self, model: ModelView, effects: Effects) -> None:
        p, s = model.params, model.state
        self.adjuvant *= self._adjuvant_decay
        self.remodelling *= self._remodel_decay
        start = model.step_start_h
        for _ in self.doses_between(start, start + model.dt_h):
            before = self._probe_before(model)
            doomed, lymphocytes = self._irradiate(
                model.kernel_rng,
                self.field,
                self.dose,
                p["rt.alpha_tumor"],
                p["rt.beta_tumor"],
                p["rt.oer"],
                p["rt.oer_k"],
                p["rt.alpha_lymphocyte"],
                s.tissue,
                s.immune,
                s.oxygen,
                s.doomed,
                s.exhaustion,
                s.engaged,
                s.divisions,
            )
            model.counters["radiation_doomed"] += doomed
            model.counters["lymphocytes_killed"] += lymphocytes
            model.counters["rt_lymphocytes_killed"] += lymphocytes
            self._probe_after(model, before)
            self.adjuvant = max(self.adjuvant, self.adjuvant_per_fraction)
            self.remodelling = max(self.remodelling, self.remodel_per_fraction)
        effects.combine("radiation_death_weight", p["rt.icd_weight"] * self.adjuvant)
        effects.combine("m1_stimulus", p["rt.remodel_m1_stimulus"] * self.remodelling)
        effects.combine("vegf_block", p["rt.remodel_normalisation"] * self.remodelling)

    def _probe_before(self, model: ModelView) -> dict[str, Any]:
        """Tumour cells about to be irradiated by oxygen class, with the survival the LQ-OER rule
        predicts at their pO₂; lymphocytes in the field."""
        from gcsim.cells import RADIOSENSITIVE
        from gcsim.kernels.therapy import oxygen_modification
        from gcsim.state import TUMOR

        p, s = model.params, model.state
        field = self.field.astype(bool)
        candidates = field & (s.tissue == TUMOR) & (s.doomed == 0)
        d = self.dose * oxygen_modification(s.oxygen, p["rt.oer"], p["rt.oer_k"])
        survival = np.exp(-p["rt.alpha_tumor"] * d - p["rt.beta_tumor"] * d * d)
        classes = {
            "hypoxic": candidates & (s.oxygen <= HYPOXIC_PROBE_PO2),
            "oxic": candidates & (s.oxygen >= OXIC_PROBE_PO2),
        }
        c = model.counters
        for name, mask in classes.items():
            c[f"rt_{name}_exposed"] += int(mask.sum())
            c[f"rt_{name}_expected"] += float(survival[mask].sum())
        c["rt_lymphocytes_exposed"] += int((field & RADIOSENSITIVE.take(s.immune)).sum())
        return classes

    def _probe_after(self, model: ModelView, classes: dict[str, Any]) -> None:
        survived = model.state.doomed == 0
        for name, mask in classes.items():
            model.counters[f"rt_{name}_survived"] += int((mask & survived).sum())

    def get_state(self) -> dict[str, float | np.ndarray]:
        """The decaying adjuvant and remodelling signals (0..1)."""
        return {"adjuvant": self.adjuvant, "remodelling": self.remodelling}

    def set_state(self, state: dict[str, Any]) -> None:
        self.adjuvant = float(state["adjuvant"])
        self.remodelling = float(state["remodelling"])

    def exposure(self, t_h: float) -> float:
        """Cumulative dose delivered by ``t_h`` (Gy)."""
        return self.dose * float(np.count_nonzero(self.dose_times_h <= t_h))


def field_mask(
    field: Literal["whole"] | Region, shape: tuple[int, int], site_um: float
) -> np.ndarray:
    """uint8 mask of the sites inside the field (site centres within the disc)."""
    if not isinstance(field, Region):
        return np.ones(shape, dtype=np.uint8)
    x = (np.arange(shape[0]) + 0.5 - shape[0] / 2) * site_um - field.center_um[0]
    y = (np.arange(shape[1]) + 0.5 - shape[1] / 2) * site_um - field.center_um[1]
    return ((x[:, None] ** 2 + y[None, :] ** 2) <= field.radius_um**2).astype(np.uint8)
