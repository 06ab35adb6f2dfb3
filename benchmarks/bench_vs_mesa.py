"""Plain Mesa against gcsim's engine, on the same core rules and the same initial state.

What is measured: **agent-steps per second** — one agent-step is one cell (tumour cell or CD8 T
cell) taking its turn in one time step — for

* *plain Mesa*: one Python ``mesa.discrete_space.CellAgent`` per tumour cell and per CD8 T cell,
  on two ``OrthogonalMooreGrid`` instances of capacity 1 (a *tissue* grid for tumour cells and an
  *immune* grid for T cells, mirroring gcsim's two layers, so a T cell can sit on a tumour site),
  stepped with ``AgentSet.shuffle_do``; the fixed oxygen and chemokine fields are Mesa property
  layers;
* *gcsim's engine*: ``tumor_step`` and ``immune_step`` (the numba kernels the model runs) called
  directly on arrays built from the same initial state, in a shuffled order each step, exactly as
  ``GastricTumorModel.step`` calls them, with fixed oxygen and chemokine fields and zero IFN-γ and
  suppressive cytokine.

Both sides run the same number of steps and count their agent-steps the same way (cells present
at the start of each phase). Only stepping is timed; building the Mesa grids and agents is
reported separately, and the engine's kernels are compiled (or loaded from the numba cache) by an
untimed warm-up call.

The rules (same per-step probabilities, taken from a default ``GastricTumorModel``):

* tumour cell: background apoptosis; PD-L1 relaxes toward its constitutive level (IFN-γ is 0);
  the cycle advances by ``cycle_per_step · ramp(pO₂)``; when it completes, the cell divides into a
  random free Moore neighbour (or waits if there is none). The fixed oxygen field stays above the
  necrosis threshold, so neither side has necrosis;
* CD8 T cell: death at a rate (faster when exhausted); an engaged cell counts its engagement
  down and stays put while it lasts; a free, non-exhausted one picks a random tumour cell on its
  own or an adjacent site, recognises it with probability = antigenicity and forms a conjugate for
  the step (PD-1 exhaustion from the target's PD-L1), and kills it with gcsim's
  ``kill_probability`` (the same function, run as Python on the Mesa side); a kill holds the T cell
  for ``engagement_h``, adds exhaustion and may trigger a division into a free neighbour; a cell
  that did not engage walks ``cd8_substeps`` moves, each up the chemokine gradient with probability
  ``chemotaxis_bias``, else to a random free neighbour, arresting beside antigen.

The Mesa side re-implements the rules of ``gcsim.kernels.immune`` and ``gcsim.kernels.tumor`` by
hand: when those kernels change, update it too (the dynamics table below will say when they no
longer agree).

The dynamics of the two sides are compared (final tumour and CD8 counts, kills, engagements,
divisions; mean over seeds) so the speed ratio compares like with like.

Run: ``.venv/bin/python benchmarks/bench_vs_mesa.py [--quick] [--sizes 100,200] [--json out.json]``
(by default at 100² and at 200², the model's default lattice; the ratio grows with the lattice).
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import mesa
import numpy as np
from mesa.discrete_space import CellAgent, OrthogonalMooreGrid
from rich.table import Table

from benchlib import machine_info, print_tables, si, write_json
from gcsim.kernels.common import ramp
from gcsim.kernels.immune import ImmuneRules, immune_step, kill_probability
from gcsim.kernels.rng import StreamHandle, shuffled_sites, stream_handle
from gcsim.kernels.tumor import TUMOR_STATE, TumorRules, tumor_step
from gcsim.model import IMMUNE_SITES, TUMOR_SITES
from gcsim.state import CD8, NO_IMMUNE, TUMOR, LatticeState

# The Mesa side calls the very same formulas as plain Python functions.
_ramp = ramp.py_func
_kill_probability = kill_probability.py_func

ENGINE_PARTS = ("tumour order", "tumor_step", "immune order", "immune_step")
NO_MARKER_LOSS = np.zeros(8)  # every marker bit fully heritable, as in the model by default
METRICS = ("final_tumour", "final_cd8", "kills", "engagements", "tumour_divisions", "cd8_divisions")


@dataclass(frozen=True)
class Config:
    """Size and protocol of the comparison (lattice sites, time steps of 1 h)."""

    width: int = 100
    height: int = 100
    tumour_radius: float = 25.0  # sites
    cd8_fraction: float = 0.05  # probability that a site starts with a CD8 T cell (whole domain)
    pdl1_positive: float = 0.2  # fraction of tumour cells that are constitutively PD-L1+
    o2_centre: float = 8.0  # mmHg at the domain centre (above the necrosis threshold)
    o2_edge: float = 38.0  # mmHg at distance min(width, height) / 2 and beyond
    steps: int = 48
    seeds: tuple[int, ...] = (1, 2, 3)
    mesa_repeats: int = 2  # each side's time is the best of its repeats (same seed, same
    engine_repeats: int = 5  # dynamics): the machine may be shared
    rel_tol: float = 0.05  # dynamics agree when means differ by < 5 % ...
    z_tol: float = 3.0  # ... or by < 3 standard errors


QUICK = Config(
    width=60,
    height=60,
    tumour_radius=15.0,
    steps=24,
    seeds=(1, 2),
    mesa_repeats=1,
    engine_repeats=3,
)

# The ratio depends on the lattice: Mesa's cost per agent-step grows with the number of agents
# (more Python objects, fewer cache hits) while the engine's stays flat. 200² is the model's
# default lattice (scenarios/baseline.yaml), so it is the size that answers "how much faster".
DEFAULT_SIZES = (100, 200)
QUICK_SIZES = (60,)


# -------------------------------------------------------------------------------------------
# Shared set-up
# -------------------------------------------------------------------------------------------
def core_rules() -> tuple[TumorRules, ImmuneRules]:
    """The per-step tumour and immune rules of a default ``GastricTumorModel`` (dt = 1 h)."""
    from gcsim.model import GastricTumorModel

    model = GastricTumorModel(
        rng=0, domain__width=20, domain__height=20, tumor__initial_radius_um=100.0, time__days=1
    )
    return model.tumor_rules, model.immune_rules


def initial_state(cfg: Config, seed: int) -> dict[str, np.ndarray]:
    """The common initial state: a disc of tumour, CD8 T cells scattered over the whole domain.

    Fields are fixed for the whole run: oxygen rises linearly with distance from the centre (from
    ``o2_centre`` to ``o2_edge``); chemokine is a Gaussian bump on the tumour (T cells climb it).
    """
    rng = np.random.default_rng(seed)
    w, h = cfg.width, cfg.height
    x, y = np.meshgrid(np.arange(w), np.arange(h), indexing="ij")
    r = np.hypot(x - (w - 1) / 2, y - (h - 1) / 2)
    tumour = r <= cfg.tumour_radius
    n = int(tumour.sum())
    tissue = np.where(tumour, TUMOR, 0).astype(np.int8)
    cycle = np.zeros((w, h), dtype=np.float32)
    cycle[tumour] = rng.random(n)
    antigen = np.zeros((w, h), dtype=np.float32)
    antigen[tumour] = np.clip(rng.normal(0.6, 0.15, n), 0.0, 1.0)
    pdl1 = np.zeros((w, h), dtype=np.float32)
    pdl1[tumour] = np.where(rng.random(n) < cfg.pdl1_positive, 0.5, 0.0)
    immune = np.where(rng.random((w, h)) < cfg.cd8_fraction, CD8, NO_IMMUNE).astype(np.int8)
    half = min(w, h) / 2
    oxygen = cfg.o2_centre + (cfg.o2_edge - cfg.o2_centre) * np.minimum(1.0, r / half)
    chemokine = np.exp(-(r**2) / (2.0 * (2.0 * cfg.tumour_radius) ** 2))
    return {
        "tissue": tissue,
        "cycle": cycle,
        "antigen": antigen,
        "pdl1": pdl1,
        "immune": immune,
        "oxygen": oxygen,
        "chemokine": chemokine,
    }


@dataclass
class RunResult:
    """One run of one side: wall time of the steps, agent-steps and what happened."""

    side: str
    seed: int
    steps: int = 0
    setup_seconds: float = 0.0
    seconds: float = 0.0  # stepping only
    tumour_seconds: float = 0.0
    immune_seconds: float = 0.0
    tumour_agent_steps: int = 0
    immune_agent_steps: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    part_seconds: dict[str, float] = field(default_factory=dict)  # engine only, see ENGINE_PARTS

    @property
    def agent_steps(self) -> int:
        return self.tumour_agent_steps + self.immune_agent_steps

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["agent_steps"] = self.agent_steps
        out["agent_steps_per_s"] = self.agent_steps / self.seconds if self.seconds else 0.0
        return out


# -------------------------------------------------------------------------------------------
# Plain Mesa
# -------------------------------------------------------------------------------------------
class TumourCell(CellAgent):
    """A tumour cell on the tissue grid."""

    def __init__(
        self,
        model: PlainMesaModel,
        cell: Any,
        cycle: float,
        antigen: float,
        pdl1: float,
        pdl1_const: float,
    ) -> None:
        super().__init__(model)
        self.cell = cell
        self.cycle = cycle
        self.antigen = antigen
        self.pdl1 = pdl1
        self.pdl1_const = pdl1_const

    def step(self) -> None:
        model = self.model
        rules = model.tumor_rules
        if model.random.random() < rules.apoptosis_p:
            self.remove()
            model.counts["apoptoses"] += 1
            return
        # IFN-γ is zero here, so the PD-L1 target is the constitutive level.
        self.pdl1 += rules.pdl1_relax * (self.pdl1_const - self.pdl1)
        drive = _ramp(
            self.cell.oxygen, rules.proliferation_threshold, rules.proliferation_saturation
        )
        self.cycle = min(1.0, self.cycle + rules.cycle_per_step * drive)
        if self.cycle < 1.0:
            return
        free = [c for c in self.cell.neighborhood if c.is_empty]
        if not free:
            return  # contact inhibition: wait with a completed cycle
        self.cycle = 0.0
        TumourCell(model, model.random.choice(free), 0.0, self.antigen, self.pdl1, self.pdl1_const)
        model.counts["tumour_divisions"] += 1


class CD8Cell(CellAgent):
    """A CD8 T cell on the immune grid."""

    def __init__(
        self, model: PlainMesaModel, cell: Any, exhaustion: float = 0.0, divisions: int = 0
    ) -> None:
        super().__init__(model)
        self.cell = cell
        self.exhaustion = exhaustion
        self.engaged = 0.0
        self.divisions = divisions

    def step(self) -> None:
        model = self.model
        rules = model.immune_rules
        p_death = rules.exhausted_death_p if self.exhaustion >= 1.0 else rules.cd8_death_p
        if model.random.random() < p_death:
            self.remove()
            model.counts["cd8_deaths"] += 1
            return
        if self.engaged > 0.0:
            self.engaged = max(0.0, self.engaged - rules.dt_h)
            if self.engaged > 0.0:
                return  # still engaged; one whose engagement just ended acts this step
        if self.exhaustion < 1.0 and self.engage():
            return
        self.migrate()

    def _tumour_cells_around(self) -> list[TumourCell]:
        """Tumour cells on this T cell's own site and its Moore neighbours (tissue grid)."""
        site = self.model.tissue_grid[self.cell.coordinate]
        found = list(site.agents)
        for c in site.neighborhood:
            found.extend(c.agents)
        return found

    def engage(self) -> bool:
        model = self.model
        rules = model.immune_rules
        targets = self._tumour_cells_around()
        if not targets:
            return False
        target = model.random.choice(targets)
        if model.random.random() >= target.antigen:
            return False
        model.counts["engagements"] += 1
        self.engaged = rules.dt_h  # a conjugate forms for this step
        pd1_signal = target.pdl1 * (1.0 - rules.pd1_occupancy)
        self.exhaustion += rules.exhaustion_per_kill * rules.pd1_exhaustion_gain * pd1_signal
        # No suppressive cytokine and no Tregs/MDSCs here: tgfb = 0, no suppressors.
        p = _kill_probability(rules, target.antigen, target.pdl1, 0.0, 0)
        if model.random.random() < p:
            target.remove()
            self.engaged = rules.engagement_h  # a kill holds the T cell
            self.exhaustion += rules.exhaustion_per_kill
            model.counts["kills"] += 1
            if self.divisions < rules.max_divisions and model.random.random() < rules.division_p:
                free = [c for c in self.cell.neighborhood if c.is_empty]
                if free:
                    self.divisions += 1
                    CD8Cell(model, model.random.choice(free), self.exhaustion, self.divisions)
                    model.counts["cd8_divisions"] += 1
        return True

    def _sees_antigen(self) -> bool:
        return any(t.antigen > 0.0 for t in self._tumour_cells_around())

    def migrate(self) -> None:
        model = self.model
        rules = model.immune_rules
        for _ in range(rules.cd8_substeps):
            if self._sees_antigen():
                break  # arrest beside antigen
            options = [c for c in self.cell.neighborhood if c.is_empty]
            if not options:
                break
            if model.random.random() < rules.chemotaxis_bias:
                pick = max(options, key=_chemokine)
            else:
                pick = model.random.choice(options)
            self.move_to(pick)


