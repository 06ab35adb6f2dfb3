"""Running sweeps: identical results on any executor, failures recorded, resume after a kill,
and the analysis of the results."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from typer.testing import CliRunner

from gcsim.cli import RUNS_FAILED, app
from gcsim.sweep.analyze import analyze_sweep
from gcsim.sweep.design import plan_runs
from gcsim.sweep.execute import InProcess, LocalPool, SweepDirectoryError, run_sweep
from gcsim.sweep.spec import load_sweep
from sweep_helpers import SLOWER, assert_same_results, fail_on_even_points, results, write_sweep

THREE_LEVELS = {
    "tumor.pdl1_cps": {"levels": [1, 10, 40]},
    "immune.phenotype": {"levels": ["inflamed", "desert"]},
}  # 6 points × 2 replicates = 12 runs


def _run(sweep_file, out, executor, **kwargs):
    sweep = load_sweep(sweep_file)
    return run_sweep(sweep, plan_runs(sweep), out, executor, **kwargs)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The 8-run factorial sweep, run in this process: what every executor must reproduce."""
    directory = tmp_path_factory.mktemp("reference")
    sweep_file = write_sweep(directory)
    summary = _run(sweep_file, directory / "out", InProcess())
    assert (summary.ok, summary.failed) == (8, 0)
    return sweep_file, directory / "out"


@pytest.fixture(scope="module")
def reference12(tmp_path_factory):
    directory = tmp_path_factory.mktemp("reference12")
    sweep_file = write_sweep(directory, factors=THREE_LEVELS, name="twelve", fixed=SLOWER)
    _run(sweep_file, directory / "out", InProcess())
    return sweep_file, directory / "out"


def test_sweep_directory_has_one_row_per_run(reference):
    _, out = reference
    design = pd.read_parquet(out / "design.parquet")
    metrics, series = results(out)
    assert len(design) == len(metrics) == len(series) == 8
    assert list(design["run_id"]) == list(metrics["run_id"]) == sorted(series)
    assert {"tumor.pdl1_cps", "immune.phenotype", "seed", "overrides"} <= set(design.columns)
    assert (metrics["status"] == "ok").all()
    assert metrics["final_burden_ratio"].notna().all()
    assert not metrics["tumor_reached_edge"].any()  # 200 µm in 800 µm: far from the edge
    info = json.loads((out / "sweep.json").read_text())
    assert info["runs"] == 8 and info["versions"]["numba"]
    assert (out / "metrics_vs_factors.png").read_bytes()[:4] == b"\x89PNG"
    first = series["p0-r0"]
    assert list(first.columns[:4]) == ["run_id", "arm", "replicate", "time_h"]


def test_a_run_matches_gcsim_run_with_its_overrides(reference):
    # The design table's overrides reproduce a run outside the sweep.
    from gcsim.model import GastricTumorModel
    from gcsim.runner import timeseries_table
    from gcsim.scenario import load_scenario
    from sweep_helpers import BASELINE

    _, out = reference
    row = pd.read_parquet(out / "design.parquet").iloc[5]
    model = GastricTumorModel(load_scenario(BASELINE, row["overrides"].split()))
    model.run()
    table = timeseries_table(model, row["run_id"], row["arm"], row["replicate"])
    pd.testing.assert_frame_equal(table, results(out)[1][row["run_id"]])


@pytest.mark.parametrize("workers", [1, 2])
def test_process_pool_gives_identical_results(reference, tmp_path, workers):
    sweep_file, expected = reference
    _run(sweep_file, tmp_path / "out", LocalPool(workers))
    assert_same_results(expected, tmp_path / "out")


