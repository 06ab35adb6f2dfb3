"""Trial files and cohorts: distributions equal scipy's, the design is seeded, characteristics
land in the scenario, dosing rules shape the calendar, and every bad input is a located error."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from gcsim.scenario import ScenarioError, load_scenario
from gcsim.trial.cohort import cohort, patient_seed, quantile, resolve, unit_design
from gcsim.trial.execute import plan_trial
from gcsim.trial.load import load_trial
from gcsim.trial.simulate import arm_scenario
from gcsim.trial.spec import Distribution, TrialArm
from trial_helpers import BASE, TRIAL, write_trial

U = np.linspace(0.005, 0.995, 37)


def _d(**kw) -> Distribution:
    return Distribution.model_validate(kw)


@pytest.mark.parametrize(
    ("spec", "frozen"),
    [
        ({"uniform": [2, 5]}, stats.uniform(2, 3)),
        ({"normal": {"mean": 1, "sd": 2}}, stats.norm(1, 2)),
        ({"lognormal": {"median": 3, "sigma": 0.5}}, stats.lognorm(0.5, scale=3)),
        ({"beta": {"a": 2, "b": 5}}, stats.beta(2, 5)),
    ],
)
def test_quantiles_equal_scipy(spec, frozen):
    d = _d(**spec)
    assert np.allclose([quantile(d, u) for u in U], frozen.ppf(U))


def test_truncated_and_scaled_distributions_stay_in_range():
    normal = _d(normal={"mean": 0, "sd": 1}, range=[-0.5, 2])
    values = [quantile(normal, u) for u in U]
    assert min(values) >= -0.5 and max(values) <= 2
    ref = stats.truncnorm(-0.5, 2)
    assert np.allclose(values, ref.ppf(U))
    beta = _d(beta={"a": 2, "b": 2}, range=[10, 20])
    assert np.allclose([quantile(beta, u) for u in U], 10 + 10 * stats.beta(2, 2).ppf(U))
    log = _d(loguniform=[1, 100])
    assert math.isclose(quantile(log, 0.5), 10.0)


def test_choice_and_mixture_give_their_weights():
    u = (np.arange(10_000) + 0.5) / 10_000
    choice = _d(choice={"values": ["a", "b", "c"], "weights": [1, 2, 1]})
    drawn = [quantile(choice, x) for x in u]
    assert [drawn.count(v) / len(u) for v in "abc"] == pytest.approx([0.25, 0.5, 0.25], abs=1e-3)
    mixture = _d(mixture=[{"weight": 0.2, "uniform": [0, 1]}, {"weight": 0.8, "uniform": [10, 60]}])
    values = np.array([quantile(mixture, x) for x in u])
    assert np.mean(values < 1) == pytest.approx(0.2, abs=1e-3)
    assert values.max() <= 60 and ((values >= 1) & (values < 10)).sum() == 0


def test_design_is_seeded_and_fills_the_cube():
    a, b = unit_design(64, 3, "sobol", 7), unit_design(64, 3, "sobol", 7)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, unit_design(64, 3, "sobol", 8))
    lhs = unit_design(50, 2, "latin", 1)
    for column in lhs.T:  # one point per stratum of 1/50
        assert sorted(np.floor(column * 50).astype(int)) == list(range(50))


def test_characteristics_land_in_the_scenario(trial_file):
    trial = load_trial(trial_file)
    values = cohort(trial)
    assert len(values) == 3
    resolved = resolve(trial, values[0])
    assert resolved.scenario.tumor.pdl1_cps == pytest.approx(values[0]["cps"])
    rate = resolved.scenario.parameters["tumor.cycle_rate"]
    assert rate == pytest.approx(values[0]["growth"] * 0.25 / 24)  # multiplies the default 1/96 h


def test_conditional_bins_lesion_count_and_every_lesion(tmp_path):
    text = TRIAL.replace(
        "    growth:\n",
        "    phenotype:\n"
        "      set: immune.phenotype\n"
        "      given: cps\n"
        "      bins:\n"
        "        - {below: 15, choice: {values: [desert]}}\n"
        "        - {choice: {values: [inflamed]}}\n"
        "    lesions: {set: patient.lesion_count, distribution: {choice: {values: [1, 2]}}}\n"
        "    size:\n"
        "      set: 'patient.lesions[*].diameter_mm'\n"
        "      scale: multiply\n"
        "      distribution: {uniform: [1.0, 1.5]}\n"
        "    growth:\n",
    )
    trial = load_trial(write_trial(tmp_path, 16, text))
    for values in cohort(trial):
        assert values["phenotype"] == ("desert" if values["cps"] < 15 else "inflamed")
        scenario = resolve(trial, values).scenario
        lesions = scenario.patient.lesions
        assert len(lesions) == values["lesions"]
        assert lesions[0].diameter_mm == pytest.approx(20 * values["size"])
        if len(lesions) == 2:
            assert lesions[1].diameter_mm == pytest.approx(12 * values["size"])


def test_arm_rules_shape_the_calendar(trial_file):
    trial = load_trial(trial_file)
    plan = plan_trial(trial)
    scenario = plan.candidates[0].resolved.scenario
    settings = plan.tasks[0].settings
    rule = TrialArm(arm="pembrolizumab", max_days={"pembrolizumab": 60},
                    holidays=[{"from_day": 20, "days": 5}])  # fmt: skip
    shaped = arm_scenario(scenario, "ici", rule, settings)
    (ici,) = shaped.arms["ici"].treatments
    # base: days 0, 21, 42, 63, 84; holiday drops 21, max_days drops 63 and 84; +7 screening
    assert ici.schedule.dose_days() == (7.0, 49.0)
    assert shaped.time.days == 7 + 42
    assert set(shaped.arms) == {"ici"}


def test_time_on_treatment_ends_with_the_last_dose_interval_before_the_stop(trial_file):
    from gcsim.trial.simulate import on_treatment_days

    plan = plan_trial(load_trial(trial_file))
    ici = next(t for t in plan.tasks if t.arm == "ici")
    arm = ici.scenario.arms["ici"]  # doses on trial days 0, 21 (the follow-up is 42 days)
    assert on_treatment_days(arm, 7.0, 42.0) == 42.0  # the day-21 dose covers 21 days
    assert on_treatment_days(arm, 7.0, 30.0) == 30.0  # stopped (progression) at day 30
    assert on_treatment_days(arm, 7.0, 10.0) == 1.0  # only the first dose before the stop
    control = next(t for t in plan.tasks if t.arm == "control")
    assert on_treatment_days(control.scenario.arms["control"], 7.0, 42.0) == 0.0


def test_paired_tasks_share_the_patient_seed_and_randomised_ones_allocate(tmp_path):
    plan = plan_trial(load_trial(write_trial(tmp_path, 6)))
    by_patient = {}
    for t in plan.tasks:
        by_patient.setdefault(t.patient, set()).add(t.seed)
    assert all(len(s) == 1 for s in by_patient.values()) and len(plan.tasks) == 12
    text = TRIAL.replace("seed: 5\n", "seed: 5\ndesign: randomised\n")
    rplan = plan_trial(load_trial(write_trial(tmp_path, 6, text)))
    arms = [t.arm for t in rplan.tasks]
    assert len(rplan.tasks) == 6 and arms.count("control") == arms.count("ici") == 3


BAD = [
    ("uniform: [0, 30]", "uniform: [30, 0]", "cohort.characteristics.cps.distribution", "low"),
    ("sigma: 0.2", "sigma: -1", "cohort.characteristics.growth.distribution.lognormal.sigma", ""),
    ("{arm: pembrolizumab}", "{arm: nivo}", "arms.ici.arm", "no arm 'nivo'"),
    (
        "{arm: pembrolizumab}",
        "{arm: pembrolizumab, max_days: {nivolumab: 30}}",
        "arms.ici.max_days.nivolumab",
        "gives no 'nivolumab'",
    ),
    ("every_days: 21", "every_days: 63", "scans.every_days", "never comes"),
    ("patients: PATIENTS", "patients: 0", "cohort.patients", ""),
    ("set: tumor.pdl1_cps", "set: tumor.pdl1_cpx", "cohort.characteristics.cps", "pdl1_cpx"),
    ("uniform: [0, 30]", "uniform: [0, 300]", "cohort.characteristics.cps", "pdl1_cps"),
    ("biomarkers: false", "biomarkers: false\nsubgroups: [{name: x, feature: tmb, below: 1}]",
     "subgroups[0].feature", "no feature 'tmb'"),
    ("follow_up_days: 42", "follow_up_days: 42\nfollowup: 3", "followup", ""),
    ("uniform: [0, 30]", "uniform: [0, .inf]", "cohort.characteristics.cps.distribution",
     "both ends must be finite"),
    ("sigma: 0.2}}", "sigma: 0.2}, range: [50, 60]}", "cohort.characteristics.growth.distribution",
     "holds no probability"),
    ("biomarkers: false", "biomarkers: false\nsubgroups: [{name: x, feature: cps, at_least: 10, "
     "below: 1}]", "subgroups[0]", "select no patient"),
    ("{arm: pembrolizumab}", "{arm: rt_pembrolizumab, irradiate: [liver2]}",
     "arms.ici.irradiate[0]", "no lesion 'liver2'"),
    ("{arm: pembrolizumab}", "{arm: pembrolizumab, irradiate: [liver1]}",
     "arms.ici.irradiate", "gives no radiotherapy"),
    ("every_days: 21}", "every_days: 21, window_days: 11}", "scans.window_days",
     "below half the interval"),
    ("every_days: 21}", "every_days: 21, window_days: 2.5}", "scans.window_days",
     "not a whole number"),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "field", "words"), BAD)
def test_bad_trial_files_give_a_located_error(tmp_path, old, new, field, words):
    assert old in TRIAL
    path = write_trial(tmp_path, 3, TRIAL.replace(old, new))
    with pytest.raises(ScenarioError) as caught:
        load_trial(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:"), message
    assert f": {field}" in message, message
    assert words in message, message


def test_patients_cuts_a_sobol_cohort_to_its_first_patients(tmp_path):
    path = write_trial(tmp_path, 8, TRIAL.replace("cohort:\n", "cohort:\n  sampler: sobol\n"))
    full, cut = load_trial(path), load_trial(path, patients=3)
    assert cut.spec.cohort.patients == 3
    assert cohort(cut) == cohort(full)[:3]
    assert [patient_seed(cut.spec.seed, p) for p in range(3)] == [
        patient_seed(full.spec.seed, p) for p in range(3)
    ]


def test_a_base_scenario_without_patients_is_refused(tmp_path):
    base = BASE.split("patient:\n")[0] + "arms:\n  untreated: []\n  pembrolizumab: []\n"
    path = write_trial(tmp_path, 3, TRIAL, base)
    with pytest.raises(ScenarioError, match=r"trial.yaml:2:\d+: scenario: .*no `patient:`"):
        load_trial(path)


def test_a_trial_over_the_limit_is_refused(trial_file):
    with pytest.raises(ScenarioError, match="6 patient runs, more than the limit of 5"):
        plan_trial(load_trial(trial_file), max_tasks=5)


# calibration files (targets:) need a finished pool: test_trial_calibrate loads the shipped one
SHIPPED = [
    p
    for p in sorted((Path(__file__).parents[2] / "scenarios" / "trials").glob("*.yaml"))
    if "\ntargets:" not in p.read_text()
]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_trial_files_and_their_patients_load(path):
    """Every trial file plans (each candidate's scenario validated); every base patient loads."""
    if "cohort:" in path.read_text():
        plan = plan_trial(load_trial(path))
        assert plan.tasks and plan.candidates
    else:
        assert load_scenario(path).patient is not None


def test_gcsim_validate_reads_trial_and_calibration_files_as_such(tmp_path):
    from typer.testing import CliRunner

    from gcsim.cli import app

    trials = Path(__file__).parents[2] / "scenarios" / "trials"
    files = [str(trials / n) for n in ("quickstart.yaml", "checkmate649_calibration.yaml")]
    result = CliRunner().invoke(app, ["validate", *files])
    assert result.exit_code == 0, result.output
    assert "ok (trial quickstart: 4 candidates, 8 patient runs)" in result.output
    assert "ok (trial calibration checkmate649_like" in result.output
    bad = write_trial(tmp_path, 3, TRIAL.replace("{arm: pembrolizumab}", "{arm: nivo}"))
    result = CliRunner().invoke(app, ["validate", str(bad)])
    assert result.exit_code == 2 and "arms.ici.arm" in result.output
