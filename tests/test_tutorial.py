"""docs/tutorial.ipynb executes top to bottom (at a small size) and shows its comparisons."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "tutorial.ipynb"
SMALL = {"SIZE": 40, "DAYS": 8}  # 8 days: radiotherapy on days 0-3 and the ICI on day 5 fit


def _parameter_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, "the notebook needs exactly one cell tagged 'parameters'"
    return cells[0]


def test_parameter_cell_sets_the_sizes_as_plain_constants():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    source = _parameter_cell(nb).source
    for name in SMALL:
        assert re.search(rf"^{name} = \d+", source, flags=re.M), name


@pytest.mark.slow
def test_tutorial_runs_top_to_bottom_at_a_small_size(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    cell = _parameter_cell(nb)
    for name, value in SMALL.items():
        cell.source = re.sub(rf"^{name} = \d+", f"{name} = {value}", cell.source, flags=re.M)
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on any error

    code = [c for c in nb.cells if c.cell_type == "code"]
    figures = [o for c in code for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(figures) >= 6  # lattice, fields, and per question: curves and final lattices
    text = "\n".join(
        o.get("data", {}).get("text/plain", "") + o.get("text", "") for c in code for o in c.outputs
    )
    for arm in ("low_dose_rt_then_ici", "ici_bevacizumab_5", "ici_bevacizumab_30"):
        assert arm in text  # the final-day tables name every arm
    assert "time_h" in text  # the table of the first days
