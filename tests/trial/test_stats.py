"""gcsim.trial.stats against lifelines and scipy called directly, on synthetic survival data."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.statistics import logrank_test
from lifelines.utils import median_survival_times
from scipy.stats import binomtest
from synthetic_trial import SUBGROUPS, synthetic_patients

from gcsim.trial import stats

CONTROL, PEMBRO = "chemo", "chemo+pembro"


@pytest.fixture(scope="module")
def patients() -> pd.DataFrame:
    return synthetic_patients(n=120, hazard_ratio=0.6, seed=3)


def _arm(patients: pd.DataFrame, arm: str) -> pd.DataFrame:
    return patients[patients["arm"] == arm]


def test_response_rate_intervals_are_scipys_exact_binomial_intervals(patients):
    table = stats.response_rates(patients).set_index("arm")
    for arm in (CONTROL, PEMBRO):
        group = _arm(patients, arm)
        for column, prefix in (("objective_response", "orr"), ("disease_control", "dcr")):
            k, n = int(group[column].sum()), len(group)
            ci = binomtest(k, n).proportion_ci(method="exact")
            assert table.loc[arm, prefix] == pytest.approx(k / n)
            assert table.loc[arm, f"{prefix}_low"] == pytest.approx(ci.low)
            assert table.loc[arm, f"{prefix}_high"] == pytest.approx(ci.high)
        assert table.loc[arm, "responders"] == group["objective_response"].sum()


def test_km_median_and_rates_are_lifelines_own(patients):
    table = stats.km_summary(patients, [PEMBRO, CONTROL])
    assert list(table["arm"]) == [PEMBRO, CONTROL]
    for row in table.itertuples():
        group = _arm(patients, row.arm)
        fitter = KaplanMeierFitter().fit(group["pfs_days"], group["pfs_event"])
        low, high = median_survival_times(fitter.confidence_interval_).iloc[0]
        assert row.median_days == pytest.approx(fitter.median_survival_time_)
        assert (row.median_low_days, row.median_high_days) == pytest.approx((low, high))
        assert row.median_months == pytest.approx(row.median_days / 30.4375)
        six_months = fitter.survival_function_at_times(6 * 30.4375).iloc[0]
        assert row.pfs_6m == pytest.approx(six_months)
        assert row.events + row.censored == len(group) == row.n
        assert row.events == group["pfs_event"].sum()
        # the follow-up (365 d) ends just before 12 months, with patients still free of
        # progression: the 12-month rate is unknown, not the last value carried on
        assert math.isnan(row.pfs_12m)


def test_hazard_ratio_and_log_rank_are_lifelines_own(patients):
    result = stats.hazard_ratio(patients, CONTROL, PEMBRO)
    control, pembro = _arm(patients, CONTROL), _arm(patients, PEMBRO)
    frame = pd.DataFrame(
        {
            "t": np.r_[control["pfs_days"], pembro["pfs_days"]],
            "e": np.r_[control["pfs_event"], pembro["pfs_event"]],
            "x": np.r_[np.zeros(len(control)), np.ones(len(pembro))],
        }
    )
    cox = CoxPHFitter().fit(frame, "t", "e")
    low, high = np.exp(cox.confidence_intervals_.loc["x"])
    assert result["hr"] == pytest.approx(math.exp(cox.params_["x"]))
    assert (result["hr_low"], result["hr_high"]) == pytest.approx((low, high))
    assert result["p_wald"] == pytest.approx(cox.summary.loc["x", "p"])
    direct = logrank_test(
        control["pfs_days"],
        pembro["pfs_days"],
        event_observed_A=control["pfs_event"],
        event_observed_B=pembro["pfs_event"],
    )
    assert result["logrank_p"] == pytest.approx(direct.p_value)
    assert result["logrank_statistic"] == pytest.approx(direct.test_statistic)
    assert 0 <= result["ph_p"] <= 1 and "proportional" in result["ph_verdict"]
    assert result["note"] == ""
    assert result["events_arm"] == pembro["pfs_event"].sum()


def test_a_strong_effect_gives_a_ci_that_excludes_1_and_holds_the_true_hr():
    # 400 patients, randomised 200 : 200, true HR 0.5
    patients = synthetic_patients(n=200, hazard_ratio=0.5, seed=11)
    assert patients["patient"].nunique() == 400
    result = stats.hazard_ratio(patients, CONTROL, PEMBRO)
    assert result["hr_low"] < 0.5 < result["hr_high"] < 1.0
    assert result["logrank_p"] < 0.001


def test_subgroups_select_the_right_rows(patients):
    table = stats.subgroup_hazard_ratios(patients, CONTROL, PEMBRO, SUBGROUPS)
    assert list(table["subgroup"]) == ["all patients", *(s["name"] for s in SUBGROUPS)]
    cps, phenotype = patients["cps"], patients["phenotype"]
    expected = {
        "all patients": pd.Series(True, index=patients.index),
        "CPS < 1": cps < 1,
        "CPS 1-9": (cps >= 1) & (cps < 10),
        "CPS >= 10": cps >= 10,
        "inflamed": phenotype == "inflamed",
    }
    for row in table.itertuples():
        selected = patients[expected[row.subgroup]]
        assert row.n_reference == (selected["arm"] == CONTROL).sum() > 0
        assert row.n_arm == (selected["arm"] == PEMBRO).sum() > 0
        assert row.events_arm == selected.loc[selected["arm"] == PEMBRO, "pfs_event"].sum()
    assert table.loc[0, "hr"] == pytest.approx(stats.hazard_ratio(patients, CONTROL, PEMBRO)["hr"])
    assert table.loc[2, "rule"] == "1 ≤ cps < 10"


def test_an_unknown_subgroup_feature_names_the_subgroup_the_feature_and_the_columns(patients):
    spec = [{"name": "high TMB", "feature": "tmb", "at_least": 10}]
    with pytest.raises(ValueError, match=r"'high TMB'.*'tmb'.*known columns:.*\bcps\b"):
        stats.subgroup_hazard_ratios(patients, CONTROL, PEMBRO, [*SUBGROUPS, *spec])


@pytest.mark.parametrize(
    "spec",
    [
        {"name": "mixed", "feature": "phenotype", "equals": "inflamed", "below": 3},
        {"name": "typo", "feature": "cps", "at_leat": 3},
        {"name": "text", "feature": "phenotype", "below": 3},
    ],
)
def test_an_invalid_subgroup_rule_is_refused(patients, spec):
    with pytest.raises(ValueError, match=spec["name"]):
        stats.subgroup_mask(patients, spec)


def _no_progression_in(patients: pd.DataFrame, arm: str) -> pd.DataFrame:
    out = patients.copy()
    out.loc[out["arm"] == arm, "pfs_event"] = False
    return out


@pytest.mark.parametrize(
    ("table", "note", "log_rank"),
    [
        (lambda p: p.assign(pfs_event=False), "no progression in either arm", False),
        (lambda p: _no_progression_in(p, PEMBRO), "no progression in arm 'chemo+pembro'", True),
        (lambda p: p.drop(_arm(p, PEMBRO).index[1:]), "1 patient(s)", False),
        # every reference patient progresses before any patient of the arm: no finite MLE
        (
            lambda p: p.assign(pfs_days=np.where(p["arm"] == CONTROL, 10.0, 200.0), pfs_event=True),
            "does not exist",
            True,
        ),
    ],
    ids=["no events", "no events in an arm", "one patient", "separation"],
)
def test_a_degenerate_comparison_gives_nans_and_a_note_without_warnings(
    patients, table, note, log_rank
):
    degenerate = table(patients)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = stats.hazard_ratio(degenerate, CONTROL, PEMBRO)
        subgroups = stats.subgroup_hazard_ratios(degenerate, CONTROL, PEMBRO, SUBGROUPS)
        stats.km_summary(degenerate)
        stats.response_rates(degenerate)
    assert all(math.isnan(result[k]) for k in ("hr", "hr_low", "hr_high", "p_wald", "ph_p"))
    assert note in result["note"]
    assert math.isfinite(result["logrank_p"]) == log_rank
    assert subgroups["hr"].isna().all() and (subgroups["note"] != "").all()


def test_a_subgroup_empty_in_one_arm_is_a_nan_row():
    patients = synthetic_patients(n=60, seed=5)
    patients.loc[patients["arm"] == PEMBRO, "cps"] = 50.0  # nobody below 1 in the arm
    table = stats.subgroup_hazard_ratios(patients, CONTROL, PEMBRO, SUBGROUPS[:1]).iloc[1]
    assert table["n_arm"] == 0 and math.isnan(table["hr"]) and "0 patient(s)" in table["note"]


def test_an_arm_not_in_the_table_is_refused(patients):
    with pytest.raises(ValueError, match="'nivolumab' not in the patients table"):
        stats.hazard_ratio(patients, CONTROL, "nivolumab")
