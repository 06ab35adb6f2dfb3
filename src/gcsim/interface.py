"""What therapies, observers and agent views may read of a running model.

They depend on this ``Protocol``, not on ``GastricTumorModel``: the model layer imports them,
never the reverse, so the package has no import cycle (tests/test_layers.py) and a therapy can
be tested against any object with these members.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from gcsim.kernels.rng import StreamHandle
    from gcsim.state import LatticeState


class ModelView(Protocol):
    """The members of a model that the layers above the kernels use."""

    params: Mapping[str, float]
    state: LatticeState
    dt_h: float  # step length, h
    site_um: float  # lattice spacing, µm
    steps: int  # steps done (Mesa's counter)
    counters: dict[str, int]  # cumulative event counts (kills, divisions…)
    effects: Any  # the last step's ``gcsim.effects.Effects``
    therapies: Sequence[Any]  # the running therapies (``gcsim.therapies.base.Therapy``)
    priming_level: float  # ≥ 0: lymph-node priming of tumour-specific T cells
    antigen_released: float  # cumulative antigen sent to the lymph node, kill units
    rng: np.random.Generator  # the model's seeded generator (a therapy's once-per-run draw)

    @property
    def time_h(self) -> float:
        """Simulated time at the end of the last step, h."""
        ...

    @property
    def step_start_h(self) -> float:
        """Inside a step: the time the step starts, h."""
        ...

    @property
    def kernel_rng(self) -> StreamHandle:
        """The model's random stream as kernels take it."""
        ...

    def delivery(self, molecule: str) -> np.ndarray:
        """Tissue exposure of a drug class relative to nominal, per site."""
        ...

    def lesion_delivery(self, molecule: str) -> float:
        """Mean of ``delivery(molecule)`` over viable tumour cells."""
        ...
