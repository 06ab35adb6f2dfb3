"""A cohort of virtual patients: characteristics drawn by a scrambled quasi-random design
(scipy.stats.qmc), mapped through each distribution's inverse CDF, and written into the base
scenario as ``--set`` overrides (plus the pseudo-path ``patient.lesion_count``).

Each characteristic takes one coordinate of the design, so a cohort of N and its first n < N
patients have the same n patients only for Latin hypercubes drawn anew; with Sobol' the first
2^k points are balanced (use a power of two). Patient ``p``'s random streams in the simulation
come from ``SeedSequence(trial seed, spawn_key=(p,))``: a function of the patient, never of
the arm (the paired design) or of the executor.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats
from scipy.stats import qmc

from gcsim.params import Parameters
from gcsim.scenario import Scenario, ScenarioError
from gcsim.scenario.loader import key_path, validate_yaml_mapping
from gcsim.sweep.spec import is_integer_field, override
from gcsim.trial.spec import (
    EVERY_LESION,
    LESION_COUNT,
    Characteristic,
    Distribution,
    Scalar,
    Trial,
)

PROBE_QUANTILES = (0.01, 0.5, 0.99)  # a characteristic is checked at these quantiles at load


def quantile(dist: Distribution, u: float) -> Scalar:
    """The value of ``dist`` at cumulative probability ``u`` in (0, 1) (its inverse CDF)."""
    u = min(max(u, 1e-12), 1.0 - 1e-12)
    kind = dist.kind
    if kind == "uniform":
        lo, hi = dist.uniform  # type: ignore[misc]
        return lo + u * (hi - lo)
    if kind == "loguniform":
        lo, hi = dist.loguniform  # type: ignore[misc]
        return math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))
    if kind == "normal":
        frozen = stats.norm(dist.normal.mean, dist.normal.sd)  # type: ignore[union-attr]
        return float(frozen.ppf(_truncated(frozen, dist, u)))
    if kind == "lognormal":
        p = dist.lognormal
        frozen = stats.lognorm(p.sigma, scale=p.median)  # type: ignore[union-attr]
        return float(frozen.ppf(_truncated(frozen, dist, u)))
    if kind == "beta":
        x = float(stats.beta(dist.beta.a, dist.beta.b).ppf(u))  # type: ignore[union-attr]
        lo, hi = dist.range or (0.0, 1.0)
        return lo + x * (hi - lo)
    if kind == "choice":
        c = dist.choice
        weights = np.asarray(c.weights or [1.0] * len(c.values), dtype=float)  # type: ignore[union-attr]
        i = int(np.searchsorted(np.cumsum(weights) / weights.sum(), u, side="right"))
        return c.values[min(i, len(c.values) - 1)]  # type: ignore[union-attr]
    parts = dist.mixture or []
    weights = np.array([p.weight for p in parts], dtype=float)
    edges = np.concatenate([[0.0], np.cumsum(weights) / weights.sum()])
    i = min(int(np.searchsorted(edges, u, side="right")) - 1, len(parts) - 1)
    while weights[i] == 0:  # a zero-weight component owns no probability
        i -= 1
    return quantile(parts[i], (u - edges[i]) / (edges[i + 1] - edges[i]))


def _truncated(frozen: Any, dist: Distribution, u: float) -> float:
    if dist.range is None:
        return u
    lo, hi = frozen.cdf(dist.range[0]), frozen.cdf(dist.range[1])
    return lo + u * (hi - lo)


def unit_design(n: int, d: int, sampler: str, seed: int) -> np.ndarray:
    """``n`` × ``d`` points in the unit cube: a scrambled Sobol' sequence or a Latin hypercube."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2**31,)))
    engine = qmc.Sobol(d, scramble=True, seed=rng) if sampler == "sobol" else None
    if engine is None:
        return qmc.LatinHypercube(d, seed=rng).random(n)
    with warnings.catch_warnings():  # n need not be a power of two; the docs say why to choose one
        warnings.simplefilter("ignore", UserWarning)
        return engine.random(n)


def draw(
    characteristics: Mapping[str, Characteristic],
    unit_row: np.ndarray,
    settings: Mapping[str, Scalar] | None = None,
) -> dict[str, Scalar]:
    """One patient's characteristics from its row of the unit design. A characteristic's
    ``given`` names an earlier characteristic or one of ``settings`` (a pattern arm's field:
    the same patient, the same coordinate, another bin)."""
    known: dict[str, Scalar] = dict(settings or {})
    values: dict[str, Scalar] = {}
    for (name, c), u in zip(characteristics.items(), unit_row, strict=True):
        values[name] = known[name] = _rounded(c, quantile(_distribution(c, known), float(u)))
    return values


def _distribution(c: Characteristic, values: dict[str, Scalar]) -> Distribution:
    if c.distribution is not None:
        return c.distribution
    given = float(values[c.given])  # type: ignore[index, arg-type]
    for b in c.bins or []:
        if b.below is None or given < b.below:
            return b
    raise AssertionError("the last bin takes every patient")  # checked by the schema


def _rounded(c: Characteristic, value: Scalar) -> Scalar:
    if isinstance(value, str | bool):
        return value
    if c.set == LESION_COUNT or (c.set is not None and c.scale == "value" and _integer_path(c.set)):
        return round(value)
    return float(value)


def _integer_path(path: str) -> bool:
    try:
        return is_integer_field(path.replace(EVERY_LESION, "[0]"))
    except (KeyError, ValueError, TypeError):
        return False


def cohort(trial: Trial) -> list[dict[str, Scalar]]:
    """Every candidate's characteristics, in patient order."""
    spec = trial.spec
    n, d = spec.cohort.patients, len(spec.cohort.characteristics)
    unit = unit_design(n, d, spec.cohort.sampler, spec.seed)
    return [draw(spec.cohort.characteristics, unit[p]) for p in range(n)]