def _chemokine(cell: Any) -> float:
    return cell.chemokine


class PlainMesaModel(mesa.Model):
    """The core rules as a plain Mesa model: a Python agent per cell, stepped by AgentSets."""

    def __init__(
        self,
        init: dict[str, np.ndarray],
        tumor_rules: TumorRules,
        immune_rules: ImmuneRules,
        seed: int,
    ) -> None:
        super().__init__(rng=seed)
        self.tumor_rules = tumor_rules
        self.immune_rules = immune_rules
        dims = tuple(int(n) for n in init["tissue"].shape)
        self.tissue_grid = OrthogonalMooreGrid(dims, torus=False, capacity=1, random=self.random)
        self.immune_grid = OrthogonalMooreGrid(dims, torus=False, capacity=1, random=self.random)
        self.tissue_grid.create_property_layer("oxygen", 0.0, float).data = init["oxygen"]
        self.immune_grid.create_property_layer("chemokine", 0.0, float).data = init["chemokine"]
        for x, y in np.argwhere(init["tissue"] == TUMOR):
            pos = (int(x), int(y))
            TumourCell(
                self,
                self.tissue_grid[pos],
                float(init["cycle"][pos]),
                float(init["antigen"][pos]),
                float(init["pdl1"][pos]),
                float(init["pdl1"][pos]),
            )
        for x, y in np.argwhere(init["immune"] == CD8):
            CD8Cell(self, self.immune_grid[(int(x), int(y))])
        self.counts = dict.fromkeys(
            (
                "apoptoses",
                "tumour_divisions",
                "engagements",
                "kills",
                "cd8_divisions",
                "cd8_deaths",
            ),
            0,
        )
        self.agent_steps = {"tumour": 0, "immune": 0}
        self.phase_seconds = {"tumour": 0.0, "immune": 0.0}

    def _count(self, kind: type) -> int:
        agents = self.agents_by_type.get(kind)
        return 0 if agents is None else len(agents)

    def step(self) -> None:
        """Tumour cells act in random order, then CD8 T cells (as in gcsim's step)."""
        for phase, kind in (("tumour", TumourCell), ("immune", CD8Cell)):
            start = time.perf_counter()
            agents = self.agents_by_type.get(kind)
            if agents is not None:
                self.agent_steps[phase] += len(agents)
                agents.shuffle_do("step")
            self.phase_seconds[phase] += time.perf_counter() - start


