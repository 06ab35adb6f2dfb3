"""Biomarker ranking on synthetic, seeded cohorts whose answer is known."""

from __future__ import annotations

import base64
import re

import numpy as np
import pandas as pd
import pytest

from gcsim.trial.biomarkers import (
    biomarker_html,
    predictive_contrast,
    rank_biomarkers,
)

NOISE = [f"noise{i}" for i in range(5)]
FEATURES = ["driver", *NOISE]
# small forests, one repeat, few shuffles: each fitted ranking takes about a second
FAST = {"repeats": 1, "n_estimators": 100, "permutation_repeats": 3, "bootstrap": 500}


def cohort(n: int, coefficient: float, seed: int, arm: str = "experimental") -> pd.DataFrame:
    """``n`` patients of one arm with six standard-normal features; response is logistic in
    ``driver`` alone (log-odds ``coefficient`` per unit), the others are noise."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, len(FEATURES))), columns=FEATURES)
    probability = 1.0 / (1.0 + np.exp(-(coefficient * frame["driver"] - 0.5)))
    frame["objective_response"] = rng.random(n) < probability
    frame["patient"] = np.arange(n)
    frame["arm"] = arm
    return frame


@pytest.fixture(scope="module")
def driven():
    return rank_biomarkers(cohort(150, 4.0, seed=1), FEATURES, arm="experimental", **FAST)


def test_the_driving_feature_ranks_first_with_its_direction(driven):
    assert driven.fitted and driven.note == ""
    top = driven.table.iloc[0]
    assert top["feature"] == "driver" and top["rank"] == 1
    assert top["direction"] == "higher" and top["univariate_auc"] > 0.85
    assert driven.auc > 0.85 and driven.auc_ci[0] < driven.auc < driven.auc_ci[1]
    assert top["importance_mean"] > 5 * driven.table["importance_mean"].iloc[1:].abs().max()
    assert driven.n == 150 and 0 < driven.positives < 150


def test_lower_values_of_a_protective_feature_are_the_direction():
    frame = cohort(60, 4.0, seed=2)
    frame["driver"] = -frame["driver"]
    result = rank_biomarkers(frame, ["driver"], arm="experimental", folds=100)  # no model
    assert result.table.loc[0, "direction"] == "lower"


def test_pure_noise_has_an_auc_ci_containing_one_half():
    # three repeats, the default: with one, the CI is narrower than the AUC's spread over cohorts
    settings = {**FAST, "repeats": 3}
    result = rank_biomarkers(cohort(150, 0.0, seed=3), FEATURES, arm="experimental", **settings)
    assert result.fitted
    assert result.auc_ci[0] < 0.5 < result.auc_ci[1]


def test_missing_values_and_a_categorical_feature():
    rng = np.random.default_rng(4)
    frame = cohort(120, 0.0, seed=4)
    phenotype = rng.choice(["inflamed", "excluded", "desert"], size=len(frame))
    frame["phenotype"] = pd.Series(phenotype, dtype="string")
    frame.loc[rng.random(len(frame)) < 0.2, "phenotype"] = pd.NA
    frame["objective_response"] = (phenotype == "inflamed") & (rng.random(len(frame)) < 0.8)
    frame["bl_cd8_core_per_mm2"] = frame["noise0"].where(rng.random(len(frame)) > 0.3)
    features = ["phenotype", "bl_cd8_core_per_mm2", "noise1"]
    result = rank_biomarkers(frame, features, arm="experimental", **FAST)
    table = result.table.set_index("feature")
    assert result.fitted and result.table.iloc[0]["feature"] == "phenotype"
    assert table.loc["phenotype", "direction"] == "= inflamed"
    assert table.loc["bl_cd8_core_per_mm2", "n_measured"] < len(frame)
    assert table["importance_mean"].notna().all() and table["univariate_auc"].notna().all()


def test_too_few_responders_gives_a_note_and_no_model():
    frame = cohort(40, 4.0, seed=5)
    frame["objective_response"] = frame["driver"] >= frame["driver"].nlargest(3).min()
    result = rank_biomarkers(frame, FEATURES, arm="experimental")
    assert not result.fitted and np.isnan(result.auc_ci).all()
    assert result.note.startswith("too few responders to cross-validate: 3 of 40")
    assert result.table["importance_mean"].isna().all()
    top = result.table.iloc[0]
    assert top["feature"] == "driver" and top["univariate_auc"] == 1.0  # still ranked alone
    assert "<img" in biomarker_html(result)  # the report still renders


def test_too_few_patients_gives_a_note():
    result = rank_biomarkers(cohort(12, 4.0, seed=6), FEATURES, arm="experimental")
    assert not result.fitted and result.note.startswith("too few patients to cross-validate: 12")


def test_pfs_target_excludes_patients_censored_before_the_day():
    frame = cohort(8, 0.0, seed=7)
    frame["pfs_days"] = [50.0, 100.0, 182.0, 190.0, 300.0, 120.0, 182.625, 400.0]
    frame["pfs_event"] = [True, True, True, True, False, False, False, True]
    result = rank_biomarkers(frame, FEATURES, arm="experimental", target="pfs_6m")
    # progressed by day 182.6: the first three; censored before it: the sixth (day 120), out;
    # censored exactly on it, or progressing later: progression-free at day 182.6
    assert (result.n, result.positives, result.excluded) == (7, 3, 1)
    assert "1 patient censored before day 182.6" in result.note
    days = rank_biomarkers(frame, FEATURES, arm="experimental", target="pfs_100d")
    assert (days.n, days.positives, days.excluded) == (8, 2, 0)  # day 120 is beyond day 100


def test_unknown_feature_target_and_arm_are_named():
    frame = cohort(30, 1.0, seed=8)
    with pytest.raises(ValueError, match=r"unknown feature\(s\) \['bl_cd9'\].*noise0"):
        rank_biomarkers(frame, ["driver", "bl_cd9"], arm="experimental")
    with pytest.raises(ValueError, match=r"unknown target 'pfs_six'.*pfs_<N>m"):
        rank_biomarkers(frame, FEATURES, arm="experimental", target="pfs_six")
    with pytest.raises(ValueError, match=r"outcomes.*not features"):
        rank_biomarkers(frame, ["driver", "objective_response"], arm="experimental")
    with pytest.raises(ValueError, match="unknown arm 'control'"):
        rank_biomarkers(frame, FEATURES, arm="control")


def test_same_seed_gives_the_same_table(driven):
    again = rank_biomarkers(cohort(150, 4.0, seed=1), FEATURES, arm="experimental", **FAST)
    pd.testing.assert_frame_equal(again.table, driven.table)
    assert (again.auc, again.auc_ci) == (driven.auc, driven.auc_ci)


def test_prognostic_and_predictive_features_are_told_apart():
    control = cohort(100, 0.0, seed=9, arm="control")
    experimental = cohort(100, 0.0, seed=10)
    # noise0 is prognostic (drives response in both arms), driver predictive (experimental only)
    for frame, driver_weight in ((control, 0.0), (experimental, 4.0)):
        logit = 3.0 * frame["noise0"] + driver_weight * frame["driver"]
        frame["objective_response"] = logit > 0
    contrast = predictive_contrast(
        pd.concat([control, experimental]), FEATURES, arms=["control", "experimental"]
    ).set_index("feature")
    assert contrast.loc["noise0", "auc_control"] > 0.8
    assert contrast.loc["noise0", "auc_experimental"] > 0.6
    assert abs(contrast.loc["driver", "auc_control"] - 0.5) < 0.15
    assert contrast.loc["driver", "delta_experimental"] > 0.2
    assert contrast.attrs["counts"]["control"]["n"] == 100


def test_html_fragment_is_self_contained(driven):
    contrast = predictive_contrast(
        pd.concat([cohort(40, 0.0, seed=11, arm="control"), cohort(40, 4.0, seed=12)]),
        FEATURES,
        arms=["control", "experimental"],
    )
    fragment = biomarker_html(driven, contrast)
    assert not re.search(r"https?://", fragment)
    sources = re.findall(r'<img[^>]*\ssrc="([^"]+)"', fragment)
    assert len(sources) == 1 and sources[0].startswith("data:image/png;base64,")
    png = base64.b64decode(sources[0].removeprefix("data:image/png;base64,"))
    assert png.startswith(b"\x89PNG")
    assert "driver" in fragment and "not causation" in fragment and "prognostic" in fragment
