"""`gcsim run`: the run directory, its provenance, its safety and its reproducibility."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from gcsim.io import OutputExistsError
from gcsim.runner import run_scenario
from gcsim.scenario import Scenario, scenario_hash

SMALL = Scenario.model_validate(
    {
        "name": "small",
        "seed": 3,
        "domain": {"width": 50, "height": 50},
        "time": {"days": 2, "record_every_hours": 12},
        "tumor": {"initial_radius_um": 250},
    }
)

EXPECTED_FILES = {
    "run.json",
    "timeseries.parquet",
    "runs.parquet",
    "arms.csv",
    "dynamics.png",
    "lattice_untreated.png",
    "gcsim-output.json",
}


def test_run_writes_a_complete_directory(tmp_path):
    out = tmp_path / "run"
    result = run_scenario(SMALL, out)
    assert {p.name for p in out.iterdir()} == EXPECTED_FILES
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["scenario_hash"] == scenario_hash(SMALL)
    assert manifest["seed"] == 3 and manifest["steps"] == 48
    assert Scenario.model_validate(manifest["scenario"]) == SMALL
    assert {"mesa", "numba", "numpy", "python"} <= set(manifest["versions"])
    table = pd.read_parquet(out / "timeseries.parquet")
    assert list(table.columns[:4]) == ["run_id", "arm", "replicate", "time_h"]
    assert table["time_h"].tolist() == [0, 12, 24, 36, 48]
    pd.testing.assert_frame_equal(table, result.timeseries)
    for png in ("dynamics.png", "lattice_untreated.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_same_seed_gives_identical_timeseries_files(tmp_path):
    run_scenario(SMALL, tmp_path / "a")
    run_scenario(SMALL, tmp_path / "b")
    run_scenario(SMALL.model_copy(update={"seed": 4}), tmp_path / "c")
    a, b, c = (pd.read_parquet(tmp_path / n / "timeseries.parquet") for n in "abc")
    pd.testing.assert_frame_equal(a, b)
    assert not a.drop(columns=["run_id"]).equals(c.drop(columns=["run_id"]))


def test_refuses_a_non_empty_directory_and_keeps_it(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="not empty"):
        run_scenario(SMALL, out)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_overwrite_replaces_a_run_directory(tmp_path):
    out = tmp_path / "run"
    other = Scenario.model_validate(SMALL.model_dump() | {"arms": {"other": []}})
    run_scenario(other, out)
    assert (out / "lattice_other.png").exists()
    run_scenario(SMALL, out, overwrite=True)
    assert {p.name for p in out.iterdir()} == EXPECTED_FILES  # the old run's files are gone
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no temporary leftovers


def test_overwrite_refuses_a_directory_gcsim_did_not_write(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    with pytest.raises(OutputExistsError, match="not a directory gcsim wrote"):
        run_scenario(SMALL, out, overwrite=True)
    assert [p.name for p in out.iterdir()] == ["stale.txt"]


def test_an_interrupted_run_leaves_nothing_behind(tmp_path):
    def interrupt(done, total):
        if done == 10:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_scenario(SMALL, tmp_path / "run", progress=interrupt)
    assert list(tmp_path.iterdir()) == []


def test_edge_contact_is_detected_and_warned(tmp_path):
    crowded = SMALL.model_copy(
        update={"tumor": SMALL.tumor.model_copy(update={"initial_radius_um": 490})}
    )
    with pytest.warns(UserWarning, match="domain edge"):
        result = run_scenario(crowded, tmp_path / "run")
    assert result.manifest["tumor_reached_edge"] is True


def _gcsim(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "gcsim.cli", *args], capture_output=True, text=True, cwd=cwd
    )


def test_cli_run_end_to_end(tmp_path):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "name: cli\ndomain: {width: 40, height: 40}\ntime: {days: 1}\n"
        "tumor: {initial_radius_um: 200}\n"
        "arms: {untreated_control_group_a: [], untreated_control_group_b: []}\n"
    )
    done = _gcsim(
        "run",
        str(scenario),
        "--out",
        "out",
        "--seed",
        "9",
        "--set",
        "tumor.initial_radius_um=180",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "burden / day 0 (range)" in done.stdout
    # piped output: the table is not cut to 80 columns, arm names stay whole and distinct
    assert "untreated_control_group_a" in done.stdout and "untreated_control_group_b" in done.stdout
    assert "…" not in done.stdout
    manifest = json.loads((tmp_path / "out" / "run.json").read_text())
    assert manifest["seed"] == 9 and manifest["scenario"]["tumor"]["initial_radius_um"] == 180
    again = _gcsim("run", str(scenario), "--out", "out", cwd=tmp_path)
    assert again.returncode == 2
    assert again.stderr.strip().endswith("output directory is not empty (use --overwrite)")
    assert "Traceback" not in again.stderr


def test_cli_run_bad_input_writes_nothing(tmp_path):
    scenario = tmp_path / "s.yaml"
    scenario.write_text("name: cli\ntime:\n  days: -3\n")
    done = _gcsim("run", str(scenario), "--out", "out", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        line for line in done.stderr.strip().splitlines() if line.startswith(f"{scenario}:3:")
    ]
    assert "time.days" in done.stderr
    assert not (tmp_path / "out").exists()
