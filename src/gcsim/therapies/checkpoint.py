"""Immune checkpoint inhibitors (anti-PD-1, anti-PD-L1).

Mechanism: tissue concentration sets receptor occupancy, Hill(C, EC50). Occupancy removes that
fraction of the PD-1/PD-L1 brake on killing and of the PD-1-driven exhaustion per engagement
(``kill_probability`` and ``_cd8_act`` in ``gcsim.kernels.immune``), and lets exhausted CD8 T cells
regain part of their kill capacity at ``ici.reinvigoration_rate × occupancy``. Where no cell
expresses PD-L1 the brake is already zero, so blockade has nothing to release.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from gcsim.therapies.base import Effects
from gcsim.therapies.drugs import DrugTherapy, DrugTreatment, Molecule

if TYPE_CHECKING:
    from gcsim.model import GastricTumorModel


class CheckpointInhibitorTherapy(DrugTherapy):
    def apply(self, model: GastricTumorModel, effects: Effects) -> None:
        effects.combine("pd1_occupancy", self.occupancy(model))


class CheckpointInhibitor(DrugTreatment):
    """Anti-PD-1 (pembrolizumab, nivolumab) or anti-PD-L1 (atezolizumab) antibody."""

    type: Literal["checkpoint_inhibitor"]
    drug: Literal["pembrolizumab", "nivolumab", "atezolizumab"]

    molecules: ClassVar[dict[str, Molecule]] = {
        "pembrolizumab": "antibody",
        "nivolumab": "antibody",
        "atezolizumab": "antibody",
    }

    def start(self, model: GastricTumorModel) -> CheckpointInhibitorTherapy:
        return CheckpointInhibitorTherapy(self, model)