def test_failing_runs_are_recorded_and_the_sweep_goes_on(reference, tmp_path):
    sweep_file, expected = reference
    summary = _run(sweep_file, tmp_path / "out", LocalPool(1), simulate_fn=fail_on_even_points)
    assert (summary.total, summary.ok, summary.failed) == (8, 4, 4)
    metrics, _ = results(tmp_path / "out")
    failed = metrics[metrics["status"] == "failed"]
    assert sorted(failed["point"]) == [0, 0, 2, 2]
    assert failed["error"].str.startswith("FloatingPointError: injected failure in p").all()
    assert failed["final_burden_ratio"].isna().all()
    record = json.loads((tmp_path / "out" / "runs" / "p0-r1.json").read_text())
    assert record["values"] == {"tumor.pdl1_cps": 1, "immune.phenotype": "inflamed"}
    assert "Traceback" in record["traceback"]
    good, _ = results(expected)
    pd.testing.assert_frame_equal(  # (an all-None error column reads back as another dtype)
        metrics[metrics["status"] == "ok"].drop(columns="error").reset_index(drop=True),
        good[good["point"] % 2 == 1].drop(columns="error").reset_index(drop=True),
    )


def test_cli_exits_non_zero_with_the_failure_count_then_resume_retries(
    reference, tmp_path, monkeypatch
):
    from gcsim.model import GastricTumorModel

    sweep_file, expected = reference
    run = GastricTumorModel.run

    def flaky(model, progress=None):
        if model.spec.tumor.pdl1_cps == 40:
            raise RuntimeError("lost the lattice")
        return run(model, progress)

    monkeypatch.setattr(GastricTumorModel, "run", flaky)
    out = tmp_path / "out"
    cli = CliRunner()
    result = cli.invoke(app, ["sweep", str(sweep_file), "--out", str(out), "--workers", "0"])
    assert result.exit_code == RUNS_FAILED, result.output
    assert "4 of 8 runs failed" in result.stderr
    assert "RuntimeError: lost the lattice" in result.stderr
    again = cli.invoke(app, ["sweep", str(sweep_file), "--out", str(out), "--workers", "0"])
    assert again.exit_code == 2 and "--resume" in again.stderr  # never overwrites silently
    monkeypatch.setattr(GastricTumorModel, "run", run)
    resumed = cli.invoke(
        app, ["sweep", str(sweep_file), "--out", str(out), "--workers", "0", "--resume"]
    )
    assert resumed.exit_code == 0, resumed.output
    assert_same_results(expected, out)


def test_resume_refuses_a_directory_of_another_sweep(reference, tmp_path):
    _, out = reference
    other = write_sweep(tmp_path, seed=8)
    sweep = load_sweep(other)
    with pytest.raises(SweepDirectoryError, match="different sweep"):
        run_sweep(sweep, plan_runs(sweep), out, InProcess(), resume=True)


