"""The whole-lesion compartment: cell numbers, size, and the rules that advance them from the
per-cell rates its windows measure.

A lesion holds viable tumour cells by subclone (chemo-sensitive, chemo-resistant: the
``CHEMO_RESISTANT`` marker bit of the lattice) and lethally irradiated ("doomed") cells that die
at their next mitosis, as on the lattice. Its volume is cells / ``patient.cell_density``; its
diameter that of the sphere of that volume (or, for comparison with a section, of the disc of
that area: ``LesionGeometry.dimension = 2``).

Scaling rule (docs/patient-scale.md): births happen where there is room to divide, at the
lesion's surface, so the windows' births are counted per viable tumour cell of their *margin*
(within ``observe.margin_half_width`` of their lesion's edge) and scaled by the lesion's margin
cells; deaths and T-cell kills are per viable cell of the region (margin or core) and scaled by
the lesion's cells in each region. Radiation and cytotoxic kills are applied here, once, at
lesion scale, and never taken from the windows (whose counts of them are left out of the rates).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from gcsim.kernels.therapy import oxygen_modification

REGIONS = ("margin", "core")
# pO₂ classes (mmHg) for the lesion's radiotherapy: anoxic, hypoxic (HF2.5), intermediate, oxic.
OXYGEN_CLASS_EDGES = (0.5, 2.5, 10.0)
OXYGEN_CLASSES = ("anoxic", "hypoxic", "intermediate", "oxic")


@dataclass(frozen=True)
class LesionGeometry:
    """How cells become size: ``dimension`` 3 (a sphere of ``cells / density_per_mm3``) or 2
    (a disc of ``cells / density_per_mm2``: a section, for comparing with the lattice)."""

    dimension: int = 3
    density: float = 2.0e5  # cells per mm³ (3-D) or per mm² (2-D)

    def cells(self, diameter_mm: float) -> float:
        """Tumour cells of a lesion of ``diameter_mm``."""
        r = diameter_mm / 2.0
        size = 4.0 / 3.0 * math.pi * r**3 if self.dimension == 3 else math.pi * r**2
        return size * self.density

    def diameter_mm(self, cells: float) -> float:
        """Diameter (mm) of the sphere (or disc) that holds ``cells``."""
        if cells <= 0:
            return 0.0
        size = cells / self.density
        if self.dimension == 3:
            return 2.0 * (3.0 * size / (4.0 * math.pi)) ** (1.0 / 3.0)
        return 2.0 * math.sqrt(size / math.pi)

    def margin_fraction(self, cells: float, depth_mm: float) -> float:
        """Fraction of the lesion's volume (area) within ``depth_mm`` of its surface:
        1 − (1 − depth/R)^dimension, 1 for a lesion thinner than twice the depth."""
        r = self.diameter_mm(cells) / 2.0
        if r <= depth_mm:
            return 1.0
        return 1.0 - (1.0 - depth_mm / r) ** self.dimension


@dataclass
class RegionRates:
    """Per-cell rates measured in the windows of one region over the last exchange (1/h):
    ``birth`` per viable cell of the margin (margin windows) or per viable cell (core windows),
    the others per viable cell; ``inert``: a core no window samples; ``hypoxic``,
    ``cycling``, ``perfused``: fractions; ``cd8_per_cell``: CD8 T cells per viable tumour cell;
    ``delivery``: small-molecule delivery over nominal; ``pO2``: the viable cells' pO₂ (mmHg)."""

    birth: float = 0.0
    death: float = 0.0
    necrotic: float = 0.0
    kill: float = 0.0
    recruit: float = 0.0
    hypoxic: float = 0.0
    cycling: float = 1.0
    perfused: float = float("nan")
    cd8_per_cell: float = 0.0
    delivery: dict[str, float] = field(default_factory=dict)
    po2: np.ndarray = field(default_factory=lambda: np.zeros(0))
    inert: bool = False