def run_mesa(
    init: dict[str, np.ndarray], rules: tuple[TumorRules, ImmuneRules], steps: int, seed: int
) -> RunResult:
    """Build the plain-Mesa model (timed separately) and step it ``steps`` times."""
    start = time.perf_counter()
    model = PlainMesaModel(init, *rules, seed)
    result = RunResult("mesa", seed, setup_seconds=time.perf_counter() - start)
    start = time.perf_counter()
    for _ in range(steps):
        model.step()
    result.seconds = time.perf_counter() - start
    result.steps = model.steps
    result.tumour_seconds = model.phase_seconds["tumour"]
    result.immune_seconds = model.phase_seconds["immune"]
    result.tumour_agent_steps = model.agent_steps["tumour"]
    result.immune_agent_steps = model.agent_steps["immune"]
    result.counts = {
        **model.counts,
        "final_tumour": model._count(TumourCell),
        "final_cd8": model._count(CD8Cell),
    }
    return result


# -------------------------------------------------------------------------------------------
# gcsim's engine
# -------------------------------------------------------------------------------------------
def engine_state(
    init: dict[str, np.ndarray],
) -> tuple[LatticeState, np.ndarray, np.ndarray, np.ndarray]:
    """gcsim's arrays (with the model's dtypes) holding ``init``, plus the ``done`` and order
    scratch arrays and the immune counters."""
    state = LatticeState.empty(*init["tissue"].shape)
    for name in ("tissue", "cycle", "antigen", "pdl1", "immune", "oxygen", "chemokine"):
        getattr(state, name)[:] = init[name]
    state.pdl1_const[:] = init["pdl1"]
    done = np.zeros(state.tissue.shape, dtype=np.uint8)
    order = np.empty(state.tissue.size, dtype=np.int64)
    return state, done, np.zeros(4, dtype=np.int64), order


