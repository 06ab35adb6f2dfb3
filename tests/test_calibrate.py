"""gcsim calibrate: emulators, history matching, ABC on a toy simulator with a known answer,
resuming, located errors in calibration files, and the full-run path on a tiny sweep."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ruamel.yaml import YAML
from typer.testing import CliRunner

from gcsim.calibrate.emulator import fit_emulator
from gcsim.calibrate.history import non_implausible
from gcsim.calibrate.run import read_store, run_calibration
from gcsim.calibrate.simulator import FunctionSimulator
from gcsim.calibrate.spec import Target, load_calibration
from gcsim.cli import app
from gcsim.scenario import ScenarioError, load_scenario
from sweep_helpers import BASELINE, SMALL

A, B = "parameters.cd8.kill_probability", "parameters.tumor.stroma_invasion"
A_TRUE, B_TRUE = 0.6, 0.4
READOUTS = ("final_burden_ratio", "burden_auc")  # stand-ins: y1 = a·b, y2 = a (+ noise)


def toy(values, rng):
    a, b = values[A], values[B]
    return {
        "final_burden_ratio": a * b + rng.normal(0, 0.005),
        "burden_auc": a + rng.normal(0, 0.01),
    }


def write_calibration(directory: Path, generations: int = 4, **extra) -> Path:
    spec = {
        "name": "toy",
        "sweep": {
            "name": "toy_sweep",
            "scenario": str(BASELINE),
            "set": SMALL,
            "seed": 5,
            "metrics": list(READOUTS),
        },
        "parameters": {A: {"range": [0.1, 1.0]}, B: {"range": [0.1, 1.0]}},
        "targets": {
            "final_burden_ratio": {"value": A_TRUE * B_TRUE, "sd": 0.01},
            "burden_auc": {"value": A_TRUE, "sd": 0.02},
        },
        "design": {"method": "sobol", "samples": 16},
        "history_matching": {"waves": 2, "samples": 16},
        "abc": {"population": 60, "generations": generations},
        "confirm": {"replicates": 2},
        **extra,
    }
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "toy.yaml"
    path.write_text(json.dumps(spec, indent=2))
    return path


# --- emulator and history matching -----------------------------------------------------------


def _sobol(n: int, d: int, seed: int = 1) -> np.ndarray:
    from scipy.stats import qmc

    return qmc.Sobol(d, scramble=True, seed=seed).random(n)


def test_emulator_of_a_smooth_function_is_accepted_and_a_noisy_one_rejected():
    unit = _sobol(32, 2)
    rng = np.random.default_rng(0)
    readouts = pd.DataFrame(
        {
            "smooth": np.sin(3 * unit[:, 0]) + unit[:, 1] ** 2,
            "noise": rng.normal(size=len(unit)),
        }
    )
    emulator = fit_emulator(unit, readouts, np.arange(len(unit)), q2_min=0.8, folds=5)
    assert emulator.readouts["smooth"].q2 >= 0.95
    assert emulator.readouts["noise"].q2 < 0.8
    assert emulator.accepted == ["smooth"] and emulator.rejected == ["noise"]


def test_history_matching_rules_out_the_known_implausible_region():
    unit = _sobol(32, 2)
    emulator = fit_emulator(unit, pd.DataFrame({"y": unit[:, 0]}), np.arange(32))
    target = [Target("y", 0.2, 0.02, 0.0)]
    grid = np.array([[0.2, 0.1], [0.22, 0.9], [0.6, 0.5], [0.9, 0.2], [0.05, 0.5]])
    keep = non_implausible([emulator], target, grid, cutoff=3.0)
    assert keep.tolist() == [True, True, False, False, False]


# --- the pipeline on a toy simulator ---------------------------------------------------------


class Interrupt:
    """A toy simulator that stops (like Ctrl-C) after ``limit`` runs."""

    def __init__(self, limit: int):
        self.limit = limit
        self.inner = FunctionSimulator(self._fn, READOUTS, "toy")

    def _fn(self, values, rng):
        if self.inner.calls > self.limit:
            raise KeyboardInterrupt
        return toy(values, rng)


def _summary(out: Path) -> dict:
    summary = json.loads((out / "posterior.json").read_text())
    return {k: summary[k] for k in ("parameters", "chosen", "abc", "confirmation")}


def test_toy_calibration_recovers_the_truth_resumes_and_is_deterministic(tmp_path):
    file_a = write_calibration(tmp_path / "a")
    sim_a = FunctionSimulator(toy, READOUTS, "toy")
    summary = run_calibration(load_calibration(file_a), simulator=sim_a, batch_points=4)
    out_a = tmp_path / "a" / "toy"
    for path, truth in ((A, A_TRUE), (B, B_TRUE)):
        low, high = summary["parameters"][path]["interval_90"]
        assert low <= truth <= high, (path, low, high)
        assert summary["parameters"][path]["identifiable"]
    assert all(c["consistent"] for c in summary["confirmation"]["readouts"].values())
    for name in ("parameters.yaml", "posterior.md", "emulator.json", "abc.db", "fit.png"):
        assert (out_a / name).is_file(), name
    assert {"marginals.png", "pairs.png", "design.parquet"} <= {p.name for p in out_a.iterdir()}
    emulator = json.loads((out_a / "emulator.json").read_text())
    assert emulator["final"]["accepted"] == list(READOUTS)
    # parameters.yaml is a scenario's `parameters:` mapping as it is
    chosen = YAML(typ="safe").load((out_a / "parameters.yaml").read_text())
    scenario = load_scenario(BASELINE, [f"parameters.{k}={v}" for k, v in chosen.items()])
    assert scenario.parameters["cd8.kill_probability"] == pytest.approx(summary["chosen"][A])

    # the same calibration, interrupted in the design and again between ABC generations
    file_b = write_calibration(tmp_path / "b", generations=2)
    interrupted = Interrupt(limit=9)
    with pytest.raises(KeyboardInterrupt):
        run_calibration(load_calibration(file_b), simulator=interrupted.inner, batch_points=4)
    stored = read_store(tmp_path / "b" / "toy" / "design.parquet")
    assert len(stored) == 8  # two batches of 4 points were stored before the stop
    with pytest.raises(Exception, match="--resume"):
        run_calibration(load_calibration(file_b), simulator=interrupted.inner)
    resumed = FunctionSimulator(toy, READOUTS, "toy")
    with pytest.raises(Exception, match="run --stage design first"):  # abc alone runs nothing
        run_calibration(load_calibration(file_b), simulator=resumed, resume=True, stage="abc")
    assert resumed.calls == 0
    run_calibration(load_calibration(file_b), simulator=resumed, resume=True, batch_points=4)
    assert resumed.calls == sim_a.calls - len(stored)  # finished points were not rerun
    write_calibration(tmp_path / "b", generations=4)  # two more generations on the history
    again = FunctionSimulator(toy, READOUTS, "toy")
    run_calibration(load_calibration(file_b), simulator=again, resume=True)
    assert again.calls == 2  # only the confirmation, at the new posterior's chosen set
    out_b = tmp_path / "b" / "toy"
    assert _summary(out_b) == _summary(out_a)  # same seed: same design and same posterior
    design_a, design_b = (read_store(o / "design.parquet") for o in (out_a, out_b))
    pd.testing.assert_frame_equal(design_a, design_b)


def test_abc_stage_needs_the_design(tmp_path):
    file = write_calibration(tmp_path)
    with pytest.raises(Exception, match="run --stage design first"):
        run_calibration(
            load_calibration(file),
            simulator=FunctionSimulator(toy, READOUTS, "toy"),
            stage="abc",
        )


# --- calibration files -----------------------------------------------------------------------

GOOD = f"""\
name: bad
sweep:
  name: s
  scenario: {BASELINE}
  metrics: [final_burden_ratio]
