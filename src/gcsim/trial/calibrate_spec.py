"""Trial calibration files: the pydantic schema and a loader that checks the file against the
pool it reweights before anything is fitted.

A trial calibration names a finished trial directory (the *pool*: plausible candidates, each
run once in every arm), the pool's trial file (whose characteristics' distributions are the
*proposal* the pool was drawn from), the cohort-level parameters to fit (each a family of
distributions over one characteristic, with bounds on its parameters) and the published
targets (value, interval, evidence code). Every problem is reported as
``FILE:LINE:COL: field.path: message`` with the scenario loader's machinery.
"""

from __future__ import annotations

import itertools
import json
import math
import operator
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from ruamel.yaml.comments import CommentedMap

from gcsim.scenario import Issue, ScenarioError, issue_at, read_yaml_mapping
from gcsim.scenario.loader import validate_yaml_mapping
from gcsim.trial.cohort import _rounded
from gcsim.trial.density import density, discrete, intervals
from gcsim.trial.load import load_trial
from gcsim.trial.spec import (
    NAME,
    Characteristic,
    Distribution,
    Scalar,
    Trial,
    TrialSpec,
)

ENDPOINTS = ("orr", "median_pfs_months", "pfs_hr")
CODES = (
    "V",
    "V-abs",
    "V-q",
    "M",
)  # as in the reference notes: seen, abstract only, quoted, recalled
FAMILY_FIELDS = {
    "lognormal": ("median", "sigma"),
    "normal": ("mean", "sd"),
    "choice_by": ("given", "below", "values"),
}
POOL_FILES = ("trial.json", "cohort.parquet", "patients.parquet")
PATIENT_COLUMNS = ("patient", "arm", "objective_response", "pfs_days", "pfs_event")
# what only the report uses: a pool's trial file may change these after the pool ran
REPORT_ONLY = ("name", "description", "subgroups", "biomarkers")
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_POPULATION = re.compile(rf"^\s*([A-Za-z][A-Za-z0-9_]*)\s*(<=|>=|<|>)\s*({_NUMBER})\s*$")
_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">=": operator.ge,
    ">": operator.gt,
}


def _ordered(pair: tuple[float, float]) -> tuple[float, float]:
    lo, hi = pair
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"[{lo:g}, {hi:g}]: give [low, high] with low below high")
    return pair