def engine_step(
    rng: StreamHandle,
    rules: tuple[TumorRules, ImmuneRules],
    state: LatticeState,
    done: np.ndarray,
    counters: np.ndarray,
    tumour_counts: np.ndarray,
    order_buffer: np.ndarray,
) -> tuple[int, int, tuple[float, float, float, float]]:
    """One step, as ``GastricTumorModel.step`` runs its tumour and immune phases.

    Returns (tumour agent-steps, immune agent-steps, seconds of each of ENGINE_PARTS).
    """
    s = state
    t0 = time.perf_counter()
    order = order_buffer[: shuffled_sites(rng, s.tissue, TUMOR_SITES, order_buffer)]
    t1 = time.perf_counter()
    divisions, necrotic, apoptotic, _ = tumor_step(
        rng,
        rules[0],
        NO_MARKER_LOSS,
        order,
        *(getattr(s, name) for name in TUMOR_STATE),
    )
    tumour_counts += (divisions, necrotic, apoptotic)
    t2 = time.perf_counter()
    done[:] = 0
    immune_order = order_buffer[: shuffled_sites(rng, s.immune, IMMUNE_SITES, order_buffer)]
    t3 = time.perf_counter()
    immune_step(
        rng,
        rules[1],
        immune_order,
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
        s.vegf,
        done,
        counters,
    )
    t4 = time.perf_counter()
    return len(order), len(immune_order), (t1 - t0, t2 - t1, t3 - t2, t4 - t3)