parameters:
  parameters.tumor.cycle_rate: {{range: [0.01, 0.05]}}
targets:
  final_burden_ratio: {{value: 2.0, sd: 0.5}}
"""


@pytest.mark.parametrize(
    ("old", "new", "line", "col", "message"),
    [
        ("name: bad\n", "name: bad\nwaves: 3\n", 2, 1, "unknown key 'waves'"),
        ("parameters.tumor.cycle_rate:", "parameters.tumor.cycle_speed:", 7, 3, "not a parameter"),
        ("[0.01, 0.05]", "[0.01, 2.0]", 7, 33, "outside the table's range [0, 1]"),
        ("sd: 0.5", "sd: -0.5", 9, 40, "greater than 0"),
        (
            f"sweep:\n  name: s\n  scenario: {BASELINE}\n  metrics: [final_burden_ratio]\n",
            "sweep: missing_sweep.yaml\n",
            2,
            1,
            "missing_sweep.yaml",
        ),
    ],
    ids=["unknown-key", "unknown-parameter", "range-outside-table", "negative-sd", "no-sweep"],
)
def test_bad_calibration_files_give_located_one_line_errors(tmp_path, old, new, line, col, message):
    assert old in GOOD
    path = tmp_path / "bad.yaml"
    path.write_text(GOOD.replace(old, new))
    with pytest.raises(ScenarioError) as caught:
        load_calibration(path)
    text = str(caught.value)
    assert text.startswith(f"{path}:{line}:{col}: "), text
    assert message in text and "\n" not in text


def test_good_file_and_shipped_example_load():
    path = Path(__file__).parent.parent / "scenarios" / "calibration" / "example.yaml"
    cal = load_calibration(path)
    assert [p.name for p in cal.priors] == [
        "tumor.cycle_rate",
        "cd8.kill_probability",
        "oxygen.consumption_tumor",
    ]
    assert cal.priors[1].low == 0.02 and cal.priors[1].distribution == "loguniform"  # sweep's
    hypoxic = next(t for t in cal.targets if t.readout == "hypoxic_fraction")
    assert (hypoxic.mean, hypoxic.sd_obs) == pytest.approx((0.15, 0.05))  # range = mean ± 2 sd


# --- the full-run path and the command line --------------------------------------------------


def test_cli_runs_a_tiny_design_of_full_runs_and_resumes(tmp_path):
    spec = json.loads(write_calibration(tmp_path).read_text())
    spec["design"] = {"method": "latin", "samples": 4}
    spec["sweep"]["set"] = {**SMALL, "domain.width": 30, "domain.height": 30, "time.days": 2}
    file = tmp_path / "tiny.yaml"
    file.write_text(json.dumps(spec))
    runner = CliRunner()
    result = runner.invoke(app, ["calibrate", str(file), "--stage", "design", "--workers", "0"])
    assert result.exit_code == 0, result.output
    store = read_store(tmp_path / "tiny" / "design.parquet")
    assert len(store) == 4 and (store["status"] == "ok").all()
    assert np.isfinite(store["final_burden_ratio"]).all()
    assert store[A].between(0.1, 1.0).all()
    again = runner.invoke(app, ["calibrate", str(file), "--stage", "design", "--workers", "0"])
    assert again.exit_code == 2 and "--resume" in again.output
    resumed = runner.invoke(
        app, ["calibrate", str(file), "--stage", "design", "--workers", "0", "--resume"]
    )
    assert resumed.exit_code == 0 and "all done" in resumed.output


def test_cli_bad_file_is_one_line_and_exit_2(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(GOOD.replace("sd: 0.5", "sd: -0.5"))
    result = CliRunner().invoke(app, ["calibrate", str(path)])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and f"{path}:9:" in result.output
