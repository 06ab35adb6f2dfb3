"""Mesa agent views of the cells held in the model's arrays.

The simulation never steps these objects: they exist for inspection, Mesa ``AgentSet`` queries and
the teaching app. Each view knows its layer and position and reads its attributes from the
arrays, so it always shows the current state of its site.

Every cell type of the registry (``gcsim.cells``) gets a view class, named by its ``view`` entry,
with a read-only property per ``reads`` pair. The classes below add what is computed rather than
read (a tumour cell's markers, whether a vessel is perfused, …); any other type's class is
generated on first use, so a new cell type needs no edit here (``from gcsim.agents import
NKCell`` works once the registry declares ``view="NKCell"``).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

import mesa
from mesa.discrete_space import OrthogonalMooreGrid, PropertyLayer

from gcsim import cells
from gcsim.cells import CellType
from gcsim.kernels.common import perfusion
from gcsim.state import MARKER_BITS

if TYPE_CHECKING:
    from gcsim.interface import ModelView


class CellView(mesa.Agent):
    """Base class: a cell at ``pos`` on ``layer`` of ``model``."""

    layer = "tissue"
    code = -1
    cell_type: CellType | None = None  # its registry entry

    def __init__(self, model: ModelView, pos: tuple[int, int]) -> None:
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


class ImmuneCell(CellView):
    layer = "immune"


def _reader(array: str) -> property:
    return property(lambda self: self._read(array), doc=f"The site's ``state.{array}`` value.")


@cache
def _generated(cell: CellType, name: str) -> type[CellView]:
    """The view class of ``cell`` as the registry declares it: its code and layer, and one
    read-only property per ``reads`` pair (cached: one class per type, so isinstance holds)."""
    namespace: dict[str, Any] = {
        "__doc__": f"A {cell.label} (view generated from the ``{cell.name}`` registry entry).",
        "__module__": __name__,
        "layer": cell.layer,
        "code": cell.code,
        "cell_type": cell,
    }
    namespace.update({prop: _reader(array) for prop, array in cell.reads})
    return type(name, (ImmuneCell if cell.layer == "immune" else CellView,), namespace)


def _declared(name: str) -> type[CellView]:
    """The generated view of the registry entry ``name``, as the base of a hand-written view."""
    cell = cells.by_name(name)
    return _generated(cell, f"_{cell.view}Declared")


class TumorCell(_declared("tumor")):
    @property
    def markers(self) -> set[str]:
        bits = self._read("marker")
        return {name for name, bit in MARKER_BITS.items() if bits & bit}


class VesselSegment(_declared("vessel")):
    @property
    def perfused(self) -> bool:
        """Blood flows (``perfusion(maturity)`` > 0, as recruitment and the observers count)."""
        return perfusion(self.maturity, self.model.params["vessel.perfusion_threshold"]) > 0.0


class CD8TCell(_declared("cd8")):
    @property
    def exhausted(self) -> bool:
        return self.exhaustion >= 1.0


class Macrophage(_declared("macrophage")):
    """A macrophage; ``polarisation`` is 1 for M1 (anti-tumour), 0 for M2 (suppressive)."""

    @property
    def phenotype(self) -> str:
        return "M1" if self.polarisation >= 0.5 else "M2"


# Views with behaviour beyond the registry's reads, by the view name the registry gives them.
_HAND_WRITTEN: dict[str, type[CellView]] = {
    cls.__name__: cls for cls in (TumorCell, VesselSegment, CD8TCell, Macrophage)
}


def view_class(cell: CellType) -> type[CellView] | None:
    """The view class of a registered cell type (None for free space, which has no view)."""
    if cell.view is None:
        return None
    return _HAND_WRITTEN.get(cell.view) or _generated(cell, cell.view)


def view_classes() -> dict[tuple[str, int], type[CellView]]:
    """``{(layer, code): view class}`` of every registered cell type that has a view."""
    return {
        (c.layer, c.code): cls for c in cells.cell_types() if (cls := view_class(c)) is not None
    }


def __getattr__(name: str) -> type[CellView]:
    # Generated views (StromalCell, NecroticSite, Treg, MDSC, and any new type's) are module
    # attributes by their registry name, resolved on access so the registry stays the one list.
    for c in cells.cell_types():
        if c.view == name:
            return view_class(c)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


VIEW_CLASSES = view_classes()


def make_view(model: ModelView, layer: str, pos: tuple[int, int], code: int) -> CellView | None:
    cell = cells.cell_type(layer, code)
    cls = None if cell is None else view_class(cell)
    return None if cls is None else cls(model, pos)


def _shared_layer(name: str, array) -> PropertyLayer:
    """A PropertyLayer backed by ``array`` itself (Mesa copies in ``from_data``).

    This is the one place that reaches into a layer's storage; Mesa 4 makes layers plain arrays.
    """
    layer = PropertyLayer(name, array.shape, default_value=0, dtype=array.dtype.type)
    layer._data = array
    return layer


def build_grid(model: ModelView) -> OrthogonalMooreGrid:
    """The Mesa grid of the lattice with every state array attached as a property layer."""
    width, height = model.state.tissue.shape
    grid = OrthogonalMooreGrid((width, height), torus=False, capacity=2, random=model.random)
    for name, array in model.state.arrays().items():
        grid.add_property_layer(_shared_layer(name, array))
    return grid
