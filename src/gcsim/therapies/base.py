"""What every therapy shares: doses with units, schedules, the per-step effects it may exert and
the protocol a therapy implements.

A therapy acts on the model only through mechanisms: it moves the step's declared effect
channels (``gcsim.effects.CHANNELS``) and may act on cells directly through a kernel (radiation,
cytotoxic kill). The model combines the effects of all active therapies, so combinations follow
from the mechanisms and no arm is ever special-cased.

A therapy module declares everything about itself on its ``TreatmentConfig`` subclass: the
scenario entry (pydantic fields), ``parameters`` (rows of the parameter table), ``channels``
(the effect channels it moves), ``exposure`` (its line on the plots), ``counters`` (event
counts it adds, recorded as ``cum_<counter>``) and ``marks_doses`` (draw its dose days). The
registry, the parameter table, observers, plots and docs read these; no other module names a
therapy.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, get_args

import numpy as np
from pydantic import Field, model_validator

from gcsim.effects import CHANNELS_BY_NAME, Effects
from gcsim.parameter import Param
from gcsim.validation import Strict

if TYPE_CHECKING:
    from gcsim.interface import ModelView

DoseUnit = Literal["mg", "mg/kg", "mg/m2", "Gy"]
MIN_FRACTION_GAP_DAYS = 0.25  # 6 h: below it repair between fractions is incomplete


class Dose(Strict):
    """An amount with its unit: mg (flat), mg/kg (body weight), mg/m2 (body surface) or Gy."""

    value: Annotated[float, Field(gt=0, description="dose per administration, in `unit`")]
    unit: Annotated[DoseUnit, Field(description="mg, mg/kg, mg/m2 or Gy")]

    def milligrams(self, params: Mapping[str, float]) -> float:
        """The dose in mg for the parameter set's patient (body weight, body surface)."""
        scale = {
            "mg": 1.0,
            "mg/kg": params["patient.body_weight"],
            "mg/m2": params["patient.body_surface"],
        }
        if self.unit not in scale:
            raise ValueError(f"a dose in {self.unit} has no mass")
        return self.value * scale[self.unit]


class Schedule(Strict):
    """When a treatment is given: ``start_day`` + ``interval_days`` × ``doses``, or ``days``;
    the pattern repeats ``cycles`` times every ``cycle_days`` (e.g. capecitabine twice daily on
    days 1–14 of a 21-day cycle)."""

    start_day: Annotated[float, Field(ge=0, le=3650, description="day of the first dose")] = 0.0
    interval_days: Annotated[
        float | None, Field(gt=0, le=365, description="days between doses (cycle length)")
    ] = None
    doses: Annotated[int | None, Field(ge=1, le=2000, description="number of doses")] = None
    days: Annotated[
        tuple[Annotated[float, Field(ge=0, le=3650)], ...] | None,
        Field(min_length=1, description="explicit dosing days, increasing (instead of the above)"),
    ] = None
    cycles: Annotated[int, Field(ge=1, le=200, description="repetitions of the pattern")] = 1
    cycle_days: Annotated[
        float | None, Field(gt=0, le=365, description="days between the starts of cycles")
    ] = None

    @model_validator(mode="after")
    def _one_form(self) -> Schedule:
        if self.days is not None:
            if self.doses is not None or self.interval_days is not None or self.start_day:
                raise ValueError("give either 'days' or start_day/interval_days/doses, not both")
            for before, after in zip(self.days, self.days[1:], strict=False):
                if after <= before:
                    raise ValueError(f"'days' must increase: day {after:g} follows day {before:g}")
        elif (self.doses or 1) > 1 and self.interval_days is None:
            raise ValueError(f"'interval_days' is needed for {self.doses} doses")
        if self.cycles > 1:
            if self.cycle_days is None:
                raise ValueError(f"'cycle_days' is needed for {self.cycles} cycles")
            pattern = self._pattern()
            if pattern[-1] - pattern[0] >= self.cycle_days:
                raise ValueError(
                    f"one cycle's doses span {pattern[-1] - pattern[0]:g} days, which overlaps the "
                    f"next cycle (cycle_days = {self.cycle_days:g})"
                )
        return self

    def _pattern(self) -> tuple[float, ...]:
        if self.days is not None:
            return self.days
        interval = self.interval_days or 0.0
        return tuple(self.start_day + i * interval for i in range(self.doses or 1))

    def dose_days(self) -> tuple[float, ...]:
        step = self.cycle_days or 0.0
        return tuple(c * step + day for c in range(self.cycles) for day in self._pattern())


