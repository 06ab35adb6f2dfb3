"""Chemotherapy backbone: fluoropyrimidines (fluorouracil, capecitabine) and platinum
(oxaliplatin, cisplatin), one treatment entry per drug.

Mechanism, per drug and step: local exposure = plasma concentration × perfusion-dependent
delivery of a small molecule / EC50; cycling tumour cells die at ``chemo.max_kill_rate ×
Hill(exposure) × cycling`` (hypoxic quiescent cells are spared); CD8 T cells and Tregs die at
``chemo.lymphocyte_kill_rate × Hill(plasma/EC50)`` and T-cell supply from blood falls by
``chemo.lymphopenia × Hill``; each tumour death releases ``chemo.icd_weight`` of antigen to the
priming compartment (modest immunogenic death). Drugs combine as independent hazards.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from gcsim.kernels.therapy import cytotoxic_kill
from gcsim.params import per_step
from gcsim.therapies.base import Effects
from gcsim.therapies.drugs import DrugTherapy, DrugTreatment, Molecule, mid_step_h

if TYPE_CHECKING:
    from gcsim.model import GastricTumorModel


class ChemotherapyTherapy(DrugTherapy):
    def __init__(self, config: DrugTreatment, model: GastricTumorModel) -> None:
        super().__init__(config, model)
        p = model.params
        self._kill_p = per_step(p["chemo.max_kill_rate"], model.dt_h)
        self._lymphocyte_kill_p = per_step(p["chemo.lymphocyte_kill_rate"], model.dt_h)

    def apply(self, model: GastricTumorModel, effects: Effects) -> None:
        relative = self.exposure(mid_step_h(model))  # plasma / EC50
        if relative < 1e-6:
            return
        p, s = model.params, model.state
        systemic = relative / (1.0 + relative)
        effects.combine("lymphocyte_supply", 1.0 - p["chemo.lymphopenia"] * systemic)
        exposure = relative * model.delivery(self.molecule)
        killed, lymphocytes = cytotoxic_kill(
            model.kernel_rng,
            exposure,
            self._kill_p,
            self._lymphocyte_kill_p,
            p["tumor.proliferation_threshold"],
            p["tumor.proliferation_saturation"],
            s.tissue,
            s.immune,
            s.oxygen,
            s.exhaustion,
            s.engaged,
            s.divisions,
        )
        model.counters["chemo_kills"] += killed
        model.counters["lymphocytes_killed"] += lymphocytes
        effects.combine("antigen", killed * p["chemo.icd_weight"])


class Chemotherapy(DrugTreatment):
    """One cytotoxic drug of the backbone, e.g. oxaliplatin 130 mg/m2 every 21 days."""

    type: Literal["chemotherapy"]
    drug: Literal["fluorouracil", "capecitabine", "oxaliplatin", "cisplatin"]

    molecules: ClassVar[dict[str, Molecule]] = {
        "fluorouracil": "small_molecule",
        "capecitabine": "small_molecule",
        "oxaliplatin": "small_molecule",
        "cisplatin": "small_molecule",
    }

    def start(self, model: GastricTumorModel) -> ChemotherapyTherapy:
        return ChemotherapyTherapy(self, model)
