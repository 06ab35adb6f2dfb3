"""Subclone markers: where the initial tumour's marker-positive cells lie, how faithfully
daughters inherit a marker, and the marker fractions the time series records.

A marker is one bit of ``state.marker`` (``state.py: MARKER_BITS``). ``tumor.subclones`` gives
each marker a fraction of the initial tumour cells and, written as a mapping
(``scenario.sections.MarkerDistribution``), a spatial pattern and a heritability:

* ``scattered``: each cell independently (the draw of a plain fraction);
* ``patchy``: the cells where Gaussian-smoothed white noise is highest, in clusters whose size
  follows ``length_um``;
* ``sectoral``: the cells of one angular sector around the tumour's centre.

Heritability ``h``: at a division each of the two daughters keeps each bit of its parent with
probability ``h`` and loses it otherwise (``kernels.tumor.inherited_markers``); a bit is never
gained, so in a tumour that grows without selection a marker's fraction falls by ``h`` per
generation.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from gcsim.scenario.sections import MarkerDistribution, Subclones
from gcsim.state import MARKER_BITS

MARKER_METRICS = tuple(f"marker_{name}_fraction" for name in MARKER_BITS)


def carriers(
    spec: MarkerDistribution, cells: np.ndarray, site_um: float, rng: np.random.Generator
) -> np.ndarray:
    """Which of the tumour cells carry the marker: a boolean array over ``cells``' True sites in
    their C order (as ``array[cells]`` lists them).

    ``cells``: the tumour mask (lattice shape); ``site_um``: the site edge in µm. Draws from
    ``rng``: ``scattered`` one uniform per cell (as a plain fraction always did), ``patchy`` one
    standard normal per lattice site, ``sectoral`` one uniform (the sector's start angle).
    """
    if spec.pattern == "scattered":
        return rng.random(int(np.count_nonzero(cells))) < spec.fraction
    if spec.pattern == "patchy":
        noise = rng.standard_normal(cells.shape)
        return patchy_carriers(cells, spec.fraction, spec.length_um / site_um, noise)
    return sectoral_carriers(cells, spec.fraction, 2.0 * np.pi * rng.random())


def _top(score: np.ndarray, fraction: float) -> np.ndarray:
    """True at the ``round(fraction · n)`` highest entries of ``score`` (ties by position)."""
    n = score.shape[0]
    k = round(fraction * n)
    chosen = np.zeros(n, dtype=bool)
    chosen[np.argsort(-score, kind="stable")[:k]] = True
    return chosen


def patchy_carriers(
    cells: np.ndarray, fraction: float, length_sites: float, noise: np.ndarray
) -> np.ndarray:
    """Patches: the ``round(fraction · n)`` of the ``n`` tumour cells where ``noise`` smoothed
    by a Gaussian of s.d. ``length_sites`` (sites) is highest.

    ``cells``: tumour mask; ``noise``: white noise of the lattice's shape. Thresholding the
    smoothed field at its quantile among the tumour cells gives exactly the fraction asked, in
    clusters whose size grows with ``length_sites`` (the smoothed field's correlation is
    ``exp(−r²/(4·length²))``). Returns a boolean array over ``cells``' True sites, C order.
    """
    field = ndimage.gaussian_filter(noise.astype(np.float64), sigma=length_sites)
    return _top(field[cells], fraction)


def sectoral_carriers(cells: np.ndarray, fraction: float, start_angle: float) -> np.ndarray:
    """A sector: the ``round(fraction · n)`` tumour cells that come first counter-clockwise
    from ``start_angle`` (radians, from the +x axis) around the tumour cells' centroid.

    Returns a boolean array over ``cells``' True sites, C order.
    """
    x, y = np.nonzero(cells)
    if x.size == 0:
        return np.zeros(0, dtype=bool)
    angle = np.mod(np.arctan2(y - y.mean(), x - x.mean()) - start_angle, 2.0 * np.pi)
    return _top(-angle, fraction)


def marker_loss(subclones: Subclones) -> np.ndarray:
    """Per bit of ``state.marker`` (entry b for the bit 1 << b, eight entries), the probability
    1 − heritability that a daughter loses it at division; all 0 when every marker is fully
    heritable, as by default (the tumour kernel then draws nothing for markers)."""
    loss = np.zeros(8, dtype=np.float64)
    for name, bit in MARKER_BITS.items():
        loss[bit.bit_length() - 1] = 1.0 - subclones.distribution(name).heritability
    return loss


def marker_fractions(marker: np.ndarray, tumour: np.ndarray) -> dict[str, float]:
    """``marker_<name>_fraction``: of the tumour cells (mask ``tumour``; doomed cells included,
    as ``tumor_cells`` counts them), the fraction whose ``marker`` bits carry each marker; NaN
    without tumour cells."""
    bits = marker[tumour]
    n = bits.shape[0]
    return {
        column: np.count_nonzero(bits & bit) / n if n else float("nan")
        for column, bit in zip(MARKER_METRICS, MARKER_BITS.values(), strict=True)
    }
