"""Arms of a replicate branch from one shared pre-treatment state (gcsim.runner, decision 0010)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gcsim.checkpoint import Checkpoint, branch
from gcsim.model import GastricTumorModel
from gcsim.runner import (
    Trunk,
    arm_seed,
    branch_groups,
    first_treatment_step,
    plan,
    run_scenario,
    run_trunk,
)
from gcsim.scenario import Scenario
from gcsim.snapshots import load_snapshots


def rt(day: float, gray: float = 8.0) -> dict:
    return {
        "type": "radiotherapy",
        "dose_per_fraction": {"value": gray, "unit": "Gy"},
        "schedule": {"days": [day]},
    }


ICI = {
    "type": "checkpoint_inhibitor",
    "drug": "pembrolizumab",
    "dose": {"value": 200, "unit": "mg"},
    "schedule": {"start_day": 1.5},
}
SCENARIO = Scenario.model_validate(
    {
        "name": "branching",
        "seed": 8,
        "domain": {"width": 60, "height": 60},
        "tumor": {"initial_radius_um": 300},
        "time": {"days": 3, "record_every_hours": 6},
        "replicates": 2,
        "arms": {
            "control": [],
            "rt": [rt(1.0)],
            "ici": [ICI],  # starts later than rt: branches at rt's step all the same
            "hot": {"tumor": {"pdl1_cps": 20}, "treatments": [rt(1.0)]},  # its own tumour
        },
    }
)
METRIC_COLUMNS = slice(3, None)  # after run_id, arm, replicate


def test_groups_and_branch_steps():
    assert branch_groups(SCENARIO) == [(("control", "rt", "ici"), 24), (("hot",), None)]
    jobs = {(j.arm, j.replicate): j for j in plan(SCENARIO)}
    assert jobs["rt", 1].branch_step == 24 and jobs["hot", 1].branch_step is None
    assert jobs["rt", 1].seed == jobs["hot", 1].seed  # one tumour per replicate, as before
    assert jobs["rt", 1].arm_seed == arm_seed(8, 1, "rt") != jobs["ici", 1].arm_seed
    assert jobs["rt", 0].arm_seed != jobs["rt", 1].arm_seed


def test_an_arms_stream_does_not_depend_on_the_order_of_the_arms():
    """run.json stores the scenario with sorted keys: re-running it must give the same runs."""
    reordered = Scenario.model_validate(
        SCENARIO.model_dump(mode="json") | {"arms": dict(reversed(SCENARIO.arms.items()))}
    )
    assert list(reordered.arms) == ["hot", "ici", "rt", "control"]
    key = lambda j: (j.arm, j.replicate, j.seed, j.branch_step, j.arm_seed)  # noqa: E731
    assert sorted(map(key, plan(reordered))) == sorted(map(key, plan(SCENARIO)))


@pytest.mark.parametrize(
    ("days", "dt", "expected"),
    [
        ((0.0,), 1.0, 0),
        ((1.0,), 1.0, 24),
        ((1.0,), 0.5, 48),
        ((1.0 / 16,), 1.0, 1),
        ((2.99,), 1.0, 71),
    ],
)
def test_first_treatment_step(days, dt, expected):
    base = SCENARIO.model_dump(mode="json") | {"time": {"days": 3, "dt_hours": dt}}
    scenario = Scenario.model_validate(base | {"arms": {"a": [rt(d) for d in days]}})
    # a dose at t acts in the step that starts at or before t: the trunk stops before it,
    # and never after the run's end
    assert first_treatment_step(scenario, ["a"]) == min(expected, scenario.time.steps)
    untreated = Scenario.model_validate(base | {"arms": {"b": []}})
    assert first_treatment_step(untreated, ["b"]) is None


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("branching")
    one = run_scenario(SCENARIO, root / "one", workers=1, snapshots_every_hours=12)
    two = run_scenario(SCENARIO, root / "two", workers=2, snapshots_every_hours=12)
    return root, one, two


def test_arms_share_the_pre_treatment_rows_then_go_their_own_way(runs):
    _, one, _ = runs
    table = one.timeseries
    for r in range(2):
        rows = {
            arm: table[(table.arm == arm) & (table.replicate == r)].reset_index(drop=True)
            for arm in SCENARIO.arms
        }
        before = {arm: t[t.time_h < 24].iloc[:, METRIC_COLUMNS] for arm, t in rows.items()}
        for arm in ("rt", "ici"):
            pd.testing.assert_frame_equal(before[arm], before["control"], check_exact=True)
        assert len(before["control"]) == 4  # 0, 6, 12, 18 h
        # day 1: the fraction is given at that hour; rt's row counts it, nothing else differs
        at = {arm: t[t.time_h == 24].iloc[0] for arm, t in rows.items()}
        assert (
            at["rt"]["exposure_radiotherapy"] == 8.0 == at["control"]["exposure_radiotherapy"] + 8
        )
        same = at["rt"].index.drop(["run_id", "arm", "exposure_radiotherapy"])
        assert at["rt"][same].equals(at["control"][same])
        # after the branch each arm has its own stream: even the untreated ones part
        after = {arm: t[t.time_h > 24]["cum_engagements"].to_numpy() for arm, t in rows.items()}
        assert not np.array_equal(after["control"], after["ici"])
        # another tumour does not share the trunk
        assert not before["hot"].equals(before["control"])


def test_an_arm_alone_in_its_group_runs_as_before(runs):
    _, one, _ = runs
    job = next(j for j in plan(SCENARIO) if j.arm == "hot" and j.replicate == 1)
    model = GastricTumorModel(SCENARIO, rng=job.seed, arm="hot")
    model.run()
    expected = model.datacollector.get_model_vars_dataframe()
    table = one.timeseries
    got = table[(table.arm == "hot") & (table.replicate == 1)].iloc[:, METRIC_COLUMNS]
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected, check_exact=True)


def test_results_do_not_depend_on_the_number_of_workers(runs):
    root, one, two = runs
    pd.testing.assert_frame_equal(one.timeseries, two.timeseries, check_exact=True)
    pd.testing.assert_frame_equal(one.runs, two.runs, check_exact=True)
    for arm in SCENARIO.arms:
        a, b = (load_snapshots(root / d / f"snapshots_{arm}.npz") for d in ("one", "two"))
        assert a.time_h.tolist() == [0, 12, 24, 36, 48, 60, 72]
        assert np.array_equal(a.tissue, b.tissue) and np.array_equal(a.immune, b.immune)
    frames = {arm: load_snapshots(root / "one" / f"snapshots_{arm}.npz") for arm in SCENARIO.arms}
    assert np.array_equal(frames["rt"].tissue[:3], frames["control"].tissue[:3])  # 0-24 h
    trunks = one.manifest["trunks"]
    assert [(t["run_id"], t["steps"], t["arms"]) for t in trunks] == [
        ("trunk0/r0", 24, ["control", "rt", "ici"]),
        ("trunk0/r1", 24, ["control", "rt", "ici"]),
    ]
    runs_ = {r["run_id"]: r for r in one.manifest["runs"]}
    assert runs_["rt/r0"]["branch_step"] == 24 and runs_["hot/r0"]["branch_step"] is None


def test_branching_on_the_trunks_own_stream_is_the_unbranched_run():
    """Everything branching does but the new stream (restore, therapies started on the trunk's
    state, the branch hour's row measured again) reproduces the run from t = 0 bit for bit."""
    job = next(j for j in plan(SCENARIO) if j.arm == "rt" and j.replicate == 0)
    trunk = run_trunk(SCENARIO, Trunk(job.group, 0, job.seed, job.branch_step), "control")
    checkpoint = Checkpoint.from_bytes(trunk.checkpoint)
    model = branch(checkpoint, SCENARIO, "rt", 1, GastricTumorModel)
    model.rng.bit_generator.state = checkpoint.meta["rng"]  # PCG64: no arrays in its state
    model.run()
    reference = GastricTumorModel(SCENARIO, rng=job.seed, arm="rt")
    reference.run()
    pd.testing.assert_frame_equal(
        model.datacollector.get_model_vars_dataframe(),
        reference.datacollector.get_model_vars_dataframe(),
        check_exact=True,
    )
    for name, array in reference.state.arrays().items():
        assert np.array_equal(array, getattr(model.state, name)), name
