"""RECIST 1.1 on the patient (gcsim.recist.score_patient): hand-worked cases on synthetic lesions.

Every case is worked by hand in its comments: SLD is the sum of target diameters at a scan
(nodes by short axis; other lesions 0 below 5 mm); PR ≤ 0.7 × baseline; PD ≥ nadir + max(20 %
of the nadir, 5 mm); scans on days 0, 42, 84, … unless stated.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from gcsim import plots, recist

EVERY = 42.0


def lesion(
    name: str,
    diameters: list[float],
    *,
    site: str = "liver",
    target: bool = True,
    node: bool = False,
    appeared: float = 0.0,
    days: list[float] | None = None,
) -> pd.DataFrame:
    """One lesion's rows; by default one observation per scan day (0, 42, 84, …)."""
    if days is None:
        days = [appeared + EVERY * i for i in range(len(diameters))]
    return pd.DataFrame(
        {
            "lesion": name,
            "site": site,
            "target": target,
            "node": node,
            "appeared_day": appeared,
            "time_days": days,
            "diameter_mm": diameters,
            "tumour_cells": 1e9,  # another column: ignored
        }
    )


def patient(*lesions: pd.DataFrame) -> pd.DataFrame:
    return pd.concat(lesions, ignore_index=True)


# --- target sums: PR, SD, PD ------------------------------------------------------------------


def test_partial_response_is_30_percent_below_the_baseline_sum():
    # SLD 30 + 20 = 50 → 20 + 14 = 34 (−32 %: PR) → 19 + 13 = 32 (PR); no PD: censored at 84
    response = recist.score_patient(
        patient(lesion("A", [30, 20, 19]), lesion("B", [20, 14, 13], site="lung"))
    )
    assert response.sld_mm.tolist() == [50, 34, 32]
    assert response.categories == ["PR", "PR"]
    assert response.best_response == "PR"
    assert response.objective_response and response.disease_control
    assert (response.pfs_days, response.pfs_event) == (84.0, False)
    assert (response.dor_days, response.dor_event) == (42.0, False)  # from day 42 to day 84


def test_stable_disease_when_the_sum_falls_less_than_30_percent():
    # 50 → 24 + 12 = 36 (−28 %): SD; → 22 + 14 = 36: SD
    response = recist.score_patient(
        patient(lesion("A", [30, 24, 22]), lesion("B", [20, 12, 14], site="lung"))
    )
    assert response.categories == ["SD", "SD"]
    assert response.best_response == "SD"
    assert not response.objective_response and response.disease_control
    assert response.dor_days is None and not response.dor_event


def test_20_percent_growth_of_less_than_5_mm_is_not_progression():
    # 20 → 15 (−25 %: SD) → 19: +26.7 % over the 15 mm nadir, but 4 mm < 5 mm: SD
    assert recist.score_patient(lesion("A", [20, 15, 19])).categories == ["SD", "SD"]
    # → 20: +33 % and 5 mm: PD at day 84
    response = recist.score_patient(lesion("A", [20, 15, 20]))
    assert response.categories == ["SD", "PD"]
    assert (response.pfs_days, response.pfs_event) == (84.0, True)


def test_20_percent_and_5_mm_over_the_nadir_is_progression():
    # 25 + 15 = 40 → 40 (SD) → 29 + 19 = 48: +20 % and +8 mm over 40: PD
    response = recist.score_patient(
        patient(lesion("A", [25, 25, 29]), lesion("B", [15, 15, 19], site="lung"))
    )
    assert response.categories == ["SD", "PD"]
    assert response.best_response == "SD"  # the best before progression
    assert (response.pfs_days, response.pfs_event) == (84.0, True)


def test_progression_is_measured_from_the_nadir_not_from_baseline():
    # 50 → 30 (−40 %: PR) → 37: still 26 % below baseline, yet +23 % and +7 mm over the 30 mm
    # nadir: PD. DoR from the PR on day 42 to the PD on day 84: 42 days, ended.
    response = recist.score_patient(
        patient(lesion("A", [30, 18, 22]), lesion("B", [20, 12, 15], site="lung"))
    )
    assert response.sld_mm.tolist() == [50, 30, 37]
    assert response.categories == ["PR", "PD"]
    assert response.best_response == "PR"
    assert (response.dor_days, response.dor_event) == (42.0, True)
    assert (response.pfs_days, response.pfs_event) == (84.0, True)


