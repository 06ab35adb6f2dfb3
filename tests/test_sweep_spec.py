"""Sweep files: every mistake is a FILE:LINE:COL error before anything runs; designs and seeds."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

from gcsim.scenario import ScenarioError
from gcsim.sweep.design import plan_runs, run_seed
from gcsim.sweep.spec import load_sweep
from sweep_helpers import BASELINE

HEAD = f"""name: t
scenario: {BASELINE}
set: {{domain.width: 40, domain.height: 40, tumor.initial_radius_um: 200, time.days: 3}}
seed: 5
"""


def _errors(tmp_path, body: str) -> list[str]:
    path = tmp_path / "s.yaml"
    path.write_text(HEAD + body)
    with pytest.raises(ScenarioError) as caught:
        plan_runs(load_sweep(path))
    return caught.value.messages


@pytest.mark.parametrize(
    ("body", "line", "col", "field", "text"),
    [
        (  # unknown factor path, with a suggestion
            "design: {method: factorial}\nfactors:\n  tumor.pdl1_cpx: {levels: [1, 5]}\n",
            7, 3, "factors.tumor.pdl1_cpx", "unknown key 'pdl1_cpx' (did you mean 'pdl1_cps'?)",
        ),
        (  # unknown parameter name
            "design: {method: factorial}\nfactors:\n  parameters.cd8.kill_prob: {levels: [0.1]}\n",
            7, 3, "factors.parameters.cd8.kill_prob", "unknown parameter 'cd8.kill_prob'",
        ),
        (  # empty range
            "design: {method: latin, samples: 4}\nfactors:\n"
            "  tumor.pdl1_cps: {range: [5, 5]}\n  stroma.fraction: {range: [0.1, 0.5]}\n",
            7, 20, "factors.tumor.pdl1_cps.range", "'range' is empty",
        ),
        (  # a range outside the field's own range
            "design: {method: latin, samples: 4}\nfactors:\n"
            "  tumor.pdl1_cps: {range: [5, 500]}\n  stroma.fraction: {range: [0.1, 0.5]}\n",
            7, 20, "factors.tumor.pdl1_cps.range", "less than or equal to 100",
        ),
        (  # a level that is not a phenotype
            "design: {method: factorial}\nfactors:\n  immune.phenotype: {levels: [hot]}\n",
            7, 22, "factors.immune.phenotype.levels", "'inflamed', 'excluded' or 'desert'",
        ),
        (  # invalid design method
            "design: {method: halton, samples: 4}\nfactors:\n  tumor.pdl1_cps: {levels: [1]}\n",
            5, 18, "design.method", "'factorial', 'latin', 'sobol' or 'morris'",
        ),
        (  # Sobol' needs a power of two
            "design: {method: sobol, samples: 6}\nfactors:\n"
            "  tumor.pdl1_cps: {range: [1, 5]}\n  stroma.fraction: {range: [0.1, 0.5]}\n",
            5, 34, "design.samples", "power of 2",
        ),
        (  # factorial designs do not take samples
            "design: {method: factorial, samples: 4}\nfactors:\n  tumor.pdl1_cps: {levels: [1]}\n",
            5, 38, "design.samples", "not used by a factorial design",
        ),
        (  # a factorial design cannot run a continuous range
            "design: {method: factorial}\nfactors:\n  tumor.pdl1_cps: {range: [1, 5]}\n",
            7, 20, "factors.tumor.pdl1_cps.range", "needs 'levels', or 'steps'",
        ),
        (  # unknown metric
            "design: {method: factorial}\nfactors:\n  tumor.pdl1_cps: {levels: [1]}\n"
            "metrics: [final_burden_ratio, overall_survival]\n",
            8, 31, "metrics[1]", "Input should be 'final_burden_ratio'",
        ),
        (  # unknown key in the sweep file itself
            "design: {method: factorial}\nreplicate: 3\n"
            "factors:\n  tumor.pdl1_cps: {levels: [1]}\n",
            6, 1, "replicate", "unknown key 'replicate' (did you mean 'replicates'?)",
        ),
    ],
)  # fmt: skip
def test_sweep_file_errors_are_located(tmp_path, body, line, col, field, text):
    messages = _errors(tmp_path, body)
    path = str(tmp_path / "s.yaml")
    assert messages[0].startswith(f"{path}:{line}:{col}: {field}: "), messages
    assert text in messages[0]


def test_a_bad_fixed_override_is_blamed_on_its_key_under_set(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        HEAD.replace("time.days: 3", "time.dayz: 3")
        + "design: {method: factorial}\nfactors:\n  tumor.pdl1_cps: {levels: [1]}\n"
    )
    with pytest.raises(ScenarioError) as caught:
        load_sweep(path)
    assert caught.value.messages[0].startswith(f"{path}:3:74: set.time.dayz: unknown key 'dayz'")


def test_a_value_that_clashes_with_the_base_is_blamed_on_the_factor(tmp_path):
    body = "design: {method: factorial}\nfactors:\n  domain.width: {levels: [20, 40]}\n"
    path = tmp_path / "s.yaml"
    path.write_text(HEAD.replace("domain.width: 40, ", "") + body)
    with pytest.raises(ScenarioError) as caught:
        load_sweep(path)
    assert caught.value.messages[0].startswith(
        f"{path}:7:18: factors.domain.width.levels: domain.width=20 makes the scenario invalid: "
    )
    assert "does not fit a 20×40 domain" in caught.value.messages[0]


def test_a_combination_the_scenario_rejects_is_an_error_before_running(tmp_path):
    body = (
        "design: {method: factorial}\nfactors:\n"
        "  domain.width: {levels: [24, 60]}\n  domain.site_size_um: {levels: [20, 15]}\n"
    )  # each value fits alone; 24 sites of 15 µm cannot hold a 200 µm radius
    path = tmp_path / "s.yaml"
    path.write_text(HEAD.replace("domain.width: 40, domain.height: 40", "domain.height: 60") + body)
    with pytest.raises(ScenarioError) as caught:
        plan_runs(load_sweep(path))
    messages = caught.value.messages
    assert len(messages) == 1
    assert re.match(rf"{re.escape(str(path))}:6:1: factors: design point 1 ", messages[0])
    assert "does not fit" in messages[0]


def test_missing_base_scenario_points_at_the_scenario_line(tmp_path):
    (tmp_path / "s.yaml").write_text(
        "name: t\nscenario: nowhere.yaml\ndesign: {method: factorial}\n"
        "factors: {tumor.pdl1_cps: {levels: [1]}}\n"
    )
    with pytest.raises(ScenarioError, match=r"s.yaml:2:1: scenario: base scenario .*no such file"):
        load_sweep(tmp_path / "s.yaml")


def test_cli_reports_errors_with_exit_2_and_creates_nothing(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(HEAD + "design: {method: factorial}\nfactors:\n  tumor.nope: {levels: [1]}\n")
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "gcsim.cli", "sweep", str(path), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"{path}:7:3: factors.tumor.nope: unknown key 'nope'")
    assert "Traceback" not in result.stderr
    assert not out.exists()


# --- designs ---------------------------------------------------------------------------------


def _plan(tmp_path, body: str, replicates: int = 1, head: str = HEAD):
    path = tmp_path / "s.yaml"
    path.write_text(head + f"replicates: {replicates}\n" + body)
    return plan_runs(load_sweep(path))


def test_factorial_runs_every_combination_times_replicates(tmp_path):
    plan = _plan(
        tmp_path,
        "design: {method: factorial}\nfactors:\n"
        "  tumor.pdl1_cps: {levels: [1, 10, 50]}\n"
        "  immune.cd8_per_mm2: {range: [10, 1000], steps: 3, distribution: loguniform}\n"
        "  immune.phenotype: {levels: [inflamed, desert]}\n",
        replicates=2,
    )
    assert len(plan.runs) == 3 * 3 * 2 * 2
    cd8 = sorted({run.values["immune.cd8_per_mm2"] for run in plan.runs})
    assert cd8 == pytest.approx([10, 100, 1000])
    first = plan.runs[0]
    assert first.scenario.tumor.pdl1_cps == 1 and first.scenario.immune.phenotype == "inflamed"
    assert first.scenario.domain.width == 40  # `set` applies to every run
    assert len({run.run_id for run in plan.runs}) == len(plan.runs)


def test_seeds_come_from_one_seed_sequence_and_differ_per_run(tmp_path):
    plan = _plan(
        tmp_path, "design: {method: factorial}\nfactors:\n  tumor.pdl1_cps: {levels: [1, 2]}\n", 3
    )
    seeds = [run.seed for run in plan.runs]
    assert len(set(seeds)) == len(seeds)
    children = np.random.SeedSequence(5).spawn(2)
    expected = children[1].spawn(3)[2].generate_state(1, dtype=np.uint64)[0] >> np.uint64(1)
    last = plan.runs[-1]
    assert (last.point, last.replicate) == (1, 2)
    assert last.seed == run_seed(5, 1, 2) == int(expected)
    assert last.scenario.seed == last.seed


@pytest.mark.parametrize("method", ["latin", "sobol", "morris"])
def test_sampling_designs_stay_in_range_and_round_integer_fields(tmp_path, method):
    plan = _plan(
        tmp_path,
        f"design: {{method: {method}, samples: 4}}\nfactors:\n"
        "  domain.width: {range: [40, 60]}\n"
        "  parameters.cd8.kill_probability: {range: [0.01, 0.5], distribution: loguniform}\n"
        "  tumor.pdl1_cps: {range: [0, 100], distribution: normal, mean: 20, sd: 30}\n"
        "  immune.phenotype: {levels: [inflamed, excluded, desert]}\n",
        head=HEAD.replace("domain.width: 40, ", ""),
    )
    expected = {"latin": 4, "sobol": 4 * (4 + 2), "morris": 4 * (4 + 1)}[method]
    assert len(plan.points) == expected == len(plan.runs)
    widths = [p["domain.width"] for p in plan.points]
    assert all(isinstance(w, int) and 40 <= w <= 60 for w in widths)
    kill = [p["parameters.cd8.kill_probability"] for p in plan.points]
    assert min(kill) >= 0.01 and max(kill) <= 0.5
    cps = [p["tumor.pdl1_cps"] for p in plan.points]
    assert min(cps) >= 0 and max(cps) <= 100
    assert {p["immune.phenotype"] for p in plan.points} <= {"inflamed", "excluded", "desert"}
    assert plan.unit.shape == (expected, 4)
    body = (tmp_path / "s.yaml").read_text().split("replicates: 1\n", 1)[1]
    again = _plan(tmp_path, body, head=HEAD.replace("domain.width: 40, ", ""))
    assert again.digest == plan.digest  # the design is a function of the file alone


@pytest.mark.parametrize(
    ("name", "runs"), [("ici_cps_infiltration", 144), ("antivegf_window_sobol", 896)]
)
def test_example_sweeps_are_valid(name, runs):
    from sweep_helpers import REPO

    plan = plan_runs(load_sweep(REPO / "scenarios" / "sweeps" / f"{name}.yaml"))
    assert len(plan.runs) == runs


def test_every_arm_of_a_multi_arm_scenario_runs_at_each_point_with_a_shared_seed(tmp_path):
    scenario = tmp_path / "arms.yaml"
    scenario.write_text(
        "name: arms\ndomain: {width: 40, height: 40}\ntumor: {initial_radius_um: 200}\n"
        "time: {days: 3}\narms:\n  control: []\n  rt:\n    - type: radiotherapy\n"
        "      dose_per_fraction: {value: 2, unit: Gy}\n      schedule: {days: [1]}\n"
    )
    head = f"name: t\nscenario: {scenario}\nseed: 5\n"
    plan = _plan(
        tmp_path,
        "design: {method: factorial}\nfactors:\n  tumor.pdl1_cps: {levels: [1, 10]}\n",
        2,
        head=head,
    )
    keys = [(run.point, run.arm, run.replicate) for run in plan.runs]
    assert len(keys) == len(set(keys)) == 2 * 2 * 2
    by_key = {(run.point, run.arm, run.replicate): run for run in plan.runs}
    for point in (0, 1):
        for replicate in (0, 1):
            control, rt = by_key[point, "control", replicate], by_key[point, "rt", replicate]
            assert control.seed == rt.seed  # the same virtual tumour under each arm
            assert control.run_id != rt.run_id and "rt" in rt.run_id


def test_a_factor_can_vary_a_treatment_by_label_or_index(tmp_path):
    base = tmp_path / "arms.yaml"
    base.write_text(
        "name: arms\ndomain: {width: 40, height: 40}\ntumor: {initial_radius_um: 160}\n"
        "time: {days: 4}\narms:\n  ici:\n    - type: checkpoint_inhibitor\n"
        "      drug: pembrolizumab\n      label: pembro\n      dose: {value: 200, unit: mg}\n"
        "      schedule: {days: [1]}\n"
    )
    sweep = tmp_path / "s.yaml"
    sweep.write_text(
        f"name: s\nscenario: {base}\nseed: 3\ndesign: {{method: factorial}}\nreplicates: 1\n"
        "factors:\n  arms.ici[pembro].dose.value: {levels: [100, 400]}\n"
        "  tumor.pdl1_cps: {levels: [1, 2]}\n"
    )
    plan = plan_runs(load_sweep(sweep))
    doses = sorted({r.scenario.arms["ici"].treatments[0].dose.value for r in plan.runs})
    assert doses == [100, 400] and len(plan.runs) == 4
    sweep.write_text(sweep.read_text().replace("[100, 400]", "[100, -400]"))
    with pytest.raises(ScenarioError) as caught:
        load_sweep(sweep)
    message = str(caught.value)
    assert message.startswith(f"{sweep}:7:")  # the factor's line in the sweep file
    assert "factors.arms.ici[pembro].dose.value: Input should be greater than 0, got -400" in (
        message
    )
