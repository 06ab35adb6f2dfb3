"""Running trials: one row per patient × arm, the same rows on any executor, a paired design
whose arm differences are less noisy than independent seeds, and resume after a kill."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from gcsim.scenario import ScenarioError
from gcsim.sweep.execute import InProcess, LocalPool
from gcsim.trial.execute import plan_trial, run_trial
from gcsim.trial.load import load_trial
from gcsim.trial.simulate import visit_days
from trial_helpers import BASE, TRIAL, write_trial

SCALARS = ["patient", "arm", "seed", "best_response", "pfs_days", "best_pct_change",
           "baseline_sld_mm", "bl_cd8_margin_per_mm2", "d21_sld_pct"]  # fmt: skip


def _run(path, out, executor, **kw):
    trial = load_trial(path)
    return run_trial(trial, plan_trial(trial), out, executor, report=False, **kw)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    directory = tmp_path_factory.mktemp("trial")
    path = write_trial(directory, 3)
    summary = _run(path, directory / "out", InProcess())
    assert (summary.ok, summary.failed) == (6, 0)
    return path, directory / "out"


def test_one_row_per_patient_and_arm_with_the_contract_columns(reference):
    _, out = reference
    patients = pd.read_parquet(out / "patients.parquet")
    assert sorted(zip(patients["patient"], patients["arm"], strict=True)) == [
        (p, a) for p in range(3) for a in ("control", "ici")
    ]
    needed = ("cps", "growth", "best_response", "pfs_days", "pfs_event", "scan_days",
              "scan_sld_mm", "scan_categories", "bl_cd8_treg_ratio", "d21_sld_pct")  # fmt: skip
    for column in needed:
        assert column in patients.columns, column
    for _, row in patients.iterrows():
        assert len(row["scan_days"]) == len(row["scan_sld_mm"]) == len(row["scan_categories"])
        assert row["scan_days"][0] == 0 and row["scan_sld_mm"][0] == row["baseline_sld_mm"]
    meta = json.loads((out / "trial.json").read_text())
    assert meta["accounting"]["candidates"] == 3 and meta["design"] == "paired"
    cohort = pd.read_parquet(out / "cohort.parquet")
    assert len(cohort) == 3 and cohort["overrides"].str.contains("tumor.pdl1_cps=").all()


def test_paired_arms_live_the_same_screening_phase(reference):
    """Until the first dose, the arms of a patient are the same simulation: identical baseline."""
    _, out = reference
    patients = pd.read_parquet(out / "patients.parquet")
    baseline = [c for c in patients.columns if c.startswith("bl_")] + ["baseline_sld_mm"]
    for _, rows in patients.groupby("patient"):
        first, second = rows[baseline].to_numpy(float)
        assert np.array_equal(first, second, equal_nan=True)


def test_same_trial_same_rows_on_a_pool_of_two(reference, tmp_path):
    path, expected = reference
    _run(path, tmp_path / "pool", LocalPool(2))
    a = pd.read_parquet(expected / "patients.parquet")[SCALARS]
    b = pd.read_parquet(tmp_path / "pool" / "patients.parquet")[SCALARS]
    pd.testing.assert_frame_equal(a, b)


def test_same_trial_same_rows_on_a_dask_cluster(reference, tmp_path):
    from distributed import LocalCluster

    from gcsim.sweep.execute import DaskCluster

    path, expected = reference
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        summary = _run(path, tmp_path / "dask", DaskCluster(cluster.scheduler_address))
    assert summary.failed == 0
    hosts = {json.loads(p.read_text())["host"] for p in (tmp_path / "dask" / "patients").iterdir()}
    assert len(hosts) == 2  # both workers took patients
    a = pd.read_parquet(expected / "patients.parquet")[SCALARS]
    b = pd.read_parquet(tmp_path / "dask" / "patients.parquet")[SCALARS]
    pd.testing.assert_frame_equal(a, b)


def test_visit_days_move_within_the_window_on_the_record_grid_and_keep_their_order():
    schedule = np.arange(0.0, 365.0, 42.0)
    moved = visit_days(schedule, 7.0, 1.0, seed=11, follow_up=364.0)
    assert moved[0] == 0 and np.all(np.diff(moved) > 0)
    offsets = moved[1:] - schedule[1:]
    assert np.all(np.abs(offsets) <= 7) and np.all(offsets == np.round(offsets))
    assert len(set(offsets.tolist())) > 3  # drawn, not one shift
    assert np.array_equal(moved, visit_days(schedule, 7.0, 1.0, seed=11, follow_up=364.0))
    assert not np.array_equal(moved, visit_days(schedule, 7.0, 1.0, seed=12, follow_up=364.0))
    assert visit_days(schedule, 0.0, 1.0, seed=11, follow_up=364.0) is schedule


def test_a_visit_window_moves_each_patients_scans_alike_in_every_arm(tmp_path):
    path = write_trial(
        tmp_path, 3, TRIAL.replace("every_days: 21}", "every_days: 21, window_days: 3}")
    )
    _run(path, tmp_path / "out", InProcess())
    patients = pd.read_parquet(tmp_path / "out" / "patients.parquet")
    visits = {}
    for (patient, _), row in patients.groupby(["patient", "arm"]):
        days = np.asarray(row["scan_days"].iloc[0])
        assert days[0] == 0 and np.all(np.abs(days[1:] - 21 * np.arange(1, len(days))) <= 3)
        visits.setdefault(patient, []).append(days)
    for first, *others in visits.values():
        for other in others:  # paired: the arms share the visits (up to an early stop)
            n = min(len(first), len(other))
            assert np.array_equal(first[:n], other[:n])
    scheduled = [d for days in patients["scan_days"] for d in days[1:]]
    assert any(d % 21 for d in scheduled), "a 3-day window moved no scan of six patient-arms"


def test_implausible_candidates_are_rejected_in_every_arm(tmp_path):
    text = TRIAL.replace("screening: {days: 7}", "screening:\n  days: 7\n  plausible: "
                         "{screen_sld_pct: {min: 0.5}}")  # fmt: skip
    path = write_trial(tmp_path, 4, text.replace("sigma: 0.2", "sigma: 0.6"))
    _run(path, tmp_path / "out", InProcess())
    cohort = pd.read_parquet(tmp_path / "out" / "cohort.parquet")
    patients = pd.read_parquet(tmp_path / "out" / "patients.parquet")
    grew = cohort["screen_sld_pct"] >= 0.5
    assert 0 < grew.sum() < 4, "the bound must split this cohort for the test to mean anything"
    assert (cohort["plausible"] == grew).all()
    assert set(patients["patient"]) == set(cohort.loc[grew, "patient"])
    assert (cohort.loc[~grew, "implausible_because"].str.contains("screen_sld_pct")).all()
    meta = json.loads((tmp_path / "out" / "trial.json").read_text())
    assert meta["accounting"]["rejected_fraction"] == pytest.approx(1 - grew.mean())


def test_pairing_lowers_the_variance_of_arm_differences(tmp_path):
    """The same patient in both arms (common random numbers) vs the arms with unrelated seeds:
    the per-patient difference in best % change varies less when paired. The windows start
    from their initial condition (no spin-up), whose random start is the noise the common
    streams remove; after a spin-up the windows' streams move a lesion's day-21 size less
    (decision 0027) and six patients cannot resolve the difference."""
    text = TRIAL.replace("uniform: [0, 30]", "uniform: [10, 11]")
    # no plausibility bound: with unrelated seeds the arms screen different tumours
    text = text.replace("screening: {days: 7}", "screening: {days: 7, plausible: {}}")
    base = BASE.replace("spinup_days: 2", "spinup_days: 0")
    assert base != BASE
    path = write_trial(tmp_path, 6, text, base)
    trial = load_trial(path)
    plan = plan_trial(trial)
    unpaired = dataclasses.replace(
        plan,
        tasks=[
            dataclasses.replace(t, seed=t.seed + 1) if t.arm == "ici" else t for t in plan.tasks
        ],
    )
    differences = []
    for name, p in (("paired", plan), ("unpaired", unpaired)):
        run_trial(trial, p, tmp_path / name, LocalPool(2), report=False)
        table = pd.read_parquet(tmp_path / name / "patients.parquet")
        wide = table.pivot(index="patient", columns="arm", values="d21_sld_pct")
        differences.append((wide["ici"] - wide["control"]).to_numpy())
    paired, independent = differences
    assert np.var(paired) < 0.5 * np.var(independent), (paired, independent)


def test_abscopal_lesions_are_counted_outside_the_field(tmp_path):
    """The radiotherapy arm irradiates liver1 and spares the primary: evaluable, and liver1's
    own shrinkage never counts; without radiotherapy nothing is evaluable."""
    text = TRIAL.replace("ici: {arm: pembrolizumab}", "rt: {arm: rt_pembrolizumab}")
    path = write_trial(tmp_path, 2, text)
    _run(path, tmp_path / "out", InProcess())
    patients = pd.read_parquet(tmp_path / "out" / "patients.parquet").set_index("arm")
    rt, control = patients.loc["rt"], patients.loc["control"]
    assert (rt["irradiated_lesions"] == 1).all() and rt["abscopal_evaluable"].all()
    assert (rt["abscopal_lesions"] <= 1).all()  # one lesion outside the field
    assert (control["irradiated_lesions"] == 0).all()
    assert not control["abscopal_evaluable"].any() and (control["abscopal_lesions"] == 0).all()


def test_a_trial_over_parameter_sets_reports_their_spread(tmp_path):
    """The same two patients under two parameter sets (kill probability ×½ and ×2): one row per
    set × patient × arm, the patients' draws and seeds shared, the endpoints per set."""
    (tmp_path / "sets.csv").write_text("cd8.kill_probability\n0.05\n0.4\n")
    text = TRIAL.replace("biomarkers: false", "biomarkers: false\nparameter_sets: {file: sets.csv}")
    text = text.replace("screening: {days: 7}", "screening: {days: 7, plausible: {}}")
    path = write_trial(tmp_path, 2, text)
    trial = load_trial(path)
    summary = run_trial(trial, plan_trial(trial), tmp_path / "out", LocalPool(2))
    assert summary.total == 8 and summary.failed == 0
    patients = pd.read_parquet(tmp_path / "out" / "patients.parquet")
    assert sorted(set(patients["parameter_set"])) == [0, 1] and len(patients) == 8
    by_set = patients.set_index(["parameter_set", "patient", "arm"]).sort_index()
    assert (by_set.loc[0, "cps"].to_numpy() == by_set.loc[1, "cps"].to_numpy()).all()
    assert (by_set.loc[0, "seed"].to_numpy() == by_set.loc[1, "seed"].to_numpy()).all()
    meta = json.loads((tmp_path / "out" / "trial.json").read_text())
    uncertainty = meta["endpoints"]["parameter_uncertainty"]
    assert uncertainty["sets"] == 2 and set(uncertainty["by_set"]) == {"0", "1"}
    assert "Parameter uncertainty" in (tmp_path / "out" / "report.html").read_text()