# --- new lesions ------------------------------------------------------------------------------


def test_a_new_lesion_seen_at_a_scan_is_progression():
    # targets 30 → 20 → 18 (PR, PR); a new lesion first observed on day 60 at 3 mm
    target = lesion("A", [30, 20, 18])
    seen = lesion("new", [3, 6], target=False, appeared=60, days=[60, 84])
    # day 84: the new lesion is 6 mm ≥ 5 mm, seen: PD although the targets shrink
    response = recist.score_patient(patient(target, seen))
    assert response.categories == ["PR", "PD"]
    assert (response.pfs_days, response.pfs_event) == (84.0, True)
    # at 4 mm on day 84 it is below detection: not seen, still PR
    unseen = lesion("new", [3, 4], target=False, appeared=60, days=[60, 84])
    assert recist.score_patient(patient(target, unseen)).categories == ["PR", "PR"]
    # a new node is disease only from a 10 mm short axis: 8 mm is a normal node, 11 mm is PD
    node8 = lesion("n", [8, 8], target=False, node=True, appeared=60, days=[60, 84])
    node11 = lesion("n", [8, 11], target=False, node=True, appeared=60, days=[60, 84])
    assert recist.score_patient(patient(target, node8)).categories == ["PR", "PR"]
    assert recist.score_patient(patient(target, node11)).categories == ["PR", "PD"]


# --- complete response and nodes --------------------------------------------------------------


def test_cr_counts_a_node_below_10_mm_short_axis_in_the_sum():
    # liver 20 mm → 3 mm (below 5 mm: unseen, 0); node 16 mm → 8 mm short axis (normal)
    # SLD 36 → 0 + 8 = 8: every target gone or normal: CR, with the node still in the sum
    response = recist.score_patient(
        patient(lesion("A", [20, 3]), lesion("N", [16, 8], site="nodes", node=True))
    )
    assert response.sld_mm.tolist() == [36, 8]
    assert response.categories == ["CR"]
    assert response.best_response == "CR" and response.objective_response


def test_a_node_at_12_mm_short_axis_is_not_a_complete_response():
    # SLD 36 → 0 + 12 = 12 (−67 %): the node is still pathological (≥ 10 mm): PR, not CR
    response = recist.score_patient(
        patient(lesion("A", [20, 3]), lesion("N", [16, 12], site="nodes", node=True))
    )
    assert response.sld_mm.tolist() == [36, 12]
    assert response.categories == ["PR"]


def test_target_cr_with_non_target_disease_left_is_pr():
    # target 20 → 0 (CR of the targets); a non-target 15 mm lesion stays: PR (RECIST table 1)
    response = recist.score_patient(
        patient(lesion("A", [20, 0]), lesion("B", [15, 15], site="lung", target=False))
    )
    assert response.categories == ["PR"]


def test_disease_seen_again_after_a_complete_response_is_progression():
    # 20 → 3 (unseen: CR) → 6 mm, seen again: PD although 6 mm is far below 20 % + 5 mm
    assert recist.score_patient(lesion("A", [20, 3, 6])).categories == ["CR", "PD"]
    # a target node 16 → 8 (CR) → 10 mm: it has reappeared (RECIST FAQ: a target node
    # reappears at 10 mm): PD, though the sum grew only 2 mm
    node = lesion("N", [16, 8, 10], site="nodes", node=True)
    assert recist.score_patient(node).categories == ["CR", "PD"]
    assert recist.score_patient(lesion("N", [16, 8, 9.5], node=True)).categories == ["CR", "CR"]


# --- confirmation -----------------------------------------------------------------------------


