"""Systemic drugs: dose in mass units, one-compartment PK, tissue exposure through perfusion."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, get_args

import numpy as np
from pydantic import Field, model_validator

from gcsim.parameter import Param
from gcsim.therapies.base import Dose, Therapy, TreatmentConfig
from gcsim.therapies.pk import Pharmacokinetics

if TYPE_CHECKING:
    from gcsim.interface import ModelView

Molecule = Literal["antibody", "small_molecule"]

# Drug delivery from perfused vessels into tissue, shared by every drug therapy
# (``ModelView.delivery``; gcsim.therapies.delivery solves it).
DELIVERY_PARAMETERS: tuple[Param, ...] = (
    Param(
        "delivery.antibody_tissue_ratio",
        0.1,
        "1",
        "interstitial/plasma concentration ratio of an IgG in a well-perfused tumour",
        "Shah & Betts, mAbs 2013 antibody biodistribution coefficients (≈0.1 for tumour; M)",
        hi=1,
    ),
    Param(
        "delivery.antibody_length",
        100.0,
        "µm",
        "penetration length of an IgG from perfused vessels (extravasation vs binding/clearance)",
        "Thurber, Schmidt & Wittrup 2008 (tens to ~100 µm; M)",
        lo=10,
        hi=2000,
    ),
    Param(
        "delivery.small_molecule_length",
        150.0,
        "µm",
        "penetration length of a cytotoxic small molecule from perfused vessels",
        "Primeau et al., Clin Cancer Res 2005 (doxorubicin falls off over 40–100 µm; M)",
        lo=10,
        hi=2000,
    ),
    Param(
        "delivery.reference_vessel_density",
        0.02,
        "1",
        "perfused-vessel site density at which tissue exposure equals the nominal tissue level",
        "Assumption: the default normal-tissue vessel density",
        lo=1e-4,
        hi=1,
    ),
)
# Upper bounds per unit catch unit slips (a dose in mg typed as mg/kg) without judging regimens.
_MAX_DOSE = {"mg": 20000.0, "mg/kg": 100.0, "mg/m2": 10000.0}


class DrugTreatment(TreatmentConfig):
    """A drug given in mass units on a schedule; subclasses name the drugs they accept."""

    drug: str
    dose: Dose
    infusion_hours: Annotated[
        float, Field(ge=0, le=336, description="infusion duration in hours (0 = bolus or oral)")
    ] = 0.5

    molecules: ClassVar[dict[str, Molecule]]  # drug → molecule class, set by each subclass
    parameters: ClassVar[tuple[Param, ...]] = DELIVERY_PARAMETERS

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        drugs = set(get_args(cls.model_fields["drug"].annotation))
        if drugs and drugs != set(cls.molecules):
            raise TypeError(
                f"{cls.__name__}: the drug literal {sorted(drugs)} and molecules "
                f"{sorted(cls.molecules)} must name the same drugs"
            )

    @model_validator(mode="after")
    def _mass_dose(self) -> DrugTreatment:
        if self.dose.unit not in _MAX_DOSE:
            raise ValueError(
                f"dose.unit {self.dose.unit!r} does not fit a drug: give mg, mg/kg or mg/m2"
            )
        if self.dose.value > _MAX_DOSE[self.dose.unit]:
            raise ValueError(
                f"dose.value {self.dose.value:g} {self.dose.unit} is implausibly large "
                f"(limit {_MAX_DOSE[self.dose.unit]:g} {self.dose.unit}); check the unit"
            )
        return self

    def name(self) -> str:
        return self.label or self.drug


def mid_step_h(model: ModelView) -> float:
    """The time at which a step's exposure is evaluated: its midpoint (a dose or an infusion
    starting with the step then acts during it)."""
    return model.step_start_h + 0.5 * model.dt_h


class DrugTherapy(Therapy):
    """Plasma concentration from the calendar; tissue concentration = plasma × tissue ratio ×
    delivery (antibodies), or plasma × delivery (small molecules)."""

    config: DrugTreatment

    def __init__(self, config: DrugTreatment, model: ModelView) -> None:
        super().__init__(config, model)
        p = model.params
        self.molecule = config.molecules[config.drug]
        self.pk = Pharmacokinetics.of(config.drug, p)
        self.ec50 = p[f"drug.{config.drug}.ec50"]
        self.amount_mg = config.dose.milligrams(p)
        self._amounts = np.full(self.dose_times_h.shape, self.amount_mg)  # one per dose
        self._plasma_at = (math.nan, 0.0)  # (time, plasma concentration) of the last call
        self.tissue_ratio = (
            p["delivery.antibody_tissue_ratio"] if self.molecule == "antibody" else 1.0
        )

    def plasma(self, t_h: float) -> float:
        """Plasma concentration (µg/mL) at ``t_h``.

        The last value is kept: a step asks for it several times (tissue level, occupancy,
        the recorded exposure), and each answer sums over every dose of the calendar."""
        if t_h != self._plasma_at[0]:
            c = self.pk.concentration(
                t_h, self.dose_times_h, self._amounts, self.config.infusion_hours
            )[0]
            self._plasma_at = (t_h, float(c))
        return self._plasma_at[1]

    def tissue(self, model: ModelView) -> float:
        """Mean tissue concentration over the lesion (µg/mL) in the middle of the step."""
        c = self.plasma(mid_step_h(model))
        if c == 0.0:
            return 0.0
        return c * self.tissue_ratio * model.lesion_delivery(self.molecule)

    def occupancy(self, model: ModelView) -> float:
        """Fraction of target bound, C/(C + EC50) at the lesion's tissue concentration."""
        c = self.tissue(model)
        return c / (self.ec50 + c) if c > 0.0 else 0.0

    def exposure(self, t_h: float) -> float:
        """Plasma concentration over EC50 (dimensionless), for plots."""
        return self.plasma(t_h) / self.ec50
