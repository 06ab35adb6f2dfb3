"""Oral small-molecule drugs: a flat dose in mg taken by mouth, once or twice daily.

The base of the sensitiser drugs (metformin, epacadostat, entinostat, an LSD1 inhibitor). Plasma
concentration follows the one-compartment PK of every drug (``gcsim.therapies.pk``), the oral dose
as a bolus (absorption is fast against the days simulated; QSP-IO's entinostat absorbs at
1.9–2.5 /h), and the tissue level of the lesion follows small-molecule delivery from perfused
vessels (``DrugTherapy.tissue``). A dose is in mg only, up to the drug's ``max_dose_mg`` (an
upper bound per dose that catches a slip of unit, µg typed as mg or a daily total as one dose,
without judging a regimen).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, ClassVar

from pydantic import Field, model_validator

from gcsim.therapies.drugs import DrugTherapy, DrugTreatment
from gcsim.validation import FieldError

if TYPE_CHECKING:
    from gcsim.effects import Effects
    from gcsim.interface import ModelView


def hill(concentration: float, half_max: float) -> float:
    """Fraction of maximal effect C/(C + half-max), 0 without drug."""
    return concentration / (concentration + half_max) if concentration > 0.0 else 0.0


class OccupancyTherapy(DrugTherapy):
    """A drug whose every effect is a factor ``1 + gain × occupancy`` on one channel (a
    negative gain lowers it), occupancy ``C/(C + EC50)`` at the lesion's tissue level; a
    subclass only names its channels' gains (``self.gains``, read from the parameter table)."""

    gains: dict[str, float]

    def apply(self, model: ModelView, effects: Effects) -> None:
        occupancy = self.occupancy(model)
        if occupancy > 0.0:
            for channel, gain in self.gains.items():
                effects.combine(channel, 1.0 + gain * occupancy)


class OralDrug(DrugTreatment):
    """An oral drug: ``dose: {value, unit: mg}`` per intake on the schedule (twice daily is
    ``interval_days: 0.5``)."""

    infusion_hours: Annotated[
        float,
        Field(
            ge=0,
            le=24,
            description="hours over which a dose enters plasma (0 = at once: oral doses are "
            "boluses)",
        ),
    ] = 0.0

    max_dose_mg: ClassVar[float] = 2000.0  # per dose; each drug sets its own

    # The same name as DrugTreatment's check replaces it: an oral drug takes mg only.
    @model_validator(mode="after")
    def _mass_dose(self) -> OralDrug:
        if self.dose.unit != "mg":
            raise FieldError(
                ("dose", "unit"),
                f"dose.unit {self.dose.unit!r} does not fit {self.drug}, an oral drug: give "
                "the dose per intake in mg",
            )
        if self.dose.value > self.max_dose_mg:
            raise FieldError(
                ("dose", "value"),
                f"dose.value {self.dose.value:g} mg is implausibly large for one dose of "
                f"{self.drug} (limit {self.max_dose_mg:g} mg); check the unit",
            )
        return self
