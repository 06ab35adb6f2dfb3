"""Trial-level calibration by reweighting a pool (gcsim.trial.calibrate), on a synthetic pool
whose outcomes follow a known generative model: no patient is simulated."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter, KaplanMeierFitter
from scipy import integrate, stats

from gcsim.io import write_json
from gcsim.scenario import ScenarioError
from gcsim.trial import calibrate as cal_mod
from gcsim.trial.calibrate import (
    NOT_PASSED,
    USER_ERROR,
    _CoxHazardRatio,
    _KaplanMeierMedian,
    _Objective,
    _Pool,
    calibrate_trial_command,
    fit_trial_calibration,
    kish_effective_size,
    reported_estimates,
    weighted_hazard_ratio,
    weighted_km_median_days,
    weights_of,
    write_trial_calibration,
)
from gcsim.trial.calibrate_spec import load_trial_calibration
from gcsim.trial.cohort import cohort
from gcsim.trial.density import characteristic_density, density
from gcsim.trial.load import load_trial
from gcsim.trial.spec import Characteristic, Distribution

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios" / "trials"

POOL_TRIAL = """\
# The synthetic pool of the calibration tests: this comment must survive.
name: synthetic_pool
scenario: patient_base.yaml
seed: 7
arms:
  chemo: {arm: chemo}
  chemo_nivolumab: {arm: chemo_nivolumab}
reference_arm: chemo
cohort:
  patients: 1024
  characteristics:
    cps:                          # PD-L1 combined positive score
      set: tumor.pdl1_cps
      distribution: {uniform: [0, 20]}
    phenotype:
      set: immune.phenotype
      distribution: {choice: {values: [inflamed, excluded, desert]}}
    growth:                       # x the cycle rate
      set: parameters.tumor.cycle_rate
      scale: multiply
      distribution: {loguniform: [0.5, 2.0]}
"""

CALIBRATION = """\
name: synthetic_like
pool: ../pool
trial: ../trials/pool.yaml
write: synthetic_like.yaml
patients: 64
min_effective_size: 100
seed: 3
optimizer: {maxiter: 60, popsize: 8}
parameters:
  growth: {family: lognormal, median: [0.7, 1.8], sigma: [0.1, 0.6]}
  phenotype: {family: choice_by, given: cps, below: [5], values: [inflamed, excluded, desert]}
