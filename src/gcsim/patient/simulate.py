"""One patient in one arm: its lesions, their windows and the lymph node they share, advanced in
exchange intervals (docs/patient-scale.md).

Each interval of ``bridge.exchange_hours``:

1. radiotherapy fractions due in the interval kill at lesion scale (LQ per oxygen class of the
   lesion's own windows' pO₂ distribution), once; the windows of irradiated lesions are
   irradiated by their own model as well, which sets *their* state but is never scaled up;
2. every window is stepped through the interval, its T-cell recruitment driven by the lymph
   node (``GastricTumorModel.priming_source``); its per-cell rates are read from its counters;
3. an emptied window (or a margin window whose front reached its edge) is re-seeded from its
   lesion's state, and the event logged;
4. each lesion applies cytotoxic kill at its own scale (plasma from the windows' PK × the
   windows' delivery and cycling), then births, deaths and kills at the windows' rates scaled
   by its size and margin fraction;
5. the lesions' antigen (their own events, in kill units × ``patient.node_antigen_scale``)
   enters the shared lymph node (or each lesion's own, with ``shared_lymph_node: false``);
6. new occult lesions may be seeded (``patient.seeding_rate``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gcsim.model import antigen_release, lymph_node_step, priming_drive
from gcsim.observe import EXPOSURE_METRICS
from gcsim.parameter import per_step
from gcsim.params import Parameters
from gcsim.patient.lesion import (
    REGIONS,
    LesionGeometry,
    LesionState,
    RegionRates,
    advance,
    birth_rate,
    cytotoxic_survival,
    fill_regions,
    lesion_survival,
    lq_survival_by_class,
)
from gcsim.patient.schema import Lesion, Patient
from gcsim.patient.window import LatticeWindow, applies_to, lesion_scenario, window_scenario
from gcsim.scenario.schema import Scenario
from gcsim.therapies.chemotherapy import ChemotherapyTherapy
from gcsim.therapies.radiotherapy import Radiotherapy

MM_PER_UM = 1e-3


class LymphNode:
    """The two-stage lymph-node compartment of ``GastricTumorModel`` (``lymph_node_step``,
    ``priming_drive``), advanced once per exchange interval with the antigen its lesions
    released in it."""

    def __init__(self, params: Parameters) -> None:
        self.state = [0.0, 0.0]
        self.delay_h = params["priming.delay"]
        self.half_max = params["priming.half_max"]
        self.released = 0.0  # cumulative input (kill units, scaled)

    def step(self, released: float, hours: float) -> None:
        self.state = lymph_node_step(self.state, released, self.delay_h, hours)
        self.released += released

    def drive(self, gain: float) -> float:
        return priming_drive(self.state[1], self.half_max, gain)


def _priming_source(node: LymphNode, boost: float):
    """A window's ``priming_source``: its phenotype's baseline + boost × the node's drive."""

    def source(model: Any, released: float, effects: Any) -> float:
        return model.baseline_priming + boost * node.drive(effects.priming_gain)

    return source


@dataclass
class LesionModel:
    """A lesion: its compartment state, its windows and its settings for one run."""

    spec: Lesion
    index: int
    scenario: Scenario  # the lesion's single-section scenario (its windows' base)
    params: Parameters
    state: LesionState
    geometry: LesionGeometry
    node: LymphNode
    appeared_day: float = 0.0
    parent: LesionModel | None = None  # a new lesion is carried by its parent's windows
    windows: list[LatticeWindow] = field(default_factory=list)
    rates: dict[str, RegionRates] = field(default_factory=dict)
    reseeds: int = 0
    last_events: Any = None
    antigen: float = 0.0  # released in the last interval, scaled for the lymph node
    retired: list[pd.DataFrame] = field(default_factory=list)  # re-seeded windows' series

    @property
    def name(self) -> str:
        return self.spec.name

    def margin_fraction(self) -> float:
        depth_mm = self.params["observe.margin_half_width"] * MM_PER_UM
        return self.geometry.margin_fraction(self.state.total, depth_mm)

    def weights(self) -> dict[str, float]:
        """Share of the lesion's cells in each region (margin shell, core)."""
        f = self.margin_fraction()
        return {"margin": f, "core": 1.0 - f}

    def region_rates(self) -> dict[str, RegionRates]:
        """Rates of both regions (``fill_regions``); a new lesion uses its parent's."""
        if self.parent is not None:
            return self.parent.region_rates()
        return fill_regions(self.rates)


