"""Trial files: the pydantic schema of a virtual trial and a loader that checks everything,
including every arm's and every characteristic's effect on the base scenario, before a run starts.

A trial names a patient-scale base scenario, its arms (the base scenario's arms, with the rules
trials use: a maximum duration per drug, dose holidays), a cohort of virtual patients drawn from
distributions by a seeded quasi-random design, a screening phase whose plausibility bounds reject
candidates, an optional prevalence selection, the scans and the follow-up. Errors are reported as
``FILE:LINE:COL: field.path: message`` by the scenario loader's machinery (docs/trials.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator
from ruamel.yaml.comments import CommentedMap

from gcsim.params import is_known
from gcsim.scenario import Scenario, ScenarioError, issue_at

Scalar = bool | int | float | str
NAME = r"^[A-Za-z][A-Za-z0-9_]*$"
LESION_COUNT = "patient.lesion_count"  # a pseudo-path: keep the base scenario's first k lesions
EVERY_LESION = "[*]"  # patient.lesions[*].diameter_mm: the same value for every lesion


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Choice(_Strict):
    values: Annotated[list[Scalar], Field(min_length=1)]
    weights: Annotated[list[Annotated[float, Field(ge=0)]] | None, Field()] = None

    @model_validator(mode="after")
    def _weights(self) -> Choice:
        if self.weights is not None:
            if len(self.weights) != len(self.values):
                raise ValueError(
                    f"{len(self.weights)} weights for {len(self.values)} values: give one each"
                )
            if sum(self.weights) <= 0:
                raise ValueError("the weights sum to 0")
        return self


class Normal(_Strict):
    mean: float
    sd: Annotated[float, Field(gt=0)]


class LogNormal(_Strict):
    median: Annotated[float, Field(gt=0)]
    sigma: Annotated[float, Field(gt=0, le=5, description="sd of the natural log")]


class Beta(_Strict):
    a: Annotated[float, Field(gt=0)]
    b: Annotated[float, Field(gt=0)]


Pair = tuple[float, float]


class Distribution(_Strict):
    """Exactly one of: ``uniform``/``loguniform`` [low, high]; ``normal`` {mean, sd};
    ``lognormal`` {median, sigma}; ``beta`` {a, b} (on [0, 1], or on ``range``); ``choice``
    {values, weights}; ``mixture`` [{weight, <one of these>}]. ``range`` truncates a normal or
    lognormal (and scales a beta)."""

    uniform: Pair | None = None
    loguniform: Pair | None = None
    normal: Normal | None = None
    lognormal: LogNormal | None = None
    beta: Beta | None = None
    choice: Choice | None = None
    mixture: Annotated[list[Component] | None, Field(min_length=1)] = None
    range: Pair | None = None

    @model_validator(mode="after")
    def _one(self) -> Distribution:
        kinds = [k for k in KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(
                f"give exactly one distribution of {', '.join(KINDS)}"
                + (f" (got {', '.join(kinds)})" if kinds else "")
            )
        for key in ("uniform", "loguniform", "range"):
            pair = getattr(self, key)
            if pair is not None and not all(math.isfinite(x) for x in pair):
                raise ValueError(f"{key} [{pair[0]:g}, {pair[1]:g}]: both ends must be finite")
            if pair is not None and not pair[0] < pair[1]:
                raise ValueError(f"{key} [{pair[0]:g}, {pair[1]:g}]: low must be below high")
        if self.loguniform is not None and self.loguniform[0] <= 0:
            raise ValueError("loguniform needs a positive low end")
        if self.range is not None and kinds[0] not in ("normal", "lognormal", "beta"):
            raise ValueError(f"range truncates normal/lognormal or scales beta, not {kinds[0]}")
        if self.mixture is not None and sum(c.weight for c in self.mixture) <= 0:
            raise ValueError("the mixture's weights sum to 0")
        if self.range is not None and kinds[0] in ("normal", "lognormal"):
            from scipy import stats

            frozen = (
                stats.norm(self.normal.mean, self.normal.sd)
                if self.normal is not None
                else stats.lognorm(self.lognormal.sigma, scale=self.lognormal.median)  # type: ignore[union-attr]
            )
            mass = frozen.cdf(self.range[1]) - frozen.cdf(self.range[0])
            if mass < 1e-9:
                raise ValueError(
                    f"range [{self.range[0]:g}, {self.range[1]:g}] holds no probability of this "
                    f"{kinds[0]} (mass {mass:.2g})"
                )
        return self

    @property
    def kind(self) -> str:
        return next(k for k in KINDS if getattr(self, k) is not None)

    @property
    def categorical(self) -> bool:
        if self.choice is not None:
            return any(isinstance(v, str) for v in self.choice.values)
        return self.mixture is not None and any(c.categorical for c in self.mixture)


class Component(Distribution):
    weight: Annotated[float, Field(ge=0)]


KINDS = ("uniform", "loguniform", "normal", "lognormal", "beta", "choice", "mixture")


class Bin(Distribution):
    """The distribution of a characteristic for patients whose ``given`` value is below
    ``below`` (the first bin that matches; the last bin without ``below`` takes the rest)."""

    below: float | None = None


class Characteristic(_Strict):
    """One patient characteristic: where it goes in the scenario, and how it is drawn."""

    set: Annotated[
        str | None,
        Field(
            description="the scenario field it sets, as `gcsim run --set` names it "
            "(parameters.NAME, tumor.pdl1_cps, patient.lesions[0].diameter_mm, "
            "patient.lesions[*].diameter_mm for every lesion, or patient.lesion_count to keep "
            "the base scenario's first k lesions); none: recorded only"
        ),
    ] = None
    scale: Annotated[
        Literal["value", "multiply"],
        Field(description="value: the draw is the field's value; multiply: it multiplies it"),
    ] = "value"
    distribution: Distribution | None = None
    given: Annotated[
        str | None, Field(description="an earlier characteristic that selects the bin")
    ] = None
    bins: Annotated[list[Bin] | None, Field(min_length=1)] = None

    @model_validator(mode="after")
    def _drawn_once(self) -> Characteristic:
        if (self.distribution is None) == (self.bins is None):
            raise ValueError("give either `distribution`, or `given` with `bins`")
        if (self.given is None) != (self.bins is None):
            raise ValueError("`given` and `bins` go together")
        if self.bins is not None:
            edges = [b.below for b in self.bins]
            if edges[-1] is not None:
                raise ValueError("the last bin has no `below`: it takes every other patient")
            inner = edges[:-1]
            if any(e is None for e in inner) or inner != sorted(inner):  # type: ignore[type-var]
                raise ValueError("bins need increasing `below` values, the last one without")
        if self.scale == "multiply" and self.categorical:
            raise ValueError("a categorical characteristic cannot multiply a field")
        return self

    @property
    def categorical(self) -> bool:
        dists = [self.distribution] if self.distribution is not None else list(self.bins or [])
        return any(d.categorical for d in dists)


class Bounds(_Strict):
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Bounds:
        if self.min is None and self.max is None:
            raise ValueError("give `min`, `max` or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min:g} is above max {self.max:g}")
        return self


SCREEN_FEATURES = (
    "screen_sld_pct",  # % change of the sum of diameters over the screening phase
    "bl_cd8_core_per_mm2",
    "bl_cd8_margin_per_mm2",
    "bl_cd8_treg_ratio",
    "bl_m1_m2_ratio",
    "bl_hypoxic_fraction",
    "bl_perfused_fraction",
    "bl_pdl1_cps_measured",
)


class Screening(_Strict):
    """The untreated phase before the first dose: every arm starts after it, and a candidate
    whose phase leaves the plausibility bounds is not a patient (QSP-IO's plausibility step)."""

    days: Annotated[float, Field(ge=1, le=365, description="untreated days before day 0")] = 21.0
    plausible: Annotated[
        dict[Literal[SCREEN_FEATURES], Bounds],  # type: ignore[valid-type]
        Field(description="bounds on screening readouts (the tumour must grow: screen_sld_pct)"),
    ] = Field(default_factory=lambda: {"screen_sld_pct": Bounds(min=0.0)})


class Selection(_Strict):
    """Prevalence selection of plausible patients so that one characteristic's distribution
    matches a target (Allen et al. 2016): patients in over-represented bins are dropped at
    random (seeded), keeping the largest cohort with the target proportions."""

    characteristic: str
    edges: Annotated[list[float], Field(min_length=1, description="bin edges, increasing")]
    proportions: Annotated[
        list[Annotated[float, Field(ge=0, le=1)]],
        Field(description="target share of each bin (len(edges) + 1 values, summing to 1)"),
    ]

    @model_validator(mode="after")
    def _shape(self) -> Selection:
        if self.edges != sorted(self.edges):
            raise ValueError("edges must increase")
        if len(self.proportions) != len(self.edges) + 1:
            raise ValueError(
                f"{len(self.edges)} edges make {len(self.edges) + 1} bins; "
                f"got {len(self.proportions)} proportions"
            )
        if abs(sum(self.proportions) - 1.0) > 1e-6:
            raise ValueError(f"proportions sum to {sum(self.proportions):g}, not 1")
        return self


class Cohort(_Strict):
    patients: Annotated[int, Field(ge=1, le=100_000, description="candidates drawn")]
    sampler: Annotated[
        Literal["sobol", "latin"], Field(description="scipy.stats.qmc design, scrambled, seeded")
    ] = "sobol"
    characteristics: dict[Annotated[str, Field(pattern=NAME, max_length=40)], Characteristic]
    selection: Selection | None = None


class Holiday(_Strict):
    from_day: Annotated[float, Field(ge=0, le=3650)]
    days: Annotated[float, Field(gt=0, le=3650)]


class TrialArm(_Strict):
    """An arm: one of the base scenario's arms, with the trial's dosing rules."""

    arm: Annotated[str, Field(description="the base scenario's arm it gives")]
    max_days: Annotated[
        dict[str, Annotated[float, Field(gt=0, le=3650)]],
        Field(
            description="stop a drug (by drug name, or therapy type) after this many days of "
            "treatment, e.g. {nivolumab: 730}"
        ),
    ] = Field(default_factory=dict)
    holidays: Annotated[
        list[Holiday], Field(description="no dose of any drug from `from_day` for `days`")
    ] = Field(default_factory=list)
    irradiate: Annotated[
        list[str] | None,
        Field(
            min_length=1,
            description="the lesions this arm's radiotherapy treats (names from the base "
            "patient; default: the base arm's own choice)",
        ),
    ] = None


class Scans(_Strict):
    every_days: Annotated[float, Field(ge=7, le=365)] = 42.0
    later_every_days: Annotated[float | None, Field(ge=7, le=365)] = None
    later_from_day: Annotated[float, Field(gt=0, le=3650)] = 365.0
    window_days: Annotated[
        float,
        Field(
            ge=0,
            le=60,
            description="visit window: each follow-up scan of a patient falls on a record "
            "day drawn uniformly within ± this many days of its scheduled day (the same in "
            "every arm of a patient); 0 = on schedule",
        ),
    ] = 0.0
    irecist: bool = False
    confirm: Annotated[
        bool, Field(description="CR/PR need a confirming scan ≥ 28 days on (single-arm)")
    ] = False


class Subgroup(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=40)]
    feature: str
    below: float | None = None
    at_least: float | None = None
    equals: Scalar | None = None

    @model_validator(mode="after")
    def _defined(self) -> Subgroup:
        if self.equals is None and self.below is None and self.at_least is None:
            raise ValueError("give `equals`, or `below` and/or `at_least`")
        if self.equals is not None and (self.below is not None or self.at_least is not None):
            raise ValueError("`equals` excludes `below`/`at_least`")
        if self.below is not None and self.at_least is not None and self.at_least >= self.below:
            raise ValueError(
                f"at_least {self.at_least:g} and below {self.below:g} select no patient"
            )
        return self