targets:
TARGETS"""

# the truth: growth ~ lognormal(1.2, 0.25) on the pool's [0.5, 2]; phenotype by CPS bin
TRUE_GROWTH = {"median": 1.2, "sigma": 0.25}
TRUE_PHENOTYPE = {"low": [0.15, 0.35, 0.50], "high": [0.55, 0.30, 0.15]}  # cps < 5, >= 5
PHENOTYPES = ("inflamed", "excluded", "desert")
BASE_ORR = {"inflamed": 0.45, "excluded": 0.35, "desert": 0.25}
ICI_ORR = {"inflamed": 0.30, "excluded": 0.10, "desert": 0.0}
ICI_HR = {"inflamed": 0.45, "excluded": 0.8, "desert": 1.0}
HALF_WIDTH = {"orr": 0.04, "median_pfs_months": 0.5, "pfs_hr": 0.06}
TARGET_KEYS = [
    (population, endpoint, arm)
    for population in ("all", "cps >= 5")
    for endpoint, arms in (
        ("orr", ("chemo_nivolumab", "chemo")),
        ("median_pfs_months", ("chemo_nivolumab", "chemo")),
        ("pfs_hr", ("chemo_nivolumab",)),
    )
    for arm in arms
]


def _outcomes(candidates: pd.DataFrame, seed: int = 11) -> pd.DataFrame:
    """Both arms of every candidate: response by phenotype and arm, exponential PFS whose rate
    grows with `growth` (median 200 days at growth 1 in chemo), cut at 365 days; common random
    numbers across arms (the paired design)."""
    rng = np.random.default_rng(seed)
    n = len(candidates)
    u, e = rng.uniform(size=n), rng.exponential(size=n)
    rows = []
    for arm, treated in (("chemo", 0), ("chemo_nivolumab", 1)):
        phen = candidates["phenotype"]
        p = phen.map(BASE_ORR) + treated * phen.map(ICI_ORR)
        rate = math.log(2) / 200.0 * candidates["growth"] * (phen.map(ICI_HR) if treated else 1)
        time = e / rate.to_numpy()
        responded = u < p.to_numpy()
        pfs = np.minimum(time, 365.0)
        rows.append(
            candidates.assign(
                arm=arm,
                objective_response=responded,
                pfs_days=pfs,
                pfs_event=time < 365.0,
                # what the report draws besides the fitted endpoints (one follow-up scan)
                best_response=np.where(responded, "PR", "SD"),
                disease_control=True,
                best_pct_change=np.where(responded, -40.0, 5.0),
                response_day=np.where(responded, 42.0, np.nan),
                dor_days=np.where(responded, pfs - 42.0, np.nan),
                dor_event=responded & (time < 365.0),
                treatment_days=pfs,
                scan_days=[[0.0, 42.0]] * n,
                scan_sld_mm=[[50.0, 30.0] if r else [50.0, 52.5] for r in responded],
                scan_categories=[["baseline", "PR" if r else "SD"] for r in responded],
            )
        )
    return pd.concat(rows, ignore_index=True)


def _make_pool(root: Path) -> Path:
    """root/trials/{pool.yaml, patient_base.yaml} and root/pool/ (a finished trial directory)."""
    trials = root / "trials"
    trials.mkdir(parents=True)
    shutil.copy(SCENARIOS / "patient_base.yaml", trials / "patient_base.yaml")
    (trials / "pool.yaml").write_text(POOL_TRIAL)
    trial = load_trial(trials / "pool.yaml")
    candidates = pd.DataFrame(cohort(trial))
    candidates.insert(0, "patient", np.arange(len(candidates)))
    candidates["plausible"] = candidates["growth"] >= 0.55  # some are screened out
    candidates["selected"] = candidates["plausible"]
    pool = root / "pool"
    pool.mkdir()
    candidates.to_parquet(pool / "cohort.parquet")
    patients = _outcomes(candidates[candidates["plausible"]].drop(columns=["plausible"]))
    patients.drop(columns=["selected"]).to_parquet(pool / "patients.parquet")
    meta = {
        "trial": trial.spec.model_dump(mode="json"),
        "plan_digest": "synthetic-digest",
        "reference_arm": "chemo",
        "accounting": {"candidates": len(candidates)},
    }
    write_json(pool / "trial.json", meta)
    return pool


def _target_line(key: tuple[str, str, str], value: float) -> str:
    population, endpoint, arm = key
    h = HALF_WIDTH[endpoint]
    return (
        f"  - {{population: {population!r}, endpoint: {endpoint}, arm: {arm}, value: {value:.6g}, "
        f"interval: [{value - h:.6g}, {value + h:.6g}], code: M}}\n"
    )


def _true_characteristics(cal) -> dict[str, Characteristic]:
    chars = cal.characteristics
    growth = chars["growth"].model_dump(exclude_none=True, exclude={"distribution"})
    bins = [
        {"below": 5, "choice": {"values": list(PHENOTYPES), "weights": TRUE_PHENOTYPE["low"]}},
        {"choice": {"values": list(PHENOTYPES), "weights": TRUE_PHENOTYPE["high"]}},
    ]
    return {
        "growth": Characteristic.model_validate(
            {**growth, "distribution": {"lognormal": TRUE_GROWTH, "range": [0.5, 2.0]}}
        ),
        "phenotype": Characteristic.model_validate(
            {"set": "immune.phenotype", "given": "cps", "bins": bins}
        ),
    }


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """The pool, and a calibration file whose targets are the pool's estimates at the truth."""
    root = tmp_path_factory.mktemp("calibration")
    _make_pool(root)
    here = root / "cal"
    here.mkdir()
    placeholder = "".join(_target_line(k, 0.5 if k[1] == "orr" else 1.0) for k in TARGET_KEYS)
    file = here / "calibration.yaml"
    file.write_text(CALIBRATION.replace("TARGETS", placeholder))
    cal0 = load_trial_calibration(file)
    truth = reported_estimates(cal0, weights_of(cal0, _true_characteristics(cal0)))
    text = CALIBRATION.replace(
        "TARGETS",
        "".join(_target_line(k, t["estimate"]) for k, t in zip(TARGET_KEYS, truth, strict=True)),
    )
    file.write_text(text)
    return root, file


@pytest.fixture(scope="module")
def fitted(setup):
    _, file = setup
    cal = load_trial_calibration(file)
    return cal, fit_trial_calibration(cal)


# --- densities --------------------------------------------------------------------------------

