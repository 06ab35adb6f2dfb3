"""Calibration files: the pydantic schema and a loader that checks everything before any run.

A calibration file names a design sweep (a path relative to the file, or the sweep's fields
inline), the parameters to calibrate with their priors, the targets (observed readouts), and the
budgets of each stage. Every problem is reported as ``FILE:LINE:COL: field.path: message`` with
the scenario loader's machinery (:func:`gcsim.scenario.read_yaml_mapping`,
:func:`~gcsim.scenario.validate_yaml_mapping`, :func:`~gcsim.scenario.issue_at`).

The sweep supplies the base scenario, its fixed ``set`` overrides, the seed and the readouts
(its ``metrics:``); its own ``factors`` and ``design``, if it has any (a Morris screening sweep
reused as is), are replaced by the calibration's ``parameters`` and ``design``.
"""

from __future__ import annotations

import copy
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from ruamel.yaml.comments import CommentedMap

from gcsim.params import DEFAULTS_BY_NAME
from gcsim.scenario import ScenarioError, issue_at, read_yaml_mapping, validate_yaml_mapping
from gcsim.summary import CATEGORICAL_METRICS
from gcsim.sweep.spec import Sweep, sweep_from_mapping

MAX_PARAMETERS = 8
PREFIX = "parameters."


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PriorSpec(_Strict):
    """A parameter's prior: uniform or log-uniform over ``range`` (default: see the loader)."""

    distribution: Literal["uniform", "loguniform"] | None = None
    range: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> PriorSpec:
        if self.range is not None:
            low, high = self.range
            if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
                raise ValueError(f"'range' is empty: [{low}, {high}] needs low < high")
        return self


class TargetSpec(_Strict):
    """An observed readout: ``value`` ± ``sd``, or a ``range`` read as mean ± 2 sd."""

    value: float | None = None
    sd: Annotated[float | None, Field(gt=0, description="observation sd, readout units")] = None
    range: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> TargetSpec:
        if self.range is not None:
            if self.value is not None or self.sd is not None:
                raise ValueError("give either 'value' and 'sd', or 'range'")
            low, high = self.range
            if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
                raise ValueError(f"'range' is empty: [{low}, {high}] needs low < high")
        elif self.value is None or self.sd is None:
            raise ValueError("give 'value' and 'sd', or 'range'")
        elif not math.isfinite(self.value):
            raise ValueError("'value' must be finite")
        return self

    @property
    def mean(self) -> float:
        """The target's value; the middle of ``range``."""
        return self.value if self.range is None else 0.5 * (self.range[0] + self.range[1])  # type: ignore[return-value]

    @property
    def sd_obs(self) -> float:
        """Observation sd; a ``range`` [lo, hi] is mean ± 2 sd, so sd = (hi − lo) / 4."""
        return self.sd if self.range is None else 0.25 * (self.range[1] - self.range[0])  # type: ignore[return-value]


class DesignSpec(_Strict):
    method: Annotated[
        Literal["sobol", "latin"],
        Field(description="sobol: scrambled Sobol' points (samples a power of 2); latin: LHS"),
    ] = "sobol"
    samples: Annotated[int, Field(ge=4, le=4096, description="design points per wave")] = 32
    replicates: Annotated[int, Field(ge=1, le=100, description="full runs per point")] = 1

    @model_validator(mode="after")
    def _power_of_two(self) -> DesignSpec:
        if self.method == "sobol" and self.samples & (self.samples - 1):
            raise ValueError(
                f"'samples' must be a power of 2 for a sobol design (got {self.samples})"
            )
        return self


class EmulatorSpec(_Strict):
    q2_min: Annotated[
        float, Field(gt=0, le=1, description="accept a readout's emulator at Q² ≥ this")
    ] = 0.8
    folds: Annotated[int, Field(ge=2, le=50, description="k of the k-fold Q²")] = 5


class HistoryMatchingSpec(_Strict):
    waves: Annotated[int, Field(ge=1, le=6, description="waves of full runs (1 = design)")] = 2
    cutoff: Annotated[float, Field(gt=0, description="non-implausible: max I(x) ≤ this")] = 3.0
    discrepancy_sd: Annotated[
        dict[str, Annotated[float, Field(ge=0)]],
        Field(description="model-discrepancy sd per readout, readout units (default 0)"),
    ] = {}
    samples: Annotated[
        int | None, Field(ge=4, le=4096, description="points per later wave (default: design)")
    ] = None


