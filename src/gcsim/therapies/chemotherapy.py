"""Chemotherapy backbone: fluoropyrimidines (fluorouracil, capecitabine) and platinum
(oxaliplatin, cisplatin), one treatment entry per drug.

Mechanism, per drug and step: local exposure = plasma concentration × perfusion-dependent
delivery of a small molecule / EC50; cycling tumour cells die with the per-step probability of
``chemo.max_kill_rate`` × Hill(exposure) × cycling (hypoxic quiescent cells are spared), times
``chemo.resistant_sensitivity`` for cells of the heritable chemo-resistant subclone (decision
0018); CD8 T cells and Tregs die with that of ``chemo.lymphocyte_kill_rate`` × Hill(local
exposure), and T-cell supply from blood falls by ``chemo.lymphopenia`` × Hill(plasma/EC50);
each tumour death releases ``chemo.icd_weight`` of antigen to the priming compartment (modest
immunogenic death). Drugs combine as independent hazards.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from gcsim.parameter import Param, per_step
from gcsim.therapies.base import Effects, Exposure
from gcsim.therapies.drugs import DrugTherapy, DrugTreatment, Molecule, mid_step_h

if TYPE_CHECKING:
    from gcsim.interface import ModelView


class ChemotherapyTherapy(DrugTherapy):
    def __init__(self, config: DrugTreatment, model: ModelView) -> None:
        super().__init__(config, model)
        p = model.params
        self._kill_p = per_step(p["chemo.max_kill_rate"], model.dt_h)
        self._lymphocyte_kill_p = per_step(p["chemo.lymphocyte_kill_rate"], model.dt_h)
        # numba loads when a model starts, not with a scenario file (imported once, here)
        from gcsim.kernels.therapy import cytotoxic_kill

        self._cytotoxic_kill = cytotoxic_kill

    def apply(self, model: ModelView, effects: Effects) -> None:
        relative = self.exposure(mid_step_h(model))  # plasma / EC50
        if relative < 1e-6:
            return
        p, s = model.params, model.state
        systemic = relative / (1.0 + relative)
        effects.combine("lymphocyte_supply", 1.0 - p["chemo.lymphopenia"] * systemic)
        exposure = relative * model.delivery(self.molecule)
        killed, lymphocytes = self._cytotoxic_kill(
            model.kernel_rng,
            exposure,
            self._kill_p,
            p["chemo.resistant_sensitivity"],
            self._lymphocyte_kill_p,
            p["tumor.proliferation_po2"],
            p["tumor.proliferation_saturation"],
            s.tissue,
            s.marker,
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

    parameters: ClassVar[tuple[Param, ...]] = (
        *DrugTreatment.parameters,
        Param(
            "drug.fluorouracil.half_life",
            0.2,
            "h",
            "elimination half-life (10–20 min)",
            "Diasio & Harris, Clin Pharmacokinet 1989 (M)",
            lo=0.01,
        ),
        Param(
            "drug.fluorouracil.volume",
            40.0,
            "L",
            "volume of distribution",
            "Assumption: clearance ≈ 150 L/h with a 0.2 h half-life (M)",
            lo=0.01,
        ),
        Param(
            "drug.fluorouracil.ec50",
            1.0,
            "µg/mL",
            "tissue concentration at half-maximal kill of cycling cells",
            "In-vitro IC50 1–10 µM (0.13–1.3 µg/mL; M)",
            lo=1e-6,
        ),
        Param(
            "drug.capecitabine.half_life",
            0.85,
            "h",
            "half-life of capecitabine-derived exposure",
            "Xeloda label (M)",
            lo=0.01,
        ),
        Param(
            "drug.capecitabine.volume",
            100.0,
            "L",
            "apparent volume of distribution (V/F)",
            "Assumption (M)",
            lo=0.01,
        ),
        Param(
            "drug.capecitabine.ec50",
            3.0,
            "µg/mL",
            "concentration at half-maximal kill (as 5-FU equivalent exposure)",
            "Assumption (M)",
            lo=1e-6,
        ),
        Param(
            "drug.oxaliplatin.half_life",
            16.8,
            "h",
            "β half-life of ultrafiltrable platinum",
            "Graham et al., Clin Cancer Res 2000 (M)",
            lo=0.01,
        ),
        Param(
            "drug.oxaliplatin.volume",
            440.0,
            "L",
            "volume of distribution of ultrafiltrable platinum",
            "Graham et al. 2000 (M)",
            lo=0.01,
        ),
        Param(
            "drug.oxaliplatin.ec50",
            0.5,
            "µg/mL",
            "tissue concentration at half-maximal kill of cycling cells",
            "In-vitro IC50 1–5 µM (0.4–2 µg/mL; M)",
            lo=1e-6,
        ),
        Param(
            "drug.cisplatin.half_life",
            0.8,
            "h",
            "half-life of free (ultrafiltrable) platinum",
            "Cisplatin label (M)",
            lo=0.01,
        ),
        Param(
            "drug.cisplatin.volume",
            20.0,
            "L",
            "volume of distribution of free platinum",
            "Assumption (M)",
            lo=0.01,
        ),
        Param(
            "drug.cisplatin.ec50",
            1.0,
            "µg/mL",
            "tissue concentration at half-maximal kill of cycling cells",
            "Assumption (M)",
            lo=1e-6,
        ),
        Param(
            "chemo.max_kill_rate",
            0.05,
            "1/h",
            "death rate of a fully cycling tumour cell at saturating drug exposure",
            "Assumption",
        ),
        Param(
            "chemo.resistant_sensitivity",
            0.1,
            "1",
            "kill rate of a cytotoxic-resistant tumour cell relative to a sensitive one",
            "Assumption: resistant gastric cancer lines have IC50s about tenfold higher for "
            "oxaliplatin and 5-FU (M); decision 0018",
            hi=1,
        ),
        Param(
            "chemo.lymphocyte_kill_rate",
            0.01,
            "1/h",
            "extra death rate of CD8 T cells and Tregs at saturating exposure",
            "Assumption (lymphodepletion by cytotoxics)",
        ),
        Param(
            "chemo.lymphopenia",
            0.5,
            "1",
            "maximal fractional drop in T-cell supply from blood at saturating exposure",
            "Assumption",
            hi=1,
        ),
        Param(
            "chemo.icd_weight",
            0.2,
            "1",
            "antigen released to priming per chemotherapy death, relative to a CTL kill",
            "Assumption: modest immunogenic death (oxaliplatin; Tesniere et al. 2010)",
            hi=10,
        ),
    )
    channels: ClassVar[tuple[str, ...]] = ("lymphocyte_supply", "antigen")
    exposure: ClassVar[Exposure] = Exposure(
        "exposure_chemotherapy", ":", "cytotoxic effect", "relative"
    )
    counters: ClassVar[tuple[str, ...]] = ("chemo_kills", "lymphocytes_killed")
    molecules: ClassVar[dict[str, Molecule]] = {
        "fluorouracil": "small_molecule",
        "capecitabine": "small_molecule",
        "oxaliplatin": "small_molecule",
        "cisplatin": "small_molecule",
    }

    def start(self, model: ModelView) -> ChemotherapyTherapy:
        return ChemotherapyTherapy(self, model)
