"""PARP inhibitor (olaparib): synthetic lethality in homologous-recombination-deficient cells.

Mechanism, per step (../shared/reference/sensitisers.md, PARP row, V-abs; literature.md):

* **Exposure**: oral doses (boluses, ``pk.py``), one-compartment plasma PK, local exposure =
  plasma × the small-molecule delivery field / ``drug.olaparib.ec50``; inhibition is
  Hill(exposure) per site.
* **Synthetic lethality**: PARP inhibition (and PARP trapping on DNA) leaves single-strand
  breaks that become double-strand breaks at replication. A cell without homologous
  recombination (the heritable ``hrd`` marker bit, ``tumor.subclones.hrd`` at the start) cannot
  repair them; an HR-proficient cell mostly can. The lesion is made while the cell replicates
  and kills it when it tries to divide, so the model marks cells ``doomed`` — as radiotherapy
  does — with a hazard per unit of cycle progress (``kernels.therapy.synthetic_lethality``):
  a cell is doomed during one full cycle at full inhibition with probability
  ``parp.hrd_lethality`` (HRD) or ``parp.proficient_lethality`` (HR-proficient), and dies at its
  next mitosis (``tumor_step``, mitotic catastrophe). Quiescent hypoxic cells are spared
  (they do not replicate), death comes a cycle after the damage, and HR-proficient cells take
  over an HRD-mixed tumour (selection). A per-step kill ∝ occupancy was not chosen: it would
  kill non-cycling cells and kill at once, neither of which replication-dependent damage does.
* **cGAS–STING**: unrepaired damage ends in micronuclei and cytosolic DNA when the damaged
  cell goes through mitosis, so each mitotic death releases antigen to the priming compartment
  at ``parp.icd_weight`` × lesion-mean inhibition (the ``radiation_death_weight`` channel, as
  radiotherapy's adjuvant; the two add when both are given). In every cycling cell this follows
  the damage left unrepaired: in an HRD-free tumour it is the few HR-proficient cells that fail
  to repair, so the adjuvant has little to act on.
* **PD-L1 up**: tumour PD-L1 targets are multiplied by 1 + ``parp.pdl1_gain`` × lesion-mean
  inhibition (``pdl1_expression``; the reference's "PD-L1 up", magnitude an assumption).

Clinical anchor: olaparib alone in unselected oesophagogastric cancer gave no responses
(ORR 0 %, V-abs): with ``tumor.subclones.hrd`` 0 it must not shrink the tumour
(``tests/test_sensitiser_parp.py``). Not modelled: myelosuppression (anaemia, neutropenia,
lymphopenia), oral absorption lag and food effect, reversion mutations restoring HR, PARP
inhibition in T cells, HRD arising during the run, BRCA-dependent differences between HRD cells,
IFN signalling of surviving damaged cells (only dying cells release antigen).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from gcsim.parameter import Param
from gcsim.therapies.base import Effects, Exposure
from gcsim.therapies.drugs import DrugTherapy, DrugTreatment, Molecule, mid_step_h

if TYPE_CHECKING:
    from gcsim.interface import ModelView

_LABEL = "Lynparza (olaparib tablets) label, 300 mg twice daily (M)"


class ParpInhibitorTherapy(DrugTherapy):
    config: ParpInhibitor

    def __init__(self, config: ParpInhibitor, model: ModelView) -> None:
        super().__init__(config, model)
        p = model.params
        # hazards per cell cycle at full inhibition, from the probabilities of a full cycle
        self.hazard_hrd = -math.log1p(-p["parp.hrd_lethality"])
        self.hazard_proficient = -math.log1p(-p["parp.proficient_lethality"])
        self.cycle_per_step = p["tumor.cycle_rate"] * model.dt_h
        # numba loads when a model starts, not with a scenario file (imported once, here)
        from gcsim.kernels.therapy import synthetic_lethality

        self._synthetic_lethality = synthetic_lethality

    def apply(self, model: ModelView, effects: Effects) -> None:
        relative = self.exposure(mid_step_h(model))  # plasma / EC50
        if relative < 1e-6:
            return
        p, s = model.params, model.state
        exposure = relative * model.delivery(self.molecule)
        model.counters["parp_doomed"] += self._synthetic_lethality(
            model.kernel_rng,
            exposure,
            self.hazard_hrd,
            self.hazard_proficient,
            self.cycle_per_step,
            p["tumor.proliferation_po2"],
            p["tumor.proliferation_saturation"],
            s.tissue,
            s.cycle,
            s.marker,
            s.oxygen,
            s.doomed,
        )
        inhibition = self.occupancy(model)  # at the lesion-mean exposure
        effects.combine("radiation_death_weight", p["parp.icd_weight"] * inhibition)
        effects.combine("pdl1_expression", 1.0 + p["parp.pdl1_gain"] * inhibition)


class ParpInhibitor(DrugTreatment):
    """Oral PARP inhibitor, e.g. olaparib 300 mg twice daily
    (``schedule: {interval_days: 0.5, doses: 56}`` for four weeks)."""

    type: Literal["parp_inhibitor"]
    drug: Literal["olaparib"]
    infusion_hours: Annotated[
        float, Field(ge=0, le=336, description="oral tablets: 0 (given as boluses)")
    ] = 0.0

    parameters: ClassVar[tuple[Param, ...]] = (
        *DrugTreatment.parameters,
        Param(
            "drug.olaparib.half_life",
            14.9,
            "h",
            "mean terminal half-life (tablets)",
            _LABEL,
            lo=0.01,
        ),
        Param(
            "drug.olaparib.volume",
            158.0,
            "L",
            "apparent volume of distribution (Vz/F, tablets); 300 mg twice daily gives a mean "
            "steady-state plasma level ≈ 3 µg/mL here",
            _LABEL,
            lo=0.01,
        ),
        Param(
            "drug.olaparib.ec50",
            0.5,
            "µg/mL",
            "tissue concentration at half-maximal PARP inhibition and trapping (≈ 1.2 µM)",
            "Assumption: the clinical dose inhibits most PARP activity in perfused tumour "
            "(prior 0.05–5 µg/mL)",
            lo=1e-6,
        ),
        Param(
            "parp.hrd_lethality",
            0.5,
            "1",
            "probability that an HR-deficient cell is lethally damaged over one cell cycle at "
            "full inhibition (it dies at the following mitosis)",
            "Assumption: synthetic lethality in HRD cells (sensitisers.md, V-abs); magnitude "
            "not sourced (prior 0.2–0.9)",
            hi=0.999,
        ),
        Param(
            "parp.proficient_lethality",
            0.01,
            "1",
            "the same for an HR-proficient cell, which repairs the lesions",
            "Assumption, bounded by the negative control: olaparib alone in unselected "
            "oesophagogastric cancer, ORR 0 % (sensitisers.md, V-abs) (prior 0–0.05)",
            hi=0.999,
        ),
        Param(
            "parp.icd_weight",
            0.5,
            "1",
            "antigen released to priming per mitotic death at full inhibition, relative to a "
            "CTL kill (cGAS–STING adjuvant of unrepaired damage)",
            "Assumption: as rt.icd_weight; unrepaired damage → cytosolic DNA → cGAS–STING "
            "(sensitisers.md, V-abs) (prior 0–1)",
            hi=10,
        ),
        Param(
            "parp.pdl1_gain",
            0.3,
            "1",
            "rise of the tumour PD-L1 target at full inhibition (× 1 + gain)",
            "Assumption: PARP inhibition raises PD-L1 (sensitisers.md, V-abs); magnitude not "
            "sourced (prior 0–1)",
            hi=5,
        ),
    )
    channels: ClassVar[tuple[str, ...]] = ("radiation_death_weight", "pdl1_expression")
    exposure: ClassVar[Exposure] = Exposure(
        "exposure_parp_inhibitor", (0, (5, 1, 1, 1, 1, 1)), "PARP inhibition", "relative"
    )
    counters: ClassVar[tuple[str, ...]] = ("parp_doomed",)
    molecules: ClassVar[dict[str, Molecule]] = {"olaparib": "small_molecule"}

    @model_validator(mode="after")
    def _oral_flat_dose(self) -> ParpInhibitor:
        if self.infusion_hours != 0:
            raise ValueError(
                f"infusion_hours {self.infusion_hours:g}: {self.drug} is an oral tablet, give 0"
            )
        if self.dose.unit != "mg":
            raise ValueError(
                f"dose.unit {self.dose.unit!r}: {self.drug} is given as a flat oral dose, "
                "give it in mg (e.g. 300 mg twice daily)"
            )
        return self

    def start(self, model: ModelView) -> ParpInhibitorTherapy:
        return ParpInhibitorTherapy(self, model)