def test_a_pr_counts_with_confirmation_only_if_a_later_scan_28_days_on_shows_it():
    # 40 → 26 (−35 %: PR) → 26 (PR, 42 days later): confirmed PR
    assert recist.score_patient(lesion("A", [40, 26, 26]), confirm=True).best_response == "PR"
    # 40 → 26 (PR) → 30 (−25 %: SD): unconfirmed, counts as SD; PR without confirmation
    unconfirmed = lesion("A", [40, 26, 30])
    response = recist.score_patient(unconfirmed, confirm=True)
    assert response.best_response == "SD" and not response.objective_response
    assert response.dor_days is None
    assert recist.score_patient(unconfirmed).best_response == "PR"
    # scans 21 days apart: PR on day 21 and 42 (21 days: too soon), confirmed on day 63
    early = lesion("A", [40, 26, 26], days=[0, 21, 42])
    assert recist.score_patient(early, scan_every_days=21, confirm=True).best_response == "SD"
    later = lesion("A", [40, 26, 26, 26], days=[0, 21, 42, 63])
    confirmed = recist.score_patient(later, scan_every_days=21, confirm=True)
    assert confirmed.best_response == "PR" and confirmed.dor_days == 42.0  # day 21 → 63


# --- iRECIST ----------------------------------------------------------------------------------


def test_irecist_iupd_followed_by_shrinkage_is_not_progression():
    # 40 → 50 (+25 %, +10 mm: RECIST PD) → 38: RECIST 1.1 stops at PD on day 42
    series = lesion("A", [40, 50, 38])
    plain = recist.score_patient(series)
    assert plain.categories == ["PD", "SD"] and plain.best_response == "PD"
    assert (plain.pfs_days, plain.pfs_event) == (42.0, True)
    # iRECIST: day 42 is iUPD; day 84 is 12 mm smaller than the bar (no further growth) and
    # SD against the 40 mm nadir (38 mm): the bar resets, iSD; no progression, censored at 84
    response = recist.score_patient(series, irecist=True)
    assert response.categories == ["iUPD", "iSD"]
    assert response.best_response == "iSD" and response.disease_control
    assert (response.pfs_days, response.pfs_event) == (84.0, False)


def test_irecist_iupd_confirmed_by_further_growth_is_icpd_dated_at_the_iupd():
    # 40 → 50 (iUPD) → 56: 6 mm more than at the bar (≥ 5 mm): iCPD; progression on day 42
    response = recist.score_patient(lesion("A", [40, 50, 56]), irecist=True)
    assert response.categories == ["iUPD", "iCPD"]
    assert response.best_response == "iCPD" and not response.disease_control
    assert (response.pfs_days, response.pfs_event) == (42.0, True)
    # growth adds up from the bar: 50 → 53 (+3: still PD against the nadir, iUPD) → 56 (+6)
    slow = recist.score_patient(lesion("A", [40, 50, 53, 56, 30]), irecist=True)
    assert slow.categories == ["iUPD", "iUPD", "iCPD", "iCPD"]  # iCPD is final
    assert (slow.pfs_days, slow.pfs_event) == (42.0, True)


def test_irecist_unconfirmed_progression_at_the_end_is_iupd_and_censored():
    # 40 → 50 (iUPD), no later scan (Seymour 2017, table 3, example 8): best iUPD
    response = recist.score_patient(lesion("A", [40, 50]), irecist=True)
    assert response.categories == ["iUPD"]
    assert response.best_response == "iUPD"
    assert (response.pfs_days, response.pfs_event) == (42.0, False)


def test_irecist_new_lesion_confirmed_by_its_growth_or_reset_by_its_resolution():
    target = lesion("A", [30, 30, 30])  # SD throughout
    # a new lesion seen on day 42 at 6 mm (iUPD); day 84: 12 mm, +6 mm: iCPD
    grows = lesion("new", [6, 12], target=False, appeared=42)
    assert recist.score_patient(patient(target, grows), irecist=True).categories == [
        "iUPD",
        "iCPD",
    ]
    # day 84: 3 mm, below detection (resolved): not progression, reset to iSD
    resolves = lesion("new", [6, 3], target=False, appeared=42)
    response = recist.score_patient(patient(target, resolves), irecist=True)
    assert response.categories == ["iUPD", "iSD"]
    # day 84: 7 mm (+1 mm: not ≥ 5) and still seen: remains iUPD
    stays = lesion("new", [6, 7], target=False, appeared=42)
    assert recist.score_patient(patient(target, stays), irecist=True).categories == [
        "iUPD",
        "iUPD",
    ]
    # a second new lesion on day 84 confirms
    second = lesion("new2", [6], target=False, appeared=84, site="lung")
    assert recist.score_patient(patient(target, stays, second), irecist=True).categories == [
        "iUPD",
        "iCPD",
    ]


