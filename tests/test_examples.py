"""The shipped scenarios run: every arm of every example, shrunk to a tiny lattice."""

from __future__ import annotations

from pathlib import Path

import pytest

from gcsim.runner import run_scenario
from gcsim.scenario import load_scenario

SCENARIOS = sorted((Path(__file__).parent.parent / "scenarios").glob("*.yaml"))
TINY = (
    "domain.width=40",
    "domain.height=40",
    "tumor.initial_radius_um=160",
    "replicates=1",
    "time.dt_hours=4",
)


@pytest.mark.filterwarnings("ignore::gcsim.runner.EdgeWarning")  # a 0.8 mm domain fills up
@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_example_runs_every_arm(path: Path, tmp_path: Path) -> None:
    scenario = load_scenario(path, TINY)
    result = run_scenario(scenario, tmp_path / "out", workers=1)
    assert list(result.arms["arm"]) == list(scenario.arms)
    assert result.timeseries["time_h"].max() == scenario.time.days * 24
    assert (result.timeseries["tumor_cells"] >= 0).all()