class ParameterSets(_Strict):
    """An ensemble of parameter sets (e.g. draws from a calibration posterior): the whole
    cohort runs under each, and the report gives the endpoints' spread across sets apart from
    the cohort's sampling uncertainty."""

    file: Annotated[
        str,
        Field(
            description="CSV or Parquet, relative to the trial file: one column per parameter "
            "(gcsim params names), one row per set; an optional `weight` column"
        ),
    ]
    draws: Annotated[
        int | None,
        Field(ge=1, le=1000, description="sets drawn from the rows (seeded; by weight if given)"),
    ] = None


class TrialSpec(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9_.\-]+$")]
    description: str = ""
    scenario: Annotated[str, Field(description="patient-scale base scenario, relative to here")]
    seed: Annotated[int, Field(ge=0, lt=2**63)] = 0
    design: Literal["paired", "randomised"] = "paired"
    arms: Annotated[dict[Annotated[str, Field(pattern=NAME)], TrialArm], Field(min_length=1)]
    reference_arm: Annotated[str | None, Field(description="the control (default: first)")] = None
    cohort: Cohort
    screening: Screening = Screening()
    scans: Scans = Scans()
    follow_up_days: Annotated[float, Field(ge=7, le=3650)] = 365.0
    subgroups: list[Subgroup] | None = None
    biomarkers: Annotated[
        bool, Field(description="rank predictive biomarkers in the report (scikit-learn)")
    ] = True
    parameter_sets: ParameterSets | None = None

    @property
    def control(self) -> str:
        return self.reference_arm or next(iter(self.arms))