def test_irecist_confirms_by_the_category_that_progressed_or_by_a_new_one():
    # iUPD by the targets (40 → 50); day 84: targets 52 (+2 from the bar, still PD against the
    # 40 mm nadir) and the non-target grows 20 → 22 mm: a non-target increase confirms only
    # when the non-targets were the reason for iUPD: remains iUPD
    target = lesion("A", [40, 50, 52])
    nontarget = lesion("B", [20, 20, 22], site="lung", target=False)
    assert recist.score_patient(patient(target, nontarget), irecist=True).categories == [
        "iUPD",
        "iUPD",
    ]
    # iUPD by the non-target (20 → 36: +80 %, +16 mm, unequivocal) with stable targets; day 84:
    # 36 → 38 mm, any increase (≥ 1 mm) confirms, no need to be unequivocal again (iRECIST FAQ)
    stable = lesion("A", [40, 40, 40])
    grows = lesion("B", [20, 36, 38], site="lung", target=False)
    response = recist.score_patient(patient(stable, grows), irecist=True)
    assert response.categories == ["iUPD", "iCPD"]
    assert (response.pfs_days, response.pfs_event) == (42.0, True)
    # …while 36 → 36 (no change, still unequivocal against the 20 mm nadir): remains iUPD
    same = lesion("B", [20, 36, 36], site="lung", target=False)
    assert recist.score_patient(patient(stable, same), irecist=True).categories == [
        "iUPD",
        "iUPD",
    ]


def test_irecist_scans_within_4_weeks_of_iupd_neither_confirm_nor_reset():
    # every 14 days: 40 → 50 (iUPD, day 14) → 56 on day 28 (14 days on: too soon, iUPD) → 56 on
    # day 42 (28 days on, +6 mm from the bar): iCPD, progression dated day 14
    series = lesion("A", [40, 50, 56, 56], days=[0, 14, 28, 42])
    response = recist.score_patient(series, scan_every_days=14, irecist=True)
    assert response.categories == ["iUPD", "iUPD", "iCPD"]
    assert (response.pfs_days, response.pfs_event) == (14.0, True)
    # shrinkage 14 days after the iUPD does not reset it either: 40 → 50 → 38 → 38
    shrinks = lesion("A", [40, 50, 38, 38], days=[0, 14, 28, 42])
    response = recist.score_patient(shrinks, scan_every_days=14, irecist=True)
    assert response.categories == ["iUPD", "iUPD", "iSD"]


# --- non-target lesions -----------------------------------------------------------------------


def test_unequivocal_non_target_progression_is_pd():
    # targets stable at 30 mm; non-target 20 → 20 → 36: +80 % over its 20 mm nadir (≥ 73 %)
    # and +16 mm (≥ 10 mm): unequivocal progression, PD on day 84
    target = lesion("A", [30, 30, 30])
    grown = lesion("B", [20, 20, 36], site="peritoneum", target=False)
    assert recist.score_patient(patient(target, grown)).categories == ["SD", "PD"]
    # → 30: +50 %, not unequivocal: SD
    less = lesion("B", [20, 20, 30], site="peritoneum", target=False)
    assert recist.score_patient(patient(target, less)).categories == ["SD", "SD"]
    # the rule is a parameter: +50 % and +10 mm counts when the fraction is 0.5
    strict = recist.score_patient(patient(target, less), nontarget_increase_fraction=0.5)
    assert strict.categories == ["SD", "PD"]


# --- reading at scans only --------------------------------------------------------------------


def test_a_transient_dip_between_scans_is_not_a_response():
    # daily diameters: 40 mm, dipping to 20 mm around day 20 (−50 %), back to 40 by day 30
    days = np.arange(0, 85.0)
    diameter = 40.0 - 20.0 * np.clip(1 - np.abs(days - 20) / 10, 0, None)
    assert diameter.min() == 20.0
    response = recist.score_patient(lesion("A", diameter.tolist(), days=days.tolist()))
    assert response.scan_days.tolist() == [0, 42, 84]
    assert response.categories == ["SD", "SD"]  # the scans see 40 mm
    # the same dip on the day-42 scan is seen there (20 mm: PR), and becomes the nadir, so the
    # regrowth to 40 mm by day 84 (+100 %, +20 mm over the nadir) is PD
    on_scan = 40.0 - 20.0 * np.clip(1 - np.abs(days - 42) / 10, 0, None)
    seen = recist.score_patient(lesion("A", on_scan.tolist(), days=days.tolist()))
    assert seen.sld_mm.tolist() == [40, 20, 40]
    assert seen.categories == ["PR", "PD"]