def fill_regions(rates: dict[str, RegionRates]) -> dict[str, RegionRates]:
    """Rates of both regions from the windows' (``rates`` has the regions that have windows).

    Without a core window the core is inert: no births, deaths, kills or T cells (the
    rim-limited growth of a lesion sampled at its margin only), with the margin's oxygen,
    cycling and delivery for the kills applied at lesion scale. Without a margin window the
    margin takes the core windows' rates (a core window has an edge of its own). Neither: no
    events at all.
    """
    if not rates:
        return {r: RegionRates() for r in REGIONS}
    if "margin" not in rates:
        return {"margin": rates["core"], "core": rates["core"]}
    if "core" in rates:
        return dict(rates)
    m = rates["margin"]
    inert = RegionRates(
        hypoxic=m.hypoxic,
        cycling=m.cycling,
        perfused=m.perfused,
        delivery=dict(m.delivery),
        po2=m.po2,
        inert=True,
    )
    return {"margin": m, "core": inert}


def lq_survival_by_class(
    po2: np.ndarray, dose_gy: float, alpha: float, beta: float, oer: float, oer_k: float
) -> dict[str, tuple[float, float]]:
    """Per oxygen class (``OXYGEN_CLASSES``), (fraction of the cells in it, mean survival) of
    one fraction of ``dose_gy`` over cells at ``po2`` (mmHg): the lattice's own rule, LQ of the
    oxygen-modified dose d = D · OMF(pO₂) (``gcsim.kernels.therapy.oxygen_modification``),
    exp(−α d − β d²). Empty classes have fraction 0 and survival 1."""
    po2 = np.asarray(po2, dtype=float)
    out: dict[str, tuple[float, float]] = {}
    if po2.size == 0:
        return {name: (0.0, 1.0) for name in OXYGEN_CLASSES}
    d = dose_gy * oxygen_modification(po2, oer, oer_k)
    survival = np.exp(-alpha * d - beta * d * d)
    index = np.searchsorted(OXYGEN_CLASS_EDGES, po2, side="right")
    for i, name in enumerate(OXYGEN_CLASSES):
        members = index == i
        n = int(members.sum())
        out[name] = (n / po2.size, float(survival[members].mean()) if n else 1.0)
    return out


def lesion_survival(
    by_region: dict[str, dict[str, tuple[float, float]]], weights: dict[str, float]
) -> tuple[float, dict[str, tuple[float, float]]]:
    """A lesion's surviving fraction of one radiation fraction, Σ over regions and oxygen classes
    of weight × share × survival (``lq_survival_by_class`` per region, ``weights`` the regions'
    shares of the lesion), and per class its share of the lesion and mean survival. A region
    without pO₂ samples takes the others' distribution; a lesion with none at all (no window
    ever held a cell) is not hit: survival 1."""
    # a region without pO₂ samples gives its weight to those with
    sampled = {r: w for r, w in weights.items() if sum(s for s, _ in by_region[r].values()) > 0}
    norm = sum(sampled.values())
    if norm <= 0:
        return 1.0, {name: (0.0, 1.0) for name in OXYGEN_CLASSES}
    total = 0.0
    classes: dict[str, tuple[float, float]] = {}
    for name in OXYGEN_CLASSES:
        share = sum(w * by_region[r][name][0] for r, w in sampled.items()) / norm
        hit = sum(w * by_region[r][name][0] * by_region[r][name][1] for r, w in sampled.items())
        total += hit / norm
        classes[name] = (share, hit / norm / share if share > 0 else 1.0)
    return total, classes


def cytotoxic_survival(
    relative: float, delivery: float, cycling: float, kill_p: float, sensitivity: float
) -> float:
    """Probability that a tumour cell survives one step of a cytotoxic drug, at lesion scale:
    the lattice's rule (``gcsim.kernels.therapy.cytotoxic_kill``) with the lesion's means —
    exposure e = plasma/EC50 (``relative``) × ``delivery``, kill ``kill_p`` × e/(1+e) ×
    ``cycling`` (the cycling fraction) × ``sensitivity`` (1, or chemo.resistant_sensitivity)."""
    e = relative * delivery
    if e <= 0.0:
        return 1.0
    return 1.0 - kill_p * e / (1.0 + e) * cycling * sensitivity


def draw(expected: float, rng: np.random.Generator, below: float, n: float) -> float:
    """An event count: ``expected`` itself where the population ``n`` is at least ``below``,
    else a Poisson draw (so that small lesions fluctuate and can go extinct)."""
    if n >= below or expected <= 0.0:
        return max(expected, 0.0)
    return float(rng.poisson(expected))


