"""Cell types, declared once.

Every kind of cell the lattice can hold is one :class:`CellType` in :data:`CELL_TYPES`: its
one-byte code on its layer, its name, its legend label and colour, the flags by which kernels,
observers and therapies treat it, and the state arrays its agent view shows. The layer codes in
``gcsim.state``, the lookup tables of the numba kernels, the Mesa agent views, the legends and
colours of the figures and the observers' type tests all derive from this table, so a new cell
type is one entry here plus the kernel that gives it behaviour, its parameters and its test.

The *tissue* layer's code 0 is free space and is listed (it has a colour and a legend entry); the
*immune* layer's code 0 means "no immune cell" and is not a cell type (the tissue shows through).

Adding a cell type (NK cells, say):

1. One :class:`CellType` here: the next free code on its layer, name, label, colour, view name,
   flags (a new one also gets a line in :data:`FLAGS`) and the state arrays its view shows. The
   name dicts of ``gcsim.state``, the lookup tables below (so the immune step visits it, and the
   radiation and cytotoxic kernels kill it if it is ``radiosensitive`` / a ``lymphocyte``), its
   Mesa view, the legends and colours of every figure, animation and the demo follow.
2. Its behaviour in the kernel that moves it (``kernels/immune.py``), with its code as
   ``cells.by_name("nk").code``.
3. Its parameters (``params.py``), their inputs to the kernel's rules (``rules.py``) and its
   test.

Not derived, by choice or not yet: which type does what in ``kernels/immune.py`` and
``kernels/secretion.py`` (that is the behaviour a kernel gives a type), seeding at t = 0
(``phenotypes.py`` densities, ``initial.py``: the seeding order is part of the random stream)
and per-type metrics in ``observe.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Layer = Literal["tissue", "immune"]
LAYERS: tuple[Layer, ...] = ("tissue", "immune")
NO_CELL = 0  # immune-layer code of a site without an immune cell

# What each flag means, i.e. which behaviour tests it. A flag is only worth declaring if some code
# tests it; the test suite checks that every flag used in CELL_TYPES is described here.
FLAGS: dict[str, str] = {
    "tumour": "a tumour cell: divides, consumes oxygen, is a T-cell target, is scored in CPS",
    "lesion": "part of the lesion (tumour or its necrotic debris): the lesion mask, and the sites "
    "the tumour step visits",
    "vessel": "a vessel segment: supplies oxygen and recruits immune cells when perfused",
    "lymphocyte": "a lymphocyte: PD-L1 induced by IFN-γ (``lymphocyte.pdl1_induction``), killed "
    "by cytotoxic drugs (``p_lymphocyte``)",
    "radiosensitive": "dies in interphase under radiation with probability 1 − exp(−α_L·dose), "
    "α_L = ``rt.alpha_lymphocyte`` (1/Gy)",
    "myeloid": "a myeloid cell: PD-L1 at least ``pdl1.myeloid_basal``, else induced by IFN-γ",
    "suppressor": "suppresses the killing of adjacent CD8 T cells and secretes TGF-β",
    "cps_scored": "counted in the combined positive score when PD-L1 positive (CPS counts "
    "lymphocytes and macrophages, not MDSCs)",
}


@dataclass(frozen=True)
class CellType:
    """One kind of cell on one layer of the lattice.

    Attributes:
        code: the one-byte code stored in the layer's ``int8`` array, 0..127, unique per layer.
        name: machine name, unique across layers (state dicts, view lookup, metric prefixes).
        layer: "tissue" or "immune".
        label: legend label in figures and the demo.
        colour: matplotlib colour of the cell in lattice images.
        view: name of its Mesa agent view class in ``gcsim.agents``; None for free space, which
            is no cell and has no view.
        flags: behaviours it takes part in, each a key of :data:`FLAGS`.
        reads: ``(property, state array)`` pairs its agent view exposes as read-only properties.
    """

    code: int
    name: str
    layer: Layer
    label: str
    colour: str
    view: str | None
    flags: frozenset[str] = frozenset()
    reads: tuple[tuple[str, str], ...] = ()

    def has(self, flag: str) -> bool:
        return flag in self.flags


# Codes are the ones stored in outputs and snapshots: never renumber an existing type.
# Colours are those of every figure so far; the order is the legends' order.
CELL_TYPES: tuple[CellType, ...] = (
    CellType(0, "empty", "tissue", "free space", "#f4efe6", view=None),
    CellType(
        1,
        "tumor",
        "tissue",
        "tumour cell",
        "#c8553d",
        view="TumorCell",
        flags=frozenset({"tumour", "lesion"}),
        reads=(("pdl1", "pdl1"), ("antigenicity", "antigen"), ("cycle_progress", "cycle")),
    ),
    CellType(2, "stroma", "tissue", "stroma", "#d9c7a7", view="StromalCell"),
    CellType(
        3,
        "vessel",
        "tissue",
        "vessel",
        "#7a1e1e",
        view="VesselSegment",
        flags=frozenset({"vessel"}),
        reads=(("maturity", "maturity"),),
    ),
    CellType(
        4,
        "necrotic",
        "tissue",
        "necrotic",
        "#3b3b3b",
        view="NecroticSite",
        flags=frozenset({"lesion"}),
    ),
    CellType(
        1,
        "cd8",
        "immune",
        "CD8 T cell",
        "#1f77ff",
        view="CD8TCell",
        flags=frozenset({"lymphocyte", "radiosensitive", "cps_scored"}),
        reads=(
            ("exhaustion", "exhaustion"),
            ("engaged_hours", "engaged"),
            ("divisions", "divisions"),
        ),
    ),
    CellType(
        2,
        "treg",
        "immune",
        "Treg",
        "#9b5de5",
        view="Treg",
        flags=frozenset({"lymphocyte", "radiosensitive", "suppressor", "cps_scored"}),
    ),
    CellType(
        3,
        "mdsc",
        "immune",
        "MDSC",
        "#f15bb5",
        view="MDSC",
        flags=frozenset({"myeloid", "suppressor"}),
    ),
    CellType(
        4,
        "macrophage",
        "immune",
        "macrophage",
        "#00a36c",
        view="Macrophage",
        flags=frozenset({"myeloid", "cps_scored"}),
        reads=(("polarisation", "polarisation"),),
    ),
)


def cell_types(layer: Layer | None = None) -> tuple[CellType, ...]:
    """The registered cell types of ``layer`` (all if None), in declaration order.

    Reads :data:`CELL_TYPES` at call time, so legends and views follow a registry patched in a
    test; the numba tables below do not (they are compile-time constants).
    """
    if layer is not None and layer not in LAYERS:
        raise ValueError(f"layer must be one of {LAYERS}, not {layer!r}")
    return tuple(c for c in CELL_TYPES if layer is None or c.layer == layer)


def cell_type(layer: Layer, code: int) -> CellType | None:
    """The cell type with ``code`` on ``layer``, or None (an empty immune site, an unknown code)."""
    return next((c for c in cell_types(layer) if c.code == code), None)


def by_name(name: str) -> CellType:
    """The cell type called ``name``; KeyError names the known ones."""
    for c in CELL_TYPES:
        if c.name == name:
            return c
    raise KeyError(f"no cell type {name!r}; known: {[c.name for c in CELL_TYPES]}")


def names(layer: Layer) -> dict[int, str]:
    """``{code: name}`` of the cell types of ``layer``."""
    return {c.code: c.name for c in cell_types(layer)}


def with_flag(flag: str, layer: Layer | None = None) -> tuple[CellType, ...]:
    """The cell types of ``layer`` (all if None) that carry ``flag``."""
    if flag not in FLAGS:
        raise KeyError(f"unknown flag {flag!r}; known: {sorted(FLAGS)}")
    return tuple(c for c in cell_types(layer) if flag in c.flags)


def code_table(codes) -> np.ndarray:
    """A 256-entry boolean lookup table over one-byte codes, True at ``codes``.

    Kernels index it with a site's code (``table[kind]``) instead of comparing against a list of
    codes, so a new type with the flag needs no kernel edit. 256 entries cover every value of an
    ``int8``/``uint8`` code (``shuffled_sites`` insists on the full size).
    """
    table = np.zeros(256, dtype=np.bool_)
    table[list(codes)] = True
    return table


def flag_table(flag: str, layer: Layer) -> np.ndarray:
    """:func:`code_table` of the codes on ``layer`` whose types carry ``flag``."""
    return code_table(c.code for c in with_flag(flag, layer))


def layer_table(layer: Layer) -> np.ndarray:
    """:func:`code_table` of every cell type on ``layer`` (free space included on tissue)."""
    return code_table(c.code for c in cell_types(layer))


def check_registry(types: tuple[CellType, ...]) -> None:
    """Raise ValueError unless ``types`` is a consistent registry (codes fit the layer arrays and
    are unique per layer, names unique, flags known, the immune layer's "none" code unused)."""
    seen_names: set[str] = set()
    seen_codes: set[tuple[str, int]] = set()
    for c in types:
        if c.layer not in LAYERS:
            raise ValueError(f"{c.name}: layer {c.layer!r} is not one of {LAYERS}")
        if not 0 <= c.code <= 127:  # the layers are int8 arrays
            raise ValueError(f"{c.name}: code {c.code} does not fit an int8 layer")
        if c.layer == "immune" and c.code == NO_CELL:
            raise ValueError(f"{c.name}: immune code {NO_CELL} means 'no immune cell'")
        if (c.layer, c.code) in seen_codes:
            raise ValueError(f"{c.name}: code {c.code} already used on the {c.layer} layer")
        if c.name in seen_names:
            raise ValueError(f"cell type name {c.name!r} declared twice")
        if c.view is not None and not c.view.isidentifier():
            raise ValueError(f"{c.name}: view {c.view!r} is not a class name")
        unknown = c.flags - FLAGS.keys()
        if unknown:
            raise ValueError(f"{c.name}: unknown flags {sorted(unknown)}")
        seen_codes.add((c.layer, c.code))
        seen_names.add(c.name)


check_registry(CELL_TYPES)

# Lookup tables for numba kernels and ``shuffled_sites``. Kernels read them as globals, which
# numba freezes into the compiled code; its on-disk cache is keyed on the kernel's own source
# file only, so ``gcsim.kernels`` hashes this file with the kernel sources and clears the cache
# when the registry changes (``clear_stale_cache``).
LESION_SITES = flag_table("lesion", "tissue")  # the tumour step's sites: tumour and necrotic
VESSEL_SITES = flag_table("vessel", "tissue")
IMMUNE_SITES = layer_table("immune")  # every immune cell
LYMPHOCYTES = flag_table("lymphocyte", "immune")
RADIOSENSITIVE = flag_table("radiosensitive", "immune")
MYELOID = flag_table("myeloid", "immune")
SUPPRESSORS = flag_table("suppressor", "immune")
CPS_SCORED = flag_table("cps_scored", "immune")
