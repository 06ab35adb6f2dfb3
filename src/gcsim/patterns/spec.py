"""Pattern files: the pydantic schema and a loader that checks everything before a run starts.

A pattern file (``scenarios/patterns/P*.yaml``) holds one or more scenarios in the ``gcsim run``
schema, a ``quick:`` block for the fast test mode, per-run ``readouts`` and ``checks``. Every
problem is reported as ``FILE:LINE:COL: field.path: message`` with the scenario loader's
machinery (:func:`gcsim.scenario.read_yaml_mapping`, :func:`~gcsim.scenario.validate_yaml_mapping`,
:func:`~gcsim.scenario.issue_at`): an embedded scenario is validated exactly as ``gcsim run``
validates a scenario file, and its errors are located in the pattern file; a check naming an arm,
a readout or a check that does not exist, a rule with missing or foreign arguments, and a quick
override that does not apply are errors at their line.

Quick mode (``--quick``): each scenario gets the file's ``quick.set`` overrides (``gcsim run
--set`` strings; the value may also be a flow list of scalars, ``days=[3]``, which ``--set``
cannot express) and ``quick.replicates``; then every treatment is cut to its doses before the
shortened ``time.days`` (the *quick horizon*), because a scenario refuses doses after its end. The
cut is listed in :attr:`Pattern.notes`; quick mode tests the machinery, not the biology.

A scenario may carry a ``population:`` block (:class:`Population`): replicate ``r`` is then
virtual patient ``r``, its characteristics drawn with the trial cohort's schema and sampler
(:mod:`gcsim.trial.cohort`) from the scenario's seed and written into every arm (the same
patient, paired); a characteristic ``given`` an arm's field (``tumor.pdl1_cps``) takes that
arm's bin with the patient's one coordinate. Without the block the replicates are one patient
with different random streams, exactly as before. docs/patterns.md.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from gcsim.scenario import (
    Issue,
    Scenario,
    ScenarioError,
    issue_at,
    read_yaml_mapping,
    validate_yaml_mapping,
)
from gcsim.scenario.loader import key_path
from gcsim.sweep.spec import override
from gcsim.therapies.base import Schedule
from gcsim.trial.cohort import at_characteristic, draw, field_value, multiplied, unit_design
from gcsim.trial.spec import EVERY_LESION, NAME, Characteristic, Scalar, given_problem
from gcsim.validation import FieldError
from gcsim.validation import Strict as _Strict

READOUT_ARGS: dict[str, tuple[str, ...]] = {
    "burden_ratio": ("day",),
    "growth_rate": ("from_day", "to_day"),
    "value_at": ("column", "day"),
    "peak": ("column", "from_day", "to_day"),
    "mean_over": ("column", "from_day", "to_day"),
    "responder": ("until_day",),
    "progressed": ("until_day",),
    "extinct": ("day",),
}
"""Each readout function and the arguments it takes (all required)."""

ReadoutName = Literal[tuple(READOUT_ARGS)]  # type: ignore[valid-type]


@dataclass(frozen=True)
class RuleSpec:
    """What a scoring rule takes: required and optional check keys, the shape of ``arms``
    and the forms of ``expect`` it accepts."""

    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    arms: Literal["none", "pair", "pairs", "scores", "ordered"] = "none"
    expect: tuple[str, ...] = ()


_VALUE_EXPECT = ("range", "above", "below")
RULES: dict[str, RuleSpec] = {
    "proportion": RuleSpec(("readout", "arm", "expect"), ("effect",), expect=_VALUE_EXPECT),
    "conditional_proportion": RuleSpec(
        ("readout", "given", "arm", "expect"), ("effect",), expect=_VALUE_EXPECT
    ),
    "mean": RuleSpec(("readout", "arm", "expect"), ("effect",), expect=_VALUE_EXPECT),
    "median": RuleSpec(("readout", "arm", "expect"), ("effect",), expect=_VALUE_EXPECT),
    "paired_difference": RuleSpec(
        ("readout", "arms", "expect"), ("effect",), "pair", _VALUE_EXPECT
    ),
    "difference_of_differences": RuleSpec(
        ("readout", "arms", "expect"), ("effect",), "pairs", _VALUE_EXPECT
    ),
    "trend": RuleSpec(("readout", "arms", "expect"), ("paired",), "scores", ("direction",)),
    "disjoint": RuleSpec(("readout", "arms"), (), "pair"),
    "interior_max": RuleSpec(("readout", "arms"), (), "ordered"),
    "fade": RuleSpec(
        ("peak", "late", "best_of", "baseline", "expect"), ("effect",), expect=_VALUE_EXPECT
    ),
}
"""Every scoring rule (gcsim.patterns.scoring) by name."""

RuleName = Literal[tuple(RULES)]  # type: ignore[valid-type]
BEST_OF = "best_of:"
_CHECK_KEYS = ("readout", "given", "arm", "arms", "paired", "peak", "late", "best_of", "baseline")


class Readout(_Strict):
    """A per-run readout: ``fn`` (gcsim.patterns.readouts) and its arguments (days from t = 0)."""

    fn: Annotated[ReadoutName, Field(description="readout function")]
    day: Annotated[float | None, Field(ge=0)] = None
    until_day: Annotated[float | None, Field(ge=0)] = None
    from_day: Annotated[float | None, Field(ge=0)] = None
    to_day: Annotated[float | None, Field(ge=0)] = None
    column: Annotated[str | None, Field(min_length=1)] = None

    @model_validator(mode="after")
    def _arguments_fit(self) -> Readout:
        takes = READOUT_ARGS[self.fn]
        for name in ("day", "until_day", "from_day", "to_day", "column"):
            given = getattr(self, name) is not None
            if given and name not in takes:
                raise FieldError(
                    (name,), f"{self.fn} does not take {name!r}; it takes {', '.join(takes)}"
                )
            if not given and name in takes:
                raise FieldError((), f"{self.fn} needs {name!r} ({', '.join(takes)})")
        if self.from_day is not None and self.to_day is not None and self.from_day > self.to_day:
            raise FieldError(
                ("to_day",), f"to_day {self.to_day:g} is before from_day {self.from_day:g}"
            )
        return self

    @property
    def args(self) -> dict[str, Any]:
        """The readout function's keyword arguments."""
        return {name: getattr(self, name) for name in READOUT_ARGS[self.fn]}


