"""LSD1 inhibitor: tumour cells present more antigen and make type-I interferon.

Mechanism (sensitisers.md and literature.md, V-abs; no kinetics published): inhibiting LSD1
(KDM1A) de-represses endogenous repeat elements; their dsRNA triggers a type-I interferon
response in tumour cells, which raises T-cell priming and infiltration, and it restores MHC-I.
At the lesion's tissue concentration C, with occupancy ``C/(C + drug.lsd1i.ec50)``:

* ``antigen_presentation ⊗= 1 + lsd1.presentation_gain × occupancy`` — MHC-I restored, so CD8
  T cells recognise and kill more of the cells they meet;
* ``priming_gain ⊗= 1 + lsd1.priming_gain × occupancy`` — interferon and the antigen it helps
  present raise the priming of tumour-specific T cells in the draining node, hence their
  recruitment;
* ``pdl1_expression ⊗= 1 + lsd1.pdl1_gain × occupancy`` — interferon also induces PD-L1 (a
  factor above 1), the brake that a checkpoint inhibitor then releases (in GC, LSD1 acts partly
  through exosomal PD-L1; literature.md).

Immunocompetent settings only: the drug acts through the immune system and kills no tumour cell
itself, so in a tumour without T cells it changes nothing that tumour cells do
(``tests/test_sensitiser_drugs.py``).

PK: no LSD1 inhibitor's kinetics is in this project's reference notes, so the drug is a generic
once-daily oral small molecule (``drug: lsd1i``) whose half-life, volume and EC50 are
assumptions; set them to a real compound's (iadademstat, bomedemstat) to study one.

Not modelled: interferon as a field of its own (the effect is lattice-wide), direct
anti-proliferative and differentiating effects, LSD1 in T cells and myeloid cells, exosomal PD-L1
as a separate pool, haematological toxicity (thrombocytopenia).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from gcsim.parameter import Param
from gcsim.therapies.base import Exposure
from gcsim.therapies.drugs import Molecule
from gcsim.therapies.oral import OccupancyTherapy, OralDrug

if TYPE_CHECKING:
    from gcsim.interface import ModelView

_NO_KINETICS = "no kinetics published (sensitisers.md, V-abs)"


class LSD1InhibitorTherapy(OccupancyTherapy):
    def __init__(self, config: LSD1Inhibitor, model: ModelView) -> None:
        super().__init__(config, model)
        p = model.params
        self.gains = {
            "antigen_presentation": p["lsd1.presentation_gain"],
            "priming_gain": p["lsd1.priming_gain"],
            "pdl1_expression": p["lsd1.pdl1_gain"],
        }


class LSD1Inhibitor(OralDrug):
    """A generic oral LSD1 inhibitor (``drug: lsd1i``), e.g. 10 mg once daily."""

    type: Literal["lsd1_inhibitor"]
    drug: Literal["lsd1i"] = "lsd1i"

    max_dose_mg: ClassVar[float] = 1000.0
    parameters: ClassVar[tuple[Param, ...]] = (
        *OralDrug.parameters,
        Param(
            "drug.lsd1i.half_life",
            24.0,
            "h",
            "plasma elimination half-life of a generic oral LSD1 inhibitor",
            "Assumption: no LSD1 inhibitor's PK is in this project's reference notes; a "
            "once-daily drug. Prior range 5–100 h",
            lo=0.01,
        ),
        Param(
            "drug.lsd1i.volume",
            200.0,
            "L",
            "apparent volume of distribution (V/F) of a generic oral LSD1 inhibitor",
            "Assumption (no source); with drug.lsd1i.ec50 it sets occupancy only through their "
            "ratio",
            lo=0.01,
        ),
        Param(
            "drug.lsd1i.ec50",
            0.05,
            "µg/mL",
            "tissue concentration at half-maximal LSD1 inhibition",
            "Assumption: 10 mg once daily then inhibits 0.5–0.67 of LSD1 at steady state "
            "(plasma 0.05–0.1 µg/mL); prior range: any, with the dose",
            lo=1e-6,
        ),
        Param(
            "lsd1.presentation_gain",
            0.5,
            "1",
            "largest relative rise of MHC-I antigen presentation (factor 1 + gain)",
            f"Assumption: LSD1 inhibition restores MHC-I; {_NO_KINETICS}. Prior range 0–1",
            hi=2,
        ),
        Param(
            "lsd1.priming_gain",
            0.5,
            "1",
            "largest relative rise of the lymph-node priming drive (type-I interferon)",
            f"Assumption: tumour type-I IFN raises T-cell infiltration in immunocompetent hosts "
            f"only; {_NO_KINETICS}. Prior range 0–2 (ici.priming_gain, PD-1 blockade's, is 2)",
            hi=5,
        ),
        Param(
            "lsd1.pdl1_gain",
            0.3,
            "1",
            "largest relative rise of tumour PD-L1 expression (through interferon)",
            f"Assumption: the interferon response induces PD-L1; {_NO_KINETICS}. Prior range 0–1",
            hi=2,
        ),
    )
    channels: ClassVar[tuple[str, ...]] = (
        "antigen_presentation",
        "priming_gain",
        "pdl1_expression",
    )
    exposure: ClassVar[Exposure] = Exposure(
        "exposure_lsd1_inhibitor",
        (0, (2, 1)),
        "LSD1 inhibitor (fraction of maximal effect)",
        "relative",
    )
    molecules: ClassVar[dict[str, Molecule]] = {"lsd1i": "small_molecule"}

    def start(self, model: ModelView) -> LSD1InhibitorTherapy:
        return LSD1InhibitorTherapy(self, model)
