"""Designs: from a checked sweep to the list of runs, each with its scenario and seed.

Sampling designs draw points in the unit hypercube with SALib (Latin hypercube, Sobol'/Saltelli,
Morris trajectories) and map each coordinate through the factor's distribution (its inverse
CDF), so that SALib's analysis can later be run on the same unit samples whatever the
distributions. A full factorial design is the product of the factors' levels.

Seeds: the sweep's root seed is a :class:`numpy.random.SeedSequence`; design point ``p`` gets
child ``p`` and its replicate ``r`` that child's child ``r`` (``spawn_key=(p, r)``). A run's seed
is therefore a function of its place in the design only, never of the executor or of the order
runs finish in. Treatment arms, when a scenario has them, will share the seed of their point and
replicate: the same virtual tumour under each arm.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from gcsim.scenario import Scenario, ScenarioError, issue_at, scenario_hash
from gcsim.sweep.spec import Factor, Scalar, Sweep, is_integer_field, override


@dataclass(frozen=True)
class Run:
    """One simulation of a sweep: (resolved scenario, arm, replicate, seed)."""

    run_id: str
    point: int
    replicate: int
    arm: str
    seed: int
    values: dict[str, Scalar]  # factor path → value at this design point
    scenario: Scenario = field(repr=False)  # base + `set` + values, with ``seed`` = the run's

    @property
    def overrides(self) -> list[str]:
        """The `gcsim run --set` strings (after the sweep's `set`) that reproduce this run."""
        return [*(override(p, v) for p, v in self.values.items()), f"seed={self.seed}"]


@dataclass(frozen=True)
class Plan:
    runs: list[Run]
    points: list[dict[str, Scalar]]
    unit: np.ndarray | None  # points × factors in [0, 1]; None for a factorial design

    @property
    def digest(self) -> str:
        """Identifies the planned runs; ``--resume`` refuses a directory made by another plan."""
        canonical = [(r.run_id, r.seed, scenario_hash(r.scenario)) for r in self.runs]
        return hashlib.sha256(json.dumps(canonical).encode()).hexdigest()


def run_seed(root: int, point: int, replicate: int) -> int:
    """The seed of one run: SeedSequence(root) → child ``point`` → child ``replicate``."""
    sequence = np.random.SeedSequence(root, spawn_key=(point, replicate))
    return int(sequence.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))  # < 2**63


def unit_samples(sweep: Sweep) -> np.ndarray | None:
    """The design's points in the unit hypercube (SALib), or None for a factorial design."""
    design = sweep.spec.design
    names = list(sweep.spec.factors)
    problem = {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names)}
    if design.method == "factorial":
        return None
    if design.method == "latin":
        from SALib.sample import latin

        return latin.sample(problem, design.samples, seed=sweep.spec.seed)
    if design.method == "sobol":
        from SALib.sample import sobol

        return sobol.sample(
            problem,
            design.samples,
            calc_second_order=design.second_order,
            seed=sweep.spec.seed,
        )
    from SALib.sample import morris

    return morris.sample(
        problem, design.samples, num_levels=design.morris_levels, seed=sweep.spec.seed
    )


def factor_value(factor: Factor, u: float, integer: bool) -> Scalar:
    """The value at quantile ``u`` of the factor's distribution (levels are equally likely)."""
    if factor.levels is not None:
        return factor.levels[min(int(u * len(factor.levels)), len(factor.levels) - 1)]
    low, high = factor.range  # type: ignore[misc]
    match factor.distribution:
        case "uniform":
            value = low + u * (high - low)
        case "loguniform":
            value = math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
        case "normal":
            a, b = (low - factor.mean) / factor.sd, (high - factor.mean) / factor.sd  # type: ignore[operator]
            value = stats.truncnorm.ppf(u, a, b, loc=factor.mean, scale=factor.sd)
        case "triangular":
            c = (factor.mode - low) / (high - low)  # type: ignore[operator]
            value = stats.triang.ppf(u, c, loc=low, scale=high - low)
    value = min(max(float(value), low), high)  # inverse CDFs can overshoot by an ulp
    return round(value) if integer else value


def factorial_levels(factor: Factor, integer: bool) -> list[Scalar]:
    if factor.levels is not None:
        return list(factor.levels)
    low, high = factor.range  # type: ignore[misc]
    space = np.geomspace if factor.distribution == "loguniform" else np.linspace
    values = [float(v) for v in space(low, high, factor.steps)]
    return list(dict.fromkeys(round(v) for v in values)) if integer else values


