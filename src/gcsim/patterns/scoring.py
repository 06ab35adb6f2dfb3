"""Scoring rules: one pure function per rule, over per-replicate readouts.

Inputs are numpy arrays of one readout per replicate. Arms of one scenario share the replicate
seeds, so index ``i`` is replicate ``i`` in every arm and differences are taken per replicate
(paired). A replicate whose readout is NaN (no core to count in, a window after the run's end)
is left out of that check, pairwise, and the count is said in ``detail``.

Every rule returns a :class:`CheckResult`; :func:`judge` turns an estimate and its 95 %
confidence interval into a status against the check's expectation:

* ``range: [lo, hi]``: PASS iff ``lo ≤ estimate ≤ hi``;
* ``above: x``: PASS iff the CI's lower bound > x; ``below: x``: PASS iff its upper bound < x;
* ``direction`` with ``p_below``: PASS iff the one-sided trend test's p < p_below;
* ``effect``: INCONCLUSIVE (which counts as FAIL) if the CI's half-width > effect / 2.

Intervals: Wilson score for proportions; Student t for means and paired differences; bootstrap
percentile (fixed seed :data:`BOOTSTRAP_SEED`, :data:`BOOTSTRAP_SAMPLES` resamples) for medians
and the fade ratio. docs/decisions/0014-pattern-scoring.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from gcsim.patterns.spec import Expect

Status = Literal["PASS", "FAIL", "INCONCLUSIVE", "ERROR"]
CONFIDENCE = 0.95
Z95 = float(stats.norm.ppf(0.5 + CONFIDENCE / 2))  # 1.959964...
BOOTSTRAP_SEED = 20240611
BOOTSTRAP_SAMPLES = 10_000
NAN = math.nan
INTERIOR_MAX_EXPECTED = "largest mean at an interior arm, paired CI > 0 vs first and last"
DISJOINT_EXPECTED = "Wilson intervals disjoint, second above (gap > 0)"


@dataclass(frozen=True)
class CheckResult:
    """The score of one check.

    ``estimate`` and ``ci_low``/``ci_high`` (95 %) are in the readout's units (a proportion, a
    difference, a p-value for a trend); ``expected`` says the expectation in words; ``n`` is the
    number of replicates (pairs) used; ``chosen`` the arm an interior_max check picked.
    """

    id: str
    status: Status
    estimate: float = NAN
    ci_low: float = NAN
    ci_high: float = NAN
    expected: str = ""
    n: int = 0
    detail: str = ""
    chosen: str | None = None

    def to_json(self) -> dict[str, Any]:
        """As a JSON object; NaN becomes null."""
        return {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in asdict(self).items()
        }


def error(check_id: str, message: str, expected: str = "") -> CheckResult:
    """A check that could not be scored (a missing column, a failed run)."""
    return CheckResult(check_id, "ERROR", expected=expected, detail=message)


# --- intervals -------------------------------------------------------------------------------


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion.

    Parameters
    ----------
    successes, n : int
        Successes among ``n`` trials (n ≥ 1).
    z : float
        Normal quantile (1.96 for 95 %).

    Returns
    -------
    low, high : float
        ``(p̂ + z²/2n ± z·sqrt(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n)``; it stays in [0, 1] and is
        not degenerate at 0 or n successes (Wilson 1927; Newcombe 1998, method 3).
    """
    if n <= 0:
        return NAN, NAN
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def t_interval(values: ArrayLike) -> tuple[float, float, float]:
    """Mean and Student-t 95 % interval (NaN bounds with fewer than 2 values)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return NAN, NAN, NAN
    mean = float(x.mean())
    if x.size < 2:
        return mean, NAN, NAN
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return mean, mean - half, mean + half


def _bootstrap_indices(n: int) -> NDArray[np.int64]:
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    return rng.integers(0, n, size=(BOOTSTRAP_SAMPLES, n))


def _percentiles(samples: NDArray[np.float64]) -> tuple[float, float]:
    samples = samples[np.isfinite(samples)]
    if samples.size == 0:
        return NAN, NAN
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return float(low), float(high)


# --- judging ---------------------------------------------------------------------------------


def judge(
    check_id: str,
    estimate: float,
    ci: tuple[float, float],
    expect: Expect,
    n: int,
    detail: str = "",
    effect: float | None = None,
    chosen: str | None = None,
) -> CheckResult:
    """The status of ``estimate`` and its ``ci`` against ``expect`` (see the module docstring).

    An estimate that is NaN is an ERROR; a bound that is needed but NaN (too few replicates)
    makes the check INCONCLUSIVE.
    """
    low, high = ci
    text = expect.text() + (f", CI half-width ≤ {effect / 2:g}" if effect is not None else "")
    if not math.isfinite(estimate):
        return CheckResult(
            check_id, "ERROR", estimate, low, high, text, n, detail or "no finite estimate", chosen
        )
    status: Status
    if expect.range is not None:
        status = "PASS" if expect.range[0] <= estimate <= expect.range[1] else "FAIL"
    elif expect.above is not None or expect.below is not None:
        bound = low if expect.above is not None else high
        if not math.isfinite(bound):
            status, detail = "INCONCLUSIVE", _join(detail, "no CI (too few replicates)")
        elif expect.above is not None:
            status = "PASS" if low > expect.above else "FAIL"
        else:
            status = "PASS" if high < (expect.below or 0.0) else "FAIL"
    else:
        raise ValueError("judge() scores value expectations; trends use trend()")
    if effect is not None:
        half = (high - low) / 2 if math.isfinite(low) and math.isfinite(high) else math.inf
        if half > effect / 2:
            status = "INCONCLUSIVE"
            detail = _join(detail, f"CI half-width {half:.3g} > effect/2 = {effect / 2:g}")
    return CheckResult(check_id, status, estimate, low, high, text, n, detail, chosen)


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _finite(*arrays: ArrayLike) -> tuple[list[NDArray[np.float64]], str]:
    """The arrays restricted to the replicates finite in all of them, and a note if any was
    dropped."""
    xs = [np.asarray(a, dtype=float) for a in arrays]
    n = min(len(x) for x in xs)
    if any(len(x) != n for x in xs):
        raise ValueError("paired arms need the same replicates")
    keep = np.ones(n, dtype=bool)
    for x in xs:
        keep &= np.isfinite(x)
    note = "" if keep.all() else f"{int((~keep).sum())} of {n} replicates NaN, left out"
    return [x[keep] for x in xs], note


def _fmt(value: float) -> str:
    return f"{value:.3g}" if math.isfinite(value) else "NaN"


# --- rules -----------------------------------------------------------------------------------


def proportion(
    check_id: str, values: ArrayLike, expect: Expect, effect: float | None = None
) -> CheckResult:
    """Fraction of runs whose binary readout is 1, with its Wilson 95 % interval."""
    (x,), note = _finite(values)
    if x.size == 0:
        return error(check_id, _join(note, "no run to count"), expect.text())
    return _judge_fraction(check_id, x, expect, "", note, effect)


def _judge_fraction(
    check_id: str, x: np.ndarray, expect: Expect, of: str, note: str, effect: float | None
) -> CheckResult:
    """Judge the fraction of the binary readouts ``x`` (non-empty) that are 1, Wilson interval;
    ``of`` says which runs were counted, in the detail."""
    k = int((x > 0.5).sum())
    detail = _join(f"{k}/{x.size}{of}", note)
    return judge(check_id, k / x.size, wilson_interval(k, x.size), expect, x.size, detail, effect)


def conditional_proportion(
    check_id: str, values: ArrayLike, given: ArrayLike, expect: Expect, effect: float | None = None
) -> CheckResult:
    """Fraction of runs with readout 1 among the runs whose ``given`` readout is 1 (Wilson);
    FAIL (NA) when no run meets the condition."""
    (x, g), note = _finite(values, given)
    among = x[g > 0.5]
    if among.size == 0:
        return CheckResult(
            check_id,
            "FAIL",
            expected=expect.text(),
            n=0,
            detail=_join("NA: no run meets the condition", note),
        )
    return _judge_fraction(
        check_id, among, expect, " of the runs meeting the condition", note, effect
    )


def mean(
    check_id: str, values: ArrayLike, expect: Expect, effect: float | None = None
) -> CheckResult:
    """Mean over replicates with a Student-t 95 % interval (none with one replicate)."""
    (x,), note = _finite(values)
    estimate, low, high = t_interval(x)
    return judge(check_id, estimate, (low, high), expect, x.size, note, effect)


def median(
    check_id: str, values: ArrayLike, expect: Expect, effect: float | None = None
) -> CheckResult:
    """Median over replicates with a bootstrap percentile 95 % interval (fixed seed)."""
    (x,), note = _finite(values)
    if x.size == 0:
        return error(check_id, _join(note, "no finite readout"), expect.text())
    samples = np.median(x[_bootstrap_indices(x.size)], axis=1)
    return judge(
        check_id,
        float(np.median(x)),
        _percentiles(samples),
        expect,
        x.size,
        _join(note, "bootstrap percentile CI"),
        effect,
    )


def paired_difference(
    check_id: str, a: ArrayLike, b: ArrayLike, expect: Expect, effect: float | None = None
) -> CheckResult:
    """Mean of ``a − b`` per replicate, with a t interval on the differences."""
    (xa, xb), note = _finite(a, b)
    estimate, low, high = t_interval(xa - xb)
    return judge(check_id, estimate, (low, high), expect, xa.size, note, effect)


def difference_of_differences(
    check_id: str,
    a1: ArrayLike,
    b1: ArrayLike,
    a2: ArrayLike,
    b2: ArrayLike,
    expect: Expect,
    effect: float | None = None,
) -> CheckResult:
    """Mean of ``(a1 − b1) − (a2 − b2)`` per replicate, with a t interval."""
    (x1, y1, x2, y2), note = _finite(a1, b1, a2, b2)
    estimate, low, high = t_interval((x1 - y1) - (x2 - y2))
    return judge(check_id, estimate, (low, high), expect, x1.size, note, effect)


def cochran_armitage(groups: Sequence[ArrayLike], scores: Sequence[float]) -> tuple[float, float]:
    """Cochran–Armitage test for a trend in proportions.

    Parameters
    ----------
    groups : sequence of array_like of {0, 1}
        The binary readouts of each group (arm), in any order.
    scores : sequence of float
        The score (dose, CPS) of each group.

    Returns
    -------
    z, p : float
        ``z = Σ s_i (x_i − n_i p̄) / sqrt(p̄ (1 − p̄) [Σ n_i s_i² − (Σ n_i s_i)² / N])`` and the
        one-sided p-value for an increasing trend, ``1 − Φ(z)``; ``(0, 1)`` when every run
        has the same outcome (no evidence of a trend).
    """
    n = np.array([len(np.asarray(g)) for g in groups], dtype=float)
    x = np.array([float((np.asarray(g, dtype=float) > 0.5).sum()) for g in groups])
    s = np.asarray(scores, dtype=float)
    total = n.sum()
    p = x.sum() / total
    t = float((s * (x - n * p)).sum())
    var = p * (1 - p) * ((n * s * s).sum() - (n * s).sum() ** 2 / total)
    if var <= 0:
        return 0.0, 1.0
    z = t / math.sqrt(var)
    return z, float(stats.norm.sf(z))


def jonckheere_terpstra(groups: Sequence[ArrayLike]) -> tuple[float, float]:
    """Jonckheere–Terpstra test for an increasing trend across ordered groups.

    Parameters
    ----------
    groups : sequence of array_like of float
        The values of each group, in the order of the hypothesised increase.

    Returns
    -------
    j, p : float
        ``J = Σ_{i<j} #{(a, b): x_j,b > x_i,a} + ½ #{ties}`` and the one-sided p-value for an
        increasing trend from the normal approximation with the tie-corrected variance of
        Hollander & Wolfe (Nonparametric Statistical Methods, 2nd ed., section 6.2), without
        continuity correction (for two groups it equals the Mann–Whitney U test's asymptotic
        p-value). ``(J, 1)`` when the variance is 0 (all values equal).
    """
    xs = [np.asarray(g, dtype=float) for g in groups]
    j = 0.0
    for i in range(len(xs)):
        for k in range(i + 1, len(xs)):
            diff = xs[k][None, :] - xs[i][:, None]
            j += float((diff > 0).sum() + 0.5 * (diff == 0).sum())
    n = np.array([len(x) for x in xs], dtype=float)
    total = n.sum()
    _, ties = np.unique(np.concatenate(xs), return_counts=True)
    t = ties.astype(float)
    mean_j = (total**2 - (n**2).sum()) / 4
    var = (
        (
            total * (total - 1) * (2 * total + 5)
            - (n * (n - 1) * (2 * n + 5)).sum()
            - (t * (t - 1) * (2 * t + 5)).sum()
        )
        / 72
        + (n * (n - 1) * (n - 2)).sum()
        * (t * (t - 1) * (t - 2)).sum()
        / (36 * total * (total - 1) * (total - 2))
        + (n * (n - 1)).sum() * (t * (t - 1)).sum() / (8 * total * (total - 1))
    )
    if var <= 0:
        return j, 1.0
    return j, float(stats.norm.sf((j - mean_j) / math.sqrt(var)))


def trend(
    check_id: str,
    groups: Sequence[ArrayLike],
    scores: Sequence[float],
    expect: Expect,
    binary: bool,
) -> CheckResult:
    """A trend across arms ordered by ``scores``: Cochran–Armitage for a binary readout,
    Jonckheere–Terpstra for a continuous one (for a paired trend the groups are the per-replicate
    benefits, baseline − treated). The estimate is the one-sided p-value in ``expect.direction``;
    PASS iff p < ``expect.p_below``."""
    sign = 1.0 if expect.direction == "increasing" else -1.0
    order = np.argsort(np.asarray(scores, dtype=float) * sign, kind="stable")
    cleaned = []
    for g in groups:
        x = np.asarray(g, dtype=float)
        cleaned.append(x[np.isfinite(x)])
    dropped = sum(len(np.asarray(g)) for g in groups) - sum(len(c) for c in cleaned)
    if any(c.size == 0 for c in cleaned):
        return error(check_id, "an arm has no finite readout", expect.text())
    ordered = [cleaned[i] for i in order]
    if binary:
        stat, p = cochran_armitage(ordered, [sign * scores[i] for i in order])
        means = ", ".join(f"{c.mean():.3g}" for c in cleaned)
        detail = f"Cochran–Armitage z = {stat:.3g}; proportions {means}"
    else:
        stat, p = jonckheere_terpstra(ordered)
        means = ", ".join(f"{np.median(c):.3g}" for c in cleaned)
        detail = f"Jonckheere–Terpstra J = {stat:g}; medians {means}"
    if dropped:
        detail = _join(detail, f"{dropped} NaN readouts left out")
    status: Status = "PASS" if p < (expect.p_below or 0) else "FAIL"
    n = min(c.size for c in cleaned)
    return CheckResult(check_id, status, p, NAN, NAN, expect.text(), n, detail)


def disjoint(check_id: str, a: ArrayLike, b: ArrayLike) -> CheckResult:
    """Whether the Wilson intervals of two proportions are disjoint with ``b``'s above ``a``'s.

    The estimate is the gap ``low_b − high_a`` (positive: disjoint); PASS iff it is > 0.
    """
    (xa,), note_a = _finite(a)
    (xb,), note_b = _finite(b)
    if xa.size == 0 or xb.size == 0:
        return error(check_id, "an arm has no run to count", DISJOINT_EXPECTED)
    ka, kb = int((xa > 0.5).sum()), int((xb > 0.5).sum())
    la, ha = wilson_interval(ka, xa.size)
    lb, hb = wilson_interval(kb, xb.size)
    gap = lb - ha
    detail = _join(
        f"{ka}/{xa.size} [{la:.3g}, {ha:.3g}] vs {kb}/{xb.size} [{lb:.3g}, {hb:.3g}]",
        note_a,
        note_b,
    )
    return CheckResult(
        check_id,
        "PASS" if gap > 0 else "FAIL",
        gap,
        NAN,
        NAN,
        DISJOINT_EXPECTED,
        min(xa.size, xb.size),
        detail,
    )


def interior_max(check_id: str, arms: Sequence[str], values: Sequence[ArrayLike]) -> CheckResult:
    """The arm (of ordered ``arms``) with the largest mean readout must be interior, and beat
    the first and the last arm: paired differences with t-interval lower bounds > 0.

    The estimate is the smaller of the two mean paired differences, ``ci_low`` the smaller lower
    bound; ``chosen`` is the arm with the largest mean, whatever the status (a ``best_of``
    reference reads it).
    """
    xs, note = _finite(*values)
    if xs[0].size == 0:
        return error(
            check_id, _join(note, "no replicate with every arm finite"), INTERIOR_MAX_EXPECTED
        )
    means = [float(x.mean()) for x in xs]
    best = int(np.argmax(means))
    chosen = arms[best]
    expected = INTERIOR_MAX_EXPECTED
    summary = "means " + ", ".join(
        f"{a.rpartition('.')[2]} {_fmt(m)}" for a, m in zip(arms, means, strict=True)
    )
    if best in (0, len(arms) - 1):
        return CheckResult(
            check_id,
            "FAIL",
            0.0,
            NAN,
            NAN,
            expected,
            xs[0].size,
            _join(f"largest at an end ({chosen})", summary, note),
            chosen,
        )
    d_first = t_interval(xs[best] - xs[0])
    d_last = t_interval(xs[best] - xs[-1])
    estimate = min(d_first[0], d_last[0])
    low = min(d_first[1], d_last[1])
    high = min(d_first[2], d_last[2])
    status: Status = "PASS" if math.isfinite(low) and low > 0 else "FAIL"
    if not math.isfinite(low):
        status = "INCONCLUSIVE"
    detail = _join(
        f"best {chosen}; vs first {_fmt(d_first[0])} [{_fmt(d_first[1])}, {_fmt(d_first[2])}]; "
        f"vs last {_fmt(d_last[0])} [{_fmt(d_last[1])}, {_fmt(d_last[2])}]",
        summary,
        note,
    )
    return CheckResult(check_id, status, estimate, low, high, expected, xs[0].size, detail, chosen)


def fade(
    check_id: str,
    peak_best: ArrayLike,
    peak_base: ArrayLike,
    late_best: ArrayLike,
    late_base: ArrayLike,
    expect: Expect,
    chosen: str,
    effect: float | None = None,
) -> CheckResult:
    """How much of a gain is left late: ``mean(late_best − late_base) / mean(peak_best −
    peak_base)`` at the arm a ``best_of`` check chose, with a bootstrap percentile 95 % interval
    over replicates (fixed seed). No peak gain (mean ≤ 0) is a FAIL: no window opened."""
    (pb, p0, lb, l0), note = _finite(peak_best, peak_base, late_best, late_base)
    if pb.size == 0:
        return error(check_id, _join(note, "no replicate with every readout finite"), expect.text())
    gain_peak, gain_late = pb - p0, lb - l0
    if gain_peak.mean() <= 0:
        return CheckResult(
            check_id,
            "FAIL",
            NAN,
            NAN,
            NAN,
            expect.text(),
            pb.size,
            _join(f"no peak gain at {chosen} (mean {_fmt(gain_peak.mean())})", note),
            chosen,
        )
    index = _bootstrap_indices(pb.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        samples = gain_late[index].mean(axis=1) / gain_peak[index].mean(axis=1)
    ratio = float(gain_late.mean() / gain_peak.mean())
    detail = _join(
        f"at {chosen}: late gain {_fmt(gain_late.mean())} / peak gain "
        f"{_fmt(gain_peak.mean())}; bootstrap percentile CI",
        note,
    )
    return judge(check_id, ratio, _percentiles(samples), expect, pb.size, detail, effect, chosen)