@dataclass(frozen=True)
class Exposure:
    """How a therapy's exposure is drawn: a time-series ``column``, its line style and label,
    and its scale — ``fraction`` (already 0–1: occupancy, blockade) or ``relative`` (C/EC50,
    shown as the fraction of maximal effect C/(C + EC50))."""

    column: str
    linestyle: str | tuple[float, tuple[float, ...]]  # a name or a dash pattern (matplotlib)
    label: str
    scale: Literal["fraction", "relative"] = "fraction"

    def fraction(self, values: np.ndarray) -> np.ndarray:
        """``values`` of ``column`` on a 0–1 scale."""
        return values / (1.0 + values) if self.scale == "relative" else values


class TreatmentConfig(Strict, ABC):
    """One treatment of an arm, as written in the scenario file. Subclasses add ``type``."""

    type: str
    schedule: Schedule
    label: Annotated[str | None, Field(max_length=60, description="name on plots")] = None

    kind: ClassVar[str]  # the registry key: the ``type`` literal, set from it
    parameters: ClassVar[tuple[Param, ...]] = ()  # its rows of the parameter table
    channels: ClassVar[tuple[str, ...]] = ()  # the effect channels it moves
    exposure: ClassVar[Exposure | None] = None  # its line on exposure plots
    counters: ClassVar[tuple[str, ...]] = ()  # event counts it adds (model.counters)
    # metrics recorded every observation, computed from the model's counters (name → function)
    derived_metrics: ClassVar[Mapping[str, Callable[[Mapping[str, float]], float]]] = {}
    marks_doses: ClassVar[bool] = False  # the demo's exposure panel marks its dose days

    @classmethod
    def check_arm(cls, entries: list[TreatmentConfig]) -> None:
        """Check this type's entries of one arm together (ValueError if they conflict); by
        default any number of entries is fine."""

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        names = get_args(cls.model_fields["type"].annotation)
        if len(names) == 1:  # a concrete treatment (an intermediate base keeps ``type: str``)
            cls.kind = names[0]
        unknown = [c for c in cls.channels if c not in CHANNELS_BY_NAME]
        if unknown:
            raise TypeError(f"{cls.__name__}: unknown effect channel(s) {unknown}")

    @abstractmethod
    def start(self, model: ModelView) -> Therapy:
        """The running therapy for one simulation."""

    def name(self) -> str:
        return self.label or self.kind


class Therapy(ABC):
    """A treatment while a simulation runs. ``apply`` is called once per step, before the rules."""

    def __init__(self, config: TreatmentConfig, model: ModelView) -> None:
        self.config = config
        self.dose_times_h = np.array(config.schedule.dose_days()) * 24.0

    @abstractmethod
    def apply(self, model: ModelView, effects: Effects) -> None:
        """Add this step's effects and act on cells, for the step that starts at
        ``model.step_start_h``."""

    @abstractmethod
    def exposure(self, t_h: float) -> float:
        """The exposure recorded for plots: occupancy, blockade, C/EC50 or dose (Gy)."""

    def get_state(self) -> dict[str, float | np.ndarray]:
        """What changes while the therapy runs and is not rebuilt from its config (for a
        checkpoint, gcsim.checkpoint): by default nothing."""
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore what ``get_state`` returned (values may come back as 0-d arrays)."""
        if state:
            raise ValueError(f"{type(self).__name__} keeps no state, got {sorted(state)}")

    def doses_between(self, t0_h: float, t1_h: float) -> np.ndarray:
        """Indices of doses given in [t0, t1)."""
        return np.flatnonzero((self.dose_times_h >= t0_h) & (self.dose_times_h < t1_h))