def run_engine(
    init: dict[str, np.ndarray], rules: tuple[TumorRules, ImmuneRules], steps: int, seed: int
) -> RunResult:
    """Run gcsim's kernels ``steps`` times on arrays built from ``init`` (after a warm-up call
    on a throw-away copy, so compilation or cache loading is not timed)."""
    warm, warm_done, warm_counters, warm_order = engine_state(init)
    engine_step(
        stream_handle(np.random.default_rng(seed)),
        rules,
        warm,
        warm_done,
        warm_counters,
        np.zeros(3, dtype=np.int64),
        warm_order,
    )
    start = time.perf_counter()
    state, done, counters, order = engine_state(init)
    result = RunResult("engine", seed, setup_seconds=time.perf_counter() - start)
    rng = stream_handle(np.random.default_rng(seed))  # as GastricTumorModel.kernel_rng
    tumour_counts = np.zeros(3, dtype=np.int64)
    parts = np.zeros(len(ENGINE_PARTS))
    start = time.perf_counter()
    for _ in range(steps):
        n_t, n_i, seconds = engine_step(rng, rules, state, done, counters, tumour_counts, order)
        result.tumour_agent_steps += n_t
        result.immune_agent_steps += n_i
        parts += seconds
        result.steps += 1
    result.seconds = time.perf_counter() - start
    result.part_seconds = dict(zip(ENGINE_PARTS, parts.tolist(), strict=True))
    result.tumour_seconds = parts[0] + parts[1]
    result.immune_seconds = parts[2] + parts[3]
    engagements, kills, cd8_divisions, deaths = (int(v) for v in counters)
    result.counts = {
        "apoptoses": int(tumour_counts[2]),
        "tumour_divisions": int(tumour_counts[0]),
        "engagements": engagements,
        "kills": kills,
        "cd8_divisions": cd8_divisions,
        "cd8_deaths": deaths,
        "final_tumour": int((state.tissue == TUMOR).sum()),
        "final_cd8": int((state.immune == CD8).sum()),
    }
    if tumour_counts[1]:
        raise RuntimeError(
            "necrosis occurred: the fixed oxygen field must stay above the "
            "necrosis threshold for the two sides to run the same rules"
        )
    return result


