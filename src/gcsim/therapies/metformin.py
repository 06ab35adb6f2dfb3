"""Metformin: less oxygen consumed by tumour cells (mitochondrial complex I, OXPHOS inhibition).

Mechanism: at the lesion's tissue concentration C (plasma × small-molecule delivery from perfused
vessels) every tumour cell's maximal oxygen consumption is multiplied by

    1 − metformin.max_cut × C/(C + drug.metformin.ec50)

(the ``tumor_oxygen_consumption`` channel, read by the oxygen uptake of the secretion rules).
Everything else follows from the rules that read oxygen: oxygen reaches further from the
vessels, the hypoxic fraction falls, fewer cells sit at the pO₂ at which radiation needs up to
three times the dose (``rt.oer``), hypoxic VEGF secretion and the hypoxic M2 push on
macrophages fall. Metformin alone does little to a tumour; it sensitises where hypoxia is what
protects it (radiotherapy; Secomb 1995: a ≥ 30 % cut in consumption abolishes a 30 % hypoxic
fraction, where ≥ 4× flow or ≥ 11× arterial pO₂ would be needed; sensitisers.md, V).

The gap in concentrations. Metformin cuts the O₂ consumption of cells by 20–50 % in vitro (M) at
0.1–5 mM (M), while plasma levels at 1–2 g/day are ≈ 5–15 µM (0.7–2 µg/mL; M): 10–1000 × less.
The default ``drug.metformin.ec50`` (1.3 µg/mL, 10 µM) is therefore an *effective* tissue IC50,
an assumption that tumour cells concentrate the drug (organic-cation transport and
mitochondrial accumulation, M) as in mice, where metformin lowered tumour hypoxia (Scharping
et al., Cancer Immunol Res 2017; literature.md). At an in-vitro IC50 (130 µg/mL = 1 mM, the top of
its prior range) a clinical dose cuts consumption by less than 1 % and the drug does nothing
here (``tests/test_sensitiser_drugs.py`` checks both).

Not modelled: AMPK/mTOR effects on tumour proliferation, glycolytic compensation and lactate,
the metabolic effects on T cells (their own OXPHOS, memory formation), systemic glucose and
insulin, tumour-to-tumour differences in drug uptake (OCT1–3 expression).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from gcsim.parameter import Param
from gcsim.therapies.base import Exposure
from gcsim.therapies.drugs import Molecule
from gcsim.therapies.oral import OccupancyTherapy, OralDrug

if TYPE_CHECKING:
    from gcsim.interface import ModelView


class MetforminTherapy(OccupancyTherapy):
    """Oxygen consumption of a tumour cell × (1 − metformin.max_cut · C/(C + IC50))."""

    def __init__(self, config: Metformin, model: ModelView) -> None:
        super().__init__(config, model)
        self.gains = {"tumor_oxygen_consumption": -model.params["metformin.max_cut"]}


class Metformin(OralDrug):
    """Oral metformin, e.g. 1000 mg twice daily (``interval_days: 0.5``)."""

    type: Literal["metformin"]
    drug: Literal["metformin"] = "metformin"

    max_dose_mg: ClassVar[float] = 3000.0  # the label's daily maximum is 2,550 mg (M)
    parameters: ClassVar[tuple[Param, ...]] = (
        *OralDrug.parameters,
        Param(
            "drug.metformin.half_life",
            6.2,
            "h",
            "plasma elimination half-life",
            "Glucophage label (≈ 6.2 h; M)",
            lo=0.01,
        ),
        Param(
            "drug.metformin.volume",
            654.0,
            "L",
            "apparent volume of distribution (V/F) after an oral dose",
            "Glucophage label (654 ± 358 L after 850 mg; M); 1000 mg twice daily then peaks at "
            "≈ 2 µg/mL and falls to ≈ 0.5 µg/mL before the next dose",
            lo=0.01,
        ),
        Param(
            "drug.metformin.ec50",
            1.3,
            "µg/mL",
            "tissue concentration at half the largest cut in O₂ consumption (IC50)",
            "Assumption: an effective tissue IC50 of 10 µM (MW 129.2 g/mol), at the level of "
            "clinical plasma concentrations (≈ 5–15 µM; M), which assumes that tumour cells "
            "concentrate metformin as the lower tumour hypoxia in mice implies (Scharping 2017, "
            "literature.md). In vitro the cut needs 0.1–5 mM (M): at 1 mM (130 µg/mL) a clinical "
            "dose cuts consumption by < 1 %. Prior range 0.3–130 µg/mL",
            lo=1e-6,
        ),
        Param(
            "metformin.max_cut",
            0.4,
            "1",
            "largest fractional cut in a tumour cell's O₂ consumption (at saturating metformin)",
            "Metformin cuts cellular O₂ consumption 20–50 % in vitro (sensitisers.md, M); Secomb "
            "1995 (V): a ≥ 30 % cut abolishes a 30 % hypoxic fraction. Prior range 0.2–0.5",
            hi=0.9,
        ),
    )
    channels: ClassVar[tuple[str, ...]] = ("tumor_oxygen_consumption",)
    exposure: ClassVar[Exposure] = Exposure(
        "exposure_metformin", (0, (12, 3)), "metformin (fraction of maximal effect)", "relative"
    )
    molecules: ClassVar[dict[str, Molecule]] = {"metformin": "small_molecule"}

    def start(self, model: ModelView) -> MetforminTherapy:
        return MetforminTherapy(self, model)
