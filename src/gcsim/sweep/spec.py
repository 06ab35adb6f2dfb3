"""Sweep files: the pydantic schema and a loader that checks everything before a run starts.

A sweep file names a base scenario, fixed overrides (``set``), factors keyed by the same dotted
paths as ``gcsim run --set``, a design, replicates and metrics. Every problem is reported as
``FILE:LINE:COL: field.path: message``, with the scenario loader's machinery: a factor path the
scenario does not have, or a level outside the field's range, is found by applying it to the base
scenario exactly as ``--set`` would, and the error is moved to the factor's line in the sweep
file.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from ruamel.yaml.comments import CommentedMap

from gcsim.params import is_known
from gcsim.scenario import (
    Issue,
    Scenario,
    ScenarioError,
    field_info,
    issue_at,
    read_yaml_mapping,
    validate_yaml_mapping,
)
from gcsim.scenario.loader import key_path
from gcsim.summary import SUMMARY_METRICS

Scalar = bool | int | float | str
MetricName = Literal[tuple(SUMMARY_METRICS)]  # type: ignore[valid-type]
Method = Literal["factorial", "latin", "sobol", "morris"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Factor(_Strict):
    """One varied field: discrete ``levels``, or a ``range`` with a distribution over it."""

    levels: Annotated[
        list[Scalar] | None,
        Field(min_length=1, description="values to use; with a sampling design, drawn equally"),
    ] = None
    range: Annotated[
        tuple[float, float] | None,
        Field(description="[low, high]; every sampled value lies inside it"),
    ] = None
    distribution: Annotated[
        Literal["uniform", "loguniform", "normal", "triangular"],
        Field(description="how sampling designs draw from `range` (normal is truncated to it)"),
    ] = "uniform"
    mean: float | None = None
    sd: Annotated[float | None, Field(gt=0)] = None
    mode: float | None = None
    steps: Annotated[
        int | None,
        Field(ge=2, le=1000, description="factorial designs: this many levels across `range`"),
    ] = None

    @model_validator(mode="after")
    def _consistent(self) -> Factor:
        if (self.levels is None) == (self.range is None):
            raise ValueError("give either 'levels' or 'range'")
        if self.levels is not None:
            for key in ("steps", "mean", "sd", "mode"):
                if getattr(self, key) is not None:
                    raise ValueError(f"'{key}' goes with 'range', not with 'levels'")
            return self
        low, high = self.range  # type: ignore[misc]
        if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
            raise ValueError(f"'range' is empty: [{low}, {high}] needs low < high")
        if self.distribution == "loguniform" and low <= 0:
            raise ValueError("'range' must be positive for a loguniform distribution")
        needs = {"normal": ("mean", "sd"), "triangular": ("mode",)}.get(self.distribution, ())
        for key in ("mean", "sd", "mode"):
            given = getattr(self, key) is not None
            if given != (key in needs):
                verb = "needs" if key in needs else "does not take"
                raise ValueError(f"a {self.distribution} distribution {verb} '{key}'")
        if self.mode is not None and not low <= self.mode <= high:
            raise ValueError(f"'mode' {self.mode} is outside the range [{low}, {high}]")
        return self


class Design(_Strict):
    method: Annotated[Method, Field(description="factorial | latin | sobol | morris")]
    samples: Annotated[
        int | None,
        Field(
            ge=1,
            le=1_000_000,
            description="latin: points; sobol: base samples N (a power of 2); "
            "morris: trajectories; factorial: not used (every combination of levels)",
        ),
    ] = None
    second_order: Annotated[
        bool, Field(description="sobol: also estimate second-order indices (N·(2D+2) points)")
    ] = False
    morris_levels: Annotated[int, Field(ge=2, le=20, description="morris: grid levels")] = 4

    @model_validator(mode="after")
    def _samples_fit_method(self) -> Design:
        if self.method == "factorial" and self.samples is not None:
            raise ValueError("'samples' is not used by a factorial design (it runs every level)")
        if self.method != "factorial" and self.samples is None:
            raise ValueError(f"'samples' is required by a {self.method} design")
        if self.method == "sobol" and self.samples & (self.samples - 1):  # type: ignore[operator]
            raise ValueError(
                f"'samples' must be a power of 2 for a sobol design (got {self.samples}): "
                "Sobol' sequences lose their balance otherwise"
            )
        if self.second_order and self.method != "sobol":
            raise ValueError("'second_order' applies to sobol designs only")
        return self


class SweepSpec(_Strict):
    """A sweep file."""

    name: Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9_.\- ]+$")]
    description: str = ""
    scenario: Annotated[
        str, Field(min_length=1, description="base scenario file, relative to the sweep file")
    ]
    set: Annotated[
        dict[str, Scalar],
        Field(description="fixed overrides for every run, as `gcsim run --set` (path: value)"),
    ] = {}
    seed: Annotated[
        int, Field(ge=0, lt=2**63, description="root seed; every run gets its own stream")
    ] = 0
    design: Design
    replicates: Annotated[int, Field(ge=1, le=10_000)] = 1
    factors: Annotated[dict[str, Factor], Field(min_length=1)]
    metrics: Annotated[
        list[MetricName] | None,
        Field(min_length=1, description="summary metrics to keep (default: all)"),
    ] = None

    @property
    def metric_names(self) -> tuple[str, ...]:
        return tuple(self.metrics) if self.metrics else tuple(SUMMARY_METRICS)


@dataclass(frozen=True)
class Sweep:
    """A checked sweep file with its parsed base scenario, ready to be designed and run."""

    spec: SweepSpec
    file: str
    data: CommentedMap  # the sweep file, kept for locating errors found later
    base_file: str
    base_data: CommentedMap
    base: Scenario  # the base scenario with `set` applied

    @property
    def fixed_overrides(self) -> list[str]:
        return [override(path, value) for path, value in self.spec.set.items()]

    def resolve(self, values: dict[str, Scalar]) -> Scenario:
        """The base scenario with `set` and then ``values`` (factor path → value) applied."""
        return self.resolve_overrides([override(path, value) for path, value in values.items()])

    def resolve_overrides(self, overrides: Sequence[str]) -> Scenario:
        return validate_yaml_mapping(
            Scenario, self.base_data, self.base_file, [*self.fixed_overrides, *overrides]
        )

    def text(self) -> str:
        return Path(self.file).read_text(encoding="utf-8")


def override(path: str, value: Scalar) -> str:
    """``path=value`` as `gcsim run --set` reads it; repr() round-trips a float exactly."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int | float):
        text = repr(value)
    else:
        text = json.dumps(value)  # a double-quoted YAML scalar: "yes" stays a string
    return f"{path}={text}"