CONTINUOUS = [
    ({"uniform": [0.3, 0.9]}, stats.uniform(0.3, 0.6)),
    ({"loguniform": [0.001, 0.3]}, stats.loguniform(0.001, 0.3)),
    ({"normal": {"mean": 1.0, "sd": 0.5}}, stats.norm(1.0, 0.5)),
    (
        {"normal": {"mean": 0.2, "sd": 0.3}, "range": [0.0, 1.0]},
        stats.truncnorm((0.0 - 0.2) / 0.3, (1.0 - 0.2) / 0.3, 0.2, 0.3),
    ),
    ({"lognormal": {"median": 2.0, "sigma": 0.4}}, stats.lognorm(0.4, scale=2.0)),
    ({"beta": {"a": 2.0, "b": 5.0}, "range": [10.0, 30.0]}, stats.beta(2.0, 5.0, 10.0, 20.0)),
]


@pytest.mark.parametrize(("spec", "frozen"), CONTINUOUS, ids=lambda v: str(v)[:30])
def test_density_matches_scipy_and_integrates_to_one(spec, frozen):
    dist = Distribution.model_validate(spec)
    x = frozen.ppf(np.linspace(0.001, 0.999, 41))
    assert np.allclose(density(dist, x), frozen.pdf(x), rtol=1e-10)
    lo, hi = frozen.support()
    assert integrate.quad(lambda v: density(dist, [v])[0], lo, hi, limit=200)[0] == (
        pytest.approx(1.0, abs=1e-6)
    )
    assert density(dist, [lo - 1.0])[0] == 0.0 if math.isfinite(lo) else True


def test_truncated_lognormal_is_renormalised_inside_its_range():
    dist = Distribution.model_validate(
        {"lognormal": {"median": 1.0, "sigma": 0.3}, "range": [0.7, 1.6]}
    )
    frozen = stats.lognorm(0.3, scale=1.0)
    z = frozen.cdf(1.6) - frozen.cdf(0.7)
    assert density(dist, [1.1])[0] == pytest.approx(frozen.pdf(1.1) / z)
    assert density(dist, [0.69, 1.61]).tolist() == [0.0, 0.0]
    assert integrate.quad(lambda v: density(dist, [v])[0], 0.7, 1.6)[0] == pytest.approx(1.0)


def test_mixture_density_is_the_weighted_sum_and_integrates_to_one():
    dist = Distribution.model_validate(
        {
            "mixture": [
                {"weight": 0.2, "uniform": [0, 0.99]},
                {"weight": 0.6, "loguniform": [1, 100]},
            ]
        }
    )
    x = np.array([0.5, 2.0, 50.0])
    expected = 0.25 * stats.uniform(0, 0.99).pdf(x) + 0.75 * stats.loguniform(1, 100).pdf(x)
    assert np.allclose(density(dist, x), expected)
    total = sum(
        integrate.quad(lambda v: density(dist, [v])[0], lo, hi)[0]
        for lo, hi in ((0, 0.99), (1, 100))
    )
    assert total == pytest.approx(1.0)


def test_choice_and_mixture_of_choices_masses_sum_to_one():
    choice = Distribution.model_validate(
        {"choice": {"values": [1, 2, 3], "weights": [0.3, 0.4, 0.3]}}
    )
    assert density(choice, [1, 2, 3]).tolist() == pytest.approx([0.3, 0.4, 0.3])
    assert density(choice, [4.0])[0] == 0.0
    mixed = Distribution.model_validate(
        {
            "mixture": [
                {"weight": 1, "choice": {"values": ["a", "b"]}},
                {"weight": 3, "choice": {"values": ["b", "c"], "weights": [1, 3]}},
            ]
        }
    )
    masses = density(mixed, ["a", "b", "c"])
    assert masses.sum() == pytest.approx(1.0)
    assert masses.tolist() == pytest.approx([0.125, 0.125 + 0.1875, 0.5625])


def test_a_binned_characteristic_uses_the_bin_of_its_given_value():
    c = Characteristic.model_validate(
        {
            "given": "cps",
            "bins": [
                {"below": 1, "choice": {"values": ["x", "y"], "weights": [0.9, 0.1]}},
                {"choice": {"values": ["x", "y"], "weights": [0.2, 0.8]}},
            ],
        }
    )
    out = characteristic_density(c, ["x", "y", "x", "y"], [0.5, 0.5, 1.0, 30.0])
    assert out.tolist() == pytest.approx([0.9, 0.1, 0.2, 0.8])