def test_a_parameter_set_file_with_an_unknown_name_is_a_located_error(tmp_path):
    (tmp_path / "sets.csv").write_text("cd8.kill_probabilty\n0.05\n")
    text = TRIAL.replace("biomarkers: false", "biomarkers: false\nparameter_sets: {file: sets.csv}")
    with pytest.raises(ScenarioError, match=r"trial.yaml:\d+:\d+: parameter_sets.file: .*no "
                       "parameter 'cd8.kill_probabilty'"):  # fmt: skip
        load_trial(write_trial(tmp_path, 2, text))
    text = text.replace("sets.csv", "missing.csv")
    with pytest.raises(ScenarioError, match=r"parameter_sets\.file: cannot read"):
        load_trial(write_trial(tmp_path, 2, text))


def _finished(out) -> int:
    return len(list((out / "patients").glob("*.json"))) if (out / "patients").is_dir() else 0


def test_resume_after_sigkill_gives_one_row_per_patient_and_arm(tmp_path):
    path = write_trial(tmp_path, 4)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "gcsim.cli", "trial", str(path), "--out", str(out)]
    process = subprocess.Popen(
        [*command, "--workers", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while _finished(out) < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=60)
    done = _finished(out)
    assert 2 <= done < 8, "the trial must be killed mid-way for this test to mean anything"
    (out / "patients" / "p00003-ici.json.tmp").write_text('{"task_id": "p0000')  # a torn write
    resumed = subprocess.run(
        [*command, "--workers", "0", "--resume", "--no-biomarkers"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"8 patient runs ({done} done)" in resumed.stdout
    patients = pd.read_parquet(out / "patients.parquet")
    assert len(patients) == 8
    assert not patients.duplicated(["patient", "arm"]).any()
    assert not list((out / "patients").glob("*.tmp"))


def test_cli_refuses_bad_input_with_exit_2_and_writes_nothing(tmp_path):
    path = write_trial(tmp_path, 3, TRIAL.replace("{arm: pembrolizumab}", "{arm: nivo}"))
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "gcsim.cli", "trial", str(path), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "trial.yaml:" in lines[0] and "arms.ici.arm" in lines[0]
    assert not out.exists()
