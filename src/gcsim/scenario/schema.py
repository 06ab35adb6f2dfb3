"""Pydantic models of a scenario file.

Every field carries its unit in its name (``_um``, ``_days``, ``_hours``) or its description, and a
range that rejects the common unit mistakes (a site size in millimetres, a duration in hours where
days are asked). ``extra="forbid"`` everywhere: an unknown key is an error, never silently ignored.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, field_validator, model_validator

from gcsim.patient.schema import Patient
from gcsim.scenario.sections import (  # noqa: F401  (part of this module's API)
    Antigenicity,
    Immune,
    MarkerDistribution,
    Phenotype,
    Subclones,
    Tumor,
    _check_parameters,
)
from gcsim.therapies import treatment_type
from gcsim.validation import FieldError
from gcsim.validation import Strict as _Strict

SCHEMA_VERSION = 1
ARM_NAME = r"^[A-Za-z0-9_.+\- ]+$"


def arm_file_stem(name: str) -> str:
    """The arm's name as it appears in output file names: ``+`` and spaces become ``_``.

    Scenarios whose arm names share a stem are rejected, so every arm has its own files.
    """
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


Treatment = treatment_type()


class Domain(_Strict):
    """The simulated cross-section of the lesion and the tissue around it."""

    width: Annotated[int, Field(ge=20, le=4000, description="lattice sites along x")] = 200
    height: Annotated[int, Field(ge=20, le=4000, description="lattice sites along y")] = 200
    site_size_um: Annotated[
        float,
        Field(
            ge=5.0,
            le=50.0,
            description="edge of one lattice site in µm (≈ one cell diameter; 20 µm by default)",
        ),
    ] = 20.0


class Time(_Strict):
    days: Annotated[float, Field(gt=0, le=3650, description="simulated duration in days")] = 90.0
    dt_hours: Annotated[
        float, Field(gt=0, le=6, description="time step in hours; rates are converted per step")
    ] = 1.0
    record_every_hours: Annotated[
        float, Field(gt=0, le=24 * 30, description="observer interval in hours")
    ] = 24.0

    @property
    def steps(self) -> int:
        """Time steps in the simulated duration."""
        return round(self.days * 24.0 / self.dt_hours)

    @model_validator(mode="after")
    def _record_is_multiple_of_dt(self) -> Time:
        if self.record_every_hours > self.days * 24.0:
            raise FieldError(
                ("record_every_hours",),
                f"{self.record_every_hours:g} h is longer than the run ({self.days:g} days = "
                f"{self.days * 24:g} h): only t = 0 would be recorded",
            )
        ratio = self.record_every_hours / self.dt_hours
        if abs(ratio - round(ratio)) > 1e-9:
            raise ValueError(
                f"record_every_hours ({self.record_every_hours}) must be a whole number of "
                f"time steps (dt_hours = {self.dt_hours})"
            )
        return self


class Stroma(_Strict):
    fraction: Annotated[
        float,
        Field(ge=0, le=0.9, description="fraction of non-tumour sites filled with stroma"),
    ] = 0.3
    capsule_width_um: Annotated[
        float | None,
        Field(
            ge=0,
            le=2000,
            description="width of a dense stromal ring around the tumour (immune exclusion), µm; "
            "None = the immune phenotype's default",
        ),
    ] = None


class Vessels(_Strict):
    density: Annotated[
        float,
        Field(gt=0, le=0.2, description="fraction of sites that are vessel in normal tissue"),
    ] = 0.02
    intratumoral_density: Annotated[
        float,
        Field(ge=0, le=0.2, description="fraction of tumour sites that are vessel at t = 0"),
    ] = 0.01


class Response(_Strict):
    """How response is read (RECIST 1.1 at scheduled scans, ``gcsim.recist``): scoring only, the
    simulation does not depend on it."""

    scan_every_days: Annotated[
        float,
        Field(
            gt=0,
            le=365,
            description="days between scans, from the baseline scan at day 0 (default 42, every "
            "6 weeks); a scan sees the last observation at or before its day",
        ),
    ] = 42.0
    confirm_after_days: Annotated[
        float,
        Field(
            ge=0,
            le=365,
            description="a CR or PR counts only if a later scan at least this many days after it "
            "still shows one (28 = RECIST 1.1 for single-arm trials); 0 = no confirmation, as "
            "RECIST 1.1 allows in randomised comparisons",
        ),
    ] = 0.0
    min_increase_mm: Annotated[
        float,
        Field(
            ge=0,
            le=50,
            description="absolute increase of the lesion diameter over its nadir that "
            "progression also needs, in mm (RECIST 1.1: 5). Default 0, the 20 % rule alone: "
            "a lattice section is a few mm across, where a 5 mm rule would hide all growth",
        ),
    ] = 0.0


class Arm(_Strict):
    """A treatment arm: its treatments and, where the arm is a different patient group, the
    fields of ``tumor``, ``immune`` or ``parameters`` that differ from the scenario's (merged
    field by field). Written as a bare list when it only has treatments."""

    treatments: Annotated[list[Treatment], Field(description="[] = untreated")] = Field(
        default_factory=list
    )
    tumor: Annotated[Tumor | None, Field(description="tumour fields that differ in this arm")] = (
        None
    )
    immune: Annotated[Immune | None, Field(description="immune fields that differ in this arm")] = (
        None
    )
    parameters: Annotated[
        dict[str, float], Field(description="parameter overrides for this arm")
    ] = Field(default_factory=dict)

    _known_parameters = field_validator("parameters")(_check_parameters)

    @model_validator(mode="after")
    def _treatments_agree(self) -> Arm:
        """Each therapy type checks its entries of one arm together (``check_arm``)."""
        by_kind: dict[type, list[Any]] = {}
        for treatment in self.treatments:
            by_kind.setdefault(type(treatment), []).append(treatment)
        for cls, entries in by_kind.items():
            cls.check_arm(entries)
        return self


def _arm_shorthand(value: Any) -> Any:
    """``arm: [treatments...]`` is short for ``arm: {treatments: [...]}``."""
    return {"treatments": value} if isinstance(value, list) else value


class Scenario(_Strict):
    """A scenario: one simulated tumour, its microenvironment and (later) its treatment arms."""

    name: Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9_.\- ]+$")]
    description: str = ""
    seed: Annotated[int, Field(ge=0, lt=2**63, description="root random seed")] = 0
    domain: Domain = Domain()
    time: Time = Time()
    tumor: Tumor = Tumor()
    stroma: Stroma = Stroma()
    vessels: Vessels = Vessels()
    immune: Immune = Immune()
    response: Response = Response()
    replicates: Annotated[
        int, Field(ge=1, le=1000, description="simulations per arm, each with its own seed")
    ] = 1
    arms: Annotated[
        dict[
            Annotated[str, Field(pattern=ARM_NAME, max_length=60)],
            Annotated[Arm, BeforeValidator(_arm_shorthand)],
        ],
        Field(
            min_length=1,
            description="treatment arms by name, each a list of treatments ([] = untreated) or "
            "{treatments, tumor, immune, parameters}; replicate r of every arm uses the same "
            "seed (common random numbers)",
        ),
    ] = Field(default_factory=lambda: {"untreated": Arm()})
    parameters: dict[str, float] = Field(
        default_factory=dict,
        description="overrides of the default parameter table (gcsim params lists the names), "
        "each in the unit the table gives",
    )
    patient: Annotated[
        Patient | None,
        Field(
            description="patient mode: whole lesions carried by compartment models whose rates "
            "come from lattice windows, sharing one lymph node (docs/patient-scale.md); "
            "None = one section, as without it"
        ),
    ] = None

    _known_parameters = field_validator("parameters")(_check_parameters)

    @model_validator(mode="after")
    def _lesions_named(self) -> Scenario:
        """Windows of a lesion do not overlap; a treatment names only lesions that exist."""
        if self.patient is not None:
            try:
                self.patient.check_windows(self.domain.site_size_um)
            except FieldError as error:
                raise FieldError(("patient", *error.loc), str(error)) from None
            exchange = self.patient.bridge.exchange_hours
            if not _whole(exchange / self.time.dt_hours):
                raise FieldError(
                    ("patient", "bridge", "exchange_hours"),
                    f"{exchange:g} h is not a whole number of time steps "
                    f"(time.dt_hours = {self.time.dt_hours:g} h)",
                )
            if not _whole(self.time.record_every_hours / exchange):
                raise FieldError(
                    ("time", "record_every_hours"),
                    f"{self.time.record_every_hours:g} h is not a whole number of exchange "
                    f"intervals (patient.bridge.exchange_hours = {exchange:g} h): lesions are "
                    "recorded at exchanges",
                )
        known = [] if self.patient is None else [lesion.name for lesion in self.patient.lesions]
        irradiated = [] if self.patient is None else self.patient.irradiated_names()
        for name, arm in self.arms.items():
            for i, treatment in enumerate(arm.treatments):
                if "lesions" not in type(treatment).model_fields:
                    continue  # not a treatment given to a field of chosen lesions
                named = treatment.lesions
                where = ("arms", name, "treatments", i, "lesions")
                if named is None:
                    if self.patient is not None and not irradiated:
                        raise FieldError(
                            ("arms", name, "treatments", i),
                            "reaches no lesion: no lesion is `irradiated: true` and this "
                            "entry names none in `lesions:`",
                        )
                    continue
                if self.patient is None:
                    raise FieldError(
                        where, "names lesions, but the scenario has no `patient:` section"
                    )
                for j, lesion in enumerate(named):
                    if lesion not in known:
                        raise FieldError(
                            (*where, j),
                            f"no lesion {lesion!r}; the patient's lesions: {', '.join(known)}",
                        )
                    if lesion in named[:j]:
                        raise FieldError((*where, j), f"lesion {lesion!r} is named twice")
        return self

    @model_validator(mode="after")
    def _tumour_fits_domain(self) -> Scenario:
        _check_tumour_fits(self.tumor, self.domain, ("tumor",))
        return self

    @model_validator(mode="after")
    def _arms_fit(self) -> Scenario:
        stems: dict[str, str] = {}
        for name, arm in self.arms.items():
            # casefolded: 'ICI' and 'ici' are one file on macOS and Windows file systems
            other = stems.setdefault(arm_file_stem(name).casefold(), name)
            if other != name:
                raise FieldError(
                    ("arms", name),
                    f"arms {other!r} and {name!r} would write the same output files "
                    f"(*_{arm_file_stem(name)}.*); rename one",
                )
            for i, treatment in enumerate(arm.treatments):
                last = max(treatment.schedule.dose_days())
                if last >= self.time.days:
                    raise FieldError(
                        ("arms", name, "treatments", i, "schedule"),
                        f"a dose on day {last:g} falls after the end of the simulation "
                        f"(time.days = {self.time.days:g})",
                    )
            if arm.tumor is not None:
                tumor = _merged(self.tumor, arm.tumor)
                _check_tumour_fits(tumor, self.domain, ("arms", name, "tumor"))
        return self

    def for_arm(self, name: str) -> Scenario:
        """The scenario one arm simulates: its tumour, immune and parameter fields merged over
        this scenario's, and only its own treatments (KeyError naming the arms if unknown)."""
        if name not in self.arms:
            raise KeyError(f"no arm {name!r}; arms: {', '.join(self.arms)}")
        arm = self.arms[name]
        return self.model_copy(
            update={
                "tumor": _merged(self.tumor, arm.tumor),
                "immune": _merged(self.immune, arm.immune),
                "parameters": {**self.parameters, **arm.parameters},
                "arms": {name: Arm(treatments=arm.treatments)},
            }
        )


