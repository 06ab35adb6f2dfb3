"""Arms × replicates: seeds, parallel execution, tidy results and the per-arm summary."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from gcsim.runner import plan, replicate_seed, run_scenario
from gcsim.scenario import Scenario, load_scenario

ARMS = Scenario.model_validate(
    {
        "name": "arms",
        "seed": 5,
        "domain": {"width": 40, "height": 40},
        "tumor": {"initial_radius_um": 200},
        "time": {"days": 3, "record_every_hours": 24},
        "replicates": 2,
        "arms": {
            "control": [],
            "rt": [
                {
                    "type": "radiotherapy",
                    "dose_per_fraction": {"value": 8, "unit": "Gy"},
                    "schedule": {"days": [1]},
                }
            ],
        },
    }
)


def test_replicates_share_a_seed_across_arms_and_differ_between_replicates():
    jobs = plan(ARMS)
    assert [(j.arm, j.replicate) for j in jobs] == [
        ("control", 0),
        ("control", 1),
        ("rt", 0),
        ("rt", 1),
    ]
    seeds = {(j.arm, j.replicate): j.seed for j in jobs}
    assert seeds["control", 0] == seeds["rt", 0] != seeds["control", 1] == seeds["rt", 1]
    assert replicate_seed(5, 0) == seeds["control", 0]  # a pure function of root and replicate
    assert replicate_seed(6, 0) != seeds["control", 0]


@pytest.fixture(scope="module")
def serial_and_parallel(tmp_path_factory):
    root = tmp_path_factory.mktemp("arms")
    serial = run_scenario(ARMS, root / "serial", workers=1)
    parallel = run_scenario(ARMS, root / "parallel", workers=2)
    return root, serial, parallel


def test_results_do_not_depend_on_the_number_of_workers(serial_and_parallel):
    root, _, _ = serial_and_parallel
    for name in ("timeseries.parquet", "runs.parquet"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(root / "serial" / name), pd.read_parquet(root / "parallel" / name)
        )
    assert (root / "serial" / "arms.csv").read_text() == (
        root / "parallel" / "arms.csv"
    ).read_text()


def test_results_are_tidy_with_arm_and_replicate(serial_and_parallel):
    root, serial, _ = serial_and_parallel
    table = serial.timeseries
    assert set(table["run_id"]) == {"control/r0", "control/r1", "rt/r0", "rt/r1"}
    assert table.groupby(["arm", "replicate"]).size().tolist() == [4, 4, 4, 4]  # days 0..3
    first = table[table["time_h"] == 0].set_index(["arm", "replicate"])["tumor_cells"]
    assert first["control", 0] == first["rt", 0]  # same tumour at the start of a replicate
    assert table.loc[table["arm"] == "rt", "exposure_radiotherapy"].max() == 8.0
    assert table.loc[table["arm"] == "control", "exposure_radiotherapy"].max() == 0.0
    manifest = json.loads((root / "serial" / "run.json").read_text())
    assert [r["run_id"] for r in manifest["runs"]] == ["control/r0", "control/r1", "rt/r0", "rt/r1"]
    assert {"lattice_control.png", "lattice_rt.png", "dynamics.png"} <= set(manifest["files"])
    for name in manifest["files"]:
        assert (root / "serial" / name).is_file(), name


def test_arm_summary_reports_response_and_burden(serial_and_parallel):
    _, serial, _ = serial_and_parallel
    arms = serial.arms.set_index("arm")
    assert (
        arms.loc["rt", "final_burden_ratio_mean"] < arms.loc["control", "final_burden_ratio_mean"]
    )
    assert (arms["replicates"] == 2).all()
    runs = serial.runs
    assert set(runs.columns) >= {"arm", "replicate", "seed", "best_response", "final_burden_ratio"}
    ratio = runs.set_index(["arm", "replicate"])["final_burden_ratio"]
    table = serial.timeseries.set_index(["arm", "replicate"])
    for key, value in ratio.items():
        cells = table.loc[key, "tumor_cells"]
        assert value == pytest.approx(cells.iloc[-1] / cells.iloc[0])


def test_a_therapy_plugin_registers_through_an_entry_point(tmp_path):
    """A third-party package adds a therapy type without touching gcsim."""
    site = tmp_path / "site"
    (site / "gcsim_hbo-0.1.dist-info").mkdir(parents=True)
    (site / "gcsim_hbo-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: gcsim-hbo\nVersion: 0.1\n"
    )
    (site / "gcsim_hbo-0.1.dist-info" / "entry_points.txt").write_text(
        "[gcsim.therapies]\nplugin_oxygen = gcsim_hbo:PluginOxygen\n"
    )
    (site / "gcsim_hbo.py").write_text(
        textwrap.dedent(
            """
            from typing import ClassVar, Literal
            from gcsim.therapies import Therapy, TreatmentConfig


            class Boost(Therapy):
                def apply(self, model, effects):
                    pass

                def exposure(self, t_h):
                    return 1.0


            class PluginOxygen(TreatmentConfig):
                type: Literal["plugin_oxygen"]

                def start(self, model):
                    return Boost(self, model)
            """
        )
    )
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "name: hbo\ndomain: {width: 40, height: 40}\ntumor: {initial_radius_um: 200}\n"
        "time: {days: 1}\narms:\n  hbo:\n    - type: plugin_oxygen\n"
        "      schedule: {start_day: 0}\n"
    )
    env = {"PYTHONPATH": str(site), "PATH": ""}
    validate = subprocess.run(
        [sys.executable, "-m", "gcsim.cli", "validate", str(scenario)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert validate.returncode == 0, validate.stderr
    done = subprocess.run(
        [sys.executable, "-m", "gcsim.cli", "run", str(scenario), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    table = pd.read_parquet(tmp_path / "out" / "timeseries.parquet")
    assert (table["exposure_plugin_oxygen"] == 1.0).all()
    # without the plugin installed, the same file is rejected with a located error
    plain = subprocess.run(
        [sys.executable, "-m", "gcsim.cli", "validate", str(scenario)],
        capture_output=True,
        text=True,
    )
    assert plain.returncode == 2
    assert f"{scenario}:7:" in plain.stderr and "plugin_oxygen" in plain.stderr


def test_set_reaches_an_arms_parameter_whose_name_has_dots(tmp_path):
    """``--set arms.ARM.parameters.NAME`` takes the rest of the key as one parameter name, as
    ``parameters.NAME`` does (a pattern population writes a patient's parameters this way)."""
    path = tmp_path / "arms.yaml"
    path.write_text(
        "name: a\narms:\n  control: {treatments: []}\n"
        "  treated: {parameters: {cd8.kill_probability: 0.1}}\n"
    )
    scenario = load_scenario(path, ["arms.control.parameters.cd8.kill_probability=0.3"])
    assert scenario.for_arm("control").parameters == {"cd8.kill_probability": 0.3}
    assert scenario.for_arm("treated").parameters == {"cd8.kill_probability": 0.1}
