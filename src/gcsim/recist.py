"""Response scored as a trial scores it: RECIST 1.1 rules at scheduled scans.

Pure functions over arrays, one per rule, so that ``runs.parquet`` (through
:mod:`gcsim.summary`), the pattern suite and the patient-scale model score response the same
way. A lesion is read only at scans, never continuously: reading every observation against a
running nadir makes every noisy series "progress" within days and inflates response rates.

The chain, each step a function:

1. :func:`scan_days` — when the lesion is imaged (baseline at day 0, then every 6 weeks;
   optionally less often after the first year).
2. :func:`sample_at_scans` — a recorded series (diameters, cell counts) as seen at the scans.
3. :func:`circle_diameter_mm`, :func:`sum_of_diameters` — the measurement: one lesion's
   diameter (a section's lesion is the circle with its area), summed over target lesions.
4. :func:`progression_at_scans` — PD: ≥ 20 % over the nadir of previous scans *and* ≥ 5 mm
   absolute increase (:func:`progression_threshold_mm`), or a new lesion, or disease seen again
   after a complete response.
5. :func:`scan_responses` — the category of each follow-up scan: CR, PR, SD or PD.
6. :func:`best_overall_response` — the best category before progression, with optional
   confirmation of CR/PR by a later scan.
7. :func:`time_to_progression` and :func:`duration_of_response` — times from the scan days,
   censored at the last scan.

The patient (several lesions, lymph nodes, non-target and new lesions) is scored by
:func:`score_patient` (one run's tidy lesion table) and :func:`score_patients` (one row per
run, for ``runs.parquet``). They only build the inputs of the chain above —
:func:`lesions_at_scans` reads every lesion at the scans; the target sum counts nodes by short
axis and other lesions as 0 below a detection diameter; CR flags (every lesion gone, nodes
< 10 mm, which still add to the sum), new-lesion and non-target flags enter
:func:`scan_responses` through ``complete_response`` and ``new_lesions`` — so the rules
themselves are written once. Unequivocal non-target progression, which RECIST leaves to the
reader, is operationalised as the non-target sum ≥ 73 % and ≥ 10 mm over its nadir
(parameters). :func:`irecist_responses` turns the RECIST 1.1 categories into iRECIST's
(unconfirmed progression iUPD, confirmed iCPD).

References: Eisenhauer et al., "New response evaluation criteria in solid tumours: revised
RECIST guideline (version 1.1)", Eur J Cancer 2009;45:228–247 (response criteria, section 4.3;
confirmation, section 4.6; best overall response, table 3; lymph nodes and the limits of 5
targets, 2 per organ, section 4.2). Seymour et al., "iRECIST: guidelines for response criteria
for use in trials testing immunotherapeutics", Lancet Oncol 2017;18:e143–e152 (table 2), with
the EORTC RECIST working group's FAQ (nodes reappearing at 10 mm; iCPD by cumulative growth,
not before 4 weeks). The rules and every decision taken where RECIST is silent are in
``docs/patient-scale.md`` (section "RECIST 1.1 at patient scale").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

SCAN_EVERY_DAYS = 42.0
"""Default scan interval: every 6 weeks, as in the first-line gastric trials' first year."""
PARTIAL_RESPONSE_DECREASE = 0.30
"""PR: the sum of diameters at least this fraction below baseline."""
PROGRESSION_INCREASE = 0.20
"""PD: the sum of diameters at least this fraction above the nadir of previous scans."""
PROGRESSION_MIN_INCREASE_MM = 5.0
"""PD also needs this absolute increase over the nadir, in mm (RECIST 1.1)."""
LATER_FROM_DAY = 365.0
"""Day after which a schedule with a later interval scans less often (the first year)."""
CONFIRMATION_DAYS = 28.0
"""RECIST 1.1's minimum interval to confirm a CR or PR in non-randomised trials (4 weeks)."""

RESPONSES = ("CR", "PR", "SD", "PD", "NE")
"""Response categories, best first; NE (not evaluable): no scan after baseline."""

# Relative tolerance of the threshold comparisons: a decrease of exactly 30 % (or an increase
# of exactly 20 %) meets the rule despite the rounding of 0.7 · d or 1.2 · d in binary.
_RTOL = 1e-9


def scan_days(
    follow_up_days: float,
    every_days: float = SCAN_EVERY_DAYS,
    *,
    later_every_days: float | None = None,
    later_from_day: float = LATER_FROM_DAY,
) -> NDArray[np.float64]:
    """Days of the scans of a schedule: baseline at day 0, then every ``every_days``.

    Parameters
    ----------
    follow_up_days : float
        Length of follow-up in days (a simulation's ``time.days``); scans fall on or before it.
    every_days : float, optional
        Interval between scans in days (default 42, every 6 weeks).
    later_every_days : float, optional
        A longer interval for later follow-up (e.g. 63 or 84: every 9 or 12 weeks), as trials
        scan less often after the first year. None (default): one interval throughout.
    later_from_day : float, optional
        Day from which ``later_every_days`` applies (default 365). The regular schedule runs up
        to and including this day; the later interval counts from the last regular scan on or
        before it (every 6 weeks to day 336, then 336 + 84 = 420, 504, …), as a trial's visit
        calendar does.

    Returns
    -------
    days : ndarray of float
        ``0, every_days, 2·every_days, …`` up to ``follow_up_days`` (then the later interval, if
        given); ``[0]`` alone when follow-up is shorter than one interval (no response can then
        be evaluated).

    Notes
    -----
    The other rules take any increasing array of scan days, so any other irregular schedule is
    an array built by the caller.
    """
    if every_days <= 0:
        raise ValueError(f"every_days must be positive, got {every_days}")
    if follow_up_days < 0:
        raise ValueError(f"follow_up_days must be ≥ 0, got {follow_up_days}")
    if later_every_days is None:
        count = math.floor(follow_up_days / every_days * (1 + _RTOL)) + 1
        return np.arange(count, dtype=float) * every_days
    if later_every_days <= 0:
        raise ValueError(f"later_every_days must be positive, got {later_every_days}")
    if later_from_day < 0:
        raise ValueError(f"later_from_day must be ≥ 0, got {later_from_day}")
    regular = scan_days(min(follow_up_days, later_from_day), every_days)
    last = regular[-1]
    later = scan_days(follow_up_days - last, later_every_days)[1:] + last
    return np.concatenate([regular, later])


