"""GastricTumorModel: a Mesa model whose state is arrays and whose behaviour is numba kernels."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any

import mesa
import numpy as np

from gcsim.agents import make_view
from gcsim.cells import IMMUNE_SITES, VESSEL_SITES
from gcsim.cells import LESION_SITES as TUMOR_SITES
from gcsim.effects import Effects
from gcsim.initial import seed_lattice
from gcsim.kernels.common import leak_relaxes
from gcsim.kernels.fields import (
    padded_shape,
    solve_oxygen_sor,
    solve_uniform_decay,
    sor_workspace,
)
from gcsim.kernels.immune import immune_step, recruit
from gcsim.kernels.rng import StreamHandle, shuffled_sites, stream_handle
from gcsim.kernels.secretion import oxygen_coefficients, secretion_sources
from gcsim.kernels.tumor import TUMOR_STATE, tumor_step
from gcsim.kernels.vessels import relax_leak, vessel_step
from gcsim.markers import marker_loss
from gcsim.observe import METRICS, immune_pdl1, measure
from gcsim.parameter import per_step
from gcsim.params import Parameters
from gcsim.phenotypes import PRESETS
from gcsim.rules import CompiledRules
from gcsim.scenario.schema import Scenario
from gcsim.state import CD8, IMMUNE_NAMES, LatticeState
from gcsim.therapies import therapy_counters
from gcsim.therapies.delivery import DrugDelivery

SOR_OMEGA = 1.85  # over-relaxation; any value in (0, 2) converges, this one converges fast here
SOR_MAX_SWEEPS = 200  # per step; warm starts need a handful
SOR_INITIAL_SWEEPS = 5000  # from a cold start at t = 0
# Michaelis–Menten consumption enters the linear solve as V/(K_m + c) at the current pO₂; each
# pass refreshes it and re-solves (warm), until a pass changes nothing (one sweep pair). The
# fixed point is approached monotonically; a step rarely needs more than two passes.
OXYGEN_PASSES = 4  # per step
OXYGEN_INITIAL_PASSES = 40  # from the uniform boundary pO₂ at t = 0
CYTOKINES = ("vegf", "chemokine", "ifng", "tgfb")
# What immune_step counts, in the order of its ``counters`` array.
IMMUNE_COUNTERS = ("engagements", "kills", "cd8_divisions", "immune_deaths")
# Event counts of the model's own rules; therapies add theirs (TreatmentConfig.counters).
CORE_COUNTERS = (
    "engagements",
    "kills",
    "cd8_divisions",
    "immune_deaths",
    "cd8_recruited",
    "tumor_divisions",
    "necrotic_deaths",
    "apoptoses",
    "sprouts",
    "regressions",
    "mitotic_deaths",
)


class GastricTumorModel(mesa.Model):
    """A gastric tumour, its vessels and its immune cells on a 2-D lattice.

    Args:
        scenario: a validated :class:`Scenario`, a path to a scenario YAML file, or None for the
            defaults.
        rng: seed or generator; defaults to the scenario's ``seed``.
        **fields: scenario overrides as keywords, ``section__field=value``
            (e.g. ``immune__phenotype="desert"``), validated like the file; this is how
            ``mesa.batch_run`` varies a scenario.
    """

    def __init__(
        self,
        scenario: Scenario | str | Path | None = None,
        *,
        rng: Any = None,
        arm: str | None = None,
        **fields: Any,
    ) -> None:
        """``scenario``: a Scenario, a YAML path or None (defaults); ``rng``: seed (default the
        scenario's); ``arm``: the treatment arm to apply (default the scenario's first arm);
        ``fields``: ``section__field=value`` overrides of the scenario (as ``mesa.batch_run``
        passes parameters)."""
        scenario = _resolve_scenario(scenario, fields)
        self.arm = next(iter(scenario.arms)) if arm is None else arm
        scenario = scenario.for_arm(self.arm)
        treatments = scenario.arms[self.arm].treatments
        super().__init__(rng=scenario.seed if rng is None else rng)
        self.spec = scenario  # `scenario` is taken by mesa.Model
        self.params = Parameters(scenario.parameters)
        self.dt_h = scenario.time.dt_hours
        self.site_um = scenario.domain.site_size_um
        self.end_steps = scenario.time.steps
        self.record_every = round(scenario.time.record_every_hours / self.dt_h)
        self.preset = PRESETS[scenario.immune.phenotype]
        self.baseline_priming = (
            self.preset.priming if scenario.immune.priming is None else scenario.immune.priming
        )
        self.rules = CompiledRules(self.params, self.dt_h, self.site_um)
        self._marker_loss = marker_loss(scenario.tumor.subclones)  # per marker bit, at division

        width, height = scenario.domain.width, scenario.domain.height
        self.state = LatticeState.empty(width, height)
        seed_lattice(self.state, scenario, self.preset, self.params, self.rng)
        self._uptake = np.zeros((width, height))
        self._supply = np.zeros((width, height))
        self._sources = {name: np.zeros((width, height), np.float32) for name in CYTOKINES}
        # Solver scratch, allocated once: an untreated step allocates no lattice-sized array
        # (a drug's delivery field still makes a few per step while the drug is present).
        self._sor_work = sor_workspace(width, height)
        self._decay_work = np.empty(padded_shape(width, height), np.float32)
        self._done = np.zeros((width, height), dtype=np.uint8)
        self._order = np.empty(width * height, dtype=np.int64)  # one shuffled order at a time
        self._immune_counters = np.zeros(len(IMMUNE_COUNTERS), dtype=np.int64)
        self._recruit_counts = np.zeros(max(IMMUNE_NAMES) + 1, dtype=np.int64)  # by code
        self.counters = dict.fromkeys(CORE_COUNTERS + therapy_counters(), 0)
        self.timings: dict[str, float] = {}
        self.oxygen_sweeps = 0
        self._lymph_node = [0.0, 0.0]  # antigen in transit, antigen presented (dead-cell units)
        self.priming_level = self.baseline_priming
        # None: the model's own lymph node (``_update_priming``). Otherwise a callable
        # ``(model, antigen released this step, effects) -> priming level`` that replaces it:
        # how gcsim.patient connects a window to the lymph node its patient's lesions share.
        self.priming_source: PrimingSource | None = None
        self.antigen_released = 0.0  # cumulative input to the priming compartment (kill units)
        self._views: dict[tuple[str, tuple[int, int]], mesa.Agent] = {}
        self._vegf_blocked = np.zeros((width, height), np.float32)
        self._delivery = DrugDelivery(self.params, self.site_um, self._decay_work)
        self.effects = Effects()
        self.therapies = [t.start(self) for t in treatments]

        self.state.oxygen[:] = self.params["oxygen.boundary"]
        self._solve_fields(SOR_INITIAL_SWEEPS, self.effects, OXYGEN_INITIAL_PASSES)
        # the leak state is read only when it relaxes (at τ = 0 every kernel takes the leak from
        # the VEGF signal at once, and the state stays 0); it starts in equilibrium with the
        # initial VEGF field
        self._leak_relaxes = leak_relaxes(self.params)
        if self._leak_relaxes:
            relax_leak(self.vessel_rules._replace(leak_relax=1.0), self.state.leak, self.state.vegf)
        self.datacollector = mesa.DataCollector(
            model_reporters={name: _reporter(name) for name in METRICS}
        )
        self._metrics: dict[str, float] = {}
        self._record()

    # The untreated rules of each kernel (gcsim.rules compiles them; a step under treatment
    # recomputes only the fields its moved channels feed).
    tumor_rules = property(lambda self: self.rules.base["tumor"])
    vessel_rules = property(lambda self: self.rules.base["vessels"])
    secretion_rules = property(lambda self: self.rules.base["secretion"])
    immune_rules = property(lambda self: self.rules.base["immune"])
    recruitment_rules = property(lambda self: self.rules.base["recruitment"])

    # ----------------------------------------------------------------------------------------
    @property
    def time_h(self) -> float:
        """Simulated time in hours at the end of the last step (Mesa counts ``steps``)."""
        return self.steps * self.dt_h

    @property
    def step_start_h(self) -> float:
        """Inside ``step``: the time the current step starts (Mesa has already counted it)."""
        return (self.steps - 1) * self.dt_h

    @contextmanager
    def _phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - start

    @property
    def kernel_rng(self) -> StreamHandle:
        """``self.rng``'s stream as the kernels take it (gcsim.kernels.rng): the same draws as
        passing the Generator, without numba unboxing it on every kernel call."""
        # Checked on every use, since a handle left over after ``self.rng`` was replaced would
        # draw from the old generator: the state address is unique to a live bit generator,
        # and with its class it fixes the other addresses.
        bit_generator = self.rng.bit_generator
        key = (type(bit_generator), bit_generator.ctypes.state_address)
        if self.__dict__.get("_stream_key") != key:
            self._stream = stream_handle(self.rng)
            self._stream_key = key
        return self._stream

    def _shuffled_sites(self, layer: np.ndarray, selected: np.ndarray) -> np.ndarray:
        """Sites whose code in ``layer`` is ``selected``, shuffled: the draws of
        ``rng.shuffle(np.flatnonzero(mask))``, in a reused buffer (valid until the next call)."""
        n = shuffled_sites(self.kernel_rng, layer, selected, self._order)
        return self._order[:n]

    def step(self) -> None:
        """One time step, phase by phase (docs/architecture.md, "The step pipeline")."""
        with self._phase("therapies"):
            effects = self._apply_therapies()
        with self._phase("vessels"):
            self._vessels(effects)
        self._solve_fields(SOR_MAX_SWEEPS, effects)  # times its own phases: oxygen, cytokines
        vegf_signal = self._vegf_signal(effects)  # recruitment and macrophages read the new field
        with self._phase("tumor"):
            necrotic, mitotic = self._tumour(effects)
        with self._phase("recruitment"):
            self._recruitment(effects, vegf_signal)
        with self._phase("immune"):
            kills = self._immune(effects, vegf_signal)
        released = self._antigen_released(kills, necrotic, mitotic, effects)
        if self.priming_source is None:
            self._update_priming(released, effects)
        else:  # patient mode: a lymph node shared by the lesions sets priming (gcsim.patient)
            self.priming_level = self.priming_source(self, released, effects)
        if self.steps % self.record_every == 0:
            with self._phase("observe"):
                self._record()
        if self.steps >= self.end_steps:
            self.running = False

    def _vessels(self, effects: Effects) -> None:
        """Sprouting, maturation and regression of vessels, then the relaxation of the VEGF-driven
        leak toward the VEGF signal (``kernels.vessels``)."""
        s = self.state
        rules = self.rules.for_step("vessels", effects)
        vegf_signal = self._vegf_signal(effects)
        sprouts, regressions = vessel_step(
            self.kernel_rng,
            rules,
            self._shuffled_sites(s.tissue, VESSEL_SITES),
            s.tissue,
            s.maturity,
            vegf_signal,
        )
        if self._leak_relaxes:
            relax_leak(rules, s.leak, vegf_signal)
        self.counters["sprouts"] += sprouts
        self.counters["regressions"] += regressions

    def _tumour(self, effects: Effects) -> tuple[int, int]:
        """Death, PD-L1, cycling and division of tumour cells (``kernels.tumor``); returns the
        necrotic and mitotic (post-radiation) deaths, which release antigen."""
        s = self.state
        divisions, necrotic, apoptotic, mitotic = tumor_step(
            self.kernel_rng,
            self.rules.for_step("tumor", effects),
            self._marker_loss,
            self._shuffled_sites(s.tissue, TUMOR_SITES),
            *(getattr(s, name) for name in TUMOR_STATE),
        )
        self.counters["tumor_divisions"] += divisions
        self.counters["mitotic_deaths"] += mitotic
        self.counters["necrotic_deaths"] += necrotic
        self.counters["apoptoses"] += apoptotic
        return necrotic, mitotic

    def _recruitment(self, effects: Effects, vegf_signal: np.ndarray) -> None:
        """Extravasation of immune cells through perfused vessels (``kernels.immune.recruit``)."""
        s = self.state
        self._recruit_counts[:] = 0
        recruit(
            self.kernel_rng,
            self.rules.for_step("recruitment", effects),
            self.priming_level,
            effects.lymphocyte_supply,
            self._shuffled_sites(s.tissue, VESSEL_SITES),
            s.tissue,
            s.maturity,
            s.immune,
            s.polarisation,
            s.chemokine,
            vegf_signal,
            s.leak,
            self._recruit_counts,
        )
        self.counters["cd8_recruited"] += int(self._recruit_counts[CD8])

    def _immune(self, effects: Effects, vegf_signal: np.ndarray) -> int:
        """Death, migration, killing, division and polarisation of immune cells
        (``kernels.immune.immune_step``); returns this step's kills."""
        s = self.state
        self._done[:] = 0
        self._immune_counters[:] = 0
        immune_step(
            self.kernel_rng,
            self.rules.for_step("immune", effects),
            self._shuffled_sites(s.immune, IMMUNE_SITES),
            s.tissue,
            s.antigen,
            s.pdl1,
            s.immune,
            s.exhaustion,
            s.engaged,
            s.divisions,
            s.polarisation,
            s.oxygen,
            s.chemokine,
            s.ifng,
            s.tgfb,
            vegf_signal,
            self._done,
            self._immune_counters,
        )
        for name, count in zip(IMMUNE_COUNTERS, self._immune_counters, strict=True):
            self.counters[name] += int(count)
        return int(self._immune_counters[IMMUNE_COUNTERS.index("kills")])

    def _antigen_released(self, kills: int, necrotic: int, mitotic: int, effects: Effects) -> float:
        """Antigen sent to the lymph node this step (kill units): CTL kills, necrotic deaths
        at ``priming.necrosis_weight``, radiation deaths at the ``radiation_death_weight``
        channel, and the ``antigen`` channel (treatment-induced immunogenic deaths)."""
        released = antigen_release(
            kills,
            necrotic,
            mitotic,
            self.params["priming.necrosis_weight"],
            effects.radiation_death_weight,
            effects.antigen,
        )
        self.antigen_released += released
        return released

    def _apply_therapies(self) -> Effects:
        """Combine this step's effects of all therapies (which may also act on cells)."""
        effects = Effects()
        for therapy in self.therapies:
            therapy.apply(self, effects)
        self.effects = effects
        return effects

    def _vegf_signal(self, effects: Effects) -> np.ndarray:
        """The VEGF signal seen by endothelium and myeloid cells: the field itself, or a
        neutralised copy when a therapy blocks part of it (no copy on untreated steps)."""
        if effects.vegf_block == 0.0:
            return self.state.vegf
        np.multiply(self.state.vegf, np.float32(1.0 - effects.vegf_block), out=self._vegf_blocked)
        return self._vegf_blocked

    def delivery(self, molecule: str) -> np.ndarray:
        """Local tissue exposure relative to nominal for a drug of class ``molecule``
        (``gcsim.therapies.delivery.DrugDelivery``)."""
        # the VEGF blockade of the step before: this step's effects are still being combined
        field = self._delivery.field(self.state, molecule, self.steps, self.effects.vegf_block)
        factor = self._delivery_factor(molecule)
        return field if factor == 1.0 else field * factor

    def lesion_delivery(self, molecule: str) -> float:
        """Mean of ``delivery(molecule)`` over viable tumour cells."""
        mean = self._delivery.lesion_mean(self.state, molecule, self.steps, self.effects.vegf_block)
        return mean * self._delivery_factor(molecule)

    def _delivery_factor(self, molecule: str) -> float:
        """Reads the ``antibody_delivery`` channel (of the step before, like the VEGF blockade):
        a factor on the tissue exposure of antibodies; 1 for small molecules."""
        return self.effects.antibody_delivery if molecule == "antibody" else 1.0

    def _solve_fields(
        self, max_sweeps: int, effects: Effects, oxygen_passes: int = OXYGEN_PASSES
    ) -> None:
        """Oxygen (quasi-steady, warm-started SOR, Michaelis–Menten consumption refreshed up to
        ``oxygen_passes`` times), then the four cytokines (steady state).

        Reads the ``vessel_oxygen_supply`` channel: perfused vessels hold blood at
        ``oxygen.blood × vessel_oxygen_supply``.
        """
        s, p = self.state, self.params
        with self._phase("oxygen"):
            secretion = self.rules.for_step("secretion", effects)
            vegf_signal = self._vegf_signal(effects)  # the last solved VEGF, after any blockade
            for _ in range(oxygen_passes):
                oxygen_coefficients(
                    secretion,
                    s.tissue,
                    s.immune,
                    s.maturity,
                    vegf_signal,
                    s.leak,
                    s.oxygen,
                    self._uptake,
                    self._supply,
                )
                sweeps = solve_oxygen_sor(
                    s.oxygen,
                    self._uptake,
                    self._supply,
                    p["oxygen.blood"] * effects.vessel_oxygen_supply,
                    p["oxygen.boundary"],
                    p["oxygen.diffusion"] / self.site_um**2,
                    SOR_OMEGA,
                    p["oxygen.solver_tolerance"],
                    max_sweeps,
                    self._sor_work,
                )
                self.oxygen_sweeps += sweeps
                if sweeps <= 1:
                    break
        with self._phase("cytokines"):
            src = self._sources
            secretion_sources(
                secretion,
                s.tissue,
                s.immune,
                s.engaged,
                s.polarisation,
                s.oxygen,
                s.ifng,
                src["vegf"],
                src["chemokine"],
                src["ifng"],
                src["tgfb"],
            )
            for name in CYTOKINES:
                solve_uniform_decay(
                    src[name],
                    p[f"{name}.diffusion"],
                    p[f"{name}.decay"],
                    self.site_um,
                    out=getattr(s, name),
                    work=self._decay_work,
                )

    def _update_priming(self, released: float, effects: Effects) -> None:
        """Two-stage lymph-node compartment: antigen in transit, then presented antigen.

        Each stage has a mean residence of half ``priming.delay``, so presented antigen follows
        released antigen with a gamma-distributed delay; priming rises from the phenotype's
        baseline by up to ``priming.boost`` as a Hill function of presented antigen, scaled by
        the ``priming_gain`` channel (PD-1 blockade in the draining lymph node raises it).
        """
        self._lymph_node = lymph_node_step(
            self._lymph_node, released, self.params["priming.delay"], self.dt_h
        )
        drive = priming_drive(
            self._lymph_node[1], self.params["priming.half_max"], effects.priming_gain
        )
        self.priming_level = self.baseline_priming + self.params["priming.boost"] * drive

    def _record(self) -> None:
        self._metrics = measure(self)
        self.datacollector.collect(self)

    # ----------------------------------------------------------------------------------------
    def run(self, progress: Any = None) -> None:
        """Step until the scenario's end; ``progress(steps_done, steps_total)`` if given."""
        while self.running:
            self.step()
            if progress is not None:
                progress(self.steps, self.end_steps)

    def save(self, path: str | Path) -> Path:
        """Write the full state to ``path`` (``.npz``, no pickle) so that ``load`` continues
        bit-identically to a model that never stopped (gcsim.checkpoint)."""
        from gcsim.checkpoint import save

        return save(self, path)

    @classmethod
    def load(cls, path: str | Path) -> GastricTumorModel:
        """The model saved by ``save`` in ``path``, ready to continue (gcsim.checkpoint)."""
        from gcsim.checkpoint import load

        return load(path, cls)

    @property
    def metrics(self) -> dict[str, float]:
        """The metrics of the last recorded observation."""
        return dict(self._metrics)

    def immune_pdl1(self) -> np.ndarray:
        """Deprecated: ``gcsim.observe.immune_pdl1(model)``."""
        warnings.warn(
            "model.immune_pdl1() is deprecated: use gcsim.observe.immune_pdl1(model)",
            DeprecationWarning,
            stacklevel=2,
        )
        return immune_pdl1(self)

    def agent_at(self, pos: tuple[int, int], layer: str = "tissue") -> mesa.Agent | None:
        """A Mesa agent view of the cell at ``pos`` on ``layer`` ("tissue" or "immune").

        Views are created on demand, registered with the model (so they appear in
        ``model.agents``) and read their attributes from the arrays, so they are always current.
        Returns None where the layer is empty at ``pos``.
        """
        if layer not in ("tissue", "immune"):
            raise ValueError(f"layer must be 'tissue' or 'immune', not {layer!r}")
        x, y = pos
        width, height = self.state.tissue.shape
        if not (0 <= x < width and 0 <= y < height):
            raise ValueError(f"pos {pos} is outside the {width} × {height} lattice")
        code = int((self.state.tissue if layer == "tissue" else self.state.immune)[x, y])
        key = (layer, (x, y))
        view = self._views.get(key)
        if view is not None and view.code == code:
            return view
        if view is not None:
            view.remove()
            del self._views[key]
        view = make_view(self, layer, (x, y), code)
        if view is not None:
            self._views[key] = view
        return view

    @cached_property
    def grid(self) -> Any:
        """A Mesa ``OrthogonalMooreGrid`` over the lattice, built on first use.

        Its property layers share memory with the model's arrays. It is built lazily because a
        Python object per site costs seconds and hundreds of MB on large lattices, and the step
        never needs it.
        """
        from gcsim.agents import build_grid

        return build_grid(self)