def test_without_a_follow_up_scan_response_is_not_evaluable():
    response = recist.score_patient(lesion("A", [30, 25], days=[0, 30]))  # no scan after day 0
    assert response.scan_days.tolist() == [0]
    assert response.best_response == "NE" and response.categories == []
    assert not response.objective_response and not response.disease_control
    assert (response.pfs_days, response.pfs_event) == (0.0, False)
    assert response.dor_days is None
    # follow-up is the observed time: scans cannot go beyond it
    with pytest.raises(ValueError, match=r"follow_up_days 42 is after the last observation"):
        recist.score_patient(lesion("A", [30, 25], days=[0, 30]), follow_up_days=42)


def test_pfs_and_duration_of_response():
    # 50 → 34 (PR) → 30 (PR) → 36: +20 % and +6 mm over the nadir 30: PD on day 126
    # PFS 126 days (event); DoR from day 42 to day 126 = 84 days (event)
    response = recist.score_patient(lesion("A", [50, 34, 30, 36]))
    assert response.categories == ["PR", "PR", "PD"]
    assert (response.pfs_days, response.pfs_event) == (126.0, True)
    assert (response.dor_days, response.dor_event) == (84.0, True)
    # no progression: both censored at the last scan (day 126): PFS 126, DoR 84
    censored = recist.score_patient(lesion("A", [50, 34, 30, 30]))
    assert (censored.pfs_days, censored.pfs_event) == (126.0, False)
    assert (censored.dor_days, censored.dor_event) == (84.0, False)


def test_scans_off_their_schedule_read_the_lesions_on_those_days():
    # daily records 50 → 29.5 mm by day 84: a scan on day 45 sees 50 − 0.25·45 = 38.75 (SD),
    # one on day 80 sees 30 (PR); on schedule (42, 84) the scans see 39.5 and 29.5
    days = list(range(85))
    shrinking = lesion("A", [50 - 0.25 * d for d in days], days=[float(d) for d in days])
    off = recist.score_patient(shrinking, at_days=[0, 45, 80])
    assert list(off.scan_days) == [0, 45, 80]
    assert off.sld_mm.tolist() == pytest.approx([50, 38.75, 30])
    assert off.categories == ["SD", "PR"]
    on = recist.score_patient(shrinking)
    assert on.sld_mm.tolist() == pytest.approx([50, 39.5, 29.0])
    for bad, words in (([10, 45], "baseline scan at day 0"), ([0, 45, 45], "increase"),
                       ([0, 90], "after the follow-up")):  # fmt: skip
        with pytest.raises(ValueError, match=words):
            recist.score_patient(shrinking, at_days=bad)


def test_stable_disease_can_need_a_minimum_duration():
    # scans every 21 days; 40 → 40 (SD, day 21) → 50 (+25 %, +10 mm: PD, day 42)
    early = lesion("A", [40, 40, 50], days=[0, 21, 42])
    assert recist.score_patient(early, scan_every_days=21).best_response == "SD"
    # SD must hold at a scan ≥ 42 days from baseline: day 21 is too early, PD followed: PD
    strict = recist.score_patient(early, scan_every_days=21, sd_min_days=42)
    assert strict.best_response == "PD" and not strict.disease_control
    # day 42 still SD: SD stands; follow-up ending on day 21: not evaluable
    held = lesion("A", [40, 40, 40], days=[0, 21, 42])
    assert recist.score_patient(held, scan_every_days=21, sd_min_days=42).best_response == "SD"
    short = recist.score_patient(held, scan_every_days=21, sd_min_days=42, follow_up_days=21)
    assert short.best_response == "NE"
    # a PR needs no minimum duration
    response = lesion("A", [40, 26, 50], days=[0, 21, 42])
    assert recist.score_patient(response, scan_every_days=21, sd_min_days=42).best_response == "PR"


