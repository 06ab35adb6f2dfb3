"""IDO1 inhibitor (epacadostat): a real but weak mechanism, small by construction.

Mechanism: IDO1 turns tryptophan into kynurenine, which suppresses effector T cells and supports
regulatory T cells (M). At the lesion's tissue concentration C, with occupancy
``C/(C + drug.epacadostat.ec50)``, the inhibitor raises a CD8 T cell's kill probability per
engagement by the factor ``1 + ido1.kill_gain × occupancy`` (``t_cell_killing``) and lowers the
contact suppression by an adjacent Treg by ``1 − ido1.treg_suppression_cut × occupancy``
(``treg_suppression``).

Why small: epacadostat added to pembrolizumab failed in phase 3 (ECHO-301, melanoma;
sensitisers.md and literature.md, V-q), so the model must not make it a strong sensitiser. Both
gains are assumptions whose table range ends at 0.15: no parameter set of the table can give the
drug more than a 15 % change of either channel. ``tests/test_sensitiser_drugs.py`` checks that
pembrolizumab + epacadostat changes tumour burden by less than a stated small margin against
pembrolizumab alone while both channels move.

Not modelled: tryptophan depletion and kynurenine as fields, IDO1 induction by IFN-γ (the
inhibitor acts the same in any tumour), TDO2 and IDO2 bypass, effects on dendritic cells and
MDSCs, the pharmacodynamic question of whether the phase-3 dose inhibited IDO1 enough.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from gcsim.parameter import Param
from gcsim.therapies.base import Exposure
from gcsim.therapies.drugs import Molecule
from gcsim.therapies.oral import OccupancyTherapy, OralDrug

if TYPE_CHECKING:
    from gcsim.interface import ModelView

_ECHO301 = (
    "kept small by construction: epacadostat + pembrolizumab failed in phase 3 (ECHO-301; "
    "sensitisers.md, literature.md, V-q)"
)


class IDO1InhibitorTherapy(OccupancyTherapy):
    def __init__(self, config: IDO1Inhibitor, model: ModelView) -> None:
        super().__init__(config, model)
        p = model.params
        self.gains = {
            "t_cell_killing": p["ido1.kill_gain"],
            "treg_suppression": -p["ido1.treg_suppression_cut"],
        }


class IDO1Inhibitor(OralDrug):
    """Oral epacadostat, e.g. 100 mg twice daily (the ECHO-301 dose; M)."""

    type: Literal["ido1_inhibitor"]
    drug: Literal["epacadostat"] = "epacadostat"

    max_dose_mg: ClassVar[float] = 1000.0
    parameters: ClassVar[tuple[Param, ...]] = (
        *OralDrug.parameters,
        Param(
            "drug.epacadostat.half_life",
            2.5,
            "h",
            "plasma elimination half-life",
            "Assumption: a few hours, as recalled for epacadostat (M, not checked against a "
            "source); prior range 1–6 h",
            lo=0.01,
        ),
        Param(
            "drug.epacadostat.volume",
            100.0,
            "L",
            "apparent volume of distribution (V/F)",
            "Assumption: no source in this project's notes; with drug.epacadostat.ec50 it sets "
            "occupancy only through their ratio (100 mg twice daily: peak ≈ 1 µg/mL)",
            lo=0.01,
        ),
        Param(
            "drug.epacadostat.ec50",
            0.1,
            "µg/mL",
            "tissue concentration at half-maximal IDO1 inhibition",
            "Assumption: ≈ 0.23 µM (MW ≈ 438 g/mol), between cellular (≈ 10 nM) and whole-blood "
            "IC50s (M); 100 mg twice daily then inhibits 0.3–0.9 of IDO1 over the dosing "
            "interval. Prior range 0.005–1 µg/mL",
            lo=1e-6,
        ),
        Param(
            "ido1.kill_gain",
            0.1,
            "1",
            "largest relative rise of a CD8 T cell's kill probability (at full IDO1 inhibition)",
            f"Assumption: kynurenine suppresses effector T cells (M); {_ECHO301}. Prior range "
            "0–0.15, the table's limit",
            hi=0.15,
        ),
        Param(
            "ido1.treg_suppression_cut",
            0.1,
            "1",
            "largest relative cut in the contact suppression by a Treg (at full IDO1 inhibition)",
            f"Assumption: kynurenine supports Treg differentiation and function (M); {_ECHO301}. "
            "Prior range 0–0.15, the table's limit",
            hi=0.15,
        ),
    )
    channels: ClassVar[tuple[str, ...]] = ("t_cell_killing", "treg_suppression")
    exposure: ClassVar[Exposure] = Exposure(
        "exposure_ido1_inhibitor",
        (0, (3, 1, 1, 1, 1, 1)),
        "IDO1 inhibitor (fraction of maximal effect)",
        "relative",
    )
    molecules: ClassVar[dict[str, Molecule]] = {"epacadostat": "small_molecule"}

    def start(self, model: ModelView) -> IDO1InhibitorTherapy:
        return IDO1InhibitorTherapy(self, model)