PrimingSource = Callable[["GastricTumorModel", float, Effects], float]


def antigen_release(
    kills: float,
    necrotic: float,
    mitotic: float,
    necrosis_weight: float,
    radiation_death_weight: float,
    antigen: float,
) -> float:
    """Antigen sent to the lymph node (kill units, one CTL kill = 1): ``kills`` + necrotic
    deaths × ``necrosis_weight`` + mitotic (post-radiation) deaths × ``radiation_death_weight``
    + ``antigen`` (treatment-induced immunogenic deaths, already in kill units). Counts may be
    fractional (a lesion's expected events, gcsim.patient)."""
    return kills + necrosis_weight * necrotic + radiation_death_weight * mitotic + antigen


def lymph_node_step(node: list[float], released: float, delay_h: float, dt_h: float) -> list[float]:
    """One interval ``dt_h`` (h) of the two-stage lymph-node compartment ``node`` = [antigen in
    transit, antigen presented] (kill units): each stage is left at the per-interval probability
    of a rate 2 / ``delay_h`` (1/h), so presentation follows release with a gamma-distributed
    delay of mean ``delay_h``; ``released`` enters transit. Returns the new [transit, presented].
    """
    transfer = per_step(2.0 / delay_h, dt_h)
    transit, presented = node
    moved = transit * transfer
    return [transit - moved + released, presented - presented * transfer + moved]


def priming_drive(presented: float, half_max: float, gain: float) -> float:
    """Hill drive (0–1) of ``presented`` antigen (kill units) × ``gain`` (the ``priming_gain``
    channel: PD-1 blockade in the draining node) with half-maximum ``half_max``."""
    presented = presented * gain
    return presented / (half_max + presented)


def _reporter(name: str):
    return lambda model: model._metrics[name]


def _resolve_scenario(scenario: Scenario | str | Path | None, fields: dict[str, Any]) -> Scenario:
    if isinstance(scenario, str | Path):
        from gcsim.scenario.loader import load_scenario

        scenario = load_scenario(scenario)
    if scenario is None:
        scenario = Scenario(name="default")
    if not fields:
        return scenario
    data = scenario.model_dump()
    for key, value in fields.items():
        *parents, leaf = key.split("__")
        target = data
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    return Scenario.model_validate(data)
