"""Faecal microbiota transplant (FMT): a systemic, all-or-none shift in T-cell priming and killing.

Mechanism (../shared/reference/sensitisers.md, FMT row, V-abs; literature.md): fitted
tumour–immune models reduce the microbiome's effect to T-cell activation and kill-rate
constants, and engraftment behaves like a switch between two stable community states
(generalised Lotka–Volterra). So:

* **Engraftment** is decided once per run, at the transplant (the schedule's one day), by one
  draw from the model's seeded generator (``model.rng``): it engrafts with probability
  ``fmt.engraftment_probability``. Same seed, same outcome; a run branched from a checkpoint
  before the transplant draws from its own seed. The outcome is kept in checkpoints.
* **When engrafted**, the effect rises as 1 − exp(−(t − t_transplant)/``fmt.onset_time``) and
  stays (a stable state): T-cell priming in the lymph node is raised by the factor
  1 + ``fmt.priming_gain`` × effect (``priming_gain``: it multiplies the presented antigen, so it
  needs antigen from dying tumour cells, as checkpoint blockade's priming arm does) and each
  CD8 T cell's kill probability by 1 + ``fmt.kill_gain`` × effect (``t_cell_killing``).
  Not engrafted, nothing changes.

Clinical anchor: 3 of 10 anti-PD-1-refractory melanoma patients responded after FMT and
re-induction (Baruch 2021, V-abs) — a minority effect, which is why the effect is modest and the
switch is off in most runs. Not modelled: donor or community composition, antibiotics, loss of
engraftment, repeated transplants (one transplant per entry), effects on myeloid cells or on
the tumour itself, toxicity.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from pydantic import model_validator

from gcsim.parameter import Param
from gcsim.therapies.base import Effects, Exposure, Therapy, TreatmentConfig

if TYPE_CHECKING:
    from gcsim.interface import ModelView

UNDECIDED = -1.0  # the transplant has not been given yet


def engrafts(rng: np.random.Generator, probability: float) -> bool:
    """The once-per-run engraftment switch: one uniform draw from ``rng``."""
    return bool(rng.random() < probability)


class MicrobiotaTransplant(TreatmentConfig):
    """One faecal microbiota transplant on the schedule's one day (``schedule: {days: [7]}``)."""

    type: Literal["faecal_microbiota_transplant"]

    parameters: ClassVar[tuple[Param, ...]] = (
        Param(
            "fmt.engraftment_probability",
            0.3,
            "1",
            "probability that a transplant engrafts into the effective (responder) state",
            "Assumption: the responder fraction after FMT + anti-PD-1 re-induction, 3/10 "
            "(Baruch 2021, sensitisers.md, V-abs); engraftment itself may be more frequent "
            "than response (prior 0.1–0.6)",
            hi=1,
        ),
        Param(
            "fmt.onset_time",
            168.0,
            "h",
            "time constant of the rise of the engrafted state's immune effect",
            "Assumption: community and immune changes over days to weeks (prior 48–672 h)",
            lo=1,
        ),
        Param(
            "fmt.priming_gain",
            0.5,
            "1",
            "rise of the lymph-node priming drive when engrafted (× 1 + gain)",
            "Assumption: fitted models reduce FMT to T-cell activation constants "
            "(sensitisers.md, V-abs); modest: a minority effect (prior 0–1.5)",
            hi=10,
        ),
        Param(
            "fmt.kill_gain",
            0.2,
            "1",
            "rise of the CD8 kill probability per engagement when engrafted (× 1 + gain)",
            "Assumption: fitted models reduce FMT to kill-rate constants (sensitisers.md, "
            "V-abs); modest (prior 0–0.5)",
            hi=10,
        ),
    )
    channels: ClassVar[tuple[str, ...]] = ("priming_gain", "t_cell_killing")
    exposure: ClassVar[Exposure] = Exposure(
        "exposure_faecal_microbiota_transplant",
        (0, (1, 2)),
        "microbiota engrafted (share of effect)",
    )
    marks_doses: ClassVar[bool] = True

    @model_validator(mode="after")
    def _one_transplant(self) -> MicrobiotaTransplant:
        days = self.schedule.dose_days()
        if len(days) != 1:
            raise ValueError(
                f"schedule: {len(days)} transplant days given; one entry is one transplant "
                "(engraftment is decided once), give one day"
            )
        return self

    def name(self) -> str:
        return self.label or "FMT"

    def start(self, model: ModelView) -> MicrobiotaTransplantTherapy:
        return MicrobiotaTransplantTherapy(self, model)


class MicrobiotaTransplantTherapy(Therapy):
    config: MicrobiotaTransplant

    def __init__(self, config: MicrobiotaTransplant, model: ModelView) -> None:
        super().__init__(config, model)
        p = model.params
        self.probability = p["fmt.engraftment_probability"]
        self.onset_h = p["fmt.onset_time"]
        self.priming = p["fmt.priming_gain"]
        self.kill = p["fmt.kill_gain"]
        self.transplant_h = float(self.dose_times_h[0])
        self.engrafted = UNDECIDED  # 1 engrafted, 0 not, -1 not transplanted yet

    def effect(self, t_h: float) -> float:
        """Share of the engrafted state's effect at ``t_h`` (0 before the transplant or if it
        did not engraft)."""
        if self.engrafted != 1.0 or t_h <= self.transplant_h:
            return 0.0
        return 1.0 - math.exp(-(t_h - self.transplant_h) / self.onset_h)

    def apply(self, model: ModelView, effects: Effects) -> None:
        if self.engrafted == UNDECIDED:
            if len(self.doses_between(-math.inf, model.step_start_h + model.dt_h)) == 0:
                return
            self.engrafted = float(engrafts(model.rng, self.probability))
        share = self.effect(model.step_start_h + 0.5 * model.dt_h)
        if share > 0.0:
            effects.combine("priming_gain", 1.0 + self.priming * share)
            effects.combine("t_cell_killing", 1.0 + self.kill * share)

    def exposure(self, t_h: float) -> float:
        """Share of the engrafted effect at ``t_h`` (0–1), for plots."""
        return self.effect(t_h)

    def get_state(self) -> dict[str, float | np.ndarray]:
        """The engraftment outcome (−1 before the transplant)."""
        return {"engrafted": self.engrafted}

    def set_state(self, state: dict[str, Any]) -> None:
        self.engrafted = float(state["engrafted"])
