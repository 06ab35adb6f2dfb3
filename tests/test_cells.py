"""The cell-type registry (gcsim.cells) and what derives from it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import matplotlib.colors
import mesa
import numpy as np
import pytest

import gcsim.agents
import gcsim.kernels.therapy
from gcsim import cells, model, plots, state
from gcsim.cells import CELL_TYPES, FLAGS, CellType
from gcsim.kernels.therapy import irradiate
from gcsim.state import LatticeState

# The codes stored in outputs and snapshots, and the figures' colours, as they were before the
# registry: neither may change.
CODES = {
    ("tissue", "EMPTY"): 0,
    ("tissue", "TUMOR"): 1,
    ("tissue", "STROMA"): 2,
    ("tissue", "VESSEL"): 3,
    ("tissue", "NECROTIC"): 4,
    ("immune", "CD8"): 1,
    ("immune", "TREG"): 2,
    ("immune", "MDSC"): 3,
    ("immune", "MACROPHAGE"): 4,
}
LEGEND = [
    ("#f4efe6", "free space"),
    ("#c8553d", "tumour cell"),
    ("#d9c7a7", "stroma"),
    ("#7a1e1e", "vessel"),
    ("#3b3b3b", "necrotic"),
    ("#1f77ff", "CD8 T cell"),
    ("#9b5de5", "Treg"),
    ("#f15bb5", "MDSC"),
    ("#00a36c", "macrophage"),
]
# Which immune codes each behaviour applied to when the kernels listed them by hand.
BEHAVIOURS = {
    "lymphocyte": {state.CD8, state.TREG},
    "radiosensitive": {state.CD8, state.TREG},
    "myeloid": {state.MDSC, state.MACROPHAGE},
    "suppressor": {state.TREG, state.MDSC},
    "cps_scored": {state.CD8, state.TREG, state.MACROPHAGE},
}


def fake_nk() -> CellType:
    """A cell type that does not exist (yet), to show what registering one reaches."""
    return CellType(
        5,
        "nk_test",
        "immune",
        "NK cell (test)",
        "#ffbf00",
        view="NKTestCell",
        flags=frozenset({"lymphocyte"}),
        reads=(("engaged_hours", "engaged"),),
    )


def test_state_codes_are_the_registry_codes_and_unchanged():
    for (layer, const), code in CODES.items():
        assert getattr(state, const) == code
        assert cells.cell_type(layer, code).name == const.lower()
    assert state.NO_IMMUNE == cells.NO_CELL == 0
    assert state.TISSUE_NAMES == {0: "empty", 1: "tumor", 2: "stroma", 3: "vessel", 4: "necrotic"}
    assert state.IMMUNE_NAMES == {1: "cd8", 2: "treg", 3: "mdsc", 4: "macrophage"}


def test_codes_are_unique_per_layer_and_names_unique():
    for layer in cells.LAYERS:
        codes = [c.code for c in cells.cell_types(layer)]
        assert len(codes) == len(set(codes))
    assert len({c.name for c in CELL_TYPES}) == len(CELL_TYPES)
    assert cells.cell_type("immune", cells.NO_CELL) is None  # an empty immune site is no type


@pytest.mark.parametrize(
    "change, message",
    [
        ({"code": 1}, "already used"),
        ({"name": "tumor"}, "declared twice"),
        ({"code": 200}, "int8"),
        ({"code": 0}, "no immune cell"),
        ({"flags": frozenset({"glows"})}, "unknown flags"),
        ({"layer": "blood"}, "layer"),
    ],
)
def test_an_inconsistent_registry_is_refused(change, message):
    bad = dataclasses.replace(fake_nk(), **change)
    with pytest.raises(ValueError, match=message):
        cells.check_registry((*CELL_TYPES, bad))


def test_every_flag_is_described_and_used():
    used = set().union(*(c.flags for c in CELL_TYPES))
    assert used == set(FLAGS)


@pytest.mark.parametrize("flag", sorted(FLAGS))
@pytest.mark.parametrize("layer", cells.LAYERS)
def test_flag_tables_agree_with_the_registry(flag, layer):
    table = cells.flag_table(flag, layer)
    assert table.shape == (256,) and table.dtype == np.bool_
    expected = {c.code for c in cells.cell_types(layer) if c.has(flag)}
    assert set(np.flatnonzero(table)) == expected


def test_kernel_tables_select_what_the_code_listed_before():
    tables = {
        "lymphocyte": cells.LYMPHOCYTES,
        "radiosensitive": cells.RADIOSENSITIVE,
        "myeloid": cells.MYELOID,
        "suppressor": cells.SUPPRESSORS,
        "cps_scored": cells.CPS_SCORED,
    }
    for flag, codes in BEHAVIOURS.items():
        assert set(np.flatnonzero(tables[flag])) == codes, flag
    assert set(np.flatnonzero(model.TUMOR_SITES)) == {state.TUMOR, state.NECROTIC}
    assert set(np.flatnonzero(model.VESSEL_SITES)) == {state.VESSEL}
    assert set(np.flatnonzero(model.IMMUNE_SITES)) == set(state.IMMUNE_NAMES)


def test_a_view_exists_for_every_cell_type():
    for c in CELL_TYPES:
        cls = gcsim.agents.view_class(c)
        if c.view is None:
            assert c.name == "empty"  # free space is no cell
            continue
        assert cls.__name__ == c.view and getattr(gcsim.agents, c.view) is cls
        assert (cls.layer, cls.code) == (c.layer, c.code)
        assert gcsim.agents.VIEW_CLASSES[(c.layer, c.code)] is cls
        for prop, _ in c.reads:
            assert isinstance(getattr(cls, prop), property)
    assert issubclass(gcsim.agents.Treg, gcsim.agents.ImmuneCell)


def test_legends_and_colours_list_every_type_as_before():
    handles = plots.legend_handles()
    assert [(matplotlib.colors.to_hex(h.get_facecolor()), h.get_label()) for h in handles] == [
        (matplotlib.colors.to_hex(colour), label) for colour, label in LEGEND
    ]
    assert len(handles) == len(CELL_TYPES)
    tissue = np.arange(5, dtype=np.int8).reshape(5, 1).repeat(2, axis=1)
    immune = np.zeros_like(tissue)
    immune[1:, 1] = np.arange(1, 5)
    image = plots.codes_image(tissue, immune)  # [row = y, column = x]
    for x in range(5):
        assert np.allclose(image[0, x], matplotlib.colors.to_rgb(LEGEND[x][0]))
    for x in range(1, 5):
        assert np.allclose(image[1, x], matplotlib.colors.to_rgb(LEGEND[4 + x][0]))


def test_a_registered_type_reaches_legends_views_and_tables_without_other_edits(monkeypatch):
    nk = fake_nk()
    monkeypatch.setattr(cells, "CELL_TYPES", (*CELL_TYPES, nk))
    cells.check_registry(cells.CELL_TYPES)
    assert cells.names("immune")[5] == "nk_test"
    assert cells.flag_table("lymphocyte", "immune")[5]

    assert plots.legend_handles()[-1].get_label() == "NK cell (test)"
    immune = np.array([[5]], dtype=np.int8)
    image = plots.codes_image(np.zeros_like(immune), immune)
    assert np.allclose(image[0, 0], matplotlib.colors.to_rgb("#ffbf00"))

    host = mesa.Model()
    host.state = LatticeState.empty(2, 2)
    host.state.immune[1, 0] = 5
    host.state.engaged[1, 0] = 3.5
    view = gcsim.agents.make_view(host, "immune", (1, 0), 5)
    assert type(view).__name__ == "NKTestCell" and view.alive and view.engaged_hours == 3.5
    assert gcsim.agents.NKTestCell is type(view)  # importable by its registry name
    assert isinstance(view, gcsim.agents.ImmuneCell)


def test_the_radiation_kernel_kills_the_radiosensitive_types_only():
    """The kernel reads the registry's flag table (compiled in as a constant): MDSCs, not
    radiosensitive, survive a dose that kills CD8 T cells."""
    args = (np.ones((60, 60), np.uint8), 2.0, 0.3, 0.03, 2.6, 3.0, 0.5)
    killed = {}
    for code in (state.MDSC, state.CD8):
        s = LatticeState.empty(60, 60)
        s.immune[:] = code
        arrays = (s.tissue, s.immune, s.oxygen, s.doomed, s.exhaustion, s.engaged, s.divisions)
        killed[code] = irradiate(np.random.default_rng(0), *args, *arrays)[1]
    assert killed[state.MDSC] == 0
    assert 0 < killed[state.CD8] < 60 * 60


def test_editing_the_registry_invalidates_the_compiled_kernels(tmp_path):
    """Kernels freeze the registry's tables into numba's cache, so cells.py is part of the
    source hash that clears it."""
    from gcsim.kernels import clear_stale_cache

    package = tmp_path / "kernels"
    package.mkdir()
    (package / "k.py").write_text("x = 1\n")
    registry = tmp_path / "cells.py"
    registry.write_text("A = 1\n")
    assert clear_stale_cache(package, also=(registry,))
    assert not clear_stale_cache(package, also=(registry,))
    registry.write_text("A = 2\n")
    assert clear_stale_cache(package, also=(registry,))
    kernels_init = (Path(gcsim.kernels.__file__)).read_text()
    assert '"cells.py"' in kernels_init
