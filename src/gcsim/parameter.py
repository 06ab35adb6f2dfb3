"""One parameter of the table — value, unit, meaning, source, valid range — and the conversion
of a rate into a per-step probability.

The model's own rows live in ``gcsim.params``; each therapy declares its rows on its scenario
class (``TreatmentConfig.parameters``), and ``gcsim.params.DEFAULTS`` joins them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def per_step(rate_per_h: float, dt_h: float) -> float:
    """Probability that a Poisson event of ``rate_per_h`` happens within one step of ``dt_h``."""
    return 1.0 - math.exp(-rate_per_h * dt_h)


@dataclass(frozen=True)
class Param:
    name: str
    value: float
    unit: str
    description: str
    source: str
    lo: float = 0.0
    hi: float = math.inf

    @property
    def group(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def is_assumption(self) -> bool:
        return self.source.startswith("Assumption")

    def check(self, value: float) -> None:
        """Raise ``ValueError`` naming the range and unit when ``value`` is out of range."""
        if not math.isfinite(value) or not (self.lo <= value <= self.hi):
            raise ValueError(f"{self.name} = {value} is outside [{self.lo}, {self.hi}] {self.unit}")