def test_kish_effective_size():
    assert kish_effective_size([1, 1, 1, 1]) == pytest.approx(4.0)
    assert kish_effective_size([4, 0, 0, 0]) == pytest.approx(1.0)
    w = np.random.default_rng(0).gamma(2.0, size=50)
    assert kish_effective_size(w) == pytest.approx(w.sum() ** 2 / (w**2).sum())
    assert kish_effective_size(3 * w) == pytest.approx(kish_effective_size(w))


# --- the fast estimators against lifelines -----------------------------------------------------


def _tied_survival(seed: int, n: int = 80) -> pd.DataFrame:
    """Progressions on a 42-day scan grid (many ties), censoring at 365 days, weights with
    zeros."""
    rng = np.random.default_rng(seed)
    treated = rng.integers(0, 2, size=n)
    time = rng.exponential(200.0 * (1.5 if seed % 2 else 1.0), size=n) * np.where(treated, 1.4, 1)
    scans = np.ceil(time / 42.0) * 42.0
    weight = rng.gamma(1.5, size=n) * (rng.uniform(size=n) > 0.1)
    return pd.DataFrame(
        {
            "duration": np.minimum(scans, 365.0),
            "event": scans < 365.0,
            "treated": treated.astype(float),
            "weight": weight,
            "patient": np.arange(n),
        }
    )


@pytest.mark.filterwarnings("ignore:It looks like your weights are not integers")
@pytest.mark.parametrize("seed", range(5))
def test_weighted_km_median_equals_lifelines(seed):
    frame = _tied_survival(seed)
    keep = frame[frame["weight"] > 0]
    expected = (
        KaplanMeierFitter()
        .fit(keep["duration"], keep["event"], weights=keep["weight"])
        .median_survival_time_
    )
    rows = np.arange(len(frame))
    fast = _KaplanMeierMedian(rows, frame["duration"].to_numpy(), frame["event"].to_numpy())
    assert fast(frame["weight"].to_numpy()) == expected
    assert weighted_km_median_days(frame["duration"], frame["event"], frame["weight"]) == expected


def test_weighted_km_median_with_unit_weights_and_not_reached():
    durations = np.array([10.0, 20, 20, 30, 40, 40])
    events = np.array([True, True, False, True, False, False])
    w = np.ones(6)
    expected = KaplanMeierFitter().fit(durations, events).median_survival_time_
    assert _KaplanMeierMedian(np.arange(6), durations, events)(w) == expected == 30.0
    never = np.array([True, False, False, False, False, False])
    assert _KaplanMeierMedian(np.arange(6), durations, never)(w) == math.inf


@pytest.mark.parametrize("seed", range(5))
def test_weighted_cox_hr_equals_lifelines(seed):
    frame = _tied_survival(seed)
    keep = frame[frame["weight"] > 0]
    fitter = CoxPHFitter().fit(
        keep[["duration", "event", "treated", "weight"]],
        "duration",
        "event",
        weights_col="weight",
        robust=True,
    )
    expected = float(fitter.summary.loc["treated", "exp(coef)"])
    fast = _CoxHazardRatio(
        np.arange(len(frame)),
        frame["duration"].to_numpy(),
        frame["event"].to_numpy(),
        frame["treated"].to_numpy(),
    )
    assert fast(frame["weight"].to_numpy()) == pytest.approx(expected, rel=1e-6)
    reported = weighted_hazard_ratio(frame)
    assert reported["hr"] == pytest.approx(expected, rel=1e-9)
    assert reported["hr_low"] < reported["hr"] < reported["hr_high"]


def test_cox_hr_without_progression_in_an_arm_is_nan():
    frame = _tied_survival(0)
    frame.loc[frame["treated"] == 1, "event"] = False
    fast = _CoxHazardRatio(
        np.arange(len(frame)),
        frame["duration"].to_numpy(),
        frame["event"].to_numpy(),
        frame["treated"].to_numpy(),
    )
    assert math.isnan(fast(frame["weight"].to_numpy()))
    assert "no progression" in weighted_hazard_ratio(frame)["note"]


# --- the fit ----------------------------------------------------------------------------------