# -------------------------------------------------------------------------------------------
# Comparison
# -------------------------------------------------------------------------------------------
def compare(
    mesa_runs: Sequence[RunResult], engine_runs: Sequence[RunResult], rel_tol: float, z_tol: float
) -> dict[str, dict[str, float | bool]]:
    """Per metric: means, the difference in standard errors, and whether the sides agree.

    The variance of each side is floored at its mean (Poisson counts) so that two or three
    seeds cannot make the test arbitrarily strict.
    """
    out: dict[str, dict[str, float | bool]] = {}
    for name in METRICS:
        a = np.array([r.counts[name] for r in mesa_runs], dtype=float)
        b = np.array([r.counts[name] for r in engine_runs], dtype=float)
        var_a = max(a.var(ddof=1) if a.size > 1 else 0.0, a.mean())
        var_b = max(b.var(ddof=1) if b.size > 1 else 0.0, b.mean())
        se = math.sqrt(var_a / a.size + var_b / b.size)
        diff = abs(a.mean() - b.mean())
        z = diff / se if se > 0 else 0.0
        rel = diff / max(1.0, 0.5 * (a.mean() + b.mean()))
        out[name] = {
            "mesa_mean": float(a.mean()),
            "engine_mean": float(b.mean()),
            "rel_diff": rel,
            "z": z,
            "ok": bool(rel <= rel_tol or z <= z_tol),
        }
    return out


def _best(repeats: list[RunResult]) -> RunResult:
    """The fastest of repeated runs of one seed; a run is reproducible from its seed, so every
    repeat must have produced the same dynamics."""
    if any(r.counts != repeats[0].counts for r in repeats):
        raise RuntimeError(f"{repeats[0].side} is not reproducible from its seed")
    return min(repeats, key=lambda r: r.seconds)