class Expect(_Strict):
    """What a check expects: ``range: [lo, hi]`` (the estimate in it), ``above: x`` (the CI's
    lower bound above x), ``below: x`` (its upper bound below x), or ``direction`` with
    ``p_below`` (a one-sided trend test)."""

    range: tuple[float, float] | None = None
    above: float | None = None
    below: float | None = None
    direction: Literal["increasing", "decreasing"] | None = None
    p_below: Annotated[float | None, Field(gt=0, lt=1)] = None

    @model_validator(mode="after")
    def _one_form(self) -> Expect:
        given = [
            k for k in ("range", "above", "below", "direction") if getattr(self, k) is not None
        ]
        if len(given) != 1:
            raise ValueError("give exactly one of range, above, below, or direction with p_below")
        if (self.direction is None) != (self.p_below is None):
            raise FieldError(
                ("p_below",) if self.direction else (), "'direction' and 'p_below' go together"
            )
        if self.range is not None and self.range[0] > self.range[1]:
            raise FieldError(("range",), f"range [{self.range[0]:g}, {self.range[1]:g}] is empty")
        return self

    @property
    def kind(self) -> str:
        return next(
            k for k in ("range", "above", "below", "direction") if getattr(self, k) is not None
        )

    def text(self) -> str:
        """The expectation in words, for tables."""
        if self.range is not None:
            return f"in [{self.range[0]:g}, {self.range[1]:g}]"
        if self.above is not None:
            return f"CI > {self.above:g}"
        if self.below is not None:
            return f"CI < {self.below:g}"
        return f"{self.direction}, p < {self.p_below:g}"