def _whole(ratio: float) -> bool:
    return ratio >= 1 - 1e-9 and abs(ratio - round(ratio)) <= 1e-9


def _check_tumour_fits(tumor: Tumor, domain: Domain, where: tuple[str, ...]) -> None:
    """The initial tumour disc must fit inside the domain; ``where`` is the tumour section."""
    radius_sites = tumor.initial_radius_um / domain.site_size_um
    if radius_sites < 1.0:
        raise FieldError(
            (*where, "initial_radius_um"),
            f"{tumor.initial_radius_um:g} µm is smaller than one lattice site "
            f"({domain.site_size_um:g} µm): no tumour cell would be seeded (the radius is in µm: "
            f"{tumor.initial_radius_um:g} mm is {tumor.initial_radius_um * 1000:g})",
        )
    if 2 * radius_sites >= min(domain.width, domain.height):
        raise FieldError(
            (*where, "initial_radius_um"),
            f"{tumor.initial_radius_um} µm does not fit a {domain.width}×{domain.height} "
            f"domain of {domain.site_size_um} µm sites",
        )


LONGEST_VALID_DAYS = 365.0  # the parameter table's rates are for weeks to months of growth


def suspicious_fields(scenario: Scenario) -> list[tuple[tuple[str | int, ...], str]]:
    """Values that are legal but probably a mistake: (field location, warning)."""
    found: list[tuple[tuple[str | int, ...], str]] = []
    time = scenario.time
    if time.days > LONGEST_VALID_DAYS:
        hint = ""
        if (time.days / 24).is_integer():
            hint = f"; written in hours? {time.days:g} h is {time.days / 24:g} days"
        found.append(
            (
                ("time", "days"),
                f"{time.days:g} days is beyond what the parameter table is meant for "
                f"(weeks to months, at most {LONGEST_VALID_DAYS:g} days){hint}",
            )
        )
    total_h = time.days * 24.0
    left = total_h % time.record_every_hours
    if time.record_every_hours <= total_h and left > 1e-9 and time.record_every_hours - left > 1e-9:
        last = (total_h - left) / 24.0
        found.append(
            (
                ("time", "record_every_hours"),
                f"{time.days:g} days is not a whole number of {time.record_every_hours:g} h "
                f"intervals: the last observation is at day {last:g}, the last {left:g} h are "
                "simulated but not recorded",
            )
        )
    subclones = scenario.tumor.subclones
    for name in Subclones.model_fields:
        marker = getattr(subclones, name)
        if isinstance(marker, MarkerDistribution) and marker.pattern != "patchy":
            if "length_um" in marker.model_fields_set:
                found.append(
                    (
                        ("tumor", "subclones", name, "length_um"),
                        f"length_um is read only with pattern: patchy, not {marker.pattern}",
                    )
                )
    return found


def _merged(base: _Strict, change: _Strict | None) -> Any:
    """``base`` with the fields the user set in ``change``, field by field at every depth (an
    arm setting ``tumor.antigenicity.mean`` keeps the scenario's ``antigenicity.sd``)."""
    if change is None:
        return base
    update = {}
    for name in change.model_fields_set:
        value, current = getattr(change, name), getattr(base, name)
        both_sections = isinstance(value, _Strict) and isinstance(current, _Strict)
        update[name] = _merged(current, value) if both_sections else value
    return base.model_copy(update=update)