def run(cfg: Config = Config()) -> dict[str, Any]:
    """Run both sides on every seed; return rates, ratio, per-run details and the comparison."""
    rules = core_rules()
    mesa_runs, engine_runs = [], []
    for seed in cfg.seeds:
        init = initial_state(cfg, seed)
        assert init["oxygen"].min() >= rules[0].necrosis_threshold
        mesa_runs.append(
            _best([run_mesa(init, rules, cfg.steps, seed) for _ in range(cfg.mesa_repeats)])
        )
        engine_runs.append(
            _best([run_engine(init, rules, cfg.steps, seed) for _ in range(cfg.engine_repeats)])
        )
    sides = {}
    for side, runs in (("mesa", mesa_runs), ("engine", engine_runs)):
        seconds = sum(r.seconds for r in runs)
        tumour_s = sum(r.tumour_seconds for r in runs)
        immune_s = sum(r.immune_seconds for r in runs)
        sides[side] = {
            "steps": sum(r.steps for r in runs),
            "agent_steps": sum(r.agent_steps for r in runs),
            "seconds": seconds,
            "setup_seconds": sum(r.setup_seconds for r in runs),
            "agent_steps_per_s": sum(r.agent_steps for r in runs) / seconds,
            "tumour_agent_steps_per_s": sum(r.tumour_agent_steps for r in runs) / tumour_s,
            "immune_agent_steps_per_s": sum(r.immune_agent_steps for r in runs) / immune_s,
        }
    comparison = compare(mesa_runs, engine_runs, cfg.rel_tol, cfg.z_tol)
    engine_steps = sides["engine"]["steps"]
    return {
        "config": asdict(cfg),
        "engine_us_per_step": {
            part: sum(r.part_seconds[part] for r in engine_runs) / engine_steps * 1e6
            for part in ENGINE_PARTS
        },
        "mesa": sides["mesa"],
        "engine": sides["engine"],
        "ratio": sides["engine"]["agent_steps_per_s"] / sides["mesa"]["agent_steps_per_s"],
        "ratio_tumour": (
            sides["engine"]["tumour_agent_steps_per_s"] / sides["mesa"]["tumour_agent_steps_per_s"]
        ),
        "ratio_immune": (
            sides["engine"]["immune_agent_steps_per_s"] / sides["mesa"]["immune_agent_steps_per_s"]
        ),
        "runs": [r.as_dict() for r in (*mesa_runs, *engine_runs)],
        "comparison": comparison,
        "similar": all(m["ok"] for m in comparison.values()),
    }


def sized(cfg: Config, n: int) -> Config:
    """``cfg`` on an n × n lattice, with the tumour disc's radius scaled to n / 4."""
    return replace(cfg, width=n, height=n, tumour_radius=n / 4)


def run_sizes(sizes: Sequence[int] = DEFAULT_SIZES, cfg: Config = Config()) -> dict[str, Any]:
    """``run`` on each n × n lattice in ``sizes``."""
    return {"sizes": list(sizes), "by_size": [run(sized(cfg, n)) for n in sizes]}


def run_default(quick: bool = False) -> dict[str, Any]:
    """What the script runs without options (``quick``: as with ``--quick``)."""
    return run_sizes(QUICK_SIZES, QUICK) if quick else run_sizes()


def size_table(result: dict[str, Any]) -> Table:
    """One row per lattice size: both rates, the ratios, and whether the dynamics agreed."""
    table = Table(title="Engine vs plain Mesa by lattice size (agent-steps per second)")
    for col in ("sites", "mesa", "engine", "ratio", "tumour", "CD8", "same dynamics"):
        table.add_column(col, justify="right")
    for n, r in zip(result["sizes"], result["by_size"], strict=True):
        table.add_row(
            f"{n}²",
            si(r["mesa"]["agent_steps_per_s"], "/s"),
            si(r["engine"]["agent_steps_per_s"], "/s"),
            f"[bold]{r['ratio']:.0f}×[/bold]",
            f"{r['ratio_tumour']:.0f}×",
            f"{r['ratio_immune']:.0f}×",
            "[green]yes[/green]" if r["similar"] else "[red]NO[/red]",
        )
    return table


def tables_by_size(result: dict[str, Any]) -> list[Table]:
    """Each size's speed and dynamics tables, then the summary by size."""
    out = [t for r in result["by_size"] for t in tables(r)]
    return [*out, size_table(result)]