Bounds = Annotated[tuple[float, float], AfterValidator(_ordered)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Family(_Strict):
    """The family fitted over one characteristic, with bounds on its parameters:
    ``lognormal`` {median, sigma} and ``normal`` {mean, sd} (truncated to the pool's support),
    or ``choice_by`` {given, below, values}: free probabilities of ``values`` in each bin of
    ``given`` (below the first edge, below the next, ..., the rest)."""

    family: Literal["lognormal", "normal", "choice_by"]
    median: Annotated[
        Bounds | None, Field(description="lognormal median, characteristic units")
    ] = None
    sigma: Annotated[Bounds | None, Field(description="lognormal sd of the natural log")] = None
    mean: Bounds | None = None
    sd: Bounds | None = None
    given: Annotated[str | None, Field(description="the characteristic whose bins it uses")] = None
    below: Annotated[list[float] | None, Field(min_length=1, description="bin edges")] = None
    values: Annotated[list[Scalar] | None, Field(min_length=2)] = None

    @field_validator("median", "sd")
    @classmethod
    def _positive(cls, pair: tuple[float, float] | None) -> tuple[float, float] | None:
        if pair is not None and pair[0] <= 0:
            raise ValueError(f"[{pair[0]:g}, {pair[1]:g}]: must be positive")
        return pair

    @field_validator("sigma")
    @classmethod
    def _sigma(cls, pair: tuple[float, float] | None) -> tuple[float, float] | None:
        if pair is not None and not (0 < pair[0] and pair[1] <= 5):
            raise ValueError(f"[{pair[0]:g}, {pair[1]:g}]: sigma must lie in (0, 5]")
        return pair

    @field_validator("below")
    @classmethod
    def _increasing(cls, edges: list[float] | None) -> list[float] | None:
        if edges is not None and any(b <= a for a, b in itertools.pairwise(edges)):
            raise ValueError(f"{edges}: bin edges must increase")
        return edges

    @field_validator("values")
    @classmethod
    def _distinct(cls, values: list[Scalar] | None) -> list[Scalar] | None:
        if values is not None and len(set(values)) != len(values):
            raise ValueError(f"{values}: list each value once")
        return values

    @model_validator(mode="after")
    def _fields_of_family(self) -> Family:
        needed = FAMILY_FIELDS[self.family]
        missing = [f for f in needed if getattr(self, f) is None]
        if missing:
            raise ValueError(f"family {self.family} needs {', '.join(needed)}: give {missing[0]}")
        others = [f for fs in FAMILY_FIELDS.values() for f in fs if f not in needed]
        extra = [f for f in dict.fromkeys(others) if getattr(self, f) is not None]
        if extra:
            raise ValueError(f"family {self.family} takes {', '.join(needed)}, not {extra[0]}")
        return self


@dataclass(frozen=True)
class Population:
    """Patients whose characteristic ``feature`` satisfies ``feature OP threshold``."""

    feature: str
    op: str
    threshold: float

    def mask(self, values: pd.Series) -> np.ndarray:
        """Which values belong (NaN belongs to no population)."""
        numbers = values.to_numpy(dtype=float)
        return np.asarray(_OPERATORS[self.op](numbers, self.threshold), dtype=bool)

    def __str__(self) -> str:
        return f"{self.feature} {self.op} {self.threshold:g}"


def parse_population(text: str) -> Population | None:
    """``"all"`` → None; ``"cps >= 5"`` → Population; raise ValueError otherwise."""
    if text.strip() == "all":
        return None
    match = _POPULATION.match(text)
    if match is None:
        raise ValueError(
            f"{text!r}: write `all` or `<characteristic> <op> <number>` with op one of "
            "<, <=, >=, > (e.g. `cps >= 5`)"
        )
    return Population(match[1], match[2], float(match[3]))


class Target(_Strict):
    """A published endpoint: its value, its interval as published (95 % CI) and the evidence
    code of the reference notes (V seen in a stored copy, V-abs abstract only, V-q quoted,
    M recalled)."""

    population: Annotated[str, Field(description="`all`, or e.g. `cps >= 5`")] = "all"
    endpoint: Literal[ENDPOINTS]  # type: ignore[valid-type]
    arm: Annotated[str, Field(description="the pool's arm; pfs_hr: this arm vs the reference")]
    value: float
    interval: Bounds
    code: Literal[CODES]  # type: ignore[valid-type]

    @field_validator("population")
    @classmethod
    def _population(cls, text: str) -> str:
        parse_population(text)
        return text

    @model_validator(mode="after")
    def _inside(self) -> Target:
        lo, hi = self.interval
        if not lo <= self.value <= hi:
            raise ValueError(f"value {self.value:g} lies outside its interval [{lo:g}, {hi:g}]")
        return self

    @property
    def rule(self) -> Population | None:
        return parse_population(self.population)

    @property
    def half_width(self) -> float:
        return 0.5 * (self.interval[1] - self.interval[0])

    @property
    def label(self) -> str:
        return f"{self.endpoint} {self.arm} ({self.population})"


class Optimizer(_Strict):
    """scipy.optimize.differential_evolution's budget (seeded by the file's ``seed``)."""

    maxiter: Annotated[int, Field(ge=1, le=5000, description="generations")] = 200
    popsize: Annotated[
        int, Field(ge=2, le=100, description="population = popsize × fitted coordinates")
    ] = 15
    tol: Annotated[float, Field(gt=0, le=1, description="relative spread of the losses")] = 0.01


class TrialCalibrationSpec(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9_.\-]+$")]
    description: str = ""
    pool: Annotated[str, Field(description="finished trial directory, relative to this file")]
    trial: Annotated[str, Field(description="the pool's trial file, relative to this file")]
    write: Annotated[str, Field(description="the calibrated trial file, relative to this file")]
    patients: Annotated[int, Field(ge=1, le=100_000, description="candidates of that trial")]
    min_effective_size: Annotated[float, Field(gt=0, description="Kish ESS the weights keep")]
    seed: Annotated[int, Field(ge=0, lt=2**32)] = 0
    parameters: Annotated[
        dict[Annotated[str, Field(pattern=NAME, max_length=40)], Family], Field(min_length=1)
    ]
    targets: Annotated[list[Target], Field(min_length=1)]
    optimizer: Optimizer = Optimizer()


@dataclass(frozen=True)
class TrialCalibration:
    """A checked calibration file with its pool: the pool's trial as it ran (the proposal),
    its trial file (the template of the written trial) and its patients table."""

    spec: TrialCalibrationSpec
    file: str
    data: CommentedMap
    pool: Path
    pool_meta: dict[str, Any]
    proposal: TrialSpec
    pool_trial: Trial
    patients: pd.DataFrame
    write: Path

    def issue(self, loc: tuple, message: str) -> ScenarioError:
        return ScenarioError([issue_at(self.file, self.data, loc, message)])

    @property
    def reference_arm(self) -> str:
        return self.proposal.control

    @property
    def characteristics(self) -> dict[str, Characteristic]:
        return dict(self.proposal.cohort.characteristics)


def load_trial_calibration(
    path: str | os.PathLike[str], pool: str | os.PathLike[str] | None = None
) -> TrialCalibration:
    """Read and check a trial calibration file and its pool; raise :class:`ScenarioError`.

    Parameters
    ----------
    path : path
        The calibration file.
    pool : path, optional
        The pool directory, instead of the file's ``pool:`` (a command-line override).
    """
    file = os.fspath(path)
    data = read_yaml_mapping(
        path, "trial calibration", "a trial calibration needs `pool`, `parameters`, `targets`"
    )
    spec = validate_yaml_mapping(TrialCalibrationSpec, data, file)
    here = Path(file).parent

    def at(loc: tuple, message: str) -> ScenarioError:
        return ScenarioError([issue_at(file, data, loc, message)])

    pool_dir = Path(pool) if pool is not None else here / spec.pool
    pool_issue = (
        (lambda m: ScenarioError([Issue(f"--pool {pool}", m)]))
        if pool is not None
        else (lambda m: at(("pool",), m))
    )
    meta = _pool_meta(pool_dir, pool_issue)
    pool_trial = _pool_trial(here / spec.trial, file, data)
    try:
        ran = TrialSpec.model_validate(meta["trial"])
    except ValidationError as exc:
        raise pool_issue(f"{pool_dir}/trial.json: its trial does not validate: {exc}") from None
    changed = _changed(ran, pool_trial.spec)
    if changed:
        raise at(
            ("trial",),
            f"{pool_trial.file} differs from the trial the pool ran (its trial.json) in "
            f"{', '.join(changed)}: the pool's proposal would be misread; name the file it ran",
        )
    # the file's spec, equal to the one that ran but in the file's order (trial.json sorts its
    # keys, and the order of characteristics decides which `given` is drawn first)
    proposal = pool_trial.spec
    if proposal.cohort.selection is not None:
        raise at(
            ("trial",),
            "the pool thins its plausible patients by prevalence selection; reweighting needs "
            "a pool without `selection:` (the weights replace it)",
        )
    patients = _patients(pool_dir, proposal, pool_issue)
    write = here / spec.write
    cal = TrialCalibration(spec, file, data, pool_dir, meta, proposal, pool_trial, patients, write)
    _check(cal)
    return cal


def _pool_meta(pool_dir: Path, issue: Callable[[str], ScenarioError]) -> dict[str, Any]:
    if not pool_dir.is_dir():
        raise issue(f"{pool_dir}: no such directory (the finished trial of the pool)")
    missing = [name for name in POOL_FILES if not (pool_dir / name).is_file()]
    if missing:
        raise issue(
            f"{pool_dir}: not a finished trial directory (no {', '.join(missing)}); run the "
            "pool's trial to its end first (gcsim trial ... --resume)"
        )
    try:
        meta = json.loads((pool_dir / "trial.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise issue(f"{pool_dir}/trial.json: unreadable ({exc})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("trial"), dict):
        raise issue(f"{pool_dir}/trial.json: has no `trial` (not a trial directory)")
    return meta


def _pool_trial(path: Path, file: str, data: CommentedMap) -> Trial:
    try:
        return load_trial(path)
    except ScenarioError as exc:
        if exc.issues[0].line is None and exc.issues[0].source == os.fspath(path):
            message = f"{path}: {exc.issues[0].message}"
            raise ScenarioError([issue_at(file, data, ("trial",), message)]) from None
        raise


def _changed(ran: TrialSpec, now: TrialSpec) -> list[str]:
    a, b = ran.model_dump(mode="json"), now.model_dump(mode="json")
    return [k for k in a if k not in REPORT_ONLY and a[k] != b.get(k)]


def _patients(
    pool_dir: Path, proposal: TrialSpec, issue: Callable[[str], ScenarioError]
) -> pd.DataFrame:
    """patients.parquet, checked: its columns, and one row per patient in every arm."""
    table = pd.read_parquet(pool_dir / "patients.parquet")
    needed = [*PATIENT_COLUMNS, *proposal.cohort.characteristics]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise issue(f"{pool_dir}/patients.parquet: lacks column(s) {', '.join(missing)}")
    if table.empty:
        raise issue(f"{pool_dir}/patients.parquet: no patients (none was plausible)")
    rows = table.groupby("patient")["arm"].nunique()
    arms = len(proposal.arms) if proposal.design == "paired" else 1
    odd = rows[rows != arms]
    if len(odd) or table.duplicated(["patient", "arm"]).any():
        who = (
            f"patient {odd.index[0]} has {odd.iloc[0]}"
            if len(odd)
            else "a patient has an arm twice"
        )
        raise issue(
            f"{pool_dir}/patients.parquet: a {proposal.design} trial has {arms} arm row(s) per "
            f"patient; {who}"
        )
    return table


def _check(cal: TrialCalibration) -> None:
    """Cross-references: parameters of the pool's characteristics with a family that fits
    their proposal; targets in the pool's arms and populations of its characteristics."""
    spec, chars = cal.spec, cal.characteristics
    names = list(chars)
    for name, family in spec.parameters.items():
        if name not in chars:
            raise cal.issue(
                ("parameters", name),
                f"the pool has no characteristic {name!r} (it draws {', '.join(names)})",
            )
        message = _misfit(name, family, chars, names)
        if message:
            raise cal.issue(("parameters", name, "family"), message)
    numeric = [n for n in names if not chars[n].categorical]
    seen: set[tuple[str, str, str]] = set()
    for i, target in enumerate(spec.targets):
        if target.arm not in cal.proposal.arms:
            raise cal.issue(
                ("targets", i, "arm"),
                f"the pool has no arm {target.arm!r} (arms: {', '.join(cal.proposal.arms)})",
            )
        if target.endpoint == "pfs_hr" and target.arm == cal.reference_arm:
            raise cal.issue(
                ("targets", i, "arm"),
                f"{target.arm!r} is the pool's reference arm: a pfs_hr compares another arm to it",
            )
        rule = target.rule
        if rule is not None and rule.feature not in numeric:
            raise cal.issue(
                ("targets", i, "population"),
                f"no numeric characteristic {rule.feature!r} in the pool (it has: "
                f"{', '.join(numeric) or 'none'})",
            )
        key = (str(rule), target.endpoint, target.arm)
        if key in seen:
            raise cal.issue(("targets", i), f"{target.label} is a target twice")
        seen.add(key)
    n = cal.patients["patient"].nunique()
    if spec.min_effective_size >= n:
        raise cal.issue(
            ("min_effective_size",),
            f"{spec.min_effective_size:g} is not below the pool's {n} plausible patients",
        )
    if cal.write.resolve() in (Path(cal.pool_trial.file).resolve(), Path(cal.file).resolve()):
        raise cal.issue(("write",), "would overwrite the pool's trial file or this file")
    if cal.write.suffix not in (".yaml", ".yml"):
        raise cal.issue(("write",), f"{cal.write.name}: a trial file ends in .yaml")


def _misfit(
    name: str, family: Family, chars: dict[str, Characteristic], names: list[str]
) -> str | None:
    """Why ``family`` cannot be fitted over the pool's characteristic ``name``, or None."""
    c = chars[name]
    proposals: list[Distribution] = [c.distribution] if c.distribution else list(c.bins or [])
    try:
        is_discrete = [discrete(d) for d in proposals]
    except ValueError as exc:
        return f"the pool's {name!r} {exc}"
    if family.family == "choice_by":
        given = family.given
        if given not in names[: names.index(name)] or chars[given].categorical:  # type: ignore[index]
            earlier = [n for n in names[: names.index(name)] if not chars[n].categorical]
            return (
                f"given {given!r} is not a numeric characteristic drawn before {name!r} "
                f"(earlier: {', '.join(earlier) or 'none'})"
            )
        if not all(is_discrete):
            return f"choice_by needs {name!r} drawn from a choice in the pool"
        for d in proposals:
            mass = density(d, family.values)  # type: ignore[arg-type]
            if (mass <= 0).any():
                missing = [v for v, m in zip(family.values, mass, strict=True) if m <= 0]  # type: ignore[arg-type]
                return (
                    f"the pool never draws {name} = {missing[0]!r}: weights cannot give it "
                    "a probability"
                )
        return None
    if c.distribution is None:
        return f"{family.family} needs {name!r} drawn from one distribution (not by bins)"
    if is_discrete[0]:
        return f"{family.family} is continuous; the pool draws {name!r} from a choice"
    if _rounded(c, 0.5) != 0.5:
        return f"the pool rounds {name!r} to whole numbers: it has no density"
    support = intervals(c.distribution)
    if len(support) > 1:
        return (
            f"the pool's {name!r} has gaps in its support ({support}): a fitted density would "
            "put mass where the pool has no patients"
        )
    if family.family == "lognormal" and support[0][1] <= 0:
        return f"the pool's {name!r} is never positive: a lognormal has no mass there"
    return None