class AbcSpec(_Strict):
    population: Annotated[int, Field(ge=10, le=100_000)] = 200
    generations: Annotated[int, Field(ge=1, le=50)] = 6
    min_epsilon: Annotated[float, Field(ge=0, description="stop once ε is at most this")] = 0.0
    quantile: Annotated[
        float, Field(gt=0, lt=1, description="next ε: this weighted quantile of the distances")
    ] = 0.5


class ConfirmSpec(_Strict):
    replicates: Annotated[int, Field(ge=1, le=1000)] = 4


class CalibrationSpec(_Strict):
    """A calibration file."""

    name: Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9_.\- ]+$")]
    description: str = ""
    sweep: Annotated[
        str | dict[str, Any],
        Field(description="design sweep: a file relative to this one, or its fields inline"),
    ]
    seed: Annotated[
        int | None, Field(ge=0, lt=2**63, description="root seed (default: the sweep's)")
    ] = None
    parameters: Annotated[dict[str, PriorSpec], Field(min_length=1, max_length=MAX_PARAMETERS)]
    targets: Annotated[dict[str, TargetSpec], Field(min_length=1)]
    design: DesignSpec = DesignSpec()
    emulator: EmulatorSpec = EmulatorSpec()
    history_matching: HistoryMatchingSpec = HistoryMatchingSpec()
    abc: AbcSpec = AbcSpec()
    confirm: ConfirmSpec = ConfirmSpec()


@dataclass(frozen=True)
class Prior:
    """A checked prior of one parameter; ``path`` is ``parameters.<name>``."""

    path: str
    distribution: str
    low: float
    high: float

    @property
    def name(self) -> str:
        return self.path.removeprefix(PREFIX)

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        """Values at prior quantiles ``u`` ∈ [0, 1] (the inverse CDF)."""
        u = np.clip(np.asarray(u, dtype=float), 0.0, 1.0)
        if self.distribution == "loguniform":
            a, b = math.log(self.low), math.log(self.high)
            return np.clip(np.exp(a + u * (b - a)), self.low, self.high)
        return np.clip(self.low + u * (self.high - self.low), self.low, self.high)

    def to_unit(self, x: np.ndarray) -> np.ndarray:
        """Prior quantiles (the CDF) of values ``x``."""
        x = np.asarray(x, dtype=float)
        if self.distribution == "loguniform":
            a, b = math.log(self.low), math.log(self.high)
            return (np.log(x) - a) / (b - a)
        return (x - self.low) / (self.high - self.low)


@dataclass(frozen=True)
class Target:
    readout: str
    mean: float
    sd_obs: float
    sd_discrepancy: float

    @property
    def variance(self) -> float:
        """Var_obs + Var_model-discrepancy, readout units squared."""
        return self.sd_obs**2 + self.sd_discrepancy**2


@dataclass(frozen=True)
class Calibration:
    """A checked calibration file with its design sweep, ready to run."""

    spec: CalibrationSpec
    file: str
    data: CommentedMap
    sweep: Sweep  # factors = the calibrated parameters; design is unused
    priors: tuple[Prior, ...]
    targets: tuple[Target, ...]

    @property
    def seed(self) -> int:
        return self.spec.seed if self.spec.seed is not None else self.sweep.spec.seed

    @property
    def paths(self) -> list[str]:
        return [p.path for p in self.priors]

    @property
    def store(self) -> Path:
        """Where design.parquet lives: a folder named after the file, beside it."""
        path = Path(self.file)
        return path.parent / path.stem

    def from_unit(self, unit: np.ndarray) -> np.ndarray:
        """Parameter values (points × parameters) at prior quantiles ``unit``."""
        unit = np.atleast_2d(unit)
        return np.column_stack([p.from_unit(unit[:, i]) for i, p in enumerate(self.priors)])

    def to_unit(self, values: np.ndarray) -> np.ndarray:
        values = np.atleast_2d(values)
        return np.column_stack([p.to_unit(values[:, i]) for i, p in enumerate(self.priors)])


