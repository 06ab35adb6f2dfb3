"""Hyperbaric oxygen: sessions breathing oxygen at a raised ambient pressure.

Mechanism, per session of ``session_hours`` at ``pressure_ata`` breathing ``oxygen_fraction``:

* **Arterial pO₂** follows the alveolar gas equation, PaO₂ ≈ F·(P·760 − P_H₂O) − PaCO₂/RQ
  (mmHg; the alveolar–arterial gradient is neglected): ≈ 100 mmHg breathing air at 1 ATA,
  ≈ 1,800 at 2.5 ATA and ≈ 2,200 at 3 ATA of oxygen (1,500–2,000 mmHg measured at 2–3 ATA).
* **Tumour microvessels** see only part of that rise: blood reaching a tumour has passed
  upstream tissue and shunts, and oxygen dissolved in plasma (no haemoglobin buffer) is used
  first. The blood pO₂ of the model's vessels is multiplied by
  ``1 + hbo.vessel_transfer · (PaO₂(session)/PaO₂(air) − 1)`` — the ``vessel_oxygen_supply``
  channel, read by the oxygen field solve — so tumour pO₂ rises several-fold but stays far
  below the arterial level (rat tumours: median 8 → 55 mmHg at 3 ATA; Brizel via
  ../shared/reference/sensitisers.md).
* **After a session** arterial pO₂ falls back within minutes; the supply's excess decays with
  ``hbo.washout_time``, so tissue pO₂ is back near baseline within the hour.
* **Matrix depletion** (Liu 2021 via sensitisers.md: HBO depletes collagen and fibronectin and
  raises antibody delivery; V for the mechanism, no numbers): a state ``matrix_depletion``
  (0 = untouched matrix, 1 = fully depleted) kept per run rises during sessions at
  ``hbo.matrix_depletion_rate`` per hour of session (at 2.5 ATA of oxygen; scaled by the
  session's rise in arterial pO₂ over that of 2.5 ATA of oxygen, so a sham of air depletes
  nothing) on what is left, and recovers with ``hbo.matrix_recovery_time`` (stroma re-deposits
  matrix over days). Antibodies' tissue exposure is multiplied by
  1 + ``hbo.antibody_delivery_gain`` × depletion (the ``antibody_delivery`` channel, read where
  the model gives a drug its delivery); small molecules are not affected. A course of daily
  sessions builds the depletion up over a week or two, and it fades over the weeks after the
  last one.

Each step sees the session's *time average* over the step (the share of the step spent in a
session plus the washout tail), so no session is lost at a coarse step; use ``time.dt_hours``
≤ 0.25 to resolve the peak of a session of an hour or two (coarser steps spread it). Sessions of
all hyperbaric entries of an arm must not overlap: there is one chamber. A radiotherapy fraction
scheduled during or just after a session (e.g. HBO at day 10.0 for 1.5 h, the fraction at day
10.04) meets the raised tumour pO₂ of the step before it, so it dooms more of the cells that are
hypoxic without HBO than a fraction given a day later.
Not modelled: HIF-1α and the stromal cells between oxygen and matrix (depletion follows the
sessions directly), matrix effects on T-cell infiltration or on small molecules, oxygen
toxicity, hyperoxic vasoconstriction.
"""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import Field, model_validator

from gcsim.parameter import Param
from gcsim.therapies.base import Effects, Exposure, Therapy, TreatmentConfig

if TYPE_CHECKING:
    from gcsim.interface import ModelView

_GAS = "Alveolar gas equation (West, Respiratory Physiology: The Essentials; M)"
MATRIX_REFERENCE_ATA = 2.5  # the session (of oxygen) at which hbo.matrix_depletion_rate is given