def sample_at_scans(
    times_days: ArrayLike, values: ArrayLike, scan_days: ArrayLike
) -> NDArray[np.float64]:
    """What each scan sees of a recorded series: the last observation at or before the scan.

    Parameters
    ----------
    times_days : array_like of float, shape (n,)
        Observation times in days, increasing (a time series' ``time_h / 24``).
    values : array_like, shape (n,) or (n, k)
        The recorded values (a diameter in mm, a cell count; ``k`` lesions as columns).
    scan_days : array_like of float, shape (m,)
        Scan days, increasing, none before the first observation.

    Returns
    -------
    sampled : ndarray, shape (m,) or (m, k)
        ``values`` at the latest observation with ``time ≤ scan day`` (equal within a relative
        1e-9: an observation recorded at the scan's hour is the one the scan sees).
    """
    times = np.asarray(times_days, dtype=float)
    data = np.asarray(values, dtype=float)
    scans = np.asarray(scan_days, dtype=float)
    if times.ndim != 1 or len(times) != len(data):
        raise ValueError("times_days and values need one entry per observation")
    if len(times) == 0:
        raise ValueError("no observation to sample")
    if np.any(np.diff(times) < 0) or np.any(np.diff(scans) < 0):
        raise ValueError("observation and scan days must be increasing")
    tolerance = _RTOL * np.maximum(np.abs(scans), 1.0)
    index = np.searchsorted(times, scans + tolerance, side="right") - 1
    if np.any(index < 0):
        raise ValueError(f"a scan (day {scans[index < 0][0]:g}) precedes the first observation")
    return data[index]


def circle_diameter_mm(area_mm2: ArrayLike) -> NDArray[np.float64]:
    """Diameter of the circle with a given area: how a section's lesion is measured.

    Parameters
    ----------
    area_mm2 : array_like of float
        Lesion area in mm² (≥ 0).

    Returns
    -------
    diameter : ndarray of float
        ``2 · sqrt(area / π)``, in mm.
    """
    area = np.asarray(area_mm2, dtype=float)
    if np.any(area < 0):
        raise ValueError("a lesion area cannot be negative")
    return 2.0 * np.sqrt(area / math.pi)


def sum_of_diameters(diameters_mm: ArrayLike) -> NDArray[np.float64]:
    """Sum of the target lesions' diameters at each scan (RECIST's SLD).

    Parameters
    ----------
    diameters_mm : array_like of float, shape (m,) or (m, k)
        Diameter in mm of each of ``k`` target lesions (columns) at ``m`` scans (rows); a 1-D
        array is one lesion. A lesion that disappeared is measured as 0.

    Returns
    -------
    sld : ndarray of float, shape (m,)
        Sum over lesions, in mm.
    """
    d = np.asarray(diameters_mm, dtype=float)
    if d.ndim == 1:
        return d.copy()
    if d.ndim != 2:
        raise ValueError("diameters need shape (scans,) or (scans, lesions)")
    return d.sum(axis=1)


def _scan_flags(flags: ArrayLike | None, n: int, name: str) -> NDArray[np.bool_]:
    """One boolean per scan (all False when not given)."""
    if flags is None:
        return np.zeros(n, dtype=bool)
    array = np.asarray(flags, dtype=bool)
    if array.shape != (n,):
        raise ValueError(f"{name} needs one flag per scan ({n}), got shape {array.shape}")
    return array


def _checked_sld(sld_mm: ArrayLike) -> NDArray[np.float64]:
    sld = np.asarray(sld_mm, dtype=float)
    if sld.ndim != 1 or len(sld) == 0:
        raise ValueError("sld_mm needs one value per scan, baseline first")
    if np.any(sld < 0) or not np.all(np.isfinite(sld)):
        raise ValueError("sums of diameters must be finite and ≥ 0")
    return sld


def progression_threshold_mm(
    sld_mm: ArrayLike,
    *,
    min_increase_fraction: float = PROGRESSION_INCREASE,
    min_increase_mm: float = PROGRESSION_MIN_INCREASE_MM,
) -> NDArray[np.float64]:
    """The sum of diameters at which each follow-up scan would progress by size (RECIST 1.1).

    Parameters
    ----------
    sld_mm : array_like of float, shape (m,)
        Sum of target-lesion diameters in mm at each scan, baseline first.
    min_increase_fraction, min_increase_mm
        The size rule, see :func:`progression_at_scans`.

    Returns
    -------
    threshold : ndarray of float, shape (m - 1,)
        For each follow-up scan, ``nadir + max(min_increase_fraction · nadir, min_increase_mm)``
        in mm, the nadir being the smallest sum of the scans before it (baseline included): the
        20 % rule and the 5 mm rule together, relative to the running nadir.
    """
    nadir, needed = _nadir_and_needed_increase(
        _checked_sld(sld_mm), min_increase_fraction, min_increase_mm
    )
    return nadir + needed