def patient_seed(trial_seed: int, patient: int) -> int:
    state = np.random.SeedSequence(trial_seed, spawn_key=(patient,)).generate_state(2, np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1


@dataclass(frozen=True)
class Resolved:
    scenario: Scenario
    overrides: tuple[str, ...]
    owners: dict[str, str]  # override text → the characteristic that wrote it


def resolve(
    trial: Trial,
    values: dict[str, Scalar],
    seed: int | None = None,
    parameters: dict[str, float] | None = None,
) -> Resolved:
    """The base scenario with a patient's characteristics (and an ensemble's ``parameters``)
    written in; raise ScenarioError."""
    # only the arms the trial gives: another base arm may not fit this patient (radiotherapy of
    # a lesion the patient does not have)
    used = {arm.arm for arm in trial.spec.arms.values()}
    data = copy.deepcopy(trial.base_data)
    for name in [a for a in data["arms"] if a not in used]:
        del data["arms"][name]
    overrides: list[str] = []
    owners: dict[str, str] = {}
    lesions = list(trial.base.patient.lesions)  # type: ignore[union-attr]
    for name, c in trial.spec.cohort.characteristics.items():
        if c.set == LESION_COUNT:
            k = int(values[name])  # type: ignore[arg-type]
            if not 1 <= k <= len(lesions):
                raise trial.issue(
                    ("cohort", "characteristics", name),
                    f"lesion_count {k} is outside 1–{len(lesions)} (the base scenario lists "
                    f"{len(lesions)} lesions)",
                )
            del data["patient"]["lesions"][k:]
    for name, c in trial.spec.cohort.characteristics.items():
        if c.set is None or c.set == LESION_COUNT:
            continue
        paths = (
            [c.set.replace(EVERY_LESION, f"[{i}]") for i in range(len(data["patient"]["lesions"]))]
            if EVERY_LESION in c.set
            else [c.set]
        )
        for path in paths:
            value = values[name]
            if c.scale == "multiply":
                value = multiplied(value, path, field_value(trial.base, path, parameters or {}))
            text = override(path, value)
            overrides.append(text)
            owners[text] = name
    for name, value in (parameters or {}).items():  # a characteristic set after it wins
        text = override(f"parameters.{name}", value)
        overrides.insert(0, text)
        owners[text] = "parameter_sets"
    if seed is not None:
        overrides.append(f"seed={seed}")
    try:
        scenario = validate_yaml_mapping(Scenario, data, trial.base_file, overrides)
    except ScenarioError as exc:
        raise at_characteristic(exc, owners, values, trial.issue, ("cohort",)) from None
    return Resolved(scenario, tuple(overrides), owners)


def multiplied(value: Scalar, path: str, base: float) -> Scalar:
    """A ``scale: multiply`` draw times the field's base value (rounded for an integer field)."""
    product = float(value) * base  # type: ignore[arg-type]
    return round(product) if _integer_path(path) else product


def at_characteristic(
    exc: ScenarioError,
    owners: Mapping[str, str],
    values: Mapping[str, Scalar],
    place: Callable[[tuple[str | int, ...], str], ScenarioError],
    root: tuple[str | int, ...],
) -> ScenarioError:
    """The scenario's complaint about an override, moved to the characteristic that wrote it
    (``root.characteristics.NAME``, placed by ``place``), with the patient's draws (a value
    that is fine alone may clash with another's)."""
    issue = exc.issues[0]
    owner = next(
        (
            who
            for text, who in owners.items()
            if issue.source == f"--set {text}" or text.partition("=")[0] == issue.field
        ),
        None,
    )
    drawn = ", ".join(
        f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}" for k, v in values.items()
    )
    message = f"{issue.field}: {issue.message}" if issue.field else issue.message
    where = (
        ("parameter_sets",)
        if owner == "parameter_sets"
        else (*root, "characteristics", owner)
        if owner
        else root
    )
    return place(where, f"{message} (for a patient with {drawn})")


def field_value(base: Scenario, path: str, parameters: Mapping[str, float]) -> float:
    """The value a ``scale: multiply`` characteristic multiplies: the patient's parameter set's,
    else the base scenario's (else the parameter table's default)."""
    loc = key_path(path)
    if loc[0] == "parameters":
        return float(Parameters({**base.parameters, **parameters})[loc[1]])
    node: Any = base
    for part in loc:
        node = node[part] if isinstance(part, int) else getattr(node, part)
    if node is None:
        raise ValueError(f"{path} has no value in the base scenario to multiply")
    return float(node)


def check_characteristics(trial: Trial) -> None:
    """Write each characteristic's probe values (low, middle and high quantiles, the others at
    their medians) and a few joint draws into the base scenario: a wrong path, or a value the
    scenario refuses, fails here at the characteristic's line before anything runs."""
    characteristics = trial.spec.cohort.characteristics
    for name, c in characteristics.items():
        if c.given is None:
            for u in PROBE_QUANTILES:
                resolve(trial, _probe_values(trial, name, u))
    n = min(trial.spec.cohort.patients, 8)
    for row in unit_design(n, len(characteristics), trial.spec.cohort.sampler, trial.spec.seed):
        resolve(trial, draw(characteristics, row))


def _probe_values(trial: Trial, name: str, u: float) -> dict[str, Scalar]:
    values: dict[str, Scalar] = {}
    for other, c in trial.spec.cohort.characteristics.items():
        at = u if other == name else 0.5
        values[other] = _rounded(c, quantile(_distribution(c, values), at))
    return values