class HyperbaricOxygen(TreatmentConfig):
    """Hyperbaric oxygen sessions: ``pressure_ata`` for ``session_hours`` on the schedule's days
    (each dose day is the start of one session)."""

    type: Literal["hyperbaric_oxygen"]
    pressure_ata: Annotated[
        float, Field(ge=1, le=3, description="chamber pressure, ATA (clinical: 2–3)")
    ] = 2.5
    session_hours: Annotated[
        float, Field(gt=0, le=4, description="duration of one session, hours")
    ] = 1.5
    oxygen_fraction: Annotated[
        float, Field(ge=0.21, le=1, description="inspired O₂ fraction (0.21 = a sham of air)")
    ] = 1.0

    parameters: ClassVar[tuple[Param, ...]] = (
        Param(
            "hbo.vessel_transfer",
            0.085,
            "1",
            "fraction of the relative rise in arterial pO₂ that reaches tumour microvessels",
            "Calibrated: median tumour pO₂ 8 → 55 mmHg (6.9×) in rat tumours at 3 ATA O₂ "
            "(Brizel; sensitisers.md); the fold the model gives with Michaelis–Menten "
            "consumption (tests/test_hyperbaric.py's tumour: 6.4× at 0.08, 9.2× at 0.12; "
            "0.28 under first-order uptake, decision 0015)",
            lo=0,
            hi=1,
        ),
        Param(
            "hbo.washout_time",
            1 / 6,
            "h",
            "time constant of the fall of the supply's excess after a session",
            "Assumption: tumour pO₂ returns to baseline within minutes to tens of minutes "
            "after a session (sensitisers.md, M)",
            lo=1e-3,
            hi=24,
        ),
        Param(
            "hbo.matrix_depletion_rate",
            0.1,
            "1/h",
            "rate at which a session at 2.5 ATA of oxygen depletes the remaining collagen and "
            "fibronectin (a 1.5 h session removes 14 %)",
            "Assumption: HBO depletes collagen and fibronectin (Liu 2021, sensitisers.md, V); "
            "magnitude not reported there (prior 0.02–0.5 /h)",
            hi=10,
        ),
        Param(
            "hbo.matrix_recovery_time",
            168.0,
            "h",
            "time constant of the recovery of the depleted matrix after sessions",
            "Assumption: matrix is re-deposited over days to weeks (prior 48–720 h)",
            lo=1,
        ),
        Param(
            "hbo.antibody_delivery_gain",
            1.0,
            "1",
            "rise of antibody tissue exposure at fully depleted matrix (× 1 + gain × depletion)",
            "Assumption: matrix depletion raises anti-PD-1 delivery (Liu 2021, sensitisers.md, "
            "V); magnitude not reported there (prior 0.2–2)",
            hi=10,
        ),
        Param("hbo.paco2", 40.0, "mmHg", "arterial pCO₂", _GAS, lo=10, hi=80),
        Param("hbo.respiratory_quotient", 0.8, "1", "respiratory quotient", _GAS, lo=0.6, hi=1.1),
        Param("hbo.water_vapour", 47.0, "mmHg", "water vapour pressure at 37 °C", _GAS, hi=60),
    )
    channels: ClassVar[tuple[str, ...]] = ("vessel_oxygen_supply", "antibody_delivery")
    exposure: ClassVar[Exposure] = Exposure(
        "exposure_hyperbaric_oxygen", "-.", "hyperbaric O₂ (share of session pO₂ rise)"
    )
    marks_doses: ClassVar[bool] = True

    @model_validator(mode="after")
    def _sessions_apart(self) -> HyperbaricOxygen:
        _refuse_overlaps([self])
        return self

    @classmethod
    def check_arm(cls, entries: list[TreatmentConfig]) -> None:
        """One chamber: the sessions of all hyperbaric entries of an arm must not overlap."""
        _refuse_overlaps([e for e in entries if isinstance(e, HyperbaricOxygen)])

    def name(self) -> str:
        return self.label or f"HBO {self.pressure_ata:g} ATA × {len(self.schedule.dose_days())}"

    def start(self, model: ModelView) -> HyperbaricOxygenTherapy:
        return HyperbaricOxygenTherapy(self, model)


def _refuse_overlaps(entries: list[HyperbaricOxygen]) -> None:
    sessions = sorted(
        (day * 24.0, e.session_hours) for e in entries for day in e.schedule.dose_days()
    )
    for (start, hours), (next_start, _) in itertools.pairwise(sessions):
        if next_start - start < hours:
            raise ValueError(
                f"schedule: a {hours:g} h session from hour {start:g} (day {start / 24:g}) "
                f"overlaps the one starting {next_start - start:g} h later: sessions must be at "
                f"least {hours:g} h apart"
            )


