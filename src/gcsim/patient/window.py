"""A lattice window of a lesion: a full ``GastricTumorModel`` stepped in slices of the exchange
interval, and the per-cell rates it measured over each slice (its model's event counters)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import mesa
import numpy as np

from gcsim.checkpoint import _set_clock, branch, capture
from gcsim.model import GastricTumorModel, PrimingSource
from gcsim.observe import HF_PO2, lesion_mask, measure, touches_domain_edge, tumour_regions
from gcsim.patient.lesion import RegionRates
from gcsim.patient.schema import Lesion, Patient, Window
from gcsim.scenario.schema import Arm, Scenario, _merged
from gcsim.state import CD8, TUMOR
from gcsim.therapies.radiotherapy import Radiotherapy

# A core window's tumour disc reaches past the window's corners (radius > width/√2): the
# window is all tumour, a sample of the lesion's inside (model_copy: a disc this large would
# not pass the single-section check that the tumour fits its domain).
CORE_TUMOR_RADIUS = 0.75
# Counters read for the scaled rates. Radiation (mitotic) and drug kills are left out: the
# lesion applies those itself, at its own scale (decision 0021).
# The spun-up window's own random stream (after its untreated trunk's): a spawn key no other
# stream of the window uses.
SPUN_UP_STREAM = 1
COUNTED = ("tumor_divisions", "necrotic_deaths", "apoptoses", "kills", "cd8_recruited")


def applies_to(treatment: object, lesion: Lesion) -> bool:
    """Whether an arm's ``treatment`` acts on ``lesion``: radiotherapy only on the lesions it
    names (or, naming none, those marked ``irradiated``); systemic treatments on every lesion."""
    if not isinstance(treatment, Radiotherapy):
        return True
    if treatment.lesions is not None:
        return lesion.name in treatment.lesions
    return lesion.irradiated


def lesion_scenario(scenario: Scenario, arm: str, lesion: Lesion) -> Scenario:
    """The single-section scenario of ``lesion``'s windows in ``arm``: the arm's scenario with
    the lesion's ``tumor``, ``immune`` and ``parameters`` merged over it (field by field), only
    the treatments that act on this lesion, and no ``patient`` section."""
    base = scenario.for_arm(arm)
    treatments = [t for t in base.arms[arm].treatments if applies_to(t, lesion)]
    return base.model_copy(
        update={
            "tumor": _merged(base.tumor, lesion.tumor),
            "immune": _merged(base.immune, lesion.immune),
            "parameters": {**base.parameters, **lesion.parameters},
            "arms": {arm: Arm(treatments=treatments)},
            "patient": None,
        }
    )


def window_scenario(
    scenario: Scenario, patient: Patient, window: Window, resistant_fraction: float | None
) -> Scenario:
    """The scenario of one window: ``scenario`` (a lesion's, see ``lesion_scenario``) on a
    square domain of ``bridge.window_sites``, with a tumour disc of the window's region, and
    (when re-seeded) the lesion's fraction of chemo-resistant cells."""
    sites = patient.bridge.window_sites
    site_um = scenario.domain.site_size_um
    if window.region == "core":  # tumour to the window's edges: T cells enter by its vessels
        radius_um = CORE_TUMOR_RADIUS * sites * site_um
    else:
        radius_um = patient.bridge.window_tumor_fraction * sites / 2 * site_um
    tumor = scenario.tumor.model_copy(update={"initial_radius_um": radius_um})
    if resistant_fraction is not None:
        subclones = tumor.subclones.with_fraction("chemo_resistant", resistant_fraction)
        tumor = tumor.model_copy(update={"subclones": subclones})
    domain = scenario.domain.model_copy(update={"width": sites, "height": sites})
    return scenario.model_copy(update={"domain": domain, "tumor": tumor})


def spun_up(
    scenario: Scenario,
    arm: str,
    seed: int,
    steps: int,
    priming_source: PrimingSource | None,
    *,
    until: Callable[[GastricTumorModel], bool] | None = None,
) -> GastricTumorModel:
    """The window model of ``arm`` after up to ``steps`` untreated steps: the scenario without
    its treatments is stepped from its initial condition (with the patient's T-cell supply,
    ``priming_source``), day by day, stopping early once ``until(model)`` holds (a margin window:
    its front reached the window's edge, so that the spin-up never carries it out of view);
    then the arm's treatments start on that state (``checkpoint.branch``: the window's random
    streams continue from a stream of ``seed`` of their own) with its counters at zero, so
    that nothing of the spin-up is counted. Its clock is still the spin-up's: the caller sets
    the patient's."""
    untreated = scenario.model_copy(update={"arms": {arm: Arm(treatments=[])}})
    trunk = GastricTumorModel(untreated, rng=seed, arm=arm)
    trunk.priming_source = priming_source
    day = max(round(24.0 / trunk.dt_h), 1)
    while trunk.steps < steps and not (until is not None and until(trunk)):
        for _ in range(min(day, steps - trunk.steps)):
            trunk.step()
    stream = np.random.SeedSequence(seed, spawn_key=(SPUN_UP_STREAM,))
    model = branch(capture(trunk), scenario, arm, stream, GastricTumorModel)
    model.priming_source = priming_source
    for name in model.counters:
        model.counters[name] = 0
    return model


def _front_at_edge(model: GastricTumorModel) -> bool:
    return touches_domain_edge(model.state.tissue == TUMOR)


@dataclass
class Slice:
    """What a window measured over one slice: counter increments and mean cell numbers."""

    counts: dict[str, float]
    viable_mean: float  # non-doomed tumour cells, mean over the slice's steps
    tumour_mean: float  # all tumour cells (doomed included), mean over the steps
    margin_mean: float  # non-doomed tumour cells of the margin, mean of start and end
    hours: float


class LatticeWindow:
    """One window: its model, its region, and the rates of its last slice."""

    def __init__(
        self,
        scenario: Scenario,
        arm: str,
        region: str,
        seed: int,
        steps: int = 0,
        seeding: int = 0,
        *,
        spinup_steps: int = 0,
        priming_source: PrimingSource | None = None,
    ):
        """``scenario``: the window's (``window_scenario``); ``seed``: its stream; ``steps``:
        the patient's step count at its start, so that its treatments' calendars and PK run
        on the patient's clock; ``seeding``: 0 for the window's first model, 1… after each
        re-seeding (the ``seeding`` column of its series); ``spinup_steps``: steps simulated
        untreated before the window starts (``spun_up``); ``priming_source``: its T-cell
        supply (the patient's lymph node), from the spin-up on."""
        self.region = region
        self.seeding = seeding
        if spinup_steps:
            front_out = _front_at_edge if region == "margin" else None
            self.model = spun_up(scenario, arm, seed, spinup_steps, priming_source, until=front_out)
        else:
            self.model = GastricTumorModel(scenario, rng=seed, arm=arm)
            self.model.priming_source = priming_source
        if steps or spinup_steps:
            _set_clock(self.model, steps, float(steps), float(steps) + 1.0)
            # A re-seeded window records on the run's record grid only, from its first step
            # (the model it replaces recorded the re-seed time if it is on the grid): its
            # observation at construction (before any therapy acted) is dropped. A spun-up
            # window starts its series afresh, at the patient's time.
            reporters = dict(self.model.datacollector.model_reporters)
            self.model.datacollector = mesa.DataCollector(model_reporters=reporters)
            if steps:
                self.model._metrics = measure(self.model)  # its state, at the patient's time
            else:
                self.model._record()
        self._margin_um = self.model.params["observe.margin_half_width"]
        # margin cells at the end of the last slice: nothing touches a window's lattice between
        # its slices, so the next slice starts from them (one lesion mask a slice, not two)
        self._margin_end: int | None = None

    # -- measurements on the lattice ------------------------------------------------------------
    def viable_mask(self) -> np.ndarray:
        s = self.model.state
        return (s.tissue == TUMOR) & (s.doomed == 0)

    def viable_cells(self) -> int:
        """Non-doomed tumour cells on the lattice."""
        return int(np.count_nonzero(self.viable_mask()))

    def margin_cells(self) -> int:
        """Non-doomed tumour cells within ``observe.margin_half_width`` of the lesion's edge."""
        lesion = lesion_mask(self.model.state.tissue)
        _, margin = tumour_regions(lesion, self.model.site_um, self._margin_um)
        return int(np.count_nonzero(margin & self.viable_mask()))

    def touches_edge(self) -> bool:
        """A tumour cell within ``EDGE_SITES`` of the window's edge (its front left the
        window: a margin window is then re-seeded)."""
        return _front_at_edge(self.model)

    # -- stepping ----------------------------------------------------------------------------
    def run_slice(self, steps: int) -> Slice:
        """Step the model ``steps`` times; the counter increments and mean cell numbers."""
        model = self.model
        before = {name: model.counters[name] for name in COUNTED}
        margin0 = self.margin_cells() if self._margin_end is None else self._margin_end
        viable = tumour = 0.0
        for _ in range(steps):
            model.step()
            viable += self.viable_cells()
            tumour += int(np.count_nonzero(model.state.tissue == TUMOR))
        counts = {name: float(model.counters[name] - before[name]) for name in COUNTED}
        self._margin_end = self.margin_cells()
        margin = 0.5 * (margin0 + self._margin_end)
        return Slice(counts, viable / steps, tumour / steps, margin, steps * model.dt_h)

    def still(self) -> Slice:
        """A slice of no events at the window's current state (its start)."""
        viable = float(self.viable_cells())
        tumour = float(np.count_nonzero(self.model.state.tissue == TUMOR))
        return Slice(dict.fromkeys(COUNTED, 0.0), viable, tumour, float(self.margin_cells()), 1.0)

    def rates(self, measured: Slice, molecules: tuple[str, ...]) -> RegionRates | None:
        """Per-cell rates (1/h) of a slice and the window's state at its end; None if the
        window held no tumour cell (nothing to measure)."""
        if measured.tumour_mean <= 0 or measured.viable_mean <= 0:
            return None
        c, h = measured.counts, measured.hours
        s, p = self.model.state, self.model.params
        viable = self.viable_mask()
        po2 = s.oxygen[viable].astype(float)
        lo, hi = p["tumor.proliferation_po2"], p["tumor.proliferation_saturation"]
        cycling = np.clip((po2 - lo) / (hi - lo), 0.0, 1.0) if po2.size else np.zeros(0)
        n = max(int(po2.size), 1)
        per_cell = measured.tumour_mean * h
        # a margin window's births happen at its lesion's edge; a core window's into room
        # freed inside it
        births_per = measured.margin_mean if self.region == "margin" else measured.viable_mean
        return RegionRates(
            birth=c["tumor_divisions"] / max(births_per, 1.0) / h,
            death=(c["necrotic_deaths"] + c["apoptoses"]) / per_cell,
            necrotic=c["necrotic_deaths"] / per_cell,
            kill=c["kills"] / per_cell,
            recruit=c["cd8_recruited"] / (measured.viable_mean * h),
            hypoxic=float(np.count_nonzero(po2 <= HF_PO2)) / n,
            cycling=float(cycling.mean()) if po2.size else 0.0,
            perfused=float(self.model.metrics.get("perfused_vessel_fraction", float("nan"))),
            cd8_per_cell=float(np.count_nonzero(s.immune == CD8)) / n,
            delivery={m: float(self.model.lesion_delivery(m)) for m in molecules},
            po2=po2,
        )
