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

from gcsim.parameter import Param
from gcsim.therapies.base import Effects, Exposure
from gcsim.therapies.drugs import DrugTherapy, DrugTreatment, Molecule

if TYPE_CHECKING:
    from gcsim.interface import ModelView


class AntiVEGFTherapy(DrugTherapy):
    def apply(self, model: ModelView, effects: Effects) -> None:
        blockade = self.occupancy(model)
        effects.combine("vegf_block", blockade)
        effects.combine("m1_stimulus", model.params["antivegf.m1_stimulus"] * blockade)


class AntiVEGF(DrugTreatment):
    """VEGF-A antibody, VEGFR2 antibody or VEGFR2 tyrosine-kinase inhibitor."""

    type: Literal["anti_vegf"]
    drug: Literal["bevacizumab", "ramucirumab", "apatinib"]

    parameters: ClassVar[tuple[Param, ...]] = (
        *DrugTreatment.parameters,
        Param(
            "drug.bevacizumab.half_life",
            480.0,
            "h",
            "terminal half-life (20 days)",
            "Avastin label (M)",
            lo=0.01,
        ),
        Param(
            "drug.bevacizumab.volume",
            2.9,
            "L",
            "central volume of distribution",
            "Avastin label (M)",
            lo=0.01,
        ),
        Param(
            "drug.bevacizumab.ec50",
            1.0,
            "µg/mL",
            "tissue concentration at half-maximal VEGF neutralisation",
            "Calibrated to P4 (decision 0020): clinical doses (2.5–15 mg/kg) span partial to "
            "near-complete neutralisation in tissue, as the dose dependence of normalisation "
            "with DC101 10 vs 40 mg/kg (Huang et al., PNAS 2012). At 10 µg/mL, with the "
            "antibody tissue ratio of 0.1, even 16 mg/kg blocked only ≈ 2/3 of the signal and "
            "no dose pruned vessels",
            lo=1e-6,
        ),
        Param(
            "drug.ramucirumab.half_life",
            360.0,
            "h",
            "terminal half-life (15 days)",
            "Cyramza label (M)",
            lo=0.01,
        ),
        Param(
            "drug.ramucirumab.volume",
            5.4,
            "L",
            "volume of distribution at steady state",
            "Cyramza label (M)",
            lo=0.01,
        ),
        Param(
            "drug.ramucirumab.ec50",
            1.0,
            "µg/mL",
            "tissue concentration at half-maximal VEGFR2 blockade",
            "Calibrated to P4 with bevacizumab's (decision 0020)",
            lo=1e-6,
        ),
        Param(
            "drug.apatinib.half_life",
            9.0,
            "h",
            "elimination half-life",
            "Li et al., Cancer Chemother Pharmacol 2010 (M)",
            lo=0.01,
        ),
        Param(
            "drug.apatinib.volume",
            300.0,
            "L",
            "apparent volume of distribution (V/F)",
            "Assumption (M)",
            lo=0.01,
        ),
        Param(
            "drug.apatinib.ec50",
            0.5,
            "µg/mL",
            "tissue concentration at half-maximal VEGFR2 inhibition",
            "Assumption (M)",
            lo=1e-6,
        ),
        Param(
            "antivegf.m1_stimulus",
            0.3,
            "1",
            "M1 drive on macrophages at full VEGF/VEGFR2 blockade (added to Hill(IFN-γ))",
            "Huang et al., PNAS 2012 and Rolny et al., Cancer Cell 2011 (VEGF blockade repolarises "
            "TAMs toward M1); magnitude an assumption",
            hi=2,
        ),
    )
    channels: ClassVar[tuple[str, ...]] = ("vegf_block", "m1_stimulus")
    exposure: ClassVar[Exposure] = Exposure(
        "vegf_block", "--", "VEGF-pathway block (drug or low-dose RT)"
    )
    molecules: ClassVar[dict[str, Molecule]] = {
        "bevacizumab": "antibody",
        "ramucirumab": "antibody",
        "apatinib": "small_molecule",
    }

    def start(self, model: ModelView) -> AntiVEGFTherapy:
        return AntiVEGFTherapy(self, model)