def _nadir_and_needed_increase(
    sld: NDArray[np.float64], fraction: float, mm: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """For each follow-up scan: the nadir of the scans before it, and the increase over it that
    progresses by size — max(fraction · nadir, mm), the 20 % and 5 mm rules together."""
    nadir = np.minimum.accumulate(sld)[:-1]
    return nadir, np.maximum(fraction * nadir, mm)


def progression_at_scans(
    sld_mm: ArrayLike,
    *,
    min_increase_fraction: float = PROGRESSION_INCREASE,
    min_increase_mm: float = PROGRESSION_MIN_INCREASE_MM,
    new_lesions: ArrayLike | None = None,
    complete_response: ArrayLike | None = None,
) -> NDArray[np.bool_]:
    """Which scans meet RECIST 1.1's criteria for progressive disease.

    Parameters
    ----------
    sld_mm : array_like of float, shape (m,)
        Sum of target-lesion diameters in mm at each scan, baseline first.
    min_increase_fraction : float, optional
        Relative increase over the nadir that counts (default 0.20).
    min_increase_mm : float, optional
        Absolute increase over the nadir that is also needed, in mm (default 5, RECIST 1.1's
        rule; 0 leaves it out). It is an absolute size: it must not be rescaled to a small
        lesion, which only makes small fluctuations "progress".
    new_lesions : array_like of bool, shape (m,), optional
        A new lesion seen at the scan (always PD); the patient scale also passes unequivocal
        non-target progression here.
    complete_response : array_like of bool, shape (m,), optional
        Whether each scan meets the criteria of a complete response. Default: the sum is 0 (a
        section, or lesions without nodes). At the patient scale a CR can keep a sum > 0
        (nodes < 10 mm short axis still count in the sum), so the caller passes the flags.

    Returns
    -------
    pd : ndarray of bool, shape (m,)
        For each scan (the baseline never progresses): the sum is at least
        ``(1 + min_increase_fraction)`` times the nadir *and* at least ``min_increase_mm`` above
        it, the nadir being the smallest sum of the scans before it (baseline included); or a
        new lesion; or disease seen again after a complete response (a scan not meeting CR
        after an earlier one that did: RECIST 1.1 and its FAQ, a lesion that reappears after an
        overall CR is progression, whatever its size; a node reappears when it reaches 10 mm).
    """
    sld = _checked_sld(sld_mm)
    nadir, needed = _nadir_and_needed_increase(sld, min_increase_fraction, min_increase_mm)
    later = sld[1:]
    sized = later - nadir >= needed * (1 - _RTOL)
    if complete_response is None:
        complete = sld == 0
    else:
        complete = _scan_flags(complete_response, len(sld), "complete_response")
    was_complete = np.logical_or.accumulate(complete)[:-1]
    reappeared = was_complete & ~complete[1:]
    pd_ = np.zeros(len(sld), dtype=bool)
    pd_[1:] = ((later > nadir) & sized) | reappeared
    return pd_ | _scan_flags(new_lesions, len(sld), "new_lesions")


def scan_responses(
    sld_mm: ArrayLike,
    *,
    partial_decrease: float = PARTIAL_RESPONSE_DECREASE,
    min_increase_fraction: float = PROGRESSION_INCREASE,
    min_increase_mm: float = PROGRESSION_MIN_INCREASE_MM,
    new_lesions: ArrayLike | None = None,
    complete_response: ArrayLike | None = None,
) -> NDArray[np.str_]:
    """The response category of every follow-up scan (RECIST 1.1, target lesions).

    Parameters
    ----------
    sld_mm : array_like of float, shape (m,)
        Sum of target-lesion diameters in mm at each scan, baseline first (> 0); a scan that
        finds no viable tumour measures 0.
    partial_decrease : float, optional
        Decrease from baseline that makes a partial response (default 0.30).
    min_increase_fraction, min_increase_mm, new_lesions
        The progression rule, see :func:`progression_at_scans`.
    complete_response : array_like of bool, shape (m,), optional
        Which scans meet the criteria of a complete response (default: sum 0), see
        :func:`progression_at_scans`.

    Returns
    -------
    categories : ndarray of str, shape (m - 1,)
        For each scan after baseline, the first that applies: ``"PD"`` (progression, see
        :func:`progression_at_scans`, new lesions first); ``"CR"``: complete response (by
        default sum 0 — for a section, no viable tumour cell: a run with none left is CR, never
        SD); ``"PR"``: sum ≤ ``(1 − partial_decrease)`` × baseline; ``"SD"`` otherwise.
    """
    sld = np.asarray(sld_mm, dtype=float)
    progressed = progression_at_scans(
        sld,
        min_increase_fraction=min_increase_fraction,
        min_increase_mm=min_increase_mm,
        new_lesions=new_lesions,
        complete_response=complete_response,
    )
    if sld[0] <= 0:
        raise ValueError("the baseline scan must show disease (sum of diameters > 0)")
    later = sld[1:]
    partial = later <= (1 - partial_decrease) * sld[0] * (1 + _RTOL)
    categories = np.where(partial, "PR", "SD")
    complete = later == 0
    if complete_response is not None:
        complete = _scan_flags(complete_response, len(sld), "complete_response")[1:]
    categories = np.where(complete, "CR", categories)
    return np.where(progressed[1:], "PD", categories).astype("<U2")


def _rank(category: str) -> int:
    return RESPONSES.index(category)


@dataclass(frozen=True)
class BestResponse:
    """Best overall response, and ``onset_day``: the first scan at which a counted CR or PR was
    met (the start of the duration of response; NaN for SD, PD and NE)."""

    category: str
    onset_day: float


def best_overall_response(
    categories: Sequence[str] | NDArray[np.str_],
    scan_days: ArrayLike,
    *,
    confirm_min_days: float = 0.0,
    sd_min_days: float = 0.0,
) -> BestResponse:
    """Best response recorded from baseline until progression (RECIST 1.1, table 3).

    Parameters
    ----------
    categories : sequence of str, length m - 1
        Category of each follow-up scan (:func:`scan_responses`).
    scan_days : array_like of float, shape (m,)
        Day of every scan, baseline first.
    confirm_min_days : float, optional
        0 (default): a single CR or PR scan counts (RECIST 1.1 for randomised comparisons, where
        confirmation is not required). > 0: a CR or PR counts only if confirmed by a later scan
        at least this many days after it (28 in RECIST 1.1 for non-randomised trials), every
        scan from it to the confirming one being CR or PR; the confirmed level is CR if all
        those scans are CR, else PR. An unconfirmed response counts as SD.
    sd_min_days : float, optional
        0 (default): any scan before progression makes SD. > 0: SD (including an unconfirmed
        response) needs a scan before progression at least this many days after baseline (the
        protocol's minimum duration of SD, RECIST 1.1: "in general not less than 6–8 weeks");
        without one the best response is PD if progression followed, else NE.

    Returns
    -------
    BestResponse
        ``category``: ``"NE"`` without a follow-up scan; else the best (confirmed) category
        among the scans before the first PD; ``"PD"`` when the first follow-up scan progressed.
        ``onset_day``: the first scan of a counted (confirmed, if asked) CR or PR, which may be a
        PR before a later CR (NaN for SD, PD, NE).
    """
    cats = [str(c) for c in categories]
    days = np.asarray(scan_days, dtype=float)
    if len(days) != len(cats) + 1:
        raise ValueError("scan_days needs the baseline and one day per category")
    unknown = set(cats) - set(RESPONSES[:4])
    if unknown:
        raise ValueError(f"unknown response categories {sorted(unknown)}")
    if not cats:
        return BestResponse("NE", math.nan)
    stop = cats.index("PD") if "PD" in cats else len(cats)
    if stop == 0:
        return BestResponse("PD", math.nan)
    assessed, follow = cats[:stop], days[1 : stop + 1]
    best, onset = "SD", math.nan
    for i, category in enumerate(assessed):
        if category not in ("CR", "PR"):
            continue
        level: str | None = category
        if confirm_min_days > 0:
            level = _confirmed_level(assessed, follow, i, confirm_min_days)
        if level is None:
            continue
        if math.isnan(onset):
            onset = float(follow[i])
        if _rank(level) < _rank(best):
            best = level
    if best == "SD" and sd_min_days > 0:
        if not np.any(follow - days[0] >= sd_min_days * (1 - _RTOL)):
            return BestResponse("PD" if stop < len(cats) else "NE", math.nan)
    return BestResponse(best, onset)


def _confirmed_level(cats: list[str], days: NDArray[np.float64], i: int, gap: float) -> str | None:
    """The response level held from scan ``i`` to the first scan ≥ ``gap`` days later, if any."""
    level = cats[i]
    for j in range(i + 1, len(cats)):
        if cats[j] not in ("CR", "PR"):
            return None
        if cats[j] == "PR":
            level = "PR"
        if days[j] - days[i] >= gap * (1 - _RTOL):
            return level
    return None


def time_to_progression(
    categories: Sequence[str] | NDArray[np.str_], scan_days: ArrayLike
) -> tuple[float, bool]:
    """Days from baseline to the first scan showing progression, censored at the last scan.

    Parameters
    ----------
    categories : sequence of str, length m - 1
        Category of each follow-up scan (:func:`scan_responses`).
    scan_days : array_like of float, shape (m,)
        Day of every scan, baseline first.

    Returns
    -------
    days : float
        Day of the first PD scan minus the baseline day; without one, the last scan's (the
        censoring time: 0 when there was no follow-up scan).
    progressed : bool
        Whether a PD scan was seen (False: ``days`` is censored).
    """
    cats = [str(c) for c in categories]
    days = np.asarray(scan_days, dtype=float)
    if len(days) != len(cats) + 1:
        raise ValueError("scan_days needs the baseline and one day per category")
    if "PD" in cats:
        return float(days[cats.index("PD") + 1] - days[0]), True
    return float(days[-1] - days[0]), False


def duration_of_response(
    categories: Sequence[str] | NDArray[np.str_],
    scan_days: ArrayLike,
    *,
    confirm_min_days: float = 0.0,
) -> tuple[float, bool]:
    """Days from the first scan meeting the response criteria to progression (RECIST 1.1).

    Parameters
    ----------
    categories, scan_days, confirm_min_days
        As for :func:`best_overall_response`; the response is the one it reports.

    Returns
    -------
    days : float
        From the onset of the best overall response (CR or PR) to the first PD scan, or to the
        last scan when none progressed (censored); NaN without a response.
    progressed : bool
        Whether it ended in a PD scan.
    """
    best = best_overall_response(categories, scan_days, confirm_min_days=confirm_min_days)
    if math.isnan(best.onset_day):
        return math.nan, False
    ttp, progressed = time_to_progression(categories, scan_days)
    start = np.asarray(scan_days, dtype=float)[0]
    return float(start + ttp - best.onset_day), progressed


# --- the patient: several lesions, nodes, non-target and new lesions ----------------------------

DETECTION_MM = 5.0
"""A non-nodal lesion smaller than this at a scan is not seen (measured 0): the CR threshold."""
NODE_NORMAL_MM = 10.0
"""A lymph node with a short axis below this is normal (RECIST 1.1), yet still measured."""
MEASURABLE_MM = 10.0
"""Smallest longest diameter of a measurable (target) lesion at baseline, CT (RECIST 1.1)."""
NODE_MEASURABLE_MM = 15.0
"""Smallest short axis of a measurable (target) lymph node at baseline (RECIST 1.1)."""
MAX_TARGETS = 5
"""RECIST 1.1: at most five target lesions in all…"""
MAX_TARGETS_PER_ORGAN = 2
"""…and at most two per organ (all lymph nodes together are one organ, RECIST 1.1 FAQ)."""
NONTARGET_INCREASE = 0.73
"""Unequivocal non-target progression (gcsim's operationalisation): the non-target sum of
diameters at least this fraction above its nadir. RECIST 1.1's only number for it is "an increase
in tumour burden comparable to an additional 73 % in volume"; applied here to diameters it is
deliberately stricter, as RECIST asks of non-target progression when measurable disease exists."""
NONTARGET_MIN_INCREASE_MM = 10.0
"""…and at least this absolute increase of the non-target sum, in mm (twice the target rule)."""
RESOLUTION_MM = 1.0
"""Smallest change read as a change (CT measurements are recorded in whole mm): iRECIST's "any
increase" of non-target disease, and the decrease that lets a target shrinkage reset iUPD."""

LESION_COLUMNS = ("lesion", "site", "target", "node", "appeared_day", "time_days", "diameter_mm")
"""Columns of a tidy lesion table (one row per lesion and observation); others are ignored."""
IRECIST_RESPONSES = ("iCR", "iPR", "iSD", "iUPD", "iCPD", "NE")
"""iRECIST categories, best first (Seymour et al. 2017)."""
NODES_ORGAN = "lymph nodes"
"""The organ of every lymph node, for the per-organ limit of target lesions."""


@dataclass(frozen=True, eq=False)
class LesionScans:
    """Every lesion of one run as the scans see it (the input of the patient rules).

    ``diameter_mm[i, j]`` is lesion ``j``'s recorded diameter (short axis for a node) at scan
    ``i``: the last observation at or before the scan, 0 before a new lesion's first
    observation. ``measured_mm`` is what enters the sums: nodes as recorded, other lesions 0
    below the detection diameter.
    """

    scan_days: NDArray[np.float64]
    names: list[str]
    target: NDArray[np.bool_]
    node: NDArray[np.bool_]
    new: NDArray[np.bool_]
    diameter_mm: NDArray[np.float64]
    measured_mm: NDArray[np.float64]
    visible: NDArray[np.bool_]  # seen as disease: ≥ detection_mm, nodes ≥ node_normal_mm


@dataclass(frozen=True, eq=False)
class PatientResponse:
    """One run's response by RECIST 1.1 (or iRECIST) over all its lesions.

    ``best_response``: CR, PR, SD, PD or NE (iCR, iPR, iSD, iUPD, iCPD or NE with iRECIST);
    ``objective_response``: best CR or PR; ``disease_control``: best CR, PR or SD;
    ``pfs_days``/``pfs_event``: days from baseline to the scan dating progression, or to the last
    scan (censored); ``dor_days``/``dor_event``: from the first counted CR/PR scan to
    progression or the last scan, None without a response; ``scan_days``, ``sld_mm`` (target sum
    at each scan) and ``categories`` (one per follow-up scan).
    """

    best_response: str
    objective_response: bool
    disease_control: bool
    pfs_days: float
    pfs_event: bool
    dor_days: float | None
    dor_event: bool
    scan_days: NDArray[np.float64]
    sld_mm: NDArray[np.float64]
    categories: list[str]


def _per_lesion(lesions: pd.DataFrame) -> pd.DataFrame:
    """Validated lesion attributes, one row per lesion in order of first appearance."""
    missing = [c for c in LESION_COLUMNS if c not in lesions.columns]
    if missing:
        raise ValueError(f"lesions: missing column(s) {', '.join(map(repr, missing))}")
    if len(lesions) == 0:
        raise ValueError("lesions: no rows")
    for column in ("appeared_day", "time_days", "diameter_mm"):
        values = lesions[column].to_numpy(dtype=float)
        if not np.all(np.isfinite(values)):
            row = lesions.iloc[int(np.argmin(np.isfinite(values)))]
            raise ValueError(f"lesion {row['lesion']!r}: {column} must be finite")
    for column in ("target", "node"):
        flags = lesions[column]
        if not flags.map(lambda x: isinstance(x, bool | np.bool_)).all():
            row = lesions[~flags.map(lambda x: isinstance(x, bool | np.bool_))].iloc[0]
            raise ValueError(f"lesion {row['lesion']!r}: {column} must be True or False")
    negative = lesions[lesions["diameter_mm"] < 0]
    if len(negative):
        row = negative.iloc[0]
        raise ValueError(
            f"lesion {row['lesion']!r}: negative diameter_mm ({row['diameter_mm']:g}) "
            f"on day {row['time_days']:g}"
        )
    attributes = ["site", "target", "node", "appeared_day"]
    per = lesions.groupby("lesion", sort=False)[attributes]
    varying = per.nunique().gt(1)
    if varying.to_numpy().any():
        name = varying.any(axis=1).idxmax()
        column = varying.loc[name].idxmax()
        raise ValueError(f"lesion {name!r}: {column} changes between rows (one value a lesion)")
    table = per.first()
    table["target"] = table["target"].astype(bool)
    table["node"] = table["node"].astype(bool)
    if (table["appeared_day"] < 0).any():
        name = table.index[(table["appeared_day"] < 0).to_numpy()][0]
        raise ValueError(f"lesion {name!r}: appeared_day must be ≥ 0 (0 = baseline lesion)")
    late = table[table["target"] & (table["appeared_day"] > 0)]
    if len(late):
        raise ValueError(
            f"lesion {late.index[0]!r}: a new lesion (appeared_day "
            f"{late['appeared_day'].iloc[0]:g}) cannot be a target: RECIST 1.1 chooses target "
            "lesions at baseline"
        )
    targets = table[table["target"]]
    if len(targets) == 0:
        raise ValueError("no target lesion: RECIST 1.1 needs at least one measurable target")
    if len(targets) > MAX_TARGETS:
        raise ValueError(f"{len(targets)} target lesions: RECIST 1.1 allows at most {MAX_TARGETS}")
    organ = targets["site"].astype(str).where(~targets["node"], NODES_ORGAN)
    per_organ = organ.value_counts()
    if per_organ.max() > MAX_TARGETS_PER_ORGAN:
        raise ValueError(
            f"{per_organ.max()} target lesions in {per_organ.idxmax()!r}: RECIST 1.1 allows at "
            f"most {MAX_TARGETS_PER_ORGAN} per organ (all lymph nodes are one organ)"
        )
    return table


def _explicit_scans(at_days: ArrayLike, follow_up: float) -> NDArray[np.float64]:
    days = np.asarray(at_days, dtype=float)
    if days.ndim != 1 or len(days) == 0 or days[0] != 0.0:
        raise ValueError("at_days must start with the baseline scan at day 0")
    if not (np.all(np.isfinite(days)) and np.all(np.diff(days) > 0)):
        raise ValueError(f"at_days must increase: {days.tolist()}")
    if days[-1] > follow_up * (1 + _RTOL):
        raise ValueError(f"a scan at day {days[-1]:g} is after the follow-up ({follow_up:g} d)")
    return days


def lesions_at_scans(
    lesions_of_one_run: pd.DataFrame,
    *,
    scan_every_days: float = SCAN_EVERY_DAYS,
    follow_up_days: float | None = None,
    detection_mm: float = DETECTION_MM,
    node_normal_mm: float = NODE_NORMAL_MM,
    later_scan_every_days: float | None = None,
    later_from_day: float = LATER_FROM_DAY,
    at_days: ArrayLike | None = None,
) -> LesionScans:
    """Read every lesion of one run at the scans, after validating the table.

    Parameters
    ----------
    lesions_of_one_run : DataFrame
        Tidy table, columns :data:`LESION_COLUMNS`: ``lesion`` (name), ``site`` (organ),
        ``target`` and ``node`` (bool), ``appeared_day`` (0: present at baseline; > 0: a new
        lesion, first observed on that day), ``time_days`` and ``diameter_mm`` (longest
        diameter, short axis for a node, ≥ 0). Other columns are ignored.
    scan_every_days, later_scan_every_days, later_from_day
        The scan schedule, see :func:`scan_days`.
    follow_up_days : float, optional
        Last day of follow-up, at most the last observation (default); shorter truncates.
    at_days : array_like of float, optional
        The scan days themselves, in place of the schedule (a patient's visits, off their
        scheduled days): the baseline scan at 0, then increasing, none after the follow-up.
    detection_mm : float, optional
        A non-nodal lesion below this diameter at a scan is not seen (measured 0).
    node_normal_mm : float, optional
        A node below this short axis is normal (not disease), though still measured.

    Returns
    -------
    LesionScans

    Raises
    ------
    ValueError
        One line naming the problem: a missing column, a non-finite or negative value, a
        lesion attribute that changes between rows, no target lesion, more than 5 targets or
        more than 2 in one organ, a new lesion marked as target, a target not measurable at
        baseline (< 10 mm, nodes < 15 mm short axis), a baseline lesion not observed at day 0,
        follow-up beyond the last observation, or rows of several runs.
    """
    if "run_id" in lesions_of_one_run.columns and lesions_of_one_run["run_id"].nunique() > 1:
        raise ValueError(
            f"lesions: {lesions_of_one_run['run_id'].nunique()} runs in one table "
            "(score_patient scores one run; use score_patients)"
        )
    repeated = lesions_of_one_run.duplicated(["lesion", "time_days"])
    if repeated.any():  # without run_id, several runs show as one lesion observed twice
        row = lesions_of_one_run[repeated].iloc[0]
        raise ValueError(
            f"lesions: lesion {row['lesion']!r} is observed twice at day {row['time_days']:g} "
            "(rows of several runs? score_patient scores one run; use score_patients)"
        )
    table = _per_lesion(lesions_of_one_run)
    last = float(lesions_of_one_run["time_days"].max())
    follow_up = last if follow_up_days is None else follow_up_days
    if follow_up > last * (1 + _RTOL):
        raise ValueError(
            f"follow_up_days {follow_up:g} is after the last observation (day {last:g}): a scan "
            "there would see nothing new"
        )
    # named as the caller passed them (scan_days calls them every_days, later_every_days)
    for name, every in (
        ("scan_every_days", scan_every_days),
        ("later_scan_every_days", later_scan_every_days),
    ):
        if every is not None and not every > 0:
            raise ValueError(f"{name} must be positive, got {every}")
    if at_days is None:
        scans = scan_days(
            follow_up,
            scan_every_days,
            later_every_days=later_scan_every_days,
            later_from_day=later_from_day,
        )
    else:
        scans = _explicit_scans(at_days, follow_up)
    rows = lesions_of_one_run.sort_values("time_days", kind="stable").groupby("lesion", sort=False)
    diameters = np.zeros((len(scans), len(table)))
    for j, name in enumerate(table.index):
        series = rows.get_group(name)
        times = series["time_days"].to_numpy(dtype=float)
        seen = np.ones(len(scans), dtype=bool)
        if table.loc[name, "appeared_day"] > 0:  # a new lesion: nothing to see before it exists
            seen = scans >= times[0] * (1 - _RTOL)
        try:
            diameters[seen, j] = sample_at_scans(times, series["diameter_mm"], scans[seen])
        except ValueError as error:
            raise ValueError(f"lesion {name!r}: {error}") from None
    target = table["target"].to_numpy()
    node = table["node"].to_numpy()
    small = diameters[0] < np.where(node, NODE_MEASURABLE_MM, MEASURABLE_MM) * (1 - _RTOL)
    if np.any(target & small):
        j = int(np.argmax(target & small))
        kind = "short axis of a node" if node[j] else "longest diameter"
        raise ValueError(
            f"lesion {table.index[j]!r}: target not measurable at baseline ({kind} "
            f"{diameters[0, j]:g} mm < {NODE_MEASURABLE_MM if node[j] else MEASURABLE_MM:g} mm)"
        )
    seen_mm = diameters >= detection_mm * (1 - _RTOL)
    return LesionScans(
        scan_days=scans,
        names=[str(n) for n in table.index],
        target=target,
        node=node,
        new=table["appeared_day"].to_numpy() > 0,
        diameter_mm=diameters,
        measured_mm=np.where(node | seen_mm, diameters, 0.0),
        visible=np.where(node, diameters >= node_normal_mm * (1 - _RTOL), seen_mm),
    )


def irecist_responses(
    categories: Sequence[str] | NDArray[np.str_],
    scan_days: ArrayLike,
    sld_mm: ArrayLike,
    *,
    target_progression: ArrayLike,
    nontarget_mm: ArrayLike,
    nontarget_progression: ArrayLike,
    new_lesion_mm: ArrayLike,
    new_lesion_count: ArrayLike,
    min_increase_mm: float = PROGRESSION_MIN_INCREASE_MM,
    resolution_mm: float = RESOLUTION_MM,
    confirm_min_days: float = CONFIRMATION_DAYS,
) -> list[str]:
    """iRECIST time-point responses from the RECIST 1.1 ones (Seymour et al. 2017, table 2).

    Parameters
    ----------
    categories : sequence of str, length m - 1
        RECIST 1.1 category of each follow-up scan (:func:`scan_responses`).
    scan_days : array_like of float, shape (m,)
        Day of every scan, baseline first.
    sld_mm, nontarget_mm, new_lesion_mm : array_like of float, shape (m,)
        At each scan (baseline first): target sum, non-target sum and sum of the new lesions
        seen, in mm.
    target_progression, nontarget_progression : array_like of bool, shape (m,)
        Which scans meet RECIST 1.1 PD by the targets (size rule or reappearance after CR) and
        by unequivocal non-target growth.
    new_lesion_count : array_like of int, shape (m,)
        Number of new lesions seen at each scan.
    min_increase_mm : float, optional
        Further growth of the target sum, or of the new lesions' sum, that confirms (5 mm).
    resolution_mm : float, optional
        iRECIST's "any increase" of non-target disease that confirms (1 mm: whole-mm
        measurements).
    confirm_min_days : float, optional
        A scan earlier than this after the iUPD can neither confirm nor reset it (28: the iRECIST
        FAQ's 4 weeks); it stays iUPD.

    Returns
    -------
    categories : list of str, length m - 1
        A RECIST PD opens unconfirmed progression, ``"iUPD"``, at that scan (the bar), which
        records why: targets, non-targets, new lesions. A later scan (≥ ``confirm_min_days``
        after the bar) is ``"iCPD"`` if any category confirms: one that progressed at the bar
        grew further from the bar — target sum ≥ ``min_increase_mm``, non-target sum
        ≥ ``resolution_mm``, new lesions' sum ≥ ``min_increase_mm`` or more new lesions
        (increases add up from the bar, as the iRECIST FAQ says) — or one that did not now
        meets RECIST 1.1 PD (a first new lesion, targets or non-targets progressing). Otherwise
        it is ``"iUPD"`` again if RECIST 1.1 still calls it PD (against the nadir, or new
        lesions still seen), or else the bar is reset and the scan takes its RECIST category
        (``"iCR"``, ``"iPR"``, ``"iSD"``); a later PD opens a new iUPD. After ``"iCPD"`` every
        scan is ``"iCPD"`` (confirmed progression ends assessment).

    Notes
    -----
    Simpler than the iRECIST FAQ in one place: new lesions still seen, unchanged, keep iUPD
    even when the targets shrink further (the FAQ's scenario B would allow iPR); they must
    resolve (fall below detection) for the bar to reset.
    """
    cats = [str(c) for c in categories]
    days = np.asarray(scan_days, dtype=float)
    sld = _checked_sld(sld_mm)
    n = len(sld)
    target_pd = _scan_flags(target_progression, n, "target_progression")
    nontarget_pd = _scan_flags(nontarget_progression, n, "nontarget_progression")
    nontarget = np.asarray(nontarget_mm, dtype=float)
    new_mm = np.asarray(new_lesion_mm, dtype=float)
    count = np.asarray(new_lesion_count)
    if not (len(days) == len(nontarget) == len(new_mm) == len(count) == len(cats) + 1 == n):
        raise ValueError("irecist_responses needs the baseline and one value per category")

    def grew(series: NDArray, bar: int, scan: int, by: float) -> bool:
        # the size rule with no relative part, from the bar: the same rule, not a copy of it
        return bool(
            progression_at_scans(
                series[[bar, scan]],
                min_increase_fraction=0.0,
                min_increase_mm=by,
                complete_response=np.zeros(2, dtype=bool),
            )[1]
        )

    def confirms(bar: int, scan: int) -> bool:
        by_target = grew(sld, bar, scan, min_increase_mm) if target_pd[bar] else target_pd[scan]
        by_nontarget = (
            grew(nontarget, bar, scan, resolution_mm) if nontarget_pd[bar] else nontarget_pd[scan]
        )
        by_new = count[scan] > count[bar] or (
            count[bar] > 0 and grew(new_mm, bar, scan, min_increase_mm)
        )
        return bool(by_target or by_nontarget or by_new)

    labels: list[str] = []
    bar: int | None = None
    for i, category in enumerate(cats):
        scan = i + 1
        if labels and labels[-1] == "iCPD":
            labels.append("iCPD")
        elif bar is None:
            bar = scan if category == "PD" else None
            labels.append("iUPD" if category == "PD" else "i" + category)
        elif days[scan] - days[bar] < confirm_min_days * (1 - _RTOL):
            labels.append("iUPD")  # too soon to confirm or reset
        elif confirms(bar, scan):
            labels.append("iCPD")
        elif category == "PD":  # still progression by RECIST 1.1, not further: remains iUPD
            labels.append("iUPD")
        else:  # not progression any more: the bar is reset
            bar = None
            labels.append("i" + category)
    return labels


def _as_recist(labels: list[str]) -> list[str]:
    """iRECIST labels as the RECIST categories that date best response and progression: the
    iUPD that was confirmed dates the progression (PD), as do the iCPD scans; an unconfirmed
    iUPD is not progression (SD for the ranking; best_response corrects the label)."""
    cats = [{"iCR": "CR", "iPR": "PR", "iSD": "SD", "iUPD": "SD", "iCPD": "PD"}[x] for x in labels]
    if "iCPD" in labels:
        first = labels.index("iCPD")
        bar = first
        while bar > 0 and labels[bar - 1] == "iUPD":
            bar -= 1
        cats[bar] = "PD"
    return cats


def score_patient(
    lesions_of_one_run: pd.DataFrame,
    *,
    scan_every_days: float = SCAN_EVERY_DAYS,
    follow_up_days: float | None = None,
    detection_mm: float = DETECTION_MM,
    node_normal_mm: float = NODE_NORMAL_MM,
    confirm: bool = False,
    irecist: bool = False,
    later_scan_every_days: float | None = None,
    later_from_day: float = LATER_FROM_DAY,
    nontarget_increase_fraction: float = NONTARGET_INCREASE,
    nontarget_min_increase_mm: float = NONTARGET_MIN_INCREASE_MM,
    sd_min_days: float = 0.0,
    at_days: ArrayLike | None = None,
) -> PatientResponse:
    """RECIST 1.1 (optionally iRECIST) response of one run's lesions, read at scheduled scans.

    Parameters
    ----------
    lesions_of_one_run : DataFrame
        The run's tidy lesion table (see :func:`lesions_at_scans`).
    scan_every_days, follow_up_days, later_scan_every_days, later_from_day
        The scan schedule (default every 42 days from day 0 to the last observation).
    at_days : array_like of float, optional
        The scan days themselves instead of the schedule (see :func:`lesions_at_scans`).
    detection_mm : float, optional
        Non-nodal lesions below this diameter at a scan are not seen and count 0 (default 5).
    node_normal_mm : float, optional
        Nodes below this short axis are normal (default 10); they still add their short axis to
        the sum (RECIST 1.1), so a CR may have a sum > 0.
    confirm : bool, optional
        Require confirmation of CR/PR by a later scan ≥ 28 days on (non-randomised trials).
    irecist : bool, optional
        Score by iRECIST (:func:`irecist_responses`): a first PD is iUPD and counts as
        progression only when confirmed (iCPD); progression is then dated at the iUPD scan.
    nontarget_increase_fraction, nontarget_min_increase_mm : float, optional
        Unequivocal non-target progression, an operationalisation (RECIST 1.1 leaves it to the
        reader): the sum of the baseline non-target lesions (measured as targets are) at least
        this fraction above its nadir *and* this many mm above it (defaults 0.73 and 10 mm).
    sd_min_days : float, optional
        Minimum duration of SD from baseline (0: none), see :func:`best_overall_response`.

    Returns
    -------
    PatientResponse

    Notes
    -----
    At each scan: SLD = sum over target lesions (nodes by short axis, other lesions 0 below
    ``detection_mm``). CR: every non-nodal target unseen, every target node < ``node_normal_mm``,
    every non-target lesion gone likewise and no new lesion seen; target CR with non-target
    disease left is PR (RECIST 1.1 table 1). PR: SLD ≥ 30 % below baseline. PD: SLD ≥ 20 % and
    ≥ 5 mm over the nadir of earlier scans, or a new lesion seen (≥ ``detection_mm``; a new
    node ≥ ``node_normal_mm``), or unequivocal non-target progression, or disease seen again
    after an overall CR. SD otherwise; NE without a follow-up scan. Best response, PFS and DoR
    follow :func:`best_overall_response`, :func:`time_to_progression` and
    :func:`duration_of_response`. Eisenhauer et al. 2009 (RECIST 1.1); Seymour et al. 2017
    (iRECIST, Lancet Oncol 18:e143).
    """
    scans = lesions_at_scans(
        lesions_of_one_run,
        scan_every_days=scan_every_days,
        follow_up_days=follow_up_days,
        detection_mm=detection_mm,
        node_normal_mm=node_normal_mm,
        later_scan_every_days=later_scan_every_days,
        later_from_day=later_from_day,
        at_days=at_days,
    )
    baseline_nontarget = ~scans.target & ~scans.new
    sld = sum_of_diameters(scans.measured_mm[:, scans.target])
    nontarget = sum_of_diameters(scans.measured_mm[:, baseline_nontarget])
    new_seen = scans.visible[:, scans.new]
    new_mm = sum_of_diameters(np.where(new_seen, scans.diameter_mm[:, scans.new], 0.0))
    new_count = new_seen.sum(axis=1)
    # CR: no baseline lesion seen (nodes < node_normal_mm are normal) and no new lesion
    complete = ~scans.visible[:, ~scans.new].any(axis=1) & (new_count == 0)
    nontarget_pd = progression_at_scans(
        nontarget,
        min_increase_fraction=nontarget_increase_fraction,
        min_increase_mm=nontarget_min_increase_mm,
        complete_response=np.zeros(len(sld), dtype=bool),  # reappearance: the overall rule
    )
    categories = scan_responses(
        sld, new_lesions=(new_count > 0) | nontarget_pd, complete_response=complete
    ).tolist()
    ranked = categories
    if irecist:
        categories = irecist_responses(
            categories,
            scans.scan_days,
            sld,
            target_progression=progression_at_scans(sld, complete_response=complete),
            nontarget_mm=nontarget,
            nontarget_progression=nontarget_pd,
            new_lesion_mm=new_mm,
            new_lesion_count=new_count,
        )
        ranked = _as_recist(categories)
    confirm_days = CONFIRMATION_DAYS if confirm else 0.0
    best = best_overall_response(
        ranked, scans.scan_days, confirm_min_days=confirm_days, sd_min_days=sd_min_days
    ).category
    pfs, progressed = time_to_progression(ranked, scans.scan_days)
    dor, ended = duration_of_response(ranked, scans.scan_days, confirm_min_days=confirm_days)
    if irecist and best != "NE":
        stop = ranked.index("PD") if "PD" in ranked else len(ranked)
        if best == "PD":
            best = "iCPD"
        elif best == "SD" and not {"iSD", "iPR", "iCR"} & set(categories[:stop]):
            best = "iUPD"  # only unconfirmed progression until the end (Seymour, example 8)
        else:
            best = "i" + best
    return PatientResponse(
        best_response=best,
        objective_response=best in ("CR", "PR", "iCR", "iPR"),
        disease_control=best in ("CR", "PR", "SD", "iCR", "iPR", "iSD"),
        pfs_days=pfs,
        pfs_event=progressed,
        dor_days=None if math.isnan(dor) else dor,
        dor_event=ended,
        scan_days=scans.scan_days,
        sld_mm=sld,
        categories=[str(c) for c in categories],
    )


RESPONSE_COLUMNS = (
    "best_response",
    "objective_response",
    "disease_control",
    "pfs_days",
    "pfs_event",
    "dor_days",
    "dor_event",
)
"""The per-run response columns :func:`score_patients` adds (for ``runs.parquet``)."""


def score_patients(lesions: pd.DataFrame, **options: object) -> pd.DataFrame:
    """Score every run of a lesion table: one row per ``run_id``.

    Parameters
    ----------
    lesions : DataFrame
        Tidy lesion table of many runs: a ``run_id`` column and the columns of
        :func:`lesions_at_scans`; ``arm`` and ``replicate``, if present, are carried over (one
        value per run).
    **options
        Passed to :func:`score_patient` (scan schedule, thresholds, ``confirm``, ``irecist``).

    Returns
    -------
    DataFrame
        Columns ``run_id`` (then ``arm``, ``replicate`` if given) and
        :data:`RESPONSE_COLUMNS`, runs in order of first appearance; ``dor_days`` is NaN
        without a response. An error in one run names it.
    """
    if "run_id" not in lesions.columns:
        raise ValueError("lesions: missing column 'run_id' (score_patient scores a single run)")
    keys = [c for c in ("arm", "replicate") if c in lesions.columns]
    rows = []
    for run_id, run in lesions.groupby("run_id", sort=False):
        row: dict[str, object] = {"run_id": run_id}
        for key in keys:
            values = run[key].unique()
            if len(values) != 1:
                raise ValueError(f"run {run_id!r}: {key} must be one value per run")
            row[key] = values[0]
        try:
            response = score_patient(run, **options)  # type: ignore[arg-type]
        except ValueError as error:
            raise ValueError(f"run {run_id!r}: {error}") from None
        for column in RESPONSE_COLUMNS:
            value = getattr(response, column)
            row[column] = math.nan if value is None else value
        rows.append(row)
    return pd.DataFrame(rows, columns=["run_id", *keys, *RESPONSE_COLUMNS])