@dataclass
class PatientRun:
    """What one patient run returns."""

    lesions: pd.DataFrame
    windows: pd.DataFrame
    events: list[dict[str, Any]]
    seconds: dict[str, float]
    steps: int


def _seed(root: int, *key: int) -> int:
    state = np.random.SeedSequence(root, spawn_key=tuple(key)).generate_state(2, np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1


class PatientModel:
    """A patient of ``scenario`` (with a ``patient:`` section) in ``arm``, from ``seed``.

    ``geometry`` overrides the lesions' sphere (``LesionGeometry(2, cells/mm²)`` compares a
    lesion with a fully resolved section)."""

    def __init__(
        self,
        scenario: Scenario,
        arm: str,
        seed: int,
        *,
        geometry: LesionGeometry | None = None,
    ) -> None:
        if scenario.patient is None:
            raise ValueError("the scenario has no patient: section")
        self.scenario, self.arm, self.seed = scenario, arm, seed
        self.patient: Patient = scenario.patient
        self.dt_h = scenario.time.dt_hours
        self.slice_steps = round(self.patient.bridge.exchange_hours / self.dt_h)
        self.end_steps = scenario.time.steps
        self.record_steps = round(scenario.time.record_every_hours / self.dt_h)
        self.steps = 0
        self.events: list[dict[str, Any]] = []
        self.rows: list[dict[str, Any]] = []
        self.seconds = {"windows": 0.0, "lesions": 0.0}
        self.rng = np.random.default_rng(_seed(seed, 0))
        self._new_lesions = 0
        shared = LymphNode(Parameters(scenario.for_arm(arm).parameters))
        self.lesions: list[LesionModel] = []
        for i, spec in enumerate(self.patient.lesions):
            single = lesion_scenario(scenario, arm, spec)
            params = Parameters(single.parameters)
            geo = geometry or LesionGeometry(3, params["patient.cell_density"] / 1000.0)
            cells = geo.cells(spec.diameter_mm)
            resistant = single.tumor.subclones.distribution("chemo_resistant").fraction
            state = LesionState(cells * (1 - resistant), cells * resistant)
            node = shared if self.patient.shared_lymph_node else LymphNode(params)
            lesion = LesionModel(spec, i, single, params, state, geo, node)
            for j, window in enumerate(self.patient.windows_of(spec)):
                lesion.windows.append(self._window(lesion, j, window.region, None))
            self._measure_start(lesion)
            self.lesions.append(lesion)
        self.nodes = list({id(les.node): les.node for les in self.lesions}.values())
        self._record()

    # -- windows ---------------------------------------------------------------------------------
    def _window(
        self, lesion: LesionModel, j: int, region: str, resistant: float | None, seeding: int = 0
    ) -> LatticeWindow:
        spec = self.patient.windows_of(lesion.spec)[j]
        scenario = window_scenario(lesion.scenario, self.patient, spec, resistant)
        seed = _seed(self.seed, 1, lesion.index, j, lesion.reseeds)
        return LatticeWindow(
            scenario,
            self.arm,
            region,
            seed,
            self.steps,
            seeding,
            # a re-seeded window starts mid-run, from the lesion's state under its treatments:
            # an untreated spin-up would misstate it, and would carry a margin window's front
            # straight back to the edge that triggered the re-seeding (decision 0027)
            spinup_steps=0 if seeding else round(self.patient.bridge.spinup_days * 24 / self.dt_h),
            priming_source=_priming_source(lesion.node, lesion.params["priming.boost"]),
        )

    def _measure_start(self, lesion: LesionModel) -> None:
        """The windows' state (pO₂, cycling, T cells) before any event is counted."""
        molecules = _molecules(lesion)
        found: dict[str, list[RegionRates]] = {}
        for window in lesion.windows:
            rates = window.rates(window.still(), molecules)
            if rates is not None:
                found.setdefault(window.region, []).append(rates)
        for region, rates in found.items():
            lesion.rates[region] = _mean_rates(rates)

    def _reseed(self, lesion: LesionModel, j: int, reason: str) -> None:
        old = lesion.windows[j]
        lesion.retired.append(_window_series(old, j))
        lesion.reseeds += 1
        resistant = lesion.state.resistant / lesion.state.viable if lesion.state.viable else 0.0
        new = self._window(lesion, j, old.region, resistant, old.seeding + 1)
        # what the treatments carry over time (radiotherapy's adjuvant and remodelling signals:
        # a re-seeded window has missed the fractions) continues, as a checkpoint restores it
        for before, after in zip(old.model.therapies, new.model.therapies, strict=True):
            after.set_state(before.get_state())
        lesion.windows[j] = new
        self.events.append(
            {
                "event": "window_reseeded",
                "lesion": lesion.name,
                "window": j,
                "region": old.region,
                "day": self.steps * self.dt_h / 24.0,
                "reason": reason,
                "lesion_viable_cells": lesion.state.viable,
                "resistant_fraction": resistant,
            }
        )

    # -- one exchange interval -------------------------------------------------------------------
    def step(self) -> None:
        """Advance every lesion and window by one exchange interval (the module docstring)."""
        steps = min(self.slice_steps, self.end_steps - self.steps)
        t0 = self.steps * self.dt_h
        hours = steps * self.dt_h
        for lesion in self.lesions:
            self._irradiate(lesion, t0, t0 + hours)
        started = time.perf_counter()
        due = [(lesion, self._run_windows(lesion, steps)) for lesion in self.lesions]
        self.steps += steps
        for lesion, reseeds in due:
            for j, reason in reseeds:
                self._reseed(lesion, j, reason)
        self.seconds["windows"] += time.perf_counter() - started
        started = time.perf_counter()
        for lesion in list(self.lesions):
            self._advance_lesion(lesion, t0, steps)
        for node in self.nodes:
            released = sum(les.antigen for les in self.lesions if les.node is node)
            node.step(released, hours)
        self._seed_new_lesions(hours)
        if self.steps % self.record_steps == 0 or self.steps >= self.end_steps:
            self._record()
        self.seconds["lesions"] += time.perf_counter() - started

    def run(self) -> None:
        while self.steps < self.end_steps:
            self.step()

    def _run_windows(self, lesion: LesionModel, steps: int) -> list[tuple[int, str]]:
        """Step the lesion's windows through the interval and take their rates; returns the
        windows to re-seed (index, reason) once the clock has moved on."""
        too_small = lesion.state.viable < lesion.params["patient.min_lesion_cells"]
        if lesion.parent is not None or too_small:
            return []
        for j, window in enumerate(lesion.windows):
            if window.model.steps != self.steps:  # not stepped while the lesion was too small
                self._reseed(lesion, j, "lesion regrew above patient.min_lesion_cells")
        molecules = _molecules(lesion)
        measured: dict[str, list[RegionRates]] = {}
        due = []
        for j, window in enumerate(lesion.windows):
            rates = window.rates(window.run_slice(steps), molecules)
            if rates is not None:
                measured.setdefault(window.region, []).append(rates)
            if window.viable_cells() == 0:
                due.append((j, "window emptied"))
            elif window.region == "margin" and window.touches_edge():
                due.append((j, "tumour front reached the window edge"))
        for region, found in measured.items():
            lesion.rates[region] = _mean_rates(found)
        return due

    def _irradiate(self, lesion: LesionModel, t0_h: float, t1_h: float) -> None:
        """Radiotherapy fractions given in [t0, t1) to this lesion, at lesion scale."""
        p = lesion.params
        rates = lesion.region_rates()
        weights = lesion.weights()
        for treatment in self.scenario.arms[self.arm].treatments:
            if not isinstance(treatment, Radiotherapy) or not applies_to(treatment, lesion.spec):
                continue
            dose = treatment.dose_per_fraction.value
            for day in treatment.schedule.dose_days():
                if not t0_h <= day * 24.0 < t1_h:
                    continue
                by_region = {
                    region: lq_survival_by_class(
                        rates[region].po2,
                        dose,
                        p["rt.alpha_tumor"],
                        p["rt.beta_tumor"],
                        p["rt.oer"],
                        p["rt.oer_k"],
                    )
                    for region in REGIONS
                }
                survival, by_class = lesion_survival(by_region, weights)
                classes = {
                    f"{what}_{name}": value
                    for name, pair in by_class.items()
                    for what, value in zip(("fraction", "sf"), pair, strict=True)
                }
                s = lesion.state
                before = s.viable
                s.doomed += before * (1.0 - survival)
                s.sensitive *= survival
                s.resistant *= survival
                self.events.append(
                    {
                        "event": "radiotherapy",
                        "lesion": lesion.name,
                        "day": day,
                        "dose_gy": dose,
                        "viable_before": before,
                        "survivors": s.viable,
                        "surviving_fraction": survival,
                        **classes,
                    }
                )

    def _advance_lesion(self, lesion: LesionModel, t0_h: float, steps: int) -> None:
        p, s = lesion.params, lesion.state
        rates = lesion.region_rates()
        weights = lesion.weights()
        hours = steps * self.dt_h
        chemo = self._chemo(lesion, rates, weights, t0_h, steps)
        events = advance(
            s,
            rates,
            weights,
            hours,
            p["tumor.cycle_rate"],
            self.rng,
            p["patient.stochastic_below"],
            displacement=p["patient.displacement_growth"],
        )
        events.chemo = chemo
        if s.total < 0.5:  # the last cell is gone
            s.sensitive = s.resistant = s.doomed = 0.0
        window = _first_window(lesion)
        rt_weight = window.model.effects.radiation_death_weight if window else 0.0
        released = antigen_release(
            events.kills,
            events.necrotic,
            events.mitotic,
            p["priming.necrosis_weight"],
            rt_weight,
            chemo * p["chemo.icd_weight"],
        )
        lesion.antigen = released * p["patient.node_antigen_scale"]
        lesion.last_events = events

    def _chemo(
        self,
        lesion: LesionModel,
        rates: dict[str, RegionRates],
        weights: dict[str, float],
        t0_h: float,
        steps: int,
    ) -> float:
        """Cytotoxic kill of the interval at lesion scale; returns the cells killed."""
        window = _first_window(lesion)
        if window is None:
            return 0.0
        drugs = [t for t in window.model.therapies if isinstance(t, ChemotherapyTherapy)]
        if not drugs:
            return 0.0
        p, s = lesion.params, lesion.state
        kill_p = per_step(p["chemo.max_kill_rate"], self.dt_h)
        cycling = sum(weights[r] * rates[r].cycling for r in REGIONS)
        before = s.viable
        for drug in drugs:
            delivery = sum(weights[r] * rates[r].delivery.get(drug.molecule, 1.0) for r in REGIONS)
            for k in range(steps):
                relative = drug.exposure(t0_h + (k + 0.5) * self.dt_h)
                if relative < 1e-6:
                    continue
                s.sensitive *= cytotoxic_survival(relative, delivery, cycling, kill_p, 1.0)
                s.resistant *= cytotoxic_survival(
                    relative, delivery, cycling, kill_p, p["chemo.resistant_sensitivity"]
                )
        return before - s.viable

    def _seed_new_lesions(self, hours: float) -> None:
        """Occult micrometastases: Poisson(rate × viable cells × days) per interval, each of
        ``patient.new_lesion_cells`` cells at its parent's site, carried by its windows."""
        for parent in list(self.lesions):
            rate = parent.params["patient.seeding_rate"]
            if rate <= 0 or parent.parent is not None:
                continue
            n = self.rng.poisson(rate * parent.state.viable * hours / 24.0)
            for _ in range(int(n)):
                self._new_lesions += 1
                spec = parent.spec.model_copy(
                    update={
                        "name": f"new{self._new_lesions}",
                        "target": False,
                        "irradiated": False,
                        "diameter_mm": parent.geometry.diameter_mm(
                            parent.params["patient.new_lesion_cells"]
                        ),
                    }
                )
                cells = parent.params["patient.new_lesion_cells"]
                resistant = parent.state.resistant / max(parent.state.viable, 1.0)
                lesion = LesionModel(
                    spec,
                    len(self.lesions),
                    parent.scenario,
                    parent.params,
                    LesionState(cells * (1 - resistant), cells * resistant),
                    parent.geometry,
                    parent.node,
                    appeared_day=self.steps * self.dt_h / 24.0,
                    parent=parent,
                )
                self.lesions.append(lesion)
                self.events.append(
                    {
                        "event": "new_lesion",
                        "lesion": spec.name,
                        "parent": parent.name,
                        "day": lesion.appeared_day,
                    }
                )

    # -- output ------------------------------------------------------------------------------
    def _record(self) -> None:
        day = self.steps * self.dt_h / 24.0
        for lesion in self.lesions:
            s = lesion.state
            rates = lesion.region_rates()
            weights = lesion.weights()
            window = _first_window(lesion)
            metrics = window.model.metrics if window is not None else {}
            row: dict[str, Any] = {
                "lesion": lesion.name,
                "site": lesion.spec.site,
                "target": lesion.spec.target,
                "node": lesion.spec.node,
                "appeared_day": lesion.appeared_day,
                "time_days": day,
                "diameter_mm": lesion.geometry.diameter_mm(s.total),
                "tumor_cells": s.viable,
                "tumor_cells_resistant": s.resistant,
                "tumor_cells_doomed": s.doomed,
                "tumor_cells_hypoxic": s.viable
                * sum(weights[r] * rates[r].hypoxic for r in REGIONS),
                "margin_fraction": lesion.margin_fraction(),
                "cd8": s.viable * sum(weights[r] * rates[r].cd8_per_cell for r in REGIONS),
                "birth_rate_per_day": 24.0
                * birth_rate(
                    rates,
                    weights,
                    s,
                    lesion.params["tumor.cycle_rate"],
                    displacement=lesion.params["patient.displacement_growth"],
                ),
                "death_rate_per_day": 24.0 * sum(weights[r] * rates[r].death for r in REGIONS),
                "kill_rate_per_day": 24.0 * sum(weights[r] * rates[r].kill for r in REGIONS),
                "cd8_recruited_per_day": 24.0
                * sum(weights[r] * rates[r].recruit for r in REGIONS)
                * s.viable,
                "perfused_vessel_fraction": sum(
                    weights[r] * rates[r].perfused for r in REGIONS if weights[r] > 0
                ),
                "priming": window.model.priming_level if window is not None else math.nan,
                "lymph_node_presented": lesion.node.state[1],
                "window_cd8_recruited": float(
                    sum(w.model.counters["cd8_recruited"] for w in lesion.windows)
                ),
                "reseeds": lesion.reseeds,
                **{name: float(metrics.get(name, 0.0)) for name in EXPOSURE_METRICS},
            }
            self.rows.append(row)

    def lesions_table(self, run_id: str, replicate: int) -> pd.DataFrame:
        """The tidy lesions table (one row per lesion and record time)."""
        table = pd.DataFrame(self.rows)
        table.insert(0, "replicate", replicate)
        table.insert(0, "arm", self.arm)
        table.insert(0, "run_id", run_id)
        return table

    def windows_table(self, run_id: str, replicate: int) -> pd.DataFrame:
        """Every window's time series (its model's DataCollector), tagged with lesion and
        window; a re-seeded window's rows continue with its new model."""
        tables = []
        for lesion in self.lesions:
            series = list(lesion.retired)
            series += [_window_series(w, j) for j, w in enumerate(lesion.windows)]
            for t in series:
                if t.empty:  # a window re-seeded again before it reached a record time
                    continue
                t.insert(0, "lesion", lesion.name)
                tables.append(t)
        table = pd.concat(tables, ignore_index=True)
        table.insert(0, "replicate", replicate)
        table.insert(0, "arm", self.arm)
        table.insert(0, "run_id", run_id)
        return table


def _window_series(window: LatticeWindow, j: int) -> pd.DataFrame:
    """A window's recorded metrics, tagged with its index and its seeding (0 = the window's
    first model, 1… after each of *its* re-seedings)."""
    table = window.model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    table.insert(0, "seeding", window.seeding)
    table.insert(0, "window", j)
    return table


def _first_window(lesion: LesionModel) -> LatticeWindow | None:
    while lesion.parent is not None:
        lesion = lesion.parent
    return lesion.windows[0] if lesion.windows else None


def _molecules(lesion: LesionModel) -> tuple[str, ...]:
    window = lesion.windows[0]
    return tuple(
        sorted({t.molecule for t in window.model.therapies if isinstance(t, ChemotherapyTherapy)})
    )


def _mean_rates(found: list[RegionRates]) -> RegionRates:
    """Rates of a region with several windows: their mean (pO₂ samples pooled)."""
    if len(found) == 1:
        return found[0]
    numeric = ("birth", "death", "necrotic", "kill", "recruit", "hypoxic", "cycling")
    out = RegionRates(**{k: float(np.mean([getattr(r, k) for r in found])) for k in numeric})
    out.perfused = float(np.nanmean([r.perfused for r in found]))
    out.cd8_per_cell = float(np.mean([r.cd8_per_cell for r in found]))
    out.delivery = {m: float(np.mean([r.delivery[m] for r in found])) for m in found[0].delivery}
    out.po2 = np.concatenate([r.po2 for r in found])
    return out


def simulate_patient(
    scenario: Scenario, arm: str, seed: int, run_id: str, replicate: int
) -> PatientRun:
    """Run one patient to the scenario's end; its tables, events and timings."""
    model = PatientModel(scenario, arm, seed)
    model.run()
    return PatientRun(
        lesions=model.lesions_table(run_id, replicate),
        windows=model.windows_table(run_id, replicate),
        events=[{"run_id": run_id, **event} for event in model.events],
        seconds={k: round(v, 4) for k, v in model.seconds.items()},
        steps=model.steps,
    )