def test_fit_recovers_the_targets_and_the_identifiable_parameters(fitted):
    _, fit = fitted
    assert fit.all_inside, [(t["endpoint"], t["arm"], t["estimate"]) for t in fit.targets]
    assert fit.passed and fit.effective_size >= 100
    growth = fit.parameters["growth"]
    assert growth["median"] == pytest.approx(TRUE_GROWTH["median"], rel=0.1)
    assert growth["sigma"] == pytest.approx(TRUE_GROWTH["sigma"], abs=0.1)
    assert growth["truncated_to"] == [0.5, 2.0] and not growth["at_bound"]
    # ORR and the ICI benefit by CPS bin pin down the inflamed share of each bin
    for b, truth in zip(fit.parameters["phenotype"]["bins"], TRUE_PHENOTYPE.values(), strict=True):
        assert b["probabilities"]["inflamed"] == pytest.approx(truth[0], abs=0.1)
        assert sum(b["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert fit.optimizer["wall_s"] < 20


def test_weights_are_per_patient_normalised_and_match_the_written_distributions(fitted):
    cal, fit = fitted
    n = cal.patients["patient"].nunique()
    assert len(fit.weights) == n and fit.weights.sum() == pytest.approx(n)
    assert fit.effective_size == pytest.approx(kish_effective_size(fit.weights))
    fast = _Objective(cal, _Pool.of(cal)).weights(fit.theta)  # what the optimiser weighed
    assert np.allclose(fast, fit.weights.to_numpy(), rtol=1e-4)


def test_outputs_and_the_written_trial_file(fitted, tmp_path):
    cal, fit = fitted
    out = tmp_path / "out"
    write_trial_calibration(cal, fit, out)
    summary = json.loads((out / "calibration.json").read_text())
    assert summary["pool_plan_digest"] == "synthetic-digest"
    assert [t["code"] for t in summary["targets"]] == ["M"] * len(TARGET_KEYS)
    assert {"value", "interval", "estimate", "inside"} <= set(summary["targets"][0])
    assert summary["optimizer"]["seed"] == 3 and summary["passed"] is True
    weights = pd.read_parquet(out / "weights.parquet")
    assert list(weights.columns) == ["patient", "weight"]
    md = (out / "calibration.md").read_text()
    assert "not validation" in md and "limits the precision" in md
    assert md.count("| yes |") == len(TARGET_KEYS)

    text = cal.write.read_text()
    assert text.startswith("# Written by gcsim's trial calibration")
    assert "this comment must survive" in text and "# PD-L1 combined positive score" in text
    assert "scenario: ../trials/patient_base.yaml" in text
    written = load_trial(cal.write)
    assert written.spec.name == "synthetic_like" and written.spec.cohort.patients == 64
    chars = written.spec.cohort.characteristics
    assert chars["growth"].distribution.range == (0.5, 2.0)
    assert chars["growth"].scale == "multiply"
    assert chars["phenotype"].given == "cps" and len(chars["phenotype"].bins) == 2
    again = weights_of(cal, {k: chars[k] for k in cal.spec.parameters})
    assert np.allclose(again.to_numpy(), fit.weights.to_numpy())


def test_an_interrupted_write_leaves_nothing(fitted, tmp_path, monkeypatch):
    cal, fit = fitted
    before = cal.write.read_text() if cal.write.exists() else None

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cal_mod, "write_parquet", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_trial_calibration(cal, fit, tmp_path / "out", overwrite=True)
    assert not (tmp_path / "out").exists()
    assert (cal.write.read_text() if cal.write.exists() else None) == before
    assert not list(cal.write.parent.glob(".*.tmp"))


def test_the_command_reports_and_refuses_to_overwrite(setup, tmp_path, capsys):
    _, file = setup
    quick = file.parent / "quick.yaml"
    impossible = re.sub(r"value: [\d.]+, interval: \[[\d.]+, [\d.]+\]", "value: 0.97, "
                        "interval: [0.96, 0.98]", file.read_text(), count=1)  # fmt: skip
    quick.write_text(
        impossible.replace("maxiter: 60, popsize: 8", "maxiter: 3, popsize: 4").replace(
            "write: synthetic_like.yaml", "write: quick_like.yaml"
        )
    )
    out = tmp_path / "out"
    errors: list[str] = []
    code = calibrate_trial_command(quick, out, error=errors.append)
    printed = capsys.readouterr().out
    assert code == NOT_PASSED and not errors  # reported and written, but not passed
    assert "all orr chemo_nivolumab (M): 97.0 % [96.0 %, 98.0 %]" in printed
    assert "OUTSIDE" in printed and "NOT passed" in printed and "results:" in printed
    md = (out / "calibration.md").read_text()
    assert "**NOT passed" in md and "| **no** |" in md
    assert json.loads((out / "calibration.json").read_text())["passed"] is False
    assert (file.parent / "quick_like.yaml").is_file()
    assert calibrate_trial_command(quick, out, error=errors.append) == USER_ERROR
    assert "use --overwrite" in errors[0]
    (file.parent / "quick_like.yaml").write_text("name: hand_written\n")
    assert calibrate_trial_command(quick, out, overwrite=True, error=errors.append) == USER_ERROR
    assert "not written by a trial calibration" in errors[1]
    assert (file.parent / "quick_like.yaml").read_text() == "name: hand_written\n"


# --- the calibration file ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "field", "words"),
    [
        ("  growth: {family", "  growht: {family", "parameters.growht", "no characteristic"),
        ("median: [0.7, 1.8]", "median: [1.8, 0.7]", "parameters.growth.median", "low below"),
        ("arm: chemo_nivolumab, value", "arm: nivo, value", "targets[0].arm", "no arm 'nivo'"),
        ("population: 'cps >= 5'", "population: 'pdl1 >= 5'", "targets[5].population", "pdl1"),
        ("population: 'cps >= 5'", "population: 'cps = 5'", "targets[5].population", "op one"),
        ("pool: ../pool", "pool: ../missing", "pool", "no such directory"),
        ("code: M}", "code: X}", "targets[0].code", "'V', 'V-abs'"),
        ("given: cps", "given: growth", "parameters.phenotype.family", "drawn before"),
        ("family: lognormal", "family: normal", "parameters.growth.family", "needs mean, sd"),
    ],
)
def test_a_bad_calibration_file_is_one_located_line(setup, old, new, field, words):
    _, file = setup
    text = file.read_text()
    assert old in text
    bad = file.parent / "bad.yaml"
    bad.write_text(text.replace(old, new, 1))
    with pytest.raises(ScenarioError) as caught:
        load_trial_calibration(bad)
    message = str(caught.value)
    match = re.fullmatch(rf"{re.escape(str(bad))}:(\d+):\d+: {re.escape(field)}: .*", message)
    assert match and words in message, message
    line = bad.read_text().splitlines()[int(match[1]) - 1]
    assert new.strip() in line, (line, message)  # the line of the mistake


def test_a_pool_trial_file_changed_since_the_pool_ran_is_refused(setup):
    root, file = setup
    changed = root / "trials" / "pool_changed.yaml"
    changed.write_text(POOL_TRIAL.replace("uniform: [0, 20]", "uniform: [0, 30]"))
    bad = file.parent / "changed.yaml"
    bad.write_text(file.read_text().replace("trials/pool.yaml", "trials/pool_changed.yaml"))
    with pytest.raises(ScenarioError, match=r":3:1: trial: .* differs from the trial the pool"):
        load_trial_calibration(bad)


def test_a_pool_given_on_the_command_line_is_named_in_the_error(setup):
    _, file = setup
    with pytest.raises(ScenarioError, match=r"^--pool /nowhere: /nowhere: no such directory"):
        load_trial_calibration(file, pool="/nowhere")


def test_the_shipped_checkmate649_calibration_loads_against_a_pool_of_its_trial(tmp_path):
    """The example file's schema and cross-references, on outcomes invented for its pool."""
    trials = tmp_path / "trials"
    shutil.copytree(SCENARIOS, trials)
    trial = load_trial(trials / "checkmate649_pool.yaml")
    candidates = pd.DataFrame(cohort(trial))
    candidates.insert(0, "patient", np.arange(len(candidates)))
    pool = tmp_path / "pool"
    pool.mkdir()
    candidates.assign(plausible=True, selected=True).to_parquet(pool / "cohort.parquet")
    _outcomes(candidates).to_parquet(pool / "patients.parquet")
    write_json(pool / "trial.json", {"trial": trial.spec.model_dump(mode="json")})
    cal = load_trial_calibration(trials / "checkmate649_calibration.yaml", pool=pool)
    assert len(cal.spec.targets) == 10 and cal.reference_arm == "chemo"
    assert {t.code for t in cal.spec.targets} == {"V", "M"}
    assert cal.write == trials / "checkmate649_like.yaml"


def test_cli_trial_calibrate_without_its_pool_is_a_located_error_exit_2(tmp_path):
    from typer.testing import CliRunner

    from gcsim.cli import app

    shipped = Path(__file__).parents[2] / "scenarios" / "trials" / "checkmate649_calibration.yaml"
    result = CliRunner().invoke(
        app, ["trial-calibrate", str(shipped), "--pool", str(tmp_path / "nowhere")]
    )
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line.startswith("--pool ") and "no such directory" in line