def test_a_later_scan_interval_after_the_first_year():
    # every 6 weeks to day 336 (the last scan within a year), then every 12 weeks from there
    assert recist.scan_days(600, 42, later_every_days=84).tolist() == [
        *range(0, 337, 42),
        420,
        504,
        588,
    ]
    assert recist.scan_days(300, 42, later_every_days=84).tolist() == list(range(0, 295, 42))
    days = [0.0, 336.0, 400.0, 420.0]  # a PD on day 400 is seen only at the day-420 scan
    series = lesion("A", [40, 40, 60, 60], days=days)
    response = recist.score_patient(series, later_scan_every_days=84)
    assert response.scan_days[-3:].tolist() == [294, 336, 420]
    assert (response.pfs_days, response.pfs_event) == (420.0, True)


def test_the_pd_threshold_is_the_20_percent_and_5_mm_rules_from_the_nadir():
    # nadir 40: 40 + max(8, 5) = 48; nadir 30: 30 + max(6, 5) = 36; nadir 10: 10 + max(2, 5)
    assert recist.progression_threshold_mm([40, 30, 36]).tolist() == [48, 36]
    assert recist.progression_threshold_mm([10, 12]).tolist() == [15]


# --- many runs --------------------------------------------------------------------------------


def test_score_patients_gives_one_row_per_run():
    a = lesion("A", [50, 34, 30, 36]).assign(run_id=0, arm="ici", replicate=0)
    b = lesion("A", [50, 50, 50, 50]).assign(run_id=1, arm="control", replicate=0)
    table = recist.score_patients(pd.concat([a, b]))
    assert table.columns.tolist() == ["run_id", "arm", "replicate", *recist.RESPONSE_COLUMNS]
    assert table["run_id"].tolist() == [0, 1]
    assert table["best_response"].tolist() == ["PR", "SD"]
    assert table["objective_response"].tolist() == [True, False]
    assert table["pfs_days"].tolist() == [126.0, 126.0]
    assert table["pfs_event"].tolist() == [True, False]
    assert table["dor_days"].iloc[0] == 84.0 and math.isnan(table["dor_days"].iloc[1])
    # options reach score_patient; errors name the run
    assert recist.score_patients(pd.concat([a, b]), confirm=True)["best_response"].tolist() == [
        "PR",
        "SD",
    ]
    bad = lesion("A", [5, 5]).assign(run_id=7)
    with pytest.raises(ValueError, match=r"^run 7: lesion 'A': target not measurable"):
        recist.score_patients(bad)
    with pytest.raises(ValueError, match="run_id"):
        recist.score_patients(lesion("A", [30, 30]))
    mixed = lesion("A", [30, 30]).assign(run_id=3, arm=["x", "y"])
    with pytest.raises(ValueError, match="run 3: arm must be one value per run"):
        recist.score_patients(mixed)


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (lesion("A", [30, 30]).drop(columns="node"), r"missing column\(s\) 'node'"),
        (lesion("A", [30, -1]), r"lesion 'A': negative diameter_mm \(-1\) on day 42"),
        (lesion("A", [30, 30], target=False), "no target lesion"),
        (
            patient(*(lesion(f"L{i}", [30, 30], site=f"s{i}") for i in range(6))),
            "6 target lesions: RECIST 1.1 allows at most 5",
        ),
        (
            patient(*(lesion(f"L{i}", [30, 30]) for i in range(3))),
            "3 target lesions in 'liver'.*at most 2 per organ",
        ),
        (  # all lymph nodes are one organ, whatever their site label
            patient(*(lesion(f"N{i}", [20, 20], site=f"s{i}", node=True) for i in range(3))),
            "3 target lesions in 'lymph nodes'",
        ),
        (lesion("A", [9, 9]), r"lesion 'A': target not measurable at baseline"),
        (lesion("N", [12, 12], node=True), r"short axis of a node 12 mm < 15 mm"),
        (
            patient(lesion("A", [30, 30]), lesion("B", [30], appeared=42)),
            "lesion 'B': a new lesion .* cannot be a target",
        ),
        (lesion("A", [30, 30], days=[5, 42]), r"lesion 'A': a scan \(day 0\) precedes"),
        (
            patient(lesion("A", [30, 30]).assign(run_id=1), lesion("B", [30, 30]).assign(run_id=2)),
            "2 runs in one table",
        ),
        (  # two runs without run_id: one lesion seen twice on the same day
            patient(lesion("A", [30, 30]), lesion("A", [30, 20])),
            "lesion 'A' is observed twice at day 0",
        ),
        (
            lesion("A", [30, 30]).assign(site=["liver", "lung"]),
            "lesion 'A': site changes between rows",
        ),
        (lesion("A", [30, math.nan]), "lesion 'A': diameter_mm must be finite"),
        (lesion("A", [30, 30]).assign(node="False"), "lesion 'A': node must be True or False"),
    ],
)
def test_bad_input_is_a_one_line_error(table, message):
    with pytest.raises(ValueError, match=message) as caught:
        recist.score_patient(table)
    assert "\n" not in str(caught.value)