def design_points(sweep: Sweep, unit: np.ndarray | None) -> list[dict[str, Scalar]]:
    factors = sweep.spec.factors
    integer = {path: is_integer_field(path) for path in factors}
    if unit is None:
        levels = [factorial_levels(f, integer[p]) for p, f in factors.items()]
        return [dict(zip(factors, combo, strict=True)) for combo in itertools.product(*levels)]
    return [
        {
            p: factor_value(f, float(u), integer[p])
            for (p, f), u in zip(factors.items(), row, strict=True)
        }
        for row in unit
    ]


MAX_RUNS = 100_000  # a sweep larger than this is refused unless the limit is raised (--max-runs)
# The plan holds every run's validated scenario, measured at 2.4 KiB and ~2 ms of validation per
# run (a 3,600-run factorial): 10⁶ runs take ~2.4 GB and half an hour before the first
# simulation. Above this ceiling no limit can be raised: the design is refused, never drawn.
MAX_RUNS_CEILING = 1_000_000


def design_size(sweep: Sweep) -> tuple[int, int]:
    """(design points, runs) of ``sweep``, counted without drawing or listing the design."""
    spec = sweep.spec
    design, d = spec.design, len(spec.factors)
    if design.method == "factorial":
        points = 1
        for factor in spec.factors.values():
            points *= len(factor.levels) if factor.levels is not None else factor.steps or 1
    elif design.method == "latin":
        points = design.samples or 0
    elif design.method == "sobol":
        points = (design.samples or 0) * (2 * d + 2 if design.second_order else d + 2)
    else:  # morris: trajectories of D + 1 points
        points = (design.samples or 0) * (d + 1)
    return points, points * spec.replicates * len(sweep.base.arms)


def check_design_size(sweep: Sweep, max_runs: int = MAX_RUNS) -> None:
    """Refuse, at the ``design`` line, a sweep of more than ``max_runs`` runs: its plan alone
    would take minutes and gigabytes before the first run starts."""
    points, runs = design_size(sweep)
    if max_runs > MAX_RUNS_CEILING:
        raise ValueError(f"max_runs {max_runs:,} is above the ceiling of {MAX_RUNS_CEILING:,}")
    if runs > max_runs:
        message = (
            f"this design has {runs:,} runs ({points:,} points × {sweep.spec.replicates} "
            f"replicates × {len(sweep.base.arms)} arms), above the limit of {max_runs:,} "
            + (
                "(raise it with --max-runs if you mean it)"
                if runs <= MAX_RUNS_CEILING
                else f"and above {MAX_RUNS_CEILING:,}, the most a plan may hold in memory: "
                "split it into several sweeps"
            )
        )
        raise ScenarioError([issue_at(sweep.file, sweep.data, ("design",), message)])


def plan_runs(sweep: Sweep, max_runs: int = MAX_RUNS) -> Plan:
    """Every run of the sweep, its scenario resolved and validated, in design order.

    A combination of values that the scenario rejects (a tumour too large for a sampled domain)
    is an error at the sweep file's ``factors`` line, before anything runs. A design of more
    than ``max_runs`` runs is refused before any of it is drawn (``check_design_size``).
    """
    check_design_size(sweep, max_runs)
    unit = unit_samples(sweep)
    points = design_points(sweep, unit)
    runs: list[Run] = []
    issues = []
    width = len(str(len(points) - 1))
    for p, values in enumerate(points):
        try:
            scenario = sweep.resolve(values)
        except ScenarioError as exc:
            shown = ", ".join(f"{k} = {v!r}" for k, v in values.items())
            message = f"design point {p} ({shown}) is not a valid scenario: {exc.issues[0]}"
            issues.append(issue_at(sweep.file, sweep.data, ("factors",), message))
            if len(issues) >= 5:
                break
            continue
        arms = list(scenario.arms)
        for arm in arms:
            label = f"-{arm}" if len(arms) > 1 else ""
            for r in range(sweep.spec.replicates):
                seed = run_seed(sweep.spec.seed, p, r)  # shared by the arms: same tumour
                runs.append(
                    Run(
                        run_id=f"p{p:0{width}d}{label}-r{r}",
                        point=p,
                        replicate=r,
                        arm=arm,
                        seed=seed,
                        values=values,
                        scenario=scenario.model_copy(update={"seed": seed}),
                    )
                )
    if issues:
        raise ScenarioError(issues)
    return Plan(runs=runs, points=points, unit=unit)