class Check(_Strict):
    """One check: a rule over per-replicate readouts of arms (``<scenario>.<arm>``)."""

    id: Annotated[str, Field(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9_\-]+$")]
    what: Annotated[str, Field(min_length=1)]
    rule: Annotated[RuleName, Field(description="scoring rule")]
    readout: str | None = None
    given: str | None = None
    arm: str | None = None
    arms: list[Any] | dict[str, float] | None = None
    paired: dict[str, str] | None = None
    peak: str | None = None
    late: str | None = None
    best_of: str | None = None
    baseline: str | None = None
    expect: Expect | None = None
    effect: Annotated[float | None, Field(gt=0, description="pre-registered effect size")] = None

    @model_validator(mode="after")
    def _arguments_fit(self) -> Check:
        spec = RULES[self.rule]
        takes = (*spec.required, *spec.optional)
        for name in (*_CHECK_KEYS, "expect", "effect"):
            given = getattr(self, name) is not None
            if given and name not in takes:
                raise FieldError(
                    (name,), f"rule {self.rule} does not take {name!r}; it takes {', '.join(takes)}"
                )
            if not given and name in spec.required:
                raise FieldError((), f"rule {self.rule} needs {name!r} ({', '.join(takes)})")
        if self.expect is not None and self.expect.kind not in spec.expect:
            allowed = " or ".join(spec.expect)
            raise FieldError(
                ("expect",), f"rule {self.rule} expects {allowed}, not {self.expect.kind}"
            )
        _check_arms_shape(spec.arms, self.arms, self.rule)
        if self.paired is not None and set(self.paired) != set(self.arms or {}):
            raise FieldError(("paired",), "'paired' needs one baseline arm for each arm of 'arms'")
        return self

    def arm_refs(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Every arm this check names, with its place in the check (for located errors)."""
        refs: list[tuple[tuple[str | int, ...], str]] = []
        if self.arm is not None:
            refs.append((("arm",), self.arm))
        if self.baseline is not None:
            refs.append((("baseline",), self.baseline))
        if isinstance(self.arms, dict):
            refs += [(("arms", name), name) for name in self.arms]
        elif isinstance(self.arms, list):
            for i, item in enumerate(self.arms):
                if isinstance(item, list):
                    refs += [(("arms", i, j), ref) for j, ref in enumerate(item)]
                else:
                    refs.append((("arms", i), item))
        for treated, base in (self.paired or {}).items():
            refs.append((("paired", treated), base))
        return refs

    def readout_refs(self) -> list[tuple[str, str]]:
        return [
            (k, getattr(self, k))
            for k in ("readout", "given", "peak", "late")
            if getattr(self, k) is not None
        ]


def _check_arms_shape(shape: str, arms: Any, rule: str) -> None:
    if shape == "none" or arms is None:
        return
    if shape == "scores":
        if not isinstance(arms, dict) or len(arms) < 2:
            raise FieldError(
                ("arms",), f"rule {rule} takes arms as a mapping arm: score (at least 2)"
            )
        return
    if not isinstance(arms, list):
        raise FieldError(("arms",), f"rule {rule} takes arms as a list")
    if shape == "pairs":
        ok = len(arms) == 2 and all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(a, str) for a in p) for p in arms
        )
        if not ok:
            raise FieldError(("arms",), f"rule {rule} takes two pairs [[a1, b1], [a2, b2]]")
        return
    if not all(isinstance(a, str) for a in arms):
        raise FieldError(("arms",), f"rule {rule} takes a list of arm names")
    if shape == "pair" and len(arms) != 2:
        raise FieldError(("arms",), f"rule {rule} takes two arms [a, b], got {len(arms)}")
    if shape == "ordered" and len(arms) < 3:
        raise FieldError(("arms",), f"rule {rule} needs at least 3 ordered arms")


class Quick(_Strict):
    """The fast test mode: replicates and ``gcsim run --set`` overrides for every scenario."""

    replicates: Annotated[int, Field(ge=1, le=100)]
    set: tuple[str, ...] = ()


ARM_FIELDS = ("tumor.", "immune.", "parameters.")
"""The sections an arm may differ in (Scenario.for_arm): a population writes only these."""
POPULATION = "population"


class Population(_Strict):
    """Between-patient heterogeneity of one pattern scenario: replicate ``r`` is virtual
    patient ``r``, drawn from ``characteristics`` (the trial cohort's schema,
    :class:`gcsim.trial.spec.Characteristic`) by a scrambled quasi-random design seeded from the
    scenario's seed; each characteristic takes one coordinate, so a patient whose phenotype
    depends on an arm's CPS has its one coordinate in every arm. With Sobol' (the default)
    patient ``r`` is the same for any number of replicates."""

    sampler: Annotated[
        Literal["sobol", "latin"], Field(description="scipy.stats.qmc design, scrambled, seeded")
    ] = "sobol"
    characteristics: Annotated[
        dict[Annotated[str, Field(pattern=NAME, max_length=40)], Characteristic],
        Field(min_length=1),
    ]

    @model_validator(mode="after")
    def _arm_fields(self) -> Population:
        for name, c in self.characteristics.items():
            if c.set is not None and (not c.set.startswith(ARM_FIELDS) or EVERY_LESION in c.set):
                raise FieldError(
                    ("characteristics", name, "set"),
                    f"{c.set!r}: a pattern population sets a tumor., immune. or parameters. "
                    "field (what an arm may differ in)",
                )
        return self


@dataclass(frozen=True)
class Patient:
    """One replicate's virtual patient: the scenario it runs and, per arm, its draws."""

    scenario: Scenario
    draws: dict[str, dict[str, Scalar]]  # arm → characteristic → value


class PatternSpec(_Strict):
    """A pattern file."""

    id: Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9_\-]+$")]
    title: Annotated[str, Field(min_length=1)]
    role: Literal["training", "prediction"]
    source: Annotated[str, Field(min_length=1)]
    scenarios: Annotated[
        dict[str, dict[str, Any]],
        Field(min_length=1, description="name → a scenario in the `gcsim run` schema"),
    ]
    quick: Quick
    readouts: Annotated[dict[str, Readout], Field(min_length=1)]
    checks: Annotated[list[Check], Field(min_length=1)]


@dataclass(frozen=True)
class Pattern:
    """A checked pattern file with its scenarios resolved (full size, or quick mode)."""

    spec: PatternSpec
    file: str
    data: CommentedMap
    scenarios: dict[str, Scenario]
    quick: bool
    notes: tuple[str, ...] = ()
    patients: dict[str, tuple[Patient, ...]] = field(default_factory=dict)  # by scenario key

    @property
    def id(self) -> str:
        return self.spec.id

    def patient(self, key: str, replicate: int) -> Patient | None:
        """Replicate ``replicate``'s virtual patient in scenario ``key`` (None: the scenario
        has no population, every replicate is its one patient)."""
        patients = self.patients.get(key)
        return None if patients is None else patients[replicate]

    def check(self, check_id: str) -> Check:
        return next(c for c in self.spec.checks if c.id == check_id)


def load_pattern(
    path: str | os.PathLike[str],
    *,
    quick: bool = False,
    replicates: int | None = None,
    overrides: Sequence[str] = (),
) -> Pattern:
    """Read and check a pattern file; raise :class:`ScenarioError` with every located problem.

    Parameters
    ----------
    path : path-like
        The pattern file.
    quick : bool
        Resolve the scenarios in quick mode (``quick:`` applied, schedules cut to the horizon).
        Both modes are always validated.
    replicates : int, optional
        Replicates of every scenario instead of the file's (or quick block's).
    overrides : sequence of str
        ``gcsim run --set`` strings applied to every scenario of the file (after its own
        values and before quick mode's), e.g. ``parameters.cd8.kill_probability=0.2``: to
        explore, not to score the shipped defaults.
    """
    file = os.fspath(path)
    data = read_yaml_mapping(path, "pattern", "a pattern needs id, scenarios, readouts, checks")
    spec = validate_yaml_mapping(PatternSpec, data, file)
    issues: list[Issue] = []
    full: dict[str, Scenario] = {}
    fast: dict[str, Scenario] = {}
    notes: list[str] = []
    extra = [*overrides, *([] if replicates is None else [f"replicates={int(replicates)}"])]
    patients: dict[bool, dict[str, tuple[Patient, ...]]] = {False: {}, True: {}}
    for name in spec.scenarios:
        block = data["scenarios"][name]
        try:
            population, block = _population(file, data, name, block)
            full[name] = _validated(file, data, name, block, extra)
        except ScenarioError as exc:
            issues += exc.issues
            continue
        try:
            fast[name], cut = _quick_scenario(file, data, name, block, spec.quick, extra)
            notes += cut
        except ScenarioError as exc:
            issues += exc.issues
            continue
        if population is None:
            continue
        arms = _arms_as_mappings(block)

        def full_with(more: list[str], name: str = name, arms: CommentedMap = arms) -> Scenario:
            return _validated(file, data, name, arms, [*extra, *more])

        def fast_with(more: list[str], name: str = name, arms: CommentedMap = arms) -> Scenario:
            return _quick_scenario(file, data, name, arms, spec.quick, [*extra, *more])[0]

        def located(loc: tuple[str | int, ...], message: str, name: str = name) -> ScenarioError:
            where = ("scenarios", name, POPULATION, *loc)
            return ScenarioError([issue_at(file, data, where, message)])

        try:
            _check_given(population, full[name], located)
            patients[False][name] = _patients(population, full[name], full_with, located)
            patients[True][name] = _patients(population, fast[name], fast_with, located)
        except ScenarioError as exc:
            issues += exc.issues
    if not issues:
        issues = _reference_issues(spec, file, data, full)
    if issues:
        raise ScenarioError(issues)
    return Pattern(
        spec,
        file,
        data,
        fast if quick else full,
        quick,
        tuple(notes) if quick else (),
        patients[quick],
    )


def _natural(path: Path) -> tuple[int, str]:
    """P2 before P10: the number after the P, then the name."""
    digits = "".join(ch for ch in path.stem[1:].split("_")[0] if ch.isdigit())
    return (int(digits) if digits else 0, path.name)


def load_patterns(
    directory: str | os.PathLike[str],
    only: Sequence[str] = (),
    *,
    quick: bool = False,
    replicates: int | None = None,
    overrides: Sequence[str] = (),
) -> list[Pattern]:
    """Every ``P*.yaml`` of ``directory`` (in the order of their numbers), or those whose id is
    in ``only``; all problems of all files in one :class:`ScenarioError`."""
    files = sorted(Path(directory).glob("P*.yaml"), key=_natural)
    if not files:
        raise ScenarioError([Issue(os.fspath(directory), "no pattern file (P*.yaml) here")])
    patterns, issues = [], []
    for file in files:
        try:
            patterns.append(
                load_pattern(file, quick=quick, replicates=replicates, overrides=overrides)
            )
        except ScenarioError as exc:
            issues += exc.issues
    if issues:
        raise ScenarioError(issues)
    ids = [p.id for p in patterns]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ScenarioError(
            [Issue(os.fspath(directory), f"pattern id {d} is used twice") for d in duplicates]
        )
    unknown = [i for i in only if i not in ids]
    if unknown:
        raise ScenarioError(
            [
                Issue(os.fspath(directory), f"--only {u}: no such pattern; known: {', '.join(ids)}")
                for u in unknown
            ]
        )
    return [p for p in patterns if not only or p.id in only]


# --- embedded scenarios ----------------------------------------------------------------------


def _prefixed(issue: Issue, name: str) -> Issue:
    """An embedded scenario's issue with its field named from the pattern file's top level."""
    if issue.source.startswith("--set "):
        return issue
    field = f"scenarios.{name}" + (f".{issue.field}" if issue.field else "")
    return dataclasses.replace(issue, field=field)


def _validated(
    file: str, data: CommentedMap, name: str, block: Any, overrides: Sequence[str]
) -> Scenario:
    if not isinstance(block, CommentedMap):
        message = "must be a mapping: a scenario in the `gcsim run` schema"
        raise ScenarioError([issue_at(file, data, ("scenarios", name), message)])
    try:
        return validate_yaml_mapping(Scenario, block, file, overrides)
    except ScenarioError as exc:
        raise ScenarioError([_prefixed(i, name) for i in exc.issues]) from None


def _quick_scenario(
    file: str,
    data: CommentedMap,
    name: str,
    block: CommentedMap,
    quick: Quick,
    extra: Sequence[str],
) -> tuple[Scenario, list[str]]:
    """The scenario in quick mode, and a note for every treatment cut to the quick horizon."""
    block = copy.deepcopy(block)  # deepcopy keeps anchors shared, as the file wrote them
    scalar: list[str] = []
    owners: dict[str, int] = {}
    lists: list[tuple[str, int]] = []  # dotted path, index in quick.set
    issues: list[Issue] = []
    for index, text in enumerate(quick.set):
        where = ("quick", "set", index)
        key, sep, raw = text.partition("=")
        if not sep or not key.strip():
            issues.append(issue_at(file, data, where, f"{text!r}: expected key.path=value"))
            continue
        value = _yaml_value(raw)
        if isinstance(value, list) and all(not isinstance(v, Mapping | list) for v in value):
            try:
                lists.append((_assign_list(block, key.strip(), value), index))
            except KeyError as exc:
                issues.append(issue_at(file, data, where, f"{text}: {exc.args[0]}"))
            continue
        scalar.append(text)
        owners[text] = index
    if issues:
        raise ScenarioError(issues)
    horizon = _horizon(block, scalar)
    notes, cut_issues = _cut_to_horizon(block, horizon, name)
    if cut_issues:
        where = ("quick", "set", owners.get(_days_override(scalar) or "", 0))
        raise ScenarioError([issue_at(file, data, where, m) for m in cut_issues])
    overrides = [*scalar, f"replicates={quick.replicates}", *extra]
    try:
        scenario = validate_yaml_mapping(Scenario, block, file, overrides)
    except ScenarioError as exc:
        moved = []
        for issue in exc.issues:
            text = issue.source.removeprefix("--set ")
            owner = owners.get(text) if issue.source.startswith("--set ") else None
            owner = (
                owner
                if owner is not None
                else next((i for path, i in lists if issue.field.startswith(path)), None)
            )
            if owner is None:
                moved.append(_prefixed(issue, name))
            else:
                message = (
                    f"{quick.set[owner]}: {issue.field}: {issue.message}"
                    if issue.field
                    else f"{quick.set[owner]}: {issue.message}"
                )
                moved.append(issue_at(file, data, ("quick", "set", owner), message))
        raise ScenarioError(moved) from None
    return scenario, notes


def _yaml_value(raw: str) -> Any:
    try:
        return YAML(typ="safe", pure=True).load(raw)
    except Exception:  # the loader reports malformed values when it applies the override
        return raw


def _days_override(overrides: Sequence[str]) -> str | None:
    return next((t for t in overrides if t.partition("=")[0].strip() == "time.days"), None)


def _horizon(block: CommentedMap, overrides: Sequence[str]) -> float:
    """``time.days`` after the overrides (the quick horizon)."""
    text = _days_override(overrides)
    value = _yaml_value(text.partition("=")[2]) if text else None
    if value is None:
        time = block.get("time")
        value = time.get("days") if isinstance(time, Mapping) else None
    try:
        return (
            float(value) if value is not None else float(Scenario.model_fields["time"].default.days)
        )
    except (TypeError, ValueError):
        return float("inf")  # a bad value: validation reports it


def _treatments(arm: Any) -> list[Any]:
    if isinstance(arm, list):
        return arm
    if isinstance(arm, Mapping) and isinstance(arm.get("treatments"), list):
        return arm["treatments"]
    return []


def _cut_to_horizon(block: CommentedMap, horizon: float, name: str) -> tuple[list[str], list[str]]:
    """Cut every treatment's schedule in ``block`` to its doses before ``horizon`` (in place)."""
    notes, issues = [], []
    arms = block.get("arms")
    if not isinstance(arms, Mapping):
        return notes, issues
    for arm_name, arm in arms.items():
        for i, treatment in enumerate(_treatments(arm)):
            if not isinstance(treatment, Mapping) or not isinstance(
                treatment.get("schedule"), Mapping
            ):
                continue
            try:
                plain = {str(k): v for k, v in treatment["schedule"].items()}
                days = Schedule.model_validate(_plain(plain)).dose_days()
            except Exception:
                continue  # validation reports a bad schedule at its line
            kept = [d for d in days if d < horizon]
            if len(kept) == len(days):
                continue
            where = f"scenarios.{name}.arms.{arm_name}[{i}]"
            if not kept:
                issues.append(f"quick mode: {where} has no dose before day {horizon:g}")
                continue
            seq = CommentedSeq(kept)
            seq.fa.set_flow_style()
            treatment["schedule"] = CommentedMap(days=seq)
            notes.append(f"{where}: {len(days)} doses cut to {len(kept)} before day {horizon:g}")
    return list(dict.fromkeys(notes)), issues


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _assign_list(block: CommentedMap, key: str, value: list[Any]) -> str:
    """Set a list value at the ``--set`` key path ``key`` (which must exist up to its last
    part); return the dotted path validation errors would name."""
    path = key_path(key)
    node: Any = block
    dotted = ""
    for part in path[:-1]:
        if isinstance(part, int):
            node = _treatments(node) if isinstance(node, Mapping) else node
            if not isinstance(node, list) or part >= len(node):
                raise KeyError(f"no treatment [{part}] at {dotted or 'the top level'}")
            dotted += f"[{part}]"
        elif isinstance(node, Mapping) and part in node:
            dotted += f".{part}" if dotted else part
        else:
            raise KeyError(
                f"{dotted + '.' if dotted else ''}{part} is not in the scenario "
                "(a list value needs an existing path; index treatments as [i])"
            )
        node = node[part]
    if not isinstance(node, Mapping) or isinstance(path[-1], int):
        raise KeyError(f"{dotted} is not a mapping")
    seq = CommentedSeq(value)
    seq.fa.set_flow_style()
    node[path[-1]] = seq
    return f"{dotted}.{path[-1]}"


# --- populations ------------------------------------------------------------------------------

Located = Callable[[tuple[str | int, ...], str], ScenarioError]


def _population(
    file: str, data: CommentedMap, name: str, block: Any
) -> tuple[Population | None, Any]:
    """The scenario's ``population:`` block, checked, and the scenario block without it."""
    if not isinstance(block, CommentedMap) or POPULATION not in block:
        return None, block
    if not isinstance(block[POPULATION], CommentedMap):
        message = "must be a mapping: sampler and characteristics (docs/patterns.md)"
        raise ScenarioError([issue_at(file, data, ("scenarios", name, POPULATION), message)])
    try:
        population = validate_yaml_mapping(Population, block[POPULATION], file)
    except ScenarioError as exc:
        prefix = f"scenarios.{name}.{POPULATION}"
        raise ScenarioError(
            [dataclasses.replace(i, field=f"{prefix}.{i.field}" if i.field else prefix)
             for i in exc.issues]
        ) from None  # fmt: skip
    rest = copy.deepcopy(block)
    del rest[POPULATION]
    return population, rest


def _arms_as_mappings(block: CommentedMap) -> CommentedMap:
    """``block`` with every arm a mapping of its own (``arm: [..]`` is ``arm: {treatments:
    [..]}``; a section two arms share by a YAML alias is copied), so that ``--set
    arms.ARM.tumor.FIELD`` reaches one arm."""
    block = copy.deepcopy(block)
    arms = block.get("arms")
    if not isinstance(arms, Mapping):
        return block
    for arm, spec in list(arms.items()):
        if isinstance(spec, list):
            arms[arm] = CommentedMap(treatments=spec)
        elif isinstance(spec, Mapping):
            arms[arm] = CommentedMap(
                (k, v if k == "treatments" else copy.deepcopy(v)) for k, v in spec.items()
            )
    return block


def _arm_settings(population: Population) -> list[str]:
    """The arm fields that characteristics are ``given`` (the others name characteristics)."""
    drawn = population.characteristics
    return list(dict.fromkeys(c.given for c in drawn.values() if c.given and c.given not in drawn))


def _check_given(population: Population, base: Scenario, located: Located) -> None:
    """Every ``given`` names an earlier numeric characteristic or a number in every arm."""
    drawn = population.characteristics
    for name, c in drawn.items():
        where = ("characteristics", name, "given")
        if c.given in drawn:
            problem = given_problem(drawn, name)
            if problem is not None:
                raise located(where, problem)
    for path in _arm_settings(population):
        name = next(n for n, c in drawn.items() if c.given == path)
        for arm in base.arms:
            try:
                ok = path.startswith(ARM_FIELDS) and math.isfinite(
                    field_value(base.for_arm(arm), path, {})
                )
            except (AttributeError, KeyError, TypeError, ValueError):
                ok = False
            if not ok:
                raise located(
                    ("characteristics", name, "given"),
                    f"{path!r} is neither a characteristic drawn before {name!r} nor a number "
                    f"in arm {arm!r} (a tumor., immune. or parameters. field, e.g. "
                    "tumor.pdl1_cps)",
                )


def _patients(
    population: Population,
    base: Scenario,
    validate: Callable[[list[str]], Scenario],
    located: Located,
) -> tuple[Patient, ...]:
    """Every replicate's patient: its draws in each arm (a characteristic given an arm field
    takes that arm's value) written as ``arms.ARM.FIELD`` overrides into the scenario."""
    drawn = population.characteristics
    unit = unit_design(base.replicates, len(drawn), population.sampler, base.seed)
    settings = _arm_settings(population)
    patients = []
    for row in unit:
        draws: dict[str, dict[str, Scalar]] = {}
        overrides: list[str] = []
        owners: dict[str, str] = {}
        for arm in base.arms:
            own = base.for_arm(arm)
            values = draws[arm] = draw(
                drawn, row, {path: field_value(own, path, {}) for path in settings}
            )
            for name, c in drawn.items():
                if c.set is None:
                    continue
                value = values[name]
                if c.scale == "multiply":
                    try:
                        value = multiplied(value, c.set, field_value(own, c.set, {}))
                    except (AttributeError, KeyError, ValueError) as exc:
                        where = ("characteristics", name, "set")
                        raise located(where, f"{c.set} in arm {arm!r}: {exc}") from None
                text = override(f"arms.{arm}.{c.set}", value)
                overrides.append(text)
                owners[text] = name
        try:
            scenario = validate(overrides)
        except ScenarioError as exc:
            raise at_characteristic(exc, owners, _by_arm(draws), located, ()) from None
        patients.append(Patient(scenario, draws))
    return tuple(patients)


def _by_arm(draws: Mapping[str, Mapping[str, Scalar]]) -> dict[str, Scalar]:
    """A patient's draws for a message: each characteristic's distinct values over the arms."""
    names = next(iter(draws.values()), {})
    return {
        name: "/".join(
            dict.fromkeys(f"{v:.4g}" if isinstance(v, float) else str(v) for v in
                          (d[name] for d in draws.values()))
        )
        for name in names
    }  # fmt: skip


# --- references between checks, readouts and arms --------------------------------------------


def arm_exists(scenarios: Mapping[str, Scenario], ref: str) -> bool:
    scenario, _, arm = ref.partition(".")
    return scenario in scenarios and arm in scenarios[scenario].arms


def _reference_issues(
    spec: PatternSpec, file: str, data: CommentedMap, scenarios: Mapping[str, Scenario]
) -> list[Issue]:
    issues: list[Issue] = []
    ids: dict[str, int] = {}
    for i, check in enumerate(spec.checks):
        at = ("checks", i)
        if check.id in ids:
            issues.append(
                issue_at(
                    file,
                    data,
                    (*at, "id"),
                    f"check id {check.id!r} is used twice (first: checks[{ids[check.id]}])",
                )
            )
        ids.setdefault(check.id, i)
    for i, check in enumerate(spec.checks):
        at = ("checks", i)
        for key, name in check.readout_refs():
            if name not in spec.readouts:
                message = f"no readout {name!r}; readouts: {', '.join(spec.readouts)}"
                issues.append(issue_at(file, data, (*at, key), message))
        best = [check.best_of] if check.best_of else []
        seen_scenarios: set[str] = set()
        for loc, ref in check.arm_refs():
            if ref.startswith(BEST_OF):
                best.append(ref.removeprefix(BEST_OF))
                continue
            if not arm_exists(scenarios, ref):
                issues.append(issue_at(file, data, (*at, *loc), _unknown_arm(ref, scenarios)))
            seen_scenarios.add(ref.partition(".")[0])
        for target in best:
            other = next((c for c in spec.checks if c.id == target), None)
            if other is None or other.rule != "interior_max":
                message = f"best_of {target!r}: no interior_max check with that id"
                key = ("best_of",) if check.best_of == target else ("arms",)
                issues.append(issue_at(file, data, (*at, *key), message))
            elif isinstance(other.arms, list):
                seen_scenarios.add(str(other.arms[0]).partition(".")[0])
        paired = (
            check.rule in {"paired_difference", "difference_of_differences", "interior_max", "fade"}
            or check.paired is not None
        )
        if paired and len(seen_scenarios) > 1:
            message = (
                f"rule {check.rule} pairs replicates, so its arms must come from one "
                f"scenario (got {', '.join(sorted(seen_scenarios))})"
            )
            issues.append(issue_at(file, data, (*at, "rule"), message))
    return issues


def _unknown_arm(ref: str, scenarios: Mapping[str, Scenario]) -> str:
    known = ", ".join(f"{s}.{a}" for s, sc in scenarios.items() for a in sc.arms)
    if "." not in ref:
        return f"arm {ref!r} must be written <scenario>.<arm>; arms: {known}"
    return f"no arm {ref!r}; arms: {known}"