# --- the worked example of docs/patient-scale.md (RECIST section) ------------------------


def test_the_documented_worked_example():
    # the table of docs/patient-scale.md (RECIST section), worked there scan by scan
    lesions = patient(
        lesion("liver-1", [32, 24, 18, 16, 19.8, 22, 26], site="liver"),
        lesion("liver-2", [14, 10, 6, 4, 4, 6, 9], site="liver"),
        lesion("node-1", [18, 12, 9, 8, 9, 10, 11], site="nodes", node=True),
        lesion("peritoneum", [12, 12, 10, 9, 9, 10, 11], site="peritoneum", target=False),
    )
    response = recist.score_patient(lesions)
    assert response.sld_mm == pytest.approx([64, 46, 33, 24, 28.8, 38, 46])
    assert recist.progression_threshold_mm(response.sld_mm) == pytest.approx(
        [76.8, 55.2, 39.6, 29, 29, 29]
    )
    assert response.categories == ["SD", "PR", "PR", "PR", "PD", "PD"]
    assert response.best_response == "PR"
    assert (response.pfs_days, response.pfs_event) == (210.0, True)
    assert (response.dor_days, response.dor_event) == (126.0, True)
    confirmed = recist.score_patient(lesions, confirm=True)
    assert confirmed.best_response == "PR" and confirmed.dor_days == 126.0
    irecist = recist.score_patient(lesions, irecist=True)
    assert irecist.categories == ["iSD", "iPR", "iPR", "iPR", "iUPD", "iCPD"]
    assert irecist.best_response == "iPR"
    assert (irecist.pfs_days, irecist.pfs_event) == (210.0, True)
    # stopped at day 210, the iUPD is unconfirmed: progression censored, best still iPR
    short = recist.score_patient(lesions, irecist=True, follow_up_days=210)
    assert short.categories[-1] == "iUPD" and short.best_response == "iPR"
    assert (short.pfs_days, short.pfs_event) == (210.0, False)


# --- plots: what is drawn ---------------------------------------------------------------------


def _line(ax, gid):
    lines = [line for line in ax.lines if line.get_gid() == gid]
    assert len(lines) == 1, gid
    return lines[0]


def test_spider_plot_draws_percent_change_per_run_coloured_by_arm():
    runs = pd.concat(
        [
            lesion("A", [50, 34, 30, 36]).assign(run_id=0, arm="ici"),
            lesion("A", [40, 40, 44, 48]).assign(run_id=1, arm="control"),
            lesion("A", [20, 10, 10, 10]).assign(run_id=2, arm="ici"),
        ]
    )
    ax = plots.plot_spider(runs)
    # run 0: 50 → 34, 30, 36 is −32 %, −40 %, −28 %
    first = _line(ax, "run 0")
    assert first.get_xdata().tolist() == [0, 42, 84, 126]
    assert np.allclose(first.get_ydata(), [0, -32, -40, -28])
    assert np.allclose(_line(ax, "run 1").get_ydata(), [0, 0, 10, 20])
    assert first.get_color() == _line(ax, "run 2").get_color() != _line(ax, "run 1").get_color()
    assert list(_line(ax, "pd_threshold").get_ydata()) == [20, 20]
    assert list(_line(ax, "pr_threshold").get_ydata()) == [-30, -30]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["ici", "control"]
    plt.close(ax.figure)


