"""RECIST 1.1 at scans (gcsim.recist): each rule on hand-made diameter series, then one real run."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from gcsim import recist
from gcsim.runner import run_scenario
from gcsim.scenario import Scenario, ScenarioError, load_scenario
from gcsim.summary import read_response, summarize

# --- the scan schedule --------------------------------------------------------------------------


def test_scans_every_six_weeks_from_baseline_by_default():
    assert recist.scan_days(90).tolist() == [0, 42, 84]
    assert recist.scan_days(84).tolist() == [0, 42, 84]  # a scan on the last day is taken
    assert recist.scan_days(83.9).tolist() == [0, 42]
    assert recist.scan_days(30).tolist() == [0]  # no follow-up scan
    assert recist.scan_days(30, every_days=14).tolist() == [0, 14, 28]
    with pytest.raises(ValueError, match="positive"):
        recist.scan_days(30, every_days=0)


def test_scans_see_the_last_observation_at_or_before_their_day():
    times = np.arange(0, 10.0)  # daily
    values = times * 10
    assert recist.sample_at_scans(times, values, [0, 3, 6, 9]).tolist() == [0, 30, 60, 90]
    every_two = np.arange(0, 10.0, 2)  # days 0, 2, …, 8: day 3 sees day 2
    assert recist.sample_at_scans(every_two, every_two * 10, [0, 3, 9]).tolist() == [0, 20, 80]
    hours = np.arange(0, 49) / 24  # hourly, in days: float rounding must not miss the scan hour
    assert recist.sample_at_scans(hours, np.arange(49), [0, 1, 2]).tolist() == [0, 24, 48]
    with pytest.raises(ValueError, match="precedes"):
        recist.sample_at_scans([1.0, 2.0], [1, 2], [0.0])


def test_measurement_is_a_circle_diameter_and_a_sum_over_lesions():
    assert recist.circle_diameter_mm(math.pi) == pytest.approx(2.0)
    assert recist.circle_diameter_mm([0.0]).tolist() == [0.0]
    assert recist.sum_of_diameters([[10, 5], [8, 0]]).tolist() == [15, 8]
    assert recist.sum_of_diameters([3, 4]).tolist() == [3, 4]


# --- per-scan categories ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("follow_up", "expected"),
    [(7.0, "PR"), (7.1, "SD"), (0.0, "CR")],  # 30 % decrease is PR, 29 % is not; 0 is CR
)
def test_partial_response_needs_a_30_percent_decrease(follow_up, expected):
    assert recist.scan_responses([10.0, follow_up]).tolist() == [expected]


@pytest.mark.parametrize(
    ("sld", "expected"),
    [
        # nadir 30 mm (second scan): 20 % over it is 36, and 6 mm ≥ 5 mm
        ([40.0, 30.0, 36.0], [False, False, True]),
        ([40.0, 30.0, 35.7], [False, False, False]),  # 19 %
        # growth from baseline alone: 50 → 60 is 20 % and 10 mm
        ([50.0, 60.0], [False, True]),
        ([50.0, 59.5], [False, False]),  # 19 %
    ],
)
def test_progression_is_20_percent_over_the_nadir_of_previous_scans(sld, expected):
    assert recist.progression_at_scans(sld).tolist() == expected


def test_progression_is_measured_from_the_nadir_not_the_baseline():
    # below baseline, yet 20 % and 6 mm over the 30 mm nadir: progression
    assert recist.scan_responses([50.0, 30.0, 36.0]).tolist() == ["PR", "PD"]


def test_the_5_mm_rule_uses_the_diameter_in_millimetres():
    small = [1.0, 0.8, 1.6]  # doubled over the nadir, but 0.8 mm: not progression in RECIST 1.1
    assert recist.progression_at_scans(small).tolist() == [False, False, False]
    assert recist.progression_at_scans(small, min_increase_mm=0).tolist() == [False, False, True]
    # both conditions are needed: 25 mm → 30 mm is 5 mm and 20 %; 4.9 mm is not enough
    assert recist.progression_at_scans([25.0, 30.0]).tolist() == [False, True]
    assert recist.progression_at_scans([25.0, 29.9]).tolist() == [False, False]
    assert recist.progression_at_scans([100.0, 104.0, 110.0]).tolist() == [False] * 3  # 10 %


def test_reappearance_after_a_complete_response_is_progression_at_any_size():
    assert recist.scan_responses([10.0, 0.0, 0.0, 0.5]).tolist() == ["CR", "CR", "PD"]


def test_a_scan_with_no_disease_is_cr_never_sd_or_pd():
    assert recist.scan_responses([1.0, 0.0]).tolist() == ["CR"]
    assert recist.scan_responses([1.0, 2.0, 0.0], min_increase_mm=0).tolist() == ["PD", "CR"]


def test_a_new_lesion_is_progression():
    sld = [20.0, 10.0, 9.0]
    assert recist.scan_responses(sld, new_lesions=[False, False, True]).tolist() == ["PR", "PD"]
    with pytest.raises(ValueError, match="one flag per scan"):
        recist.progression_at_scans(sld, new_lesions=[True])


# --- best overall response, times ---------------------------------------------------------------

SCANS = [0, 42, 84, 126, 168]


@pytest.mark.parametrize(
    ("categories", "expected"),
    [
        (["SD", "PR", "PR", "SD"], "PR"),
        (["PR", "CR", "CR", "CR"], "CR"),
        (["SD", "SD", "SD", "SD"], "SD"),
        (["PD", "PR", "PR", "PR"], "PD"),  # progressed at the first scan: later PR is not counted
        (["SD", "PD", "CR", "CR"], "SD"),  # a response after progression does not count
    ],
)
def test_best_overall_response_counts_scans_before_progression(categories, expected):
    assert recist.best_overall_response(categories, SCANS).category == expected


def test_without_a_follow_up_scan_response_is_not_evaluable():
    best = recist.best_overall_response([], [0])
    assert best.category == "NE" and math.isnan(best.onset_day)
    assert recist.time_to_progression([], [0]) == (0.0, False)


def test_confirmation_needs_a_later_response_scan_at_least_4_weeks_on():
    confirm = {"confirm_min_days": 28}
    assert recist.best_overall_response(["PR", "PR"], [0, 42, 84], **confirm).category == "PR"
    # a single response scan (the next is SD, PD or missing) is unconfirmed: SD
    assert recist.best_overall_response(["PR", "SD"], [0, 42, 84], **confirm).category == "SD"
    assert recist.best_overall_response(["SD", "PR"], [0, 42, 84], **confirm).category == "SD"
    assert recist.best_overall_response(["PR", "PD"], [0, 42, 84], **confirm).category == "SD"
    # 3 weeks is too soon; the confirming scan must be ≥ 28 days after
    assert recist.best_overall_response(["PR", "PR"], [0, 21, 49], **confirm).category == "PR"
    assert recist.best_overall_response(["PR", "PR"], [0, 21, 48], **confirm).category == "SD"
    # CR confirmed by PR is a confirmed PR; CR confirmed by CR is CR
    assert recist.best_overall_response(["CR", "PR"], [0, 42, 84], **confirm).category == "PR"
    assert recist.best_overall_response(["CR", "CR"], [0, 42, 84], **confirm).category == "CR"
    # without confirmation a single scan counts
    assert recist.best_overall_response(["PR", "SD"], [0, 42, 84]).category == "PR"


def test_time_to_progression_is_the_first_pd_scan_censored_at_the_last_scan():
    assert recist.time_to_progression(["SD", "SD", "PD", "SD"], SCANS) == (126.0, True)
    assert recist.time_to_progression(["SD", "PR", "PR", "SD"], SCANS) == (168.0, False)


def test_progression_is_only_seen_at_scans():
    # daily diameters grow 50 % by day 10 and shrink back by day 40: between scans, unseen
    days = np.arange(0, 91.0)
    diameter = 10.0 * (1 + 0.5 * np.clip(1 - np.abs(days - 10) / 30, 0, None))
    scans = recist.scan_days(days[-1])
    sld = recist.sample_at_scans(days, diameter, scans)
    categories = recist.scan_responses(sld, min_increase_mm=0)
    assert categories.tolist() == ["SD", "SD"]
    assert recist.time_to_progression(categories, scans) == (84.0, False)
    # the same growth on the day-42 scan is seen there
    late = 10.0 * (1 + 0.5 * np.clip(1 - np.abs(days - 42) / 30, 0, None))
    categories = recist.scan_responses(recist.sample_at_scans(days, late, scans), min_increase_mm=0)
    assert recist.time_to_progression(categories, scans) == (42.0, True)


def test_duration_of_response_runs_from_the_first_response_scan():
    assert recist.duration_of_response(["SD", "PR", "CR", "PD"], SCANS) == (84.0, True)
    assert recist.duration_of_response(["PR", "PR", "SD", "SD"], SCANS) == (126.0, False)
    duration, ended = recist.duration_of_response(["SD", "SD", "SD", "SD"], SCANS)
    assert math.isnan(duration) and not ended
    # with confirmation the response starts at its first confirmed scan
    assert recist.duration_of_response(["PR", "SD", "PR", "PR"], SCANS, confirm_min_days=28) == (
        42.0,
        False,
    )


# --- the scenario's response section -----------------------------------------------------------


def test_response_settings_are_validated_with_located_errors(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nresponse:\n  scan_every_days: 0\n  min_increse_mm: 5\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    text = "\n".join(caught.value.messages)
    assert f"{path}:3:20: response.scan_every_days:" in text
    assert f"{path}:4:3: response.min_increse_mm: unknown key" in text
    path.write_text("name: s\nresponse: {scan_every_days: 28, confirm_after_days: 28}\n")
    response = load_scenario(path).response
    assert (response.scan_every_days, response.confirm_after_days) == (28, 28)
    assert response.min_increase_mm == 0.0  # a section: the 20 % rule alone by default


# --- end to end ---------------------------------------------------------------------------------

SITE_MM2 = 0.02**2


def _table(cells: list[int], every_days: float) -> pd.DataFrame:
    n = len(cells)
    return pd.DataFrame(
        {
            "time_h": np.arange(n) * 24.0 * every_days,
            "tumor_cells": cells,
            "viable_tumor_mm2": np.asarray(cells) * SITE_MM2,
            "necrotic_sites": [0] * n,
            "cd8_core_per_mm2": 0.0,
            "cd8_margin_per_mm2": 0.0,
            "hypoxic_fraction": 0.0,
        }
    )


def test_a_run_cleared_of_viable_cells_is_cr_even_with_necrosis_left():
    table = _table([10_000, 5_000, 0, 0, 0], every_days=42)
    table.loc[2:, "necrotic_sites"] = 3_000  # debris without viable cells is no lesion
    reading = read_response(table)
    assert reading.diameter_mm[2:].tolist() == [0.0, 0.0, 0.0]
    assert reading.categories.tolist() == ["SD", "CR", "CR", "CR"]
    assert reading.best.category == "CR" and not reading.progressed


def test_a_real_run_is_scored_at_its_scans(tmp_path):
    scenario = Scenario.model_validate(
        {
            "name": "recist",
            "seed": 5,
            "domain": {"width": 40, "height": 40},
            "time": {"days": 6, "record_every_hours": 12},
            "tumor": {"initial_radius_um": 200},
            "response": {"scan_every_days": 2, "min_increase_mm": 0},
            "arms": {"untreated": [], "killer": {"parameters": {"cd8.kill_probability": 0.2}}},
        }
    )
    result = run_scenario(scenario, tmp_path / "run", workers=0)
    runs = pd.read_parquet(tmp_path / "run" / "runs.parquet")
    table = result.timeseries[result.timeseries["arm"] == "untreated"]
    reading = read_response(table, scenario.response)
    assert reading.scan_days.tolist() == [0, 2, 4, 6]
    # the scans see the day-2, day-4 and day-6 rows, not the others
    at_scans = table[table["time_h"].isin([0, 48, 96, 144])]
    expected = read_response(at_scans, scenario.response)
    assert reading.categories.tolist() == expected.categories.tolist()
    row = runs[runs["arm"] == "untreated"].iloc[0]
    assert row["best_response"] == reading.best.category
    assert row["last_scan_day"] == 6.0
    assert summarize(table, response=scenario.response)["best_response"] == row["best_response"]
    manifest = result.manifest
    hashes = manifest["parameters_hash"]  # per arm: the killer arm's table differs
    assert set(hashes) == {"untreated", "killer"} and len(hashes["untreated"]) == 64
    assert hashes["untreated"] != hashes["killer"]
    # default schedule: a 6-day run has no follow-up scan
    assert summarize(table)["best_response"] == "NE"
