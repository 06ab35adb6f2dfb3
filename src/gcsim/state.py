"""Structure-of-arrays state of the lattice.

Two layers per site, each holding at most one cell: the *tissue* layer (tumour cell, stroma,
vessel, necrotic debris or empty) and the *immune* layer (CD8 T cell, Treg, MDSC, macrophage), so
that immune cells can infiltrate packed tumour. Per-cell attributes live in per-site arrays of the
layer the cell occupies: moving or dividing a cell copies a few numbers, and a kernel never touches
a Python object. Arrays are indexed ``[x, y]`` like Mesa's grid coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from gcsim.cells import NO_CELL, by_name, names

# Layer codes, from the cell-type registry (gcsim.cells), as the names kernels import.
# Tissue layer codes.
EMPTY = by_name("empty").code
TUMOR = by_name("tumor").code
STROMA = by_name("stroma").code
VESSEL = by_name("vessel").code
NECROTIC = by_name("necrotic").code
TISSUE_NAMES = names("tissue")

# Immune layer codes.
NO_IMMUNE = NO_CELL
CD8 = by_name("cd8").code
TREG = by_name("treg").code
MDSC = by_name("mdsc").code
MACROPHAGE = by_name("macrophage").code
IMMUNE_NAMES = names("immune")

# Subclone marker bits of a tumour cell (heritable).
MARKER_BITS = {
    "her2": 1,
    "fgfr2b": 2,
    "cldn18_2": 4,
    "hrd": 8,
    "dkk1_high": 16,
    "chemo_resistant": 32,
}
CHEMO_RESISTANT = MARKER_BITS["chemo_resistant"]
HRD = MARKER_BITS["hrd"]  # homologous-recombination deficient (PARP inhibitors)


@dataclass
class LatticeState:
    """Every array of the model's state; all of shape ``(width, height)``."""

    tissue: np.ndarray  # int8 tissue code
    cycle: np.ndarray  # float32, progress through the cell cycle, 0..1 (tumour)
    pdl1: np.ndarray  # float32, PD-L1 expression 0..1 (tumour)
    pdl1_const: np.ndarray  # float32, constitutive PD-L1 level (tumour, heritable)
    antigen: np.ndarray  # float32, antigenicity 0..1 (tumour, heritable)
    marker: np.ndarray  # uint8, subclone marker bits (tumour, heritable)
    doomed: np.ndarray  # uint8, 1 = lethally damaged (RT, PARP): dies at next mitosis (tumour)
    infection: np.ndarray  # float32, viral replication cycle 0..1, 0 = not infected (tumour)
    maturity: np.ndarray  # float32, pericyte coverage / perfusion quality 0..1 (vessel)
    leak: np.ndarray  # float32, VEGF-driven fractional loss of vessel flow, 0..leak_max (site)
    immune: np.ndarray  # int8 immune code
    exhaustion: np.ndarray  # float32, 0..1; a CD8 with exhaustion >= 1 no longer kills
    engaged: np.ndarray  # float32, hours left engaged with a target (CD8)
    divisions: np.ndarray  # int8, divisions so far (CD8 clone)
    polarisation: np.ndarray  # float32, 1 = M1, 0 = M2 (macrophage)
    oxygen: np.ndarray  # float64, mmHg
    vegf: np.ndarray  # float32, ng/mL (cytokines: float32 halves the cost of their transforms)
    chemokine: np.ndarray  # float32, ng/mL
    ifng: np.ndarray  # float32, ng/mL
    tgfb: np.ndarray  # float32, ng/mL

    @classmethod
    def empty(cls, width: int, height: int) -> LatticeState:
        shape = (width, height)
        dtypes = {
            "tissue": np.int8,
            "marker": np.uint8,
            "doomed": np.uint8,
            "immune": np.int8,
            "divisions": np.int8,
            "oxygen": np.float64,
        }
        return cls(
            **{f.name: np.zeros(shape, dtype=dtypes.get(f.name, np.float32)) for f in fields(cls)}
        )

    def arrays(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays().values())