@dataclass
class LesionState:
    """Cells of a lesion: viable chemo-sensitive, viable chemo-resistant, doomed (lethally
    irradiated, dying at their next mitosis)."""

    sensitive: float
    resistant: float
    doomed: float = 0.0

    @property
    def viable(self) -> float:
        return self.sensitive + self.resistant

    @property
    def total(self) -> float:
        return self.viable + self.doomed


@dataclass
class Events:
    """Lesion-scale events of one interval (cells)."""

    births: float = 0.0
    deaths: float = 0.0
    necrotic: float = 0.0
    kills: float = 0.0
    mitotic: float = 0.0
    chemo: float = 0.0


def birth_rate(
    rates: dict[str, RegionRates],
    weights: dict[str, float],
    state: LesionState,
    cycle_rate: float,
    *,
    displacement: float,
) -> float:
    """Births per viable cell of the lesion (1/h).

    Margin: the margin windows' births per margin cell × the margin's share. Core: its
    windows' births per cell (into room freed inside the core; none for an inert core), plus
    the divisions that the lattice's contact inhibition blocks but a tissue accommodates by
    displacing its neighbours outward: ``displacement`` (patient.displacement_growth) × the
    rate of a cell with room, ``cycle_rate`` (tumor.cycle_rate, 1/h) × the core's cycling
    fraction. A survivor next to a doomed cell takes its room when that cell dies and divides
    at the full rate of a cell with room; the share of such survivors is the lesion's share of
    doomed cells (after ablative radiotherapy nearly every survivor)."""
    margin, core = rates["margin"], rates["core"]
    doomed = state.doomed / state.total if state.total > 0 else 0.0
    packed = 0.0 if core.inert else core.birth
    room = cycle_rate * core.cycling
    return weights["margin"] * margin.birth + weights["core"] * (
        (1.0 - doomed) * (packed + displacement * room) + doomed * room
    )


def advance(
    state: LesionState,
    rates: dict[str, RegionRates],
    weights: dict[str, float],
    hours: float,
    cycle_rate: float,
    rng: np.random.Generator,
    stochastic_below: float,
    *,
    displacement: float,
) -> Events:
    """Advance ``state`` by ``hours`` with the windows' per-cell ``rates`` (1/h), in place.

    ``weights``: the share of the lesion's cells in each region (margin shell, core). Viable
    cells: births at ``birth_rate``;
    deaths (natural) and T-cell kills at each region's rate per cell × its cells.
    Doomed cells die at their next mitosis, at ``cycle_rate`` × the cycling fraction (1/h), and
    are killed and die naturally at the same rates as viable cells. Every outflow is a competing
    hazard, taken as expected counts (or drawn below ``stochastic_below`` cells). Returns the
    events (for antigen release and output).
    """
    birth = birth_rate(rates, weights, state, cycle_rate, displacement=displacement)
    death = sum(weights[r] * rates[r].death for r in REGIONS)
    necrotic = sum(weights[r] * rates[r].necrotic for r in REGIONS)
    kill = sum(weights[r] * rates[r].kill for r in REGIONS)
    cycling = sum(weights[r] * rates[r].cycling for r in REGIONS)
    mitosis = cycle_rate * cycling
    events = Events()
    for name in ("sensitive", "resistant"):
        n = getattr(state, name)
        if n <= 0.0:
            continue
        out = death + kill
        p_out = 1.0 - math.exp(-out * hours)
        lost = draw(n * p_out, rng, stochastic_below, n)
        lost = min(lost, n)
        born = draw(n * birth * hours, rng, stochastic_below, n)
        setattr(state, name, n - lost + born)
        events.births += born
        if out > 0:
            events.deaths += lost * death / out
            events.necrotic += lost * necrotic / out
            events.kills += lost * kill / out
    if state.doomed > 0.0:
        out = death + kill + mitosis
        p_out = 1.0 - math.exp(-out * hours)
        lost = min(draw(state.doomed * p_out, rng, stochastic_below, state.doomed), state.doomed)
        state.doomed -= lost
        if out > 0:
            events.deaths += lost * death / out
            events.necrotic += lost * necrotic / out
            events.kills += lost * kill / out
            events.mitotic += lost * mitosis / out
    return events