def load_calibration(path: str | os.PathLike[str]) -> Calibration:
    """Read and check a calibration file, its sweep and base scenario.

    Raises
    ------
    ScenarioError
        With one located issue per problem (``FILE:LINE:COL: field.path: message``).
    """
    file = os.fspath(path)
    data = read_yaml_mapping(
        path, "calibration", "a calibration needs `name`, `sweep`, `parameters` and `targets`"
    )
    spec = validate_yaml_mapping(CalibrationSpec, data, file)
    sweep_data, sweep_file = _sweep_data(spec, file, data)
    priors = _priors(spec, file, data, sweep_data.get("factors"))
    effective = copy.deepcopy(sweep_data)
    effective["factors"] = {
        p.path: {"range": [p.low, p.high], "distribution": p.distribution} for p in priors
    }
    effective["design"] = {"method": "latin", "samples": spec.design.samples}
    sweep = sweep_from_mapping(effective, sweep_file)
    issues = []
    if len(sweep.base.arms) != 1:
        message = (
            f"the sweep's base scenario has {len(sweep.base.arms)} arms "
            f"({', '.join(sweep.base.arms)}); a calibration needs a scenario with one"
        )
        issues.append(issue_at(file, data, ("sweep",), message))
    metrics = sweep.spec.metric_names
    for readout in spec.targets:
        if readout not in metrics:
            message = f"not a readout of the sweep (its metrics: {', '.join(metrics)})"
            issues.append(issue_at(file, data, ("targets", readout), message))
        elif readout in CATEGORICAL_METRICS:
            message = "a categorical readout cannot be emulated; choose a numeric one"
            issues.append(issue_at(file, data, ("targets", readout), message))
    for readout in spec.history_matching.discrepancy_sd:
        if readout not in spec.targets:
            message = "not one of the targets"
            loc = ("history_matching", "discrepancy_sd", readout)
            issues.append(issue_at(file, data, loc, message))
    if issues:
        raise ScenarioError(issues)
    discrepancy = spec.history_matching.discrepancy_sd
    targets = tuple(
        Target(name, t.mean, t.sd_obs, discrepancy.get(name, 0.0))
        for name, t in spec.targets.items()
    )
    return Calibration(spec, file, data, sweep, priors, targets)


def _sweep_data(spec: CalibrationSpec, file: str, data: CommentedMap) -> tuple[CommentedMap, str]:
    """The sweep's parsed fields and the file they are located in."""
    if isinstance(spec.sweep, dict):
        return data["sweep"], file
    sweep_file = os.fspath(Path(file).parent / spec.sweep)
    try:
        return read_yaml_mapping(sweep_file, "sweep", "a sweep needs `name` and `scenario`"), (
            sweep_file
        )
    except ScenarioError as exc:
        if exc.issues[0].line is None:  # no such file and the like: blame the calibration's line
            message = f"sweep file {sweep_file}: {exc.issues[0].message}"
            raise ScenarioError([issue_at(file, data, ("sweep",), message)]) from None
        raise


def _priors(
    spec: CalibrationSpec, file: str, data: CommentedMap, sweep_factors: Any
) -> tuple[Prior, ...]:
    """Each parameter's prior: its ``range``, else the sweep factor's, else the table's."""
    priors, issues = [], []
    factors = sweep_factors if isinstance(sweep_factors, dict) else {}
    for path, prior in spec.parameters.items():
        where = ("parameters", path)
        name = path.removeprefix(PREFIX)
        if not path.startswith(PREFIX) or name not in DEFAULTS_BY_NAME:
            hint = "" if path.startswith(PREFIX) else f" (write it as {PREFIX}<name>)"
            message = f"not a parameter of the table{hint}; see `gcsim params`"
            issues.append(issue_at(file, data, where, message))
            continue
        row = DEFAULTS_BY_NAME[name]
        factor = factors.get(path) if isinstance(factors.get(path), dict) else {}
        distribution = prior.distribution or (
            factor.get("distribution")
            if factor.get("distribution") in ("uniform", "loguniform")
            else "uniform"
        )
        if prior.range is not None:
            low, high = prior.range
        elif _pair(factor.get("range")) is not None:
            low, high = _pair(factor.get("range"))  # type: ignore[misc]
        else:
            low, high = row.lo, row.hi
            if math.isinf(high):
                message = (
                    f"give a 'range': the table's range [{row.lo:g}, {high}] {row.unit} "
                    "is unbounded"
                )
                issues.append(issue_at(file, data, where, message))
                continue
        if low < row.lo or high > row.hi:
            message = (
                f"[{low:g}, {high:g}] is outside the table's range [{row.lo:g}, {row.hi:g}] "
                f"{row.unit}"
            )
            issues.append(issue_at(file, data, (*where, "range"), message))
            continue
        if distribution == "loguniform" and low <= 0:
            message = f"a loguniform prior needs a positive range, got [{low:g}, {high:g}]"
            issues.append(issue_at(file, data, (*where, "range"), message))
            continue
        priors.append(Prior(path, distribution, float(low), float(high)))
    if issues:
        raise ScenarioError(issues)
    return tuple(priors)


def _pair(value: Any) -> tuple[float, float] | None:
    if isinstance(value, list | tuple) and len(value) == 2:
        try:
            low, high = float(value[0]), float(value[1])
        except (TypeError, ValueError):
            return None
        return (low, high) if low < high else None
    return None
