"""Anti-VEGF: antibodies (bevacizumab, ramucirumab) or a VEGFR2 kinase inhibitor (apatinib).

Mechanism: tissue concentration neutralises the VEGF *signal* by Hill(C, EC50). Everything else
follows from the rules that read that signal: vessel maturity relaxes toward 1 − Hill(VEGF), so
vessels normalise (better perfusion, oxygen, drug and T-cell delivery), while immature vessels
need VEGF to survive, so strong or prolonged blockade prunes them (deeper hypoxia); MDSC
recruitment and the VEGF push of macrophages toward M2 fall with the signal, and the hypoxic M2
push falls while oxygenation improves — the transient normalisation window (Jain, Science 2005;
Huang et al., PNAS 2012) emerges instead of being imposed. Blockade also drives macrophages
toward M1 (``antivegf.m1_stimulus × blockade``; Huang 2012, Rolny 2011), which deeper hypoxia
under pruning counteracts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from gcsim.therapies.base import Effects
from gcsim.therapies.drugs import DrugTherapy, DrugTreatment, Molecule

if TYPE_CHECKING:
    from gcsim.model import GastricTumorModel


class AntiVEGFTherapy(DrugTherapy):
    def apply(self, model: GastricTumorModel, effects: Effects) -> None:
        blockade = self.occupancy(model)
        effects.combine("vegf_block", blockade)
        effects.combine("m1_stimulus", model.params["antivegf.m1_stimulus"] * blockade)


class AntiVEGF(DrugTreatment):
    """VEGF-A antibody, VEGFR2 antibody or VEGFR2 tyrosine-kinase inhibitor."""

    type: Literal["anti_vegf"]
    drug: Literal["bevacizumab", "ramucirumab", "apatinib"]

    molecules: ClassVar[dict[str, Molecule]] = {
        "bevacizumab": "antibody",
        "ramucirumab": "antibody",
        "apatinib": "small_molecule",
    }

    def start(self, model: GastricTumorModel) -> AntiVEGFTherapy:
        return AntiVEGFTherapy(self, model)
