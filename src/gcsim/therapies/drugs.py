"""Systemic drugs: dose in mass units, one-compartment PK, tissue exposure through perfusion."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, get_args

import numpy as np
from pydantic import Field, model_validator

from gcsim.kernels.common import hill
from gcsim.therapies.base import Dose, Therapy, TreatmentConfig
from gcsim.therapies.pk import Pharmacokinetics

if TYPE_CHECKING:
    from gcsim.model import GastricTumorModel

Molecule = Literal["antibody", "small_molecule"]
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


def mid_step_h(model: GastricTumorModel) -> float:
    """The time at which a step's exposure is evaluated: its midpoint (a dose or an infusion
    starting with the step then acts during it)."""
    return model.step_start_h + 0.5 * model.dt_h


class DrugTherapy(Therapy):
    """Plasma concentration from the calendar; tissue concentration = plasma × tissue ratio ×
    delivery (antibodies), or plasma × delivery (small molecules)."""

    config: DrugTreatment

    def __init__(self, config: DrugTreatment, model: GastricTumorModel) -> None:
        super().__init__(config, model)
        p = model.params
        self.molecule = config.molecules[config.drug]
        self.pk = Pharmacokinetics.of(config.drug, p)
        self.ec50 = p[f"drug.{config.drug}.ec50"]
        self.amount_mg = config.dose.milligrams(p)
        self._amounts = np.full(self.dose_times_h.shape, self.amount_mg)  # one per dose
        self.tissue_ratio = (
            p["delivery.antibody_tissue_ratio"] if self.molecule == "antibody" else 1.0
        )

    def plasma(self, t_h: float) -> float:
        """Plasma concentration (µg/mL) at ``t_h``."""
        return float(
            self.pk.concentration(
                t_h, self.dose_times_h, self._amounts, self.config.infusion_hours
            )[0]
        )

    def tissue(self, model: GastricTumorModel) -> float:
        """Mean tissue concentration over the lesion (µg/mL) in the middle of the step."""
        c = self.plasma(mid_step_h(model))
        if c == 0.0:
            return 0.0
        return c * self.tissue_ratio * model.lesion_delivery(self.molecule)

    def occupancy(self, model: GastricTumorModel) -> float:
        return hill(self.tissue(model), self.ec50, 1.0)

    def exposure(self, t_h: float) -> float:
        """Plasma concentration over EC50 (dimensionless), for plots."""
        return self.plasma(t_h) / self.ec50