def _finished(out) -> int:
    return len(list((out / "runs").glob("*.json"))) if (out / "runs").is_dir() else 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_resume_after_a_kill_finishes_with_one_result_per_run(reference12, tmp_path, sig):
    sweep_file, expected = reference12
    out = tmp_path / "out"
    command = [sys.executable, "-m", "gcsim.cli", "sweep", str(sweep_file), "--out", str(out)]
    process = subprocess.Popen(
        [*command, "--workers", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a group, like a terminal's foreground job
    )
    deadline = time.monotonic() + 120
    while _finished(out) < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(process.pid, sig)  # Ctrl-C reaches the workers too; SIGKILL leaves no cleanup
    _, stderr = process.communicate(timeout=60)
    done = _finished(out)
    assert 2 <= done < 12, "the sweep must be killed mid-way for this test to mean anything"
    if sig == signal.SIGINT:
        assert process.returncode == 130
        assert "rerun with --resume" in stderr
    else:
        assert process.returncode == -signal.SIGKILL
    for path in (out / "runs").glob("*.json"):  # whatever is there must be whole
        record = json.loads(path.read_text())
        assert record["status"] == "ok"
        pd.read_parquet(path.with_suffix(".parquet"))
    # What a kill between writing and renaming leaves: ignored, then replaced.
    (out / "runs" / "p5-r1.json.tmp").write_text('{"run_id": "p5-r1", "sta')
    (out / "runs" / "p5-r1.parquet").write_bytes(b"PAR1 half a file")
    resumed = subprocess.run(  # in process: the executor may change between the two
        [*command, "--workers", "0", "--resume"], capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"12 runs ({done} done)" in resumed.stdout
    assert sorted(p.name for p in (out / "runs").iterdir()) == sorted(
        f"p{p}-r{r}.{ext}" for p in range(6) for r in range(2) for ext in ("json", "parquet")
    )
    assert_same_results(expected, out)


# --- analysis --------------------------------------------------------------------------------


def test_factorial_analysis_gives_main_effects(reference):
    _, out = reference
    analysis = analyze_sweep(out)
    effects = pd.read_csv(out / "analysis" / "main_effects.csv")
    metrics, _ = results(out)
    design = pd.read_parquet(out / "design.parquet")
    low = metrics[design["tumor.pdl1_cps"] == 1]["final_burden_ratio"]
    row = effects[
        (effects["metric"] == "final_burden_ratio")
        & (effects["factor"] == "tumor.pdl1_cps")
        & (effects["level"] == "1")
    ]
    assert row["mean"].item() == pytest.approx(low.mean())
    assert row["n"].item() == 4
    assert analysis.method == "main effects"
    assert (out / "analysis" / "main_effects.png").exists()


@pytest.mark.parametrize(
    ("design", "indices"),
    [
        ({"method": "sobol", "samples": 2}, {"S1", "ST"}),
        ({"method": "sobol", "samples": 2, "second_order": True}, {"S1", "ST", "S2"}),
        ({"method": "morris", "samples": 2}, {"mu_star", "sigma"}),
        ({"method": "latin", "samples": 12}, {"S1"}),
    ],
)
def test_sampling_designs_give_indices_with_confidence_intervals(tmp_path, design, indices):
    factors = {
        "tumor.pdl1_cps": {"range": [1, 60]},
        "parameters.cd8.kill_probability": {"range": [0.02, 0.5], "distribution": "loguniform"},
    }
    metrics = {"metrics": ["final_burden_ratio", "best_response"]}
    sweep_file = write_sweep(tmp_path, design=design, factors=factors, replicates=1, extra=metrics)
    _run(sweep_file, tmp_path / "out", InProcess())
    result = CliRunner().invoke(app, ["analyze", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "best_response: categorical" in result.stderr
    table = pd.read_parquet(tmp_path / "out" / "analysis" / "indices.parquet")
    assert set(table["index"]) == indices
    pairs = {" × ".join(factors)} if "S2" in indices else set()
    assert set(table["factor"]) == set(factors) | pairs
    assert set(table["metric"]) == {"final_burden_ratio"}
    main = table[table["index"].isin({"S1", "mu_star"})]
    assert main["value"].notna().all() and (main["conf"] >= 0).all()
    assert (tmp_path / "out" / "analysis" / "indices.png").exists()


def test_analyze_refuses_an_unfinished_directory(tmp_path):
    result = CliRunner().invoke(app, ["analyze", str(tmp_path)])
    assert result.exit_code == 2
    assert "not a finished sweep" in result.stderr


def test_a_multi_arm_sweep_is_analysed_per_arm(tmp_path):
    base = tmp_path / "arms.yaml"
    base.write_text(
        "name: arms\ndomain: {width: 40, height: 40}\ntumor: {initial_radius_um: 160}\n"
        "time: {days: 4}\narms:\n  control: []\n  rt:\n    - type: radiotherapy\n"
        "      dose_per_fraction: {value: 4, unit: Gy}\n      schedule: {days: [1]}\n"
    )
    sweep = tmp_path / "s.yaml"
    sweep.write_text(
        f"name: a\nscenario: {base}\nseed: 3\ndesign: {{method: factorial}}\nreplicates: 1\n"
        "factors:\n  tumor.pdl1_cps: {levels: [1, 30]}\nmetrics: [final_burden_ratio]\n"
    )
    out = tmp_path / "out"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "gcsim.cli",
            "sweep",
            str(sweep),
            "--out",
            str(out),
            "--workers",
            "0",
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    design = pd.read_parquet(out / "design.parquet")
    assert sorted(design["arm"].unique()) == ["control", "rt"] and len(design) == 4
    analysis = analyze_sweep(out)
    effects = analysis.table.set_index(["arm", "level"])["mean"]
    assert set(analysis.table["arm"]) == {"control", "rt"}
    assert (effects.loc["rt"] < effects.loc["control"]).all()  # 4 Gy shrinks at every level
    assert (out / "analysis" / "main_effects_rt.png").exists()
