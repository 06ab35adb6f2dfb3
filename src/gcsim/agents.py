"""Mesa agent views of the cells held in the model's arrays.

The simulation never steps these objects: they exist for inspection, Mesa ``AgentSet`` queries and
the teaching app. Each view knows its layer and position and reads its attributes from the
arrays, so it always shows the current state of its site.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import mesa
from mesa.discrete_space import OrthogonalMooreGrid, PropertyLayer

from gcsim.kernels.common import perfusion
from gcsim.state import (
    CD8,
    MACROPHAGE,
    MARKER_BITS,
    MDSC,
    NECROTIC,
    STROMA,
    TREG,
    TUMOR,
    VESSEL,
)

if TYPE_CHECKING:
    from gcsim.model import GastricTumorModel


class CellView(mesa.Agent):
    """Base class: a cell at ``pos`` on ``layer`` of ``model``."""

    layer = "tissue"
    code = -1

    def __init__(self, model: GastricTumorModel, pos: tuple[int, int]) -> None:
        super().__init__(model)
        self.pos = pos

    def _read(self, name: str) -> Any:
        return getattr(self.model.state, name)[self.pos].item()

    @property
    def alive(self) -> bool:
        """Whether the site still holds a cell of this view's kind."""
        array = self.model.state.tissue if self.layer == "tissue" else self.model.state.immune
        return int(array[self.pos]) == self.code

    @property
    def oxygen_mmHg(self) -> float:
        return self._read("oxygen")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(pos={self.pos})"


class TumorCell(CellView):
    code = TUMOR

    @property
    def pdl1(self) -> float:
        return self._read("pdl1")

    @property
    def antigenicity(self) -> float:
        return self._read("antigen")

    @property
    def cycle_progress(self) -> float:
        return self._read("cycle")

    @property
    def markers(self) -> set[str]:
        bits = self._read("marker")
        return {name for name, bit in MARKER_BITS.items() if bits & bit}


class StromalCell(CellView):
    code = STROMA


class NecroticSite(CellView):
    code = NECROTIC


class VesselSegment(CellView):
    code = VESSEL

    @property
    def maturity(self) -> float:
        return self._read("maturity")

    @property
    def perfused(self) -> bool:
        """Blood flows (``perfusion(maturity)`` > 0, as recruitment and the observers count)."""
        return perfusion(self.maturity, self.model.params["vessel.perfusion_threshold"]) > 0.0


class ImmuneCell(CellView):
    layer = "immune"


class CD8TCell(ImmuneCell):
    code = CD8

    @property
    def exhaustion(self) -> float:
        return self._read("exhaustion")

    @property
    def exhausted(self) -> bool:
        return self.exhaustion >= 1.0

    @property
    def engaged_hours(self) -> float:
        return self._read("engaged")

    @property
    def divisions(self) -> int:
        return self._read("divisions")


class Treg(ImmuneCell):
    code = TREG


class MDSC(ImmuneCell):
    code = MDSC


class Macrophage(ImmuneCell):
    code = MACROPHAGE

    @property
    def polarisation(self) -> float:
        """1 = M1 (anti-tumour), 0 = M2 (suppressive)."""
        return self._read("polarisation")

    @property
    def phenotype(self) -> str:
        return "M1" if self.polarisation >= 0.5 else "M2"


VIEW_CLASSES: dict[tuple[str, int], type[CellView]] = {
    (cls.layer, cls.code): cls
    for cls in (
        TumorCell,
        StromalCell,
        NecroticSite,
        VesselSegment,
        CD8TCell,
        Treg,
        MDSC,
        Macrophage,
    )
}


def make_view(
    model: GastricTumorModel, layer: str, pos: tuple[int, int], code: int
) -> CellView | None:
    cls = VIEW_CLASSES.get((layer, code))
    return None if cls is None else cls(model, pos)


def _shared_layer(name: str, array) -> PropertyLayer:
    """A PropertyLayer backed by ``array`` itself (Mesa copies in ``from_data``).

    This is the one place that reaches into a layer's storage; Mesa 4 makes layers plain arrays.
    """
    layer = PropertyLayer(name, array.shape, default_value=0, dtype=array.dtype.type)
    layer._data = array
    return layer


def build_grid(model: GastricTumorModel) -> OrthogonalMooreGrid:
    """The Mesa grid of the lattice with every state array attached as a property layer."""
    width, height = model.state.tissue.shape
    grid = OrthogonalMooreGrid((width, height), torus=False, capacity=2, random=model.random)
    for name, array in model.state.arrays().items():
        grid.add_property_layer(_shared_layer(name, array))
    return grid