DEFAULT_SUBGROUPS = (
    Subgroup(name="CPS < 1", feature="cps", below=1),
    Subgroup(name="CPS 1-9", feature="cps", at_least=1, below=10),
    Subgroup(name="CPS >= 10", feature="cps", at_least=10),
    Subgroup(name="CPS >= 5", feature="cps", at_least=5),
)


@dataclass(frozen=True)
class Trial:
    """A checked trial file with its parsed base scenario."""

    spec: TrialSpec
    file: str
    data: CommentedMap
    base_file: str
    base_data: CommentedMap
    base: Scenario

    def issue(self, loc: tuple, message: str) -> ScenarioError:
        return ScenarioError([issue_at(self.file, self.data, loc, message)])

    def subgroups(self) -> list[Subgroup]:
        if self.spec.subgroups is not None:
            return list(self.spec.subgroups)
        drawn = self.spec.cohort.characteristics
        groups = [g for g in DEFAULT_SUBGROUPS if g.feature in drawn]
        for name, c in drawn.items():  # every level of a categorical characteristic
            if c.categorical:
                for value in _levels(c):
                    groups.append(Subgroup(name=f"{name} {value}", feature=name, equals=value))
        return groups

    def text(self) -> str:
        return Path(self.file).read_text(encoding="utf-8")

    def parameter_sets(self) -> list[dict[str, float]]:
        """The ensemble's parameter sets (``[{}]``: one, the scenario's own parameters)."""
        sets = self.spec.parameter_sets
        if sets is None:
            return [{}]
        path = Path(self.file).parent / sets.file
        where = ("parameter_sets", "file")
        try:
            table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
        except (OSError, ValueError) as exc:
            raise self.issue(where, f"cannot read {path}: {exc}") from None
        weights = table.pop("weight").to_numpy(float) if "weight" in table else None
        unknown = [c for c in table.columns if not is_known(str(c))]
        if unknown:
            raise self.issue(
                where, f"{path}: no parameter {unknown[0]!r} (gcsim params lists the names)"
            )
        if table.empty:
            raise self.issue(where, f"{path}: no rows")
        if sets.draws is not None:
            rng = np.random.default_rng(
                np.random.SeedSequence(self.spec.seed, spawn_key=(2**31 + 3,))
            )
            p = None if weights is None else weights / weights.sum()
            rows = rng.choice(len(table), size=sets.draws, replace=sets.draws > len(table), p=p)
            table = table.iloc[np.sort(rows)]
        return [{str(k): float(v) for k, v in row.items()} for _, row in table.iterrows()]

    def with_biomarkers(self, on: bool) -> Trial:
        """The trial with its report's biomarker section switched on or off."""
        return replace(self, spec=self.spec.model_copy(update={"biomarkers": on}))


