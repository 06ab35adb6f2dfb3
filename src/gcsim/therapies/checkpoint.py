"""Immune checkpoint inhibitors (anti-PD-1, anti-PD-L1).

Mechanism: tissue concentration sets receptor occupancy, Hill(C, EC50). Occupancy removes that
fraction of the PD-1/PD-L1 brake on killing and of the PD-1-driven exhaustion per engagement
(``kill_probability`` and ``_cd8_act`` in ``gcsim.kernels.immune``), and lets exhausted CD8 T cells
regain part of their kill capacity at ``ici.reinvigoration_rate × occupancy``. Where no cell
expresses PD-L1 the brake is already zero, so blockade has nothing to release there. In the
draining lymph node, blockade raises the priming of tumour-specific T cells from the antigen
that dying tumour cells release (``priming_gain`` = 1 + ``ici.priming_gain`` × occupancy), so
its systemic arm needs an immunogenic tumour that is being killed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from gcsim.parameter import Param
from gcsim.therapies.base import Effects, Exposure
from gcsim.therapies.drugs import DrugTherapy, DrugTreatment, Molecule

if TYPE_CHECKING:
    from gcsim.interface import ModelView


class CheckpointInhibitorTherapy(DrugTherapy):
    def apply(self, model: ModelView, effects: Effects) -> None:
        occupancy = self.occupancy(model)
        effects.combine("pd1_occupancy", occupancy)
        effects.combine("priming_gain", 1.0 + model.params["ici.priming_gain"] * occupancy)


class CheckpointInhibitor(DrugTreatment):
    """Anti-PD-1 (pembrolizumab, nivolumab) or anti-PD-L1 (atezolizumab) antibody."""

    type: Literal["checkpoint_inhibitor"]
    drug: Literal["pembrolizumab", "nivolumab", "atezolizumab"]

    parameters: ClassVar[tuple[Param, ...]] = (
        *DrugTreatment.parameters,
        Param(
            "drug.pembrolizumab.half_life",
            528.0,
            "h",
            "terminal half-life (22 days)",
            "Keytruda label (M)",
            lo=0.01,
        ),
        Param(
            "drug.pembrolizumab.volume",
            6.0,
            "L",
            "volume of distribution at steady state",
            "Keytruda label (M)",
            lo=0.01,
        ),
        Param(
            "drug.pembrolizumab.ec50",
            0.5,
            "µg/mL",
            "tissue concentration at half-maximal PD-1 occupancy",
            "Assumption: full blood occupancy at ≥ 1 mg/kg, Patnaik 2015 (M)",
            lo=1e-6,
        ),
        Param(
            "drug.nivolumab.half_life",
            600.0,
            "h",
            "terminal half-life (25 days)",
            "Opdivo label (M)",
            lo=0.01,
        ),
        Param(
            "drug.nivolumab.volume",
            6.8,
            "L",
            "volume of distribution at steady state",
            "Opdivo label (M)",
            lo=0.01,
        ),
        Param(
            "drug.nivolumab.ec50",
            0.5,
            "µg/mL",
            "tissue concentration at half-maximal PD-1 occupancy",
            "Assumption: plateau occupancy from 0.1 mg/kg, Brahmer 2010 (M)",
            lo=1e-6,
        ),
        Param(
            "drug.atezolizumab.half_life",
            648.0,
            "h",
            "terminal half-life (27 days)",
            "Tecentriq label (M)",
            lo=0.01,
        ),
        Param(
            "drug.atezolizumab.volume",
            6.9,
            "L",
            "volume of distribution at steady state",
            "Tecentriq label (M)",
            lo=0.01,
        ),
        Param(
            "drug.atezolizumab.ec50",
            1.0,
            "µg/mL",
            "tissue concentration at half-maximal PD-L1 occupancy",
            "Assumption (M)",
            lo=1e-6,
        ),
    )
    channels: ClassVar[tuple[str, ...]] = ("pd1_occupancy", "priming_gain")
    exposure: ClassVar[Exposure] = Exposure("pd1_occupancy", "-", "PD-1 occupancy")
    molecules: ClassVar[dict[str, Molecule]] = {
        "pembrolizumab": "antibody",
        "nivolumab": "antibody",
        "atezolizumab": "antibody",
    }

    def start(self, model: ModelView) -> CheckpointInhibitorTherapy:
        return CheckpointInhibitorTherapy(self, model)
