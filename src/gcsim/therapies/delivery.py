"""Drug delivery from perfused vessels into tissue: the exposure field a drug's plasma level
meets, beside the plasma pharmacokinetics of ``pk.py``."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from gcsim.state import TUMOR, LatticeState


class DrugDelivery:
    """Local tissue exposure relative to nominal for each drug class (``molecule``).

    The steady state of diffusion with a penetration length ``delivery.<molecule>_length`` (µm)
    from perfused vessels, each weighted by its flow ``perfusion(maturity)``, scaled so that a
    uniform vessel density of ``delivery.reference_vessel_density`` gives 1. Solved at most once
    per step and molecule, when a therapy asks; ``work`` is the solver's reused scratch.
    """

    def __init__(self, params: Mapping[str, float], site_um: float, work: np.ndarray) -> None:
        self.params = params
        self.site_um = site_um
        self.work = work
        self._solved: dict[str, tuple[int, np.ndarray, float]] = {}
        # numba-backed helpers load with a model, not with the therapy package (imported once)
        from gcsim.kernels.common import lattice_flow
        from gcsim.kernels.fields import solve_uniform_decay

        self._lattice_flow = lattice_flow
        self._solve = solve_uniform_decay

    def field(
        self, state: LatticeState, molecule: str, step: int, vegf_block: float = 0.0
    ) -> np.ndarray:
        """The exposure field (dimensionless, shape of the lattice) at ``step``; vessels deliver
        in proportion to their flow, VEGF-driven leak included (``vegf_block``: the fraction of
        the VEGF signal blocked)."""
        cached = self._solved.get(molecule)
        if cached is not None and cached[0] == step:
            return cached[1]
        p = self.params
        length = p[f"delivery.{molecule}_length"]
        source = self._lattice_flow(state, p, state.vegf * (1.0 - vegf_block))
        decay = 1.0 / length**2  # with unit diffusion, the penetration length is `length`
        field = self._solve(source, 1.0, decay, self.site_um, work=self.work)
        field *= decay / p["delivery.reference_vessel_density"]
        lesion = state.tissue == TUMOR
        mean = float(field[lesion].mean()) if lesion.any() else 0.0
        self._solved[molecule] = (step, field, mean)
        return field

    def clear(self) -> None:
        """Forget the solved fields (a restored model's step numbers may repeat)."""
        self._solved.clear()

    def lesion_mean(
        self, state: LatticeState, molecule: str, step: int, vegf_block: float = 0.0
    ) -> float:
        """Mean of ``field`` over viable tumour cells."""
        self.field(state, molecule, step, vegf_block)
        return self._solved[molecule][2]