def _levels(c: Characteristic) -> list[Scalar]:
    dists = [c.distribution] if c.distribution is not None else list(c.bins or [])
    out: list[Scalar] = []
    for d in dists:
        parts = d.mixture if d.mixture is not None else [d]
        for p in parts:
            if p.choice is not None:
                out += [v for v in p.choice.values if v not in out]
    return out


def check(trial: Trial) -> None:
    """What needs the base scenario: arms it has, a patient section, known names."""
    spec, base = trial.spec, trial.base
    if base.patient is None:
        raise trial.issue(
            ("scenario",),
            f"{trial.base_file} has no `patient:` section; a trial's patients have lesions "
            "(docs/patient-scale.md)",
        )
    for name, arm in spec.arms.items():
        if arm.arm not in base.arms:
            raise trial.issue(
                ("arms", name, "arm"),
                f"the base scenario has no arm {arm.arm!r} (it has {', '.join(base.arms)})",
            )
        known = {t.type for t in base.arms[arm.arm].treatments} | {
            getattr(t, "drug", None) for t in base.arms[arm.arm].treatments
        }
        for drug in arm.max_days:
            if drug not in known:
                raise trial.issue(
                    ("arms", name, "max_days", drug),
                    f"arm {arm.arm!r} gives no {drug!r} (it gives "
                    f"{', '.join(sorted(str(k) for k in known if k)) or 'nothing'})",
                )
        lesions = [lesion.name for lesion in base.patient.lesions]
        for i, lesion in enumerate(arm.irradiate or []):
            if lesion not in lesions:
                raise trial.issue(
                    ("arms", name, "irradiate", i),
                    f"the base patient has no lesion {lesion!r} (it has {', '.join(lesions)})",
                )
        if arm.irradiate and not any(
            t.type == "radiotherapy" for t in base.arms[arm.arm].treatments
        ):
            raise trial.issue(("arms", name, "irradiate"), f"arm {arm.arm!r} gives no radiotherapy")
    if spec.reference_arm is not None and spec.reference_arm not in spec.arms:
        raise trial.issue(
            ("reference_arm",), f"no arm {spec.reference_arm!r} (arms: {', '.join(spec.arms)})"
        )
    if spec.scans.every_days > spec.follow_up_days:
        raise trial.issue(
            ("scans", "every_days"),
            f"a scan every {spec.scans.every_days:g} days never comes within the follow-up of "
            f"{spec.follow_up_days:g} days",
        )
    record_h = base.time.record_every_hours
    shortest = min(d for d in (spec.scans.every_days, spec.scans.later_every_days) if d)
    if 2.0 * spec.scans.window_days >= shortest:
        raise trial.issue(
            ("scans", "window_days"),
            f"a window of ± {spec.scans.window_days:g} days lets scans {shortest:g} days apart "
            "swap or meet: keep it below half the interval",
        )
    for key in ("every_days", "later_every_days", "window_days"):
        days = getattr(spec.scans, key)
        if days and not _whole(days * 24.0 / record_h):  # None or 0: nothing to place
            raise trial.issue(
                ("scans", key),
                f"{days:g} days is not a whole number of the base scenario's record interval "
                f"({record_h:g} h): lesions are measured at records",
            )
    if not _whole(spec.screening.days * 24.0 / record_h):
        raise trial.issue(
            ("screening", "days"),
            f"{spec.screening.days:g} days is not a whole number of records ({record_h:g} h)",
        )
    names = list(spec.cohort.characteristics)
    for name in names:
        problem = given_problem(spec.cohort.characteristics, name)
        if problem is not None:
            raise trial.issue(("cohort", "characteristics", name, "given"), problem)
    selection = spec.cohort.selection
    if selection is not None and selection.characteristic not in names:
        raise trial.issue(
            ("cohort", "selection", "characteristic"),
            f"no characteristic {selection.characteristic!r} (drawn: {', '.join(names)})",
        )
    known_features = {*names, "n_lesions", "baseline_sld_mm", *SCREEN_FEATURES}
    for i, group in enumerate(trial.subgroups()):
        if group.feature not in known_features:
            raise trial.issue(
                ("subgroups", i, "feature"),
                f"subgroup {group.name!r}: no feature {group.feature!r} (known: "
                f"{', '.join(sorted(known_features))})",
            )


def given_problem(characteristics: Mapping[str, Characteristic], name: str) -> str | None:
    """Why characteristic ``name``'s ``given`` cannot select its bin: it must be a numeric
    characteristic drawn before it (None: it can, or there is no ``given``)."""
    given = characteristics[name].given
    earlier = list(characteristics)[: list(characteristics).index(name)]
    if given is None:
        return None
    if given not in earlier:
        return (
            f"{given!r} is not a characteristic drawn before {name!r} "
            f"(earlier: {', '.join(earlier) or 'none'})"
        )
    if characteristics[given].categorical:
        return f"{given!r} is categorical; bins need a number"
    return None


def _whole(x: float) -> bool:
    return abs(x - round(x)) < 1e-9 and round(x) >= 1
