"""ABC-SMC with pyabc on the emulator, inside the non-implausible space.

Parameters are the prior quantiles u ∈ [0, 1]^d (uniform there for uniform and log-uniform
priors alike), restricted to the points that pass history matching: the prior density is a
constant inside the non-implausible space and 0 outside, so pyabc never proposes a ruled-out
point. One "simulation" of a particle draws each accepted readout from the emulator's predictive
distribution plus observation and discrepancy noise,

    y_i ~ N(E[f_i(u)], Var_emulator,i(u) + Var_obs,i + Var_discrepancy,i),

and its distance to the targets is sqrt(Σ_i ((y_i − z_i) / s_i)²), with s_i =
sqrt(Var_obs,i + Var_discrepancy,i): as ε → 0 the accepted particles follow the posterior under
that Gaussian likelihood. ε follows pyabc's weighted quantile schedule.

Resumable and reproducible: each generation is one ``ABCSMC.run`` call on a fresh ABCSMC object
loaded from the SQLite history, after seeding NumPy's global generator (pyabc's) with a seed of
(root seed, generation). An interrupted run therefore continues where its history ends, and
reaches the same populations as an uninterrupted one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gcsim.calibrate.emulator import Emulator
from gcsim.calibrate.history import non_implausible
from gcsim.calibrate.spec import AbcSpec, Target

MAX_PRIOR_TRIES = 200_000


@dataclass
class Posterior:
    """The last ABC population: particles in prior-quantile space and their weights."""

    unit: np.ndarray  # particles × d
    weights: np.ndarray  # sums to 1
    epsilons: list[float]  # per generation
    simulations: int  # emulator draws over all generations


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The ``q`` quantile of weighted ``values`` (linear between the weighted mid-ranks)."""
    order = np.argsort(values)
    v, w = np.asarray(values)[order], np.asarray(weights)[order]
    cumulative = (np.cumsum(w) - 0.5 * w) / w.sum()
    return float(np.interp(q, cumulative, v))


def _quiet() -> None:
    for name in ("ABC", "ABC.History", "ABC.Sampler", "ABC.Epsilon", "ABC.Distance"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _generation_seed(seed: int, t: int) -> int:
    return int(np.random.SeedSequence(seed, spawn_key=(11, t)).generate_state(1)[0])


def _prior(d: int, inside: Callable[[np.ndarray], bool]) -> Any:
    import pyabc

    class NonImplausiblePrior(pyabc.DistributionBase):
        """Uniform on the non-implausible part of [0, 1]^d (unnormalised: weights only need
        density ratios)."""

        def rvs(self, *args: Any, **kwargs: Any) -> Any:
            for _ in range(MAX_PRIOR_TRIES):
                u = np.random.uniform(size=d)  # noqa: NPY002 (pyabc seeds the global one)
                if inside(u):
                    return pyabc.Parameter({f"u{i}": float(u[i]) for i in range(d)})
            raise RuntimeError("the non-implausible space is too small to sample")

        def pdf(self, x: Any) -> float:
            u = np.array([x[f"u{i}"] for i in range(d)], dtype=float)
            if np.any(u < 0) or np.any(u > 1):
                return 0.0
            return 1.0 if inside(u) else 0.0

    return NonImplausiblePrior()


def run_abc(
    emulators: Sequence[Emulator],
    targets: Sequence[Target],
    cutoff: float,
    d: int,
    spec: AbcSpec,
    db: Path,
    seed: int,
    on_generation: Callable[[int, float], None] | None = None,
) -> Posterior:
    """ABC-SMC on the last emulator of ``emulators``, within the space all of them allow.

    Parameters
    ----------
    emulators : sequence of Emulator
        One per history-matching wave; the last one is the ABC model.
    targets : sequence of Target
        Targets whose readout's emulator was rejected are not used.
    cutoff : float
        History-matching cutoff on the implausibility.
    d : int
        Number of parameters.
    spec : AbcSpec
        Population size, generations, stopping ε and quantile schedule.
    db : Path
        The SQLite history; if it exists, the run continues from its last generation.
    seed : int
        Root seed of the generations.
    on_generation : callable, optional
        Called with (generation, ε) after each new generation.
    """
    import pyabc

    _quiet()
    model_emulator = emulators[-1]
    used = [t for t in targets if t.readout in model_emulator.accepted]
    if not used:
        raise ValueError("no target has an accepted emulator")
    names = [t.readout for t in used]
    z = np.array([t.mean for t in used])
    extra = np.array([t.variance for t in used])
    scale = np.sqrt(extra)
    scale = np.where(scale > 0, scale, np.maximum(np.abs(z), 1.0))

    def inside(u: np.ndarray) -> bool:
        return bool(non_implausible(emulators, targets, u[None, :], cutoff)[0])

    def model(parameter: Any) -> dict[str, np.ndarray]:
        u = np.array([parameter[f"u{i}"] for i in range(d)], dtype=float)
        mean, var = model_emulator.predict(u[None, :], names)
        sd = np.sqrt(var[0] + extra)
        return {"y": mean[0] + sd * np.random.normal(size=len(names))}  # noqa: NPY002

    def distance(x: dict[str, np.ndarray], x0: dict[str, np.ndarray]) -> float:
        return float(np.sqrt(np.sum(((x["y"] - x0["y"]) / scale) ** 2)))

    prior = _prior(d, inside)
    url = f"sqlite:///{Path(db).resolve()}"

    def smc() -> Any:
        return pyabc.ABCSMC(
            model,
            prior,
            distance,
            population_size=spec.population,
            eps=pyabc.QuantileEpsilon(alpha=spec.quantile, weighted=True),
            sampler=pyabc.sampler.SingleCoreSampler(),
        )

    def epsilons(history: Any) -> list[float]:
        populations = history.get_all_populations()
        return [float(e) for e in populations[populations.t >= 0]["epsilon"]]

    done = 0
    if Path(db).exists():
        history = smc().load(url, 1)
        done = history.max_t + 1
    for t in range(done, spec.generations):
        abc = smc()
        if t == 0 and not Path(db).exists():
            abc.new(url, {"y": z})
        else:
            abc.load(url, 1)
        history = abc.history
        eps = epsilons(history)
        if eps and spec.min_epsilon > 0 and eps[-1] <= spec.min_epsilon:
            break
        np.random.seed(_generation_seed(seed, t) % 2**32)  # noqa: NPY002 (pyabc draws from it)
        history = abc.run(max_nr_populations=1, minimum_epsilon=spec.min_epsilon)
        if on_generation is not None:
            on_generation(history.max_t, epsilons(history)[-1])
    history = pyabc.History(url)
    history.id = 1
    frame, weights = history.get_distribution(m=0, t=history.max_t)
    unit = frame[[f"u{i}" for i in range(d)]].to_numpy(dtype=float)
    weights = np.asarray(weights, dtype=float)
    return Posterior(
        unit=unit,
        weights=weights / weights.sum(),
        epsilons=epsilons(history),
        simulations=int(history.total_nr_simulations),
    )