def test_diameter_panel_draws_lesions_scans_sum_and_thresholds():
    days = [0, 21, 42, 63, 84, 105, 126]
    lesions = patient(
        lesion("A", [30, 25, 20, 19, 18, 22, 26], days=days),
        lesion("N", [20, 18, 14, 12, 12, 13, 14], site="nodes", node=True, days=days),
    )
    _fig, ax = plt.subplots()
    assert plots.plot_diameter_panel(lesions, ax=ax) is ax
    # each lesion's whole series, not only the scans
    assert _line(ax, "lesion A").get_ydata().tolist() == [30, 25, 20, 19, 18, 22, 26]
    assert _line(ax, "lesion N").get_xdata().tolist() == days
    scans = [line.get_xdata()[0] for line in ax.lines if line.get_gid() == "scan"]
    assert scans == [0, 42, 84, 126]
    # SLD at the scans: 50, 34, 30, 40
    sld = _line(ax, "sld")
    assert sld.get_xdata().tolist() == [0, 42, 84, 126]
    assert sld.get_ydata().tolist() == [50, 34, 30, 40]
    assert np.allclose(_line(ax, "pr_threshold").get_ydata(), [35, 35])  # 0.7 × 50
    # PD thresholds: nadir 50 → 60; 34 → 34 + max(6.8, 5) = 40.8; 30 → 30 + max(6, 5) = 36
    threshold = _line(ax, "pd_threshold")
    assert threshold.get_drawstyle() == "steps-pre"
    assert np.allclose(threshold.get_ydata(), [60, 60, 40.8, 36])
    # small sums: the 5 mm rule sets the threshold (nadir 12: 12 + max(2.4, 5) = 17)
    small = plots.plot_diameter_panel(lesion("A", [12, 12]))
    assert np.allclose(_line(small, "pd_threshold").get_ydata(), [17, 17])
    plt.close("all")


def _inside(inner, outer) -> bool:
    return (
        inner.x0 >= outer.x0 - 0.5
        and inner.x1 <= outer.x1 + 0.5
        and inner.y0 >= outer.y0 - 0.5
        and inner.y1 <= outer.y1 + 0.5
    )


@pytest.mark.parametrize("which", ["spider", "panel"])
def test_a_legend_in_a_grid_of_panels_stays_on_its_own_panel(which):
    """With ``ax=`` in a caller's grid (as ``patient_figure`` builds), the legend covers no
    other panel and is not clipped by the figure; alone, it stays right of the axes."""
    runs = pd.concat(
        [
            lesion("A", [50, 34, 30, 36]).assign(run_id=0, arm="ici"),
            lesion("A", [40, 40, 44, 48]).assign(run_id=1, arm="control"),
        ]
    )
    draw = plots.plot_spider if which == "spider" else plots.plot_diameter_panel
    data = runs if which == "spider" else runs[runs["run_id"] == 0]
    fig, axes = plt.subplots(2, 2, figsize=(11, 8), layout="constrained")
    for ax in axes.flat:
        draw(data, ax=ax)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    whole = fig.bbox
    for ax in axes.flat:
        legend = ax.get_legend().get_window_extent(renderer)
        assert _inside(legend, whole), "clipped by the figure"
        assert _inside(legend, ax.get_window_extent(renderer)), "outside its panel"
        for other in axes.flat:
            if other is not ax:
                assert not legend.overlaps(other.get_window_extent(renderer))
    alone = draw(data)
    alone.figure.canvas.draw()
    renderer = alone.figure.canvas.get_renderer()
    assert alone.get_legend().get_window_extent(renderer).x0 >= alone.get_window_extent(renderer).x1
    plt.close("all")


def test_plots_scored_by_irecist_say_so():
    runs = lesion("A", [50, 34, 30, 36]).assign(run_id=0, arm="ici")
    spider = plots.plot_spider(runs, irecist=True)
    panel = plots.plot_diameter_panel(runs, irecist=True)
    for ax in (spider, panel):
        assert "iRECIST" in ax.get_title() and "RECIST 1.1" not in ax.get_title()
    assert "RECIST 1.1" in plots.plot_spider(runs).get_title()
    assert "RECIST 1.1" in plots.plot_diameter_panel(runs).get_title()
    plt.close("all")


@pytest.mark.parametrize("name", ["scan_every_days", "later_scan_every_days"])
def test_a_bad_scan_interval_names_the_argument_given(name):
    runs = lesion("A", [50, 34, 30, 36]).assign(run_id=0, arm="ici")
    for call in (plots.plot_spider, recist.score_patient):
        with pytest.raises(ValueError, match=rf"^{name} must be positive, got 0"):
            call(runs, **{name: 0})
    plt.close("all")