def is_integer_field(path: str) -> bool:
    """Whether the scenario field at ``path`` holds integers (sampled values get rounded)."""
    info = field_info(Scenario, key_path(path))  # read exactly as --set reads its key
    return info is not None and info.annotation is int


def load_sweep(path: str | os.PathLike[str]) -> Sweep:
    """Read and check a sweep file and its base scenario; raise :class:`ScenarioError`."""
    file = os.fspath(path)
    data = read_yaml_mapping(
        path, "sweep", "a sweep needs `name`, `scenario`, `design` and `factors`"
    )
    return sweep_from_mapping(data, file)


def sweep_from_mapping(data: CommentedMap, file: str) -> Sweep:
    """Check parsed sweep fields ``data`` (read from, or inline in, ``file``) and their base
    scenario, whose path is relative to ``file``'s folder; raise :class:`ScenarioError`.

    A calibration builds its design sweep this way: it replaces ``factors`` and ``design``.
    """
    spec = validate_yaml_mapping(SweepSpec, data, file)
    issues = _design_issues(spec, file, data)
    if issues:
        raise ScenarioError(issues)
    base_file = os.fspath(Path(file).parent / spec.scenario)
    try:
        base_data = read_yaml_mapping(base_file)
    except ScenarioError as exc:
        if exc.issues[0].line is None:  # no such file and the like: blame the sweep's line
            message = f"base scenario {base_file}: {exc.issues[0].message}"
            raise ScenarioError([issue_at(file, data, ("scenario",), message)]) from None
        raise
    owners = {override(p, v): ("set", p) for p, v in spec.set.items()}
    base = _resolve_checked(file, data, base_file, base_data, list(owners), owners)
    sweep = Sweep(spec, file, data, base_file, base_data, base)
    _check_factors(sweep)
    return sweep