def tables(result: dict[str, Any]) -> list[Table]:
    """Speed table and dynamics-comparison table."""
    cfg = result["config"]
    speed = Table(
        title=(
            f"Plain Mesa vs gcsim engine — {cfg['width']}×{cfg['height']} sites, "
            f"{cfg['steps']} steps × {len(cfg['seeds'])} seeds (best of "
            f"{cfg['mesa_repeats']} / {cfg['engine_repeats']} repeats)"
        )
    )
    for col in (
        "side",
        "agent-steps",
        "step time",
        "agent-steps/s",
        "tumour a-s/s",
        "CD8 a-s/s",
        "setup",
    ):
        speed.add_column(col, justify="right" if col != "side" else "left")
    for side in ("mesa", "engine"):
        s = result[side]
        speed.add_row(
            side,
            f"{s['agent_steps']:,}",
            f"{s['seconds']:.3f} s",
            si(s["agent_steps_per_s"], "/s"),
            si(s["tumour_agent_steps_per_s"], "/s"),
            si(s["immune_agent_steps_per_s"], "/s"),
            f"{s['setup_seconds']:.3f} s",
        )
    speed.add_row(
        "ratio",
        "",
        "",
        f"[bold]{result['ratio']:.0f}×[/bold]",
        f"{result['ratio_tumour']:.0f}×",
        f"{result['ratio_immune']:.0f}×",
        "",
    )
    parts = Table(title="Engine step by part (µs per step, best repeat of each seed)")
    for part in ENGINE_PARTS:
        parts.add_column(part, justify="right")
    parts.add_column("step", justify="right")
    us = result["engine_us_per_step"]
    parts.add_row(*(f"{us[p]:.0f}" for p in ENGINE_PARTS), f"{sum(us.values()):.0f}")
    same = Table(title="Same dynamics? (mean over seeds; ok = within 5 % or 3 standard errors)")
    for col in ("metric", "mesa", "engine", "rel. diff", "z", "ok"):
        same.add_column(col, justify="right" if col != "metric" else "left")
    for name, m in result["comparison"].items():
        same.add_row(
            name,
            f"{m['mesa_mean']:.1f}",
            f"{m['engine_mean']:.1f}",
            f"{m['rel_diff']:.1%}",
            f"{m['z']:.2f}",
            "[green]ok[/green]" if m["ok"] else "[red]DIFFERENT[/red]",
        )
    return [speed, parts, same]


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller lattice, fewer steps")
    parser.add_argument(
        "--sizes",
        help="comma-separated lattice sizes n (n × n sites, tumour radius n/4); default "
        f"{','.join(map(str, DEFAULT_SIZES))}, quick {','.join(map(str, QUICK_SIZES))}",
    )
    parser.add_argument("--width", type=int, help="one lattice of this width (with --height)")
    parser.add_argument("--height", type=int)
    parser.add_argument("--radius", type=float, help="tumour radius in sites")
    parser.add_argument("--steps", type=int)
    parser.add_argument("--seeds", help="comma-separated seeds, e.g. 1,2,3")
    parser.add_argument("--json", help="write the result here")
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else Config()
    overrides: dict[str, Any] = {
        "width": args.width,
        "height": args.height,
        "tumour_radius": args.radius,
        "steps": args.steps,
        "seeds": tuple(int(s) for s in args.seeds.split(",")) if args.seeds else None,
    }
    cfg = Config(**{**asdict(cfg), **{k: v for k, v in overrides.items() if v is not None}})
    if args.width or args.height or args.radius:
        result = run(cfg)
        print_tables(tables(result))
    else:
        default = QUICK_SIZES if args.quick else DEFAULT_SIZES
        sizes = [int(n) for n in args.sizes.split(",")] if args.sizes else list(default)
        result = run_sizes(sizes, cfg)
        print_tables(tables_by_size(result))
    if args.json:
        write_json(args.json, {"machine": machine_info(), "vs_mesa": result})
    return result


if __name__ == "__main__":
    main()
