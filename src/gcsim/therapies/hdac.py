"""HDAC inhibitor (entinostat): fewer and less suppressive MDSCs, more antigen presented.

Mechanism, as the QSP-IO breast-cancer model has it (Wang et al. 2020; HanwenWang95/QSPIO-TNBC,
``MDSC_module.m`` and ``parameters_TNBC.m``; sensitisers.md, V), with each effect a Hill function
``H_x = C/(C + IC50_x)`` of the lesion's tissue concentration C (plasma × small-molecule
delivery):

* **MDSC recruitment.** Entinostat cuts the CCL2 that tumour cells secrete (IC50 1.2 nM), and
  CCL2 recruits MDSCs. QSP-IO's recruitment is 1.2 /day × Hill(CCL2) plus a baseline of
  0.0021 /day, so nearly all of it needs CCL2; gcsim recruits MDSCs through perfused vessels in
  proportion to Hill(VEGF) (``mdsc.influx_rate``), and the drug removes the share
  ``entinostat.ccl2_share`` of that: ``mdsc_recruitment ⊗= 1 − ccl2_share × H_CCL2``. Fewer
  MDSCs enter, and those present die at ``mdsc.death_rate``, so their number falls within days.
* **MDSC suppression.** Entinostat cuts the NO (IC50 0.56 nM) and arginase-I (5·10⁻⁷ M) that
  MDSCs make, the two arms by which QSP-IO's MDSCs suppress killing. The contact suppression by
  an adjacent MDSC keeps the share of each arm that the drug leaves: ``mdsc_suppression ⊗= 1 −
  no_share × H_NO − (1 − no_share) × H_ArgI``.
* **Antigen presentation.** HDAC inhibition raises MHC-I antigen presentation on tumour cells
  (literature.md; no kinetics): ``antigen_presentation ⊗= 1 + entinostat.presentation_gain ×
  H_tumour``, with the half-maximum of entinostat's effect on cancer cells in QSP-IO
  (3.74·10⁻⁷ M).

Concentrations in molar are converted to µg/mL with entinostat's molecular weight, 376.4 g/mol
(QSP-IO's ``MW_ENT``): 1 nM = 3.764·10⁻⁴ µg/mL.

PK is the one-compartment reduction of QSP-IO's oral PK: its elimination rate from the central
compartment (0.152 /h → half-life 4.6 h) and its central volume (5 L); the peripheral compartment,
the tumour and lymph-node exchange and the saturable clearance of QSP-IO are left out, and
absorption is fast (1.9–2.5 /h), so a dose is a bolus. Patients' terminal half-life is reported
in days and their peak levels in tens of ng/mL (M): this PK gives higher peaks that wash out
within two days, so a weekly dose acts for about two days of seven (sweep
``drug.entinostat.half_life`` and ``drug.entinostat.volume``).

Not modelled: the slower cancer growth QSP-IO gives entinostat (IC50 3.74·10⁻⁷ M) — gcsim has no
effect channel on tumour proliferation and this module adds none; arginase-I support of Treg
expansion; QSP-IO's use of the cancer IC50 for arginase-I (its ``MDSC_parameters.m`` assigns
``IC50_ENT_ArgI = IC50_ENT_C``; the stated 5·10⁻⁷ M is used here); effects on T cells,
macrophages and NK cells; toxicity (fatigue, cytopenias).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from gcsim.parameter import Param
from gcsim.therapies.base import Effects, Exposure
from gcsim.therapies.drugs import DrugTherapy, Molecule
from gcsim.therapies.oral import OralDrug, hill

if TYPE_CHECKING:
    from gcsim.interface import ModelView

MOLECULAR_WEIGHT = 376.4  # g/mol, QSP-IO's MW_ENT (3.764085e5 mg/mol)
_QSPIO = "QSP-IO, Wang et al. 2020 (HanwenWang95/QSPIO-TNBC parameters_TNBC.m; sensitisers.md, V)"


def micrograms_per_ml(molar: float) -> float:
    """A concentration of entinostat in mol/L as µg/mL (= mg/L): molar × g/mol × 1000."""
    return molar * MOLECULAR_WEIGHT * 1000.0


class HDACInhibitorTherapy(DrugTherapy):
    def __init__(self, config: HDACInhibitor, model: ModelView) -> None:
        super().__init__(config, model)
        p = model.params
        self.ic50_no = p["drug.entinostat.ic50_no"]
        self.ic50_arginase = p["drug.entinostat.ic50_arginase"]
        self.ic50_tumor = p["drug.entinostat.ic50_tumor"]
        self.ccl2_share = p["entinostat.ccl2_share"]
        self.no_share = p["entinostat.no_share"]
        self.presentation_gain = p["entinostat.presentation_gain"]

    def factors(self, c: float) -> dict[str, float]:
        """The factors on the three channels at tissue concentration ``c`` (µg/mL)."""
        return {
            "mdsc_recruitment": 1.0 - self.ccl2_share * hill(c, self.ec50),
            "mdsc_suppression": 1.0
            - self.no_share * hill(c, self.ic50_no)
            - (1.0 - self.no_share) * hill(c, self.ic50_arginase),
            "antigen_presentation": 1.0 + self.presentation_gain * hill(c, self.ic50_tumor),
        }

    def apply(self, model: ModelView, effects: Effects) -> None:
        c = self.tissue(model)
        if c <= 0.0:
            return
        for channel, factor in self.factors(c).items():
            effects.combine(channel, factor)


class HDACInhibitor(OralDrug):
    """Oral entinostat, e.g. 5 mg once weekly (with pembrolizumab in ENCORE-601; M)."""

    type: Literal["hdac_inhibitor"]
    drug: Literal["entinostat"] = "entinostat"

    max_dose_mg: ClassVar[float] = 20.0  # trials give 3–15 mg per dose (M)
    parameters: ClassVar[tuple[Param, ...]] = (
        *OralDrug.parameters,
        Param(
            "drug.entinostat.half_life",
            4.56,
            "h",
            "plasma elimination half-life (one compartment)",
            f"{_QSPIO}: ln 2 / k_cl, k_cl = 0.152 /h from the central compartment; QSP-IO's "
            "peripheral compartment and saturable clearance are left out. Patients' terminal "
            "half-life is reported in days (M): prior range 4–100 h",
            lo=0.01,
        ),
        Param(
            "drug.entinostat.volume",
            5.0,
            "L",
            "volume of distribution (one compartment)",
            f"{_QSPIO}: central compartment V_C (5 L, estimated there); 5 mg then peaks at "
            "1 µg/mL, above patients' reported tens of ng/mL (M): prior range 5–500 L",
            lo=0.01,
        ),
        Param(
            "drug.entinostat.ec50",
            micrograms_per_ml(1.2e-9),
            "µg/mL",
            "tissue concentration at half-maximal inhibition of tumour CCL2 secretion (1.2 nM)",
            f"{_QSPIO}, IC50_ENT_CCL2 (Choo 2013 there); µg/mL with MW 376.4 g/mol",
            lo=1e-9,
        ),
        Param(
            "drug.entinostat.ic50_no",
            micrograms_per_ml(0.56e-9),
            "µg/mL",
            "tissue concentration at half-maximal inhibition of MDSC NO production (0.56 nM)",
            f"{_QSPIO}, IC50_ENT_NO (Choo 2010 there); µg/mL with MW 376.4 g/mol",
            lo=1e-9,
        ),
        Param(
            "drug.entinostat.ic50_arginase",
            micrograms_per_ml(5e-7),
            "µg/mL",
            "tissue concentration at half-maximal inhibition of MDSC arginase-I (5·10⁻⁷ M)",
            f"{_QSPIO}, IC50_ENT_ArgI (Orillian 2017 there); µg/mL with MW 376.4 g/mol",
            lo=1e-9,
        ),
        Param(
            "drug.entinostat.ic50_tumor",
            micrograms_per_ml(3.74e-7),
            "µg/mL",
            "tissue concentration at half the largest rise in antigen presentation (3.74·10⁻⁷ M)",
            f"{_QSPIO}, IC50_ENT_C, its IC50 on cancer-cell proliferation (Bouchain 2002, Lee "
            "2001 there); Assumption: the same half-maximum for the tumour cells' MHC-I "
            "presentation; µg/mL with MW 376.4 g/mol",
            lo=1e-9,
        ),
        Param(
            "entinostat.ccl2_share",
            0.8,
            "1",
            "share of MDSC recruitment removed at full inhibition of CCL2 secretion",
            "Assumption: less than QSP-IO's nearly all (its recruitment is 1.2 /day × Hill(CCL2) "
            f"+ 0.0021 /day baseline; {_QSPIO}), as gcsim's recruitment follows VEGF "
            "(mdsc.vegf_half_max) and other chemokines also recruit MDSCs. Prior range 0.5–1",
            hi=1,
        ),
        Param(
            "entinostat.no_share",
            0.5,
            "1",
            "share of an MDSC's contact suppression due to NO (the rest to arginase-I)",
            "Assumption: equal shares (QSP-IO's NO and arginase-I inhibit killing as independent "
            f"arms; {_QSPIO}). Prior range 0.2–0.8",
            hi=1,
        ),
        Param(
            "entinostat.presentation_gain",
            0.3,
            "1",
            "largest relative rise of MHC-I antigen presentation (factor 1 + gain)",
            "Assumption: HDAC inhibition raises antigen presentation (literature.md, preclinical "
            "in GC; no kinetics). Prior range 0–1",
            hi=2,
        ),
    )
    channels: ClassVar[tuple[str, ...]] = (
        "mdsc_recruitment",
        "mdsc_suppression",
        "antigen_presentation",
    )
    exposure: ClassVar[Exposure] = Exposure(
        "exposure_hdac_inhibitor",
        (0, (6, 2, 2, 2)),
        "HDAC inhibitor (CCL2 cut, fraction of maximal)",
        "relative",
    )
    molecules: ClassVar[dict[str, Molecule]] = {"entinostat": "small_molecule"}

    def start(self, model: ModelView) -> HDACInhibitorTherapy:
        return HDACInhibitorTherapy(self, model)