def arterial_po2(pressure_ata: float, oxygen_fraction: float, params) -> float:
    """Arterial pO₂ (mmHg) breathing ``oxygen_fraction`` at ``pressure_ata``: the alveolar gas
    equation F·(P·760 − P_H₂O) − PaCO₂/RQ."""
    inspired = oxygen_fraction * (pressure_ata * 760.0 - params["hbo.water_vapour"])
    return inspired - params["hbo.paco2"] / params["hbo.respiratory_quotient"]


class HyperbaricOxygenTherapy(Therapy):
    config: HyperbaricOxygen

    def __init__(self, config: HyperbaricOxygen, model: ModelView) -> None:
        super().__init__(config, model)
        p = model.params
        rise = arterial_po2(config.pressure_ata, config.oxygen_fraction, p) / arterial_po2(
            1.0, 0.21, p
        )
        self.session_factor = 1.0 + p["hbo.vessel_transfer"] * (rise - 1.0)
        self.washout_h = p["hbo.washout_time"]
        self.session_h = config.session_hours
        self.dt_h = model.dt_h
        # matrix depletion: per hour in session, scaled by the arterial pO₂ rise of this session
        # over that of the reference session (2.5 ATA of oxygen)
        air = arterial_po2(1.0, 0.21, p)
        intensity = (arterial_po2(config.pressure_ata, config.oxygen_fraction, p) - air) / (
            arterial_po2(MATRIX_REFERENCE_ATA, 1.0, p) - air
        )
        self.depletion_per_h = p["hbo.matrix_depletion_rate"] * max(0.0, intensity)
        self.recovery = math.exp(-model.dt_h / p["hbo.matrix_recovery_time"])
        self.delivery_gain = p["hbo.antibody_delivery_gain"]
        self.matrix_depletion = 0.0  # 0 untouched … 1 fully depleted collagen/fibronectin

    def excess(self, t_h: float) -> float:
        """Share of the session's supply rise present at ``t_h`` (1 during a session, decaying
        after it, 0 before the first)."""
        started = self.dose_times_h[self.dose_times_h <= t_h]
        if started.size == 0:
            return 0.0
        since_end = t_h - (started[-1] + self.session_h)
        return 1.0 if since_end <= 0.0 else math.exp(-since_end / self.washout_h)

    def mean_excess(self, t0_h: float, t1_h: float) -> float:
        """Time average of ``excess`` over [t0, t1]: the time spent in sessions plus the
        integral of their washout tails, over the interval's length."""
        tau, total = self.washout_h, 0.0
        for start in self.dose_times_h[self.dose_times_h < t1_h]:
            end = start + self.session_h
            total += max(0.0, min(t1_h, end) - max(t0_h, start))  # in the session
            a, b = max(t0_h, end), t1_h  # the tail, exp(−(t − end)/τ), over [a, b]
            if b > a:
                total += tau * (math.exp(-(a - end) / tau) - math.exp(-(b - end) / tau))
        return min(1.0, total / (t1_h - t0_h))

    def apply(self, model: ModelView, effects: Effects) -> None:
        start = model.step_start_h
        share = self.mean_excess(start, start + self.dt_h)
        if share > 0.0:
            effects.combine("vessel_oxygen_supply", 1.0 + (self.session_factor - 1.0) * share)
        self._deplete_matrix(share)
        if self.matrix_depletion > 0.0:
            effects.combine("antibody_delivery", 1.0 + self.delivery_gain * self.matrix_depletion)

    def _deplete_matrix(self, share: float) -> None:
        """One step of the matrix state: recovery, then depletion of what is left for the time
        the step spends in a session (``share``)."""
        self.matrix_depletion *= self.recovery
        if share > 0.0 and self.depletion_per_h > 0.0:
            removed = -math.expm1(-self.depletion_per_h * share * self.dt_h)
            self.matrix_depletion += (1.0 - self.matrix_depletion) * removed

    def get_state(self) -> dict[str, float]:
        """The matrix depletion (0–1), which integrates the sessions given so far."""
        return {"matrix_depletion": self.matrix_depletion}

    def set_state(self, state: dict[str, Any]) -> None:
        self.matrix_depletion = float(state.get("matrix_depletion", 0.0))

    def exposure(self, t_h: float) -> float:
        """Share of the session's pO₂ rise present at ``t_h`` (0–1), for plots."""
        return self.excess(t_h)