def _design_issues(spec: SweepSpec, file: str, data: CommentedMap) -> list[Issue]:
    """Problems that need both the design and the factors."""
    issues = []
    for path, factor in spec.factors.items():
        if spec.design.method == "factorial" and factor.range is not None and factor.steps is None:
            message = "a factorial design needs 'levels', or 'steps' to go with 'range'"
            issues.append(issue_at(file, data, ("factors", path, "range"), message))
        if spec.design.method != "factorial" and factor.steps is not None:
            message = f"'steps' is for factorial designs; a {spec.design.method} design samples"
            issues.append(issue_at(file, data, ("factors", path, "steps"), message))
        if path in spec.set:
            message = "is both varied here and fixed under 'set'"
            issues.append(issue_at(file, data, ("factors", path), message))
    if spec.design.method != "factorial" and len(spec.factors) < 2:
        message = f"a {spec.design.method} design needs at least 2 factors"
        issues.append(issue_at(file, data, ("factors",), message))
    return issues


def _check_factors(sweep: Sweep) -> None:
    """Apply each factor's extreme values alone to the base: a bad path or value fails here."""
    issues: list[Issue] = []
    for path, factor in sweep.spec.factors.items():
        key = "levels" if factor.levels is not None else "range"
        values = factor.levels if factor.levels is not None else list(factor.range or ())
        if factor.range is not None and is_integer_field(path):
            values = [round(v) for v in values]
        where = ("factors", path, key)
        for text in (override(path, v) for v in values):
            try:
                sweep.resolve_overrides([text])
            except ScenarioError as exc:
                for issue in exc.issues:
                    if issue.source == f"--set {text}":
                        issues.append(_moved(issue, sweep.file, sweep.data, {text: where}))
                    else:  # the value clashes with the base scenario or `set`
                        message = f"{text} makes the scenario invalid: {issue}"
                        issues.append(issue_at(sweep.file, sweep.data, where, message))
                break  # one bad value per factor is enough to act on
    if issues:
        raise ScenarioError(issues)


def _resolve_checked(
    file: str,
    data: CommentedMap,
    base_file: str,
    base_data: CommentedMap,
    overrides: Sequence[str],
    owners: dict[str, tuple[str, ...]],
) -> Scenario:
    """Validate the base with ``overrides``; an override's error moves to its sweep-file key."""
    try:
        return validate_yaml_mapping(Scenario, base_data, base_file, overrides)
    except ScenarioError as exc:
        raise ScenarioError([_moved(issue, file, data, owners) for issue in exc.issues]) from None


def _moved(issue: Issue, file: str, data: CommentedMap, owners: dict[str, tuple]) -> Issue:
    text = issue.source.removeprefix("--set ")
    if text not in owners:
        return issue  # a problem of the base scenario itself, already located in its file
    where = owners[text]
    path, _, value = text.partition("=")
    if not _is_field(path):  # the path is wrong, not the value: point at the key
        return issue_at(file, data, where[:2], issue.message)
    message = issue.message if issue.field == path else f"{issue.field}: {issue.message}"
    return issue_at(file, data, where, f"{message} (with {path} = {value})")


def _is_field(path: str) -> bool:
    loc = key_path(path)
    if loc[0] == "parameters":
        return len(loc) == 2 and is_known(loc[1])
    return field_info(Scenario, loc) is not None
