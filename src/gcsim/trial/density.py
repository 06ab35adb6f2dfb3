"""Densities of a trial file's distributions (:class:`gcsim.trial.spec.Distribution`): what
:func:`gcsim.trial.cohort.quantile` draws from, as a function of the value drawn.

A continuous distribution has a probability density (per unit of the characteristic); a
``choice`` has a probability mass per value. A ``mixture`` is the weighted sum of its parts,
which must all be continuous or all be choices: a mixed one has neither a density nor a mass.
``range`` truncates a normal or lognormal (the density is renormalised inside it) and scales a
beta, exactly as the cohort draws them.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from gcsim.trial.spec import Characteristic, Distribution

Interval = tuple[float, float]


def discrete(dist: Distribution) -> bool:
    """True for a ``choice`` or a mixture of choices (a probability mass, not a density).

    Raises
    ------
    ValueError
        A mixture of choices and continuous parts.
    """
    if dist.mixture is None:
        return dist.choice is not None
    kinds = {discrete(part) for part in dist.mixture}
    if len(kinds) > 1:
        raise ValueError("a mixture of choices and continuous parts has no density")
    return kinds.pop()


def density(dist: Distribution, x: ArrayLike) -> np.ndarray:
    """The density (continuous kinds, per unit of x) or probability mass (``choice``) of
    ``dist`` at each value of ``x``; 0 outside its support.

    Parameters
    ----------
    dist : Distribution
        A trial file's distribution (any kind; ``range`` respected).
    x : array_like
        Values of the characteristic: numbers, or for a ``choice`` its values (strings too).

    Returns
    -------
    ndarray of float, one per value of ``x``.

    Raises
    ------
    ValueError
        A mixture of choices and continuous parts (see :func:`discrete`).
    """
    if discrete(dist):
        return _mass(dist, np.asarray(x, dtype=object).ravel())
    return _density(dist, np.asarray(x, dtype=float).ravel())


def _mass(dist: Distribution, x: np.ndarray) -> np.ndarray:
    out = np.zeros(x.size)
    if dist.mixture is not None:
        weights = np.array([part.weight for part in dist.mixture], dtype=float)
        for w, part in zip(weights / weights.sum(), dist.mixture, strict=True):
            out += w * _mass(part, x)
        return out
    choice = dist.choice
    weights = np.asarray(choice.weights or [1.0] * len(choice.values), dtype=float)  # type: ignore[union-attr]
    for value, w in zip(choice.values, weights / weights.sum(), strict=True):  # type: ignore[union-attr]
        out += w * (x == value).astype(float)  # a value listed twice owns both shares
    return out


def _density(dist: Distribution, x: np.ndarray) -> np.ndarray:
    kind = dist.kind
    if kind == "mixture":
        parts = dist.mixture or []
        weights = np.array([part.weight for part in parts], dtype=float)
        return sum(
            (w * _density(part, x) for w, part in zip(weights / weights.sum(), parts, strict=True)),
            start=np.zeros(x.size),
        )
    if kind in ("uniform", "loguniform"):
        lo, hi = dist.uniform or dist.loguniform  # type: ignore[misc]
        inside = (x >= lo) & (x <= hi)
        if kind == "uniform":
            return np.where(inside, 1.0 / (hi - lo), 0.0)
        safe = np.where(inside, x, 1.0)  # no division by the zeros and negatives outside
        return np.where(inside, 1.0 / (safe * math.log(hi / lo)), 0.0)
    if kind == "beta":
        lo, hi = dist.range or (0.0, 1.0)
        return stats.beta(dist.beta.a, dist.beta.b).pdf((x - lo) / (hi - lo)) / (hi - lo)  # type: ignore[union-attr]
    frozen = _frozen(dist)
    if dist.range is None:
        return frozen.pdf(x)
    lo, hi = dist.range
    inside = (x >= lo) & (x <= hi)
    return np.where(inside, frozen.pdf(x), 0.0) / (frozen.cdf(hi) - frozen.cdf(lo))


def _frozen(dist: Distribution) -> stats.rv_continuous:
    if dist.normal is not None:
        return stats.norm(dist.normal.mean, dist.normal.sd)
    return stats.lognorm(dist.lognormal.sigma, scale=dist.lognormal.median)  # type: ignore[union-attr]


def intervals(dist: Distribution) -> list[Interval]:
    """The support of a continuous ``dist`` as disjoint closed intervals, in increasing order
    (a mixture's parts merged where they touch or overlap; infinite ends as ``±inf``)."""
    if dist.mixture is not None:
        pieces = sorted(i for part in dist.mixture if part.weight > 0 for i in intervals(part))
        merged: list[Interval] = []
        for lo, hi in pieces:
            if merged and lo <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
            else:
                merged.append((lo, hi))
        return merged
    if dist.uniform is not None or dist.loguniform is not None:
        return [tuple(dist.uniform or dist.loguniform)]  # type: ignore[list-item, arg-type]
    if dist.range is not None:
        return [tuple(dist.range)]  # type: ignore[list-item]
    if dist.beta is not None:
        return [(0.0, 1.0)]
    if dist.lognormal is not None:
        return [(0.0, math.inf)]
    return [(-math.inf, math.inf)]


def characteristic_density(
    c: Characteristic, x: ArrayLike, given: ArrayLike | None = None
) -> np.ndarray:
    """The density (or mass) of characteristic ``c``'s draw at ``x``; a characteristic drawn
    by bins uses, for each value, the bin its ``given`` value selects (as the cohort does)."""
    if c.distribution is not None:
        return density(c.distribution, x)
    bins = c.bins or []
    x = np.asarray(x, dtype=object).ravel()
    edges = [b.below for b in bins[:-1]]
    which = np.searchsorted(edges, np.asarray(given, dtype=float).ravel(), side="right")
    out = np.zeros(x.size)
    for i, b in enumerate(bins):
        out[which == i] = density(b, x[which == i])
    return out
