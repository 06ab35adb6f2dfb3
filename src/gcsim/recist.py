"""Response scored as a trial scores it: RECIST 1.1 rules at scheduled scans.

Pure functions over arrays, one per rule, so that ``runs.parquet`` (through
:mod:`gcsim.summary`), the pattern suite and the patient-scale model score response the same
way. A lesion is read only at scans, never continuously: reading every observation against a
running nadir makes every noisy series "progress" within days and inflates response rates.

The chain, each step a function:

1. :func:`scan_days` — when the lesion is imaged (baseline at day 0, then every 6 weeks).
2. :func:`sample_at_scans` — a recorded series (diameters, cell counts) as seen at the scans.
3. :func:`circle_diameter_mm`, :func:`sum_of_diameters` — the measurement: one lesion's
   diameter (a section's lesion is the circle with its area), summed over target lesions.
4. :func:`progression_at_scans` — PD: ≥ 20 % over the nadir of previous scans *and* ≥ 5 mm
   absolute increase (or a new lesion, or reappearance after a complete response).
5. :func:`scan_responses` — the category of each follow-up scan: CR, PR, SD or PD.
6. :func:`best_overall_response` — the best category before progression, with optional
   confirmation of CR/PR by a later scan.
7. :func:`time_to_progression` and :func:`duration_of_response` — times from the scan days,
   censored at the last scan.

Several target lesions and new lesions (the patient scale) enter through the measurement
(:func:`sum_of_diameters`) and the ``new_lesions`` argument of :func:`progression_at_scans` and
:func:`scan_responses`; the rules themselves do not change.

Reference: Eisenhauer et al., "New response evaluation criteria in solid tumours: revised
RECIST guideline (version 1.1)", Eur J Cancer 2009;45:228–247 (response criteria, section 4.3;
confirmation, section 4.6; best overall response, table 3).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

SCAN_EVERY_DAYS = 42.0
"""Default scan interval: every 6 weeks, as in the first-line gastric trials' first year."""
PARTIAL_RESPONSE_DECREASE = 0.30
"""PR: the sum of diameters at least this fraction below baseline."""
PROGRESSION_INCREASE = 0.20
"""PD: the sum of diameters at least this fraction above the nadir of previous scans."""
PROGRESSION_MIN_INCREASE_MM = 5.0
"""PD also needs this absolute increase over the nadir, in mm (RECIST 1.1)."""
CONFIRMATION_DAYS = 28.0
"""RECIST 1.1's minimum interval to confirm a CR or PR in non-randomised trials (4 weeks)."""

RESPONSES = ("CR", "PR", "SD", "PD", "NE")
"""Response categories, best first; NE (not evaluable): no scan after baseline."""

# Relative tolerance of the threshold comparisons: a decrease of exactly 30 % (or an increase
# of exactly 20 %) meets the rule despite the rounding of 0.7 · d or 1.2 · d in binary.
_RTOL = 1e-9


def scan_days(follow_up_days: float, every_days: float = SCAN_EVERY_DAYS) -> NDArray[np.float64]:
    """Days of the scans of a regular schedule: baseline at day 0, then every ``every_days``.

    Parameters
    ----------
    follow_up_days : float
        Length of follow-up in days (a simulation's ``time.days``); scans fall on or before it.
    every_days : float, optional
        Interval between scans in days (default 42, every 6 weeks).

    Returns
    -------
    days : ndarray of float
        ``0, every_days, 2·every_days, …`` up to ``follow_up_days``; ``[0]`` alone when
        follow-up is shorter than one interval (no response can then be evaluated).

    Notes
    -----
    The other rules take any increasing array of scan days, so an irregular schedule (every 6
    weeks for a year, then every 12) is an array built by the caller.
    """
    if every_days <= 0:
        raise ValueError(f"every_days must be positive, got {every_days}")
    if follow_up_days < 0:
        raise ValueError(f"follow_up_days must be ≥ 0, got {follow_up_days}")
    count = math.floor(follow_up_days / every_days * (1 + _RTOL)) + 1
    return np.arange(count, dtype=float) * every_days


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


def _new_lesion_flags(new_lesions: ArrayLike | None, n: int) -> NDArray[np.bool_]:
    if new_lesions is None:
        return np.zeros(n, dtype=bool)
    flags = np.asarray(new_lesions, dtype=bool)
    if flags.shape != (n,):
        raise ValueError(f"new_lesions needs one flag per scan ({n}), got shape {flags.shape}")
    return flags


def progression_at_scans(
    sld_mm: ArrayLike,
    *,
    min_increase_fraction: float = PROGRESSION_INCREASE,
    min_increase_mm: float = PROGRESSION_MIN_INCREASE_MM,
    new_lesions: ArrayLike | None = None,
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
        A new lesion seen at the scan (always PD).

    Returns
    -------
    pd : ndarray of bool, shape (m,)
        For each scan (the baseline never progresses): the sum is at least
        ``(1 + min_increase_fraction)`` times the nadir *and* at least ``min_increase_mm`` above
        it, the nadir being the smallest sum of the scans before it (baseline included); or a
        new lesion; or disease seen again after a scan with none (nadir 0, RECIST 1.1: a lesion
        that reappears after a complete response is progression, whatever its size).
    """
    sld = np.asarray(sld_mm, dtype=float)
    if sld.ndim != 1 or len(sld) == 0:
        raise ValueError("sld_mm needs one value per scan, baseline first")
    if np.any(sld < 0) or not np.all(np.isfinite(sld)):
        raise ValueError("sums of diameters must be finite and ≥ 0")
    nadir = np.minimum.accumulate(sld)[:-1]  # nadir of the scans before each follow-up scan
    later = sld[1:]
    grown = later - nadir
    relative = grown >= min_increase_fraction * nadir * (1 - _RTOL)
    absolute = grown >= min_increase_mm * (1 - _RTOL)
    reappeared = (nadir == 0) & (later > 0)
    pd_ = np.zeros(len(sld), dtype=bool)
    pd_[1:] = (later > nadir) & ((relative & absolute) | reappeared)
    return pd_ | _new_lesion_flags(new_lesions, len(sld))


def scan_responses(
    sld_mm: ArrayLike,
    *,
    partial_decrease: float = PARTIAL_RESPONSE_DECREASE,
    min_increase_fraction: float = PROGRESSION_INCREASE,
    min_increase_mm: float = PROGRESSION_MIN_INCREASE_MM,
    new_lesions: ArrayLike | None = None,
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

    Returns
    -------
    categories : ndarray of str, shape (m - 1,)
        For each scan after baseline, the first that applies: ``"PD"`` (progression, see
        :func:`progression_at_scans`, new lesions first); ``"CR"``: no disease (sum 0 — for a
        section, no viable tumour cell: a run with none left is CR, never SD); ``"PR"``: sum
        ≤ ``(1 − partial_decrease)`` × baseline; ``"SD"`` otherwise.
    """
    sld = np.asarray(sld_mm, dtype=float)
    progressed = progression_at_scans(
        sld,
        min_increase_fraction=min_increase_fraction,
        min_increase_mm=min_increase_mm,
        new_lesions=new_lesions,
    )
    if sld[0] <= 0:
        raise ValueError("the baseline scan must show disease (sum of diameters > 0)")
    later = sld[1:]
    partial = later <= (1 - partial_decrease) * sld[0] * (1 + _RTOL)
    categories = np.where(partial, "PR", "SD")
    categories = np.where(later == 0, "CR", categories)
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
