"""The ``patient:`` section of a scenario: lesions, their windows and the bridge settings.

Validated like every scenario section (``extra="forbid"``, located one-line errors through
``gcsim.validation.FieldError``). RECIST 1.1 rules checked here: a target lesion is measurable
(longest diameter ≥ 10 mm; a lymph node ≥ 15 mm short axis), at most 5 targets and at most 2
per organ (``site``); a node below 10 mm is normal, not a lesion.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from gcsim.recist import MAX_TARGETS, MAX_TARGETS_PER_ORGAN, NODES_ORGAN
from gcsim.scenario.sections import Immune, Tumor, _check_parameters
from gcsim.validation import FieldError
from gcsim.validation import Strict as _Strict

LESION_NAME = r"^[A-Za-z0-9_.\-]+$"
MEASURABLE_MM = 10.0  # RECIST 1.1: longest diameter of a measurable non-nodal lesion on CT
NODE_MEASURABLE_MM = 15.0  # short axis of a measurable (target) lymph node
NODE_NORMAL_MM = 10.0  # short axis below which a node is normal
MAX_DIAMETER_MM = 250.0  # no lesion is larger: a larger number is in the wrong unit
UM_HINT_FROM = 1000.0  # a diameter_mm this large reads as µm: the error says so


class Window(_Strict):
    """One lattice window of a lesion: a full ``GastricTumorModel`` that samples a region."""

    region: Annotated[
        Literal["margin", "core"],
        Field(
            description="what the window samples: 'margin' (a tumour disc in normal tissue, "
            "with its invasive front) or 'core' (tumour nearly filling the window)"
        ),
    ] = "margin"
    center_mm: Annotated[
        tuple[float, float] | None,
        Field(
            description="(x, y) of the window's centre in the lesion's mid-plane, mm from the "
            "lesion centre; windows of a lesion may not overlap. None = placed automatically "
            "(margin windows on the boundary, core windows near the centre)"
        ),
    ] = None


class Bridge(_Strict):
    """How windows and lesions exchange (docs/patient-scale.md)."""

    exchange_hours: Annotated[
        float,
        Field(
            gt=0,
            le=48,
            description="hours between exchanges of rates (windows → lesion) and of priming, "
            "lesion size and drug exposure (lesion → windows); 6 h as in spQSP-IO",
        ),
    ] = 6.0
    window_sites: Annotated[
        int,
        Field(
            ge=30,
            le=400,
            description="edge of each (square) window, in lattice sites",
        ),
    ] = 80
    window_tumor_fraction: Annotated[
        float,
        Field(
            gt=0,
            le=0.9,
            description="radius of a margin window's tumour disc at its start and at each "
            "re-seeding, as a fraction of the window's half-width",
        ),
    ] = 0.5
    spinup_days: Annotated[
        float,
        Field(
            ge=0,
            le=180,
            description="days each lesion's windows are simulated untreated before the run "
            "starts, so that their lattices relax from their initial condition (T cells seeded "
            "at the phenotype's density, a packed core) before their rates count; a margin "
            "window's spin-up ends early if its front reaches the window's edge; re-seeded "
            "windows are not spun up; 56 d: the windows' T-cell densities level off within "
            "about 4-8 weeks (docs/decisions/0027)",
        ),
    ] = 56.0
    windows: Annotated[
        list[Window],
        Field(min_length=1, max_length=8, description="default windows of every lesion"),
    ] = Field(default_factory=lambda: [Window()])


class Lesion(_Strict):
    """One lesion of the patient, measured as RECIST 1.1 measures it."""

    name: Annotated[str, Field(min_length=1, max_length=40, pattern=LESION_NAME)]
    site: Annotated[
        str,
        Field(
            min_length=1,
            max_length=40,
            description="organ or site label (stomach, liver, node…): RECIST counts at most "
            "2 target lesions per organ",
        ),
    ]
    diameter_mm: Annotated[
        float,
        Field(
            description="initial longest diameter in mm (a lymph node: its short axis); the "
            "lesion is a sphere of that diameter"
        ),
    ]
    node: Annotated[bool, Field(description="a lymph node (measured on its short axis)")] = False
    target: Annotated[
        bool, Field(description="a RECIST target lesion (summed); false = non-target (tracked)")
    ] = True
    irradiated: Annotated[
        bool,
        Field(
            description="in the radiation field: the arms' radiotherapy entries apply to this "
            "lesion (unless an entry names its own `lesions`)"
        ),
    ] = False
    tumor: Annotated[Tumor | None, Field(description="tumour fields that differ here")] = None
    immune: Annotated[Immune | None, Field(description="immune fields that differ here")] = None
    parameters: Annotated[
        dict[str, float], Field(description="parameter overrides for this lesion")
    ] = Field(default_factory=dict)
    windows: Annotated[
        list[Window] | None,
        Field(
            min_length=1, max_length=8, description="this lesion's windows; None = bridge.windows"
        ),
    ] = None

    _known_parameters = field_validator("parameters")(_check_parameters)

    @model_validator(mode="after")
    def _measurable(self) -> Lesion:
        d = self.diameter_mm
        if not math.isfinite(d) or d <= 0:
            raise FieldError(("diameter_mm",), f"{d:g} mm is not a diameter")
        if d > MAX_DIAMETER_MM:
            # the µm hint only where the number reads as micrometres (≥ 1 mm in µm)
            hint = f" ({d:g} µm is {d / 1000:g} mm)" if d >= UM_HINT_FROM else ""
            raise FieldError(
                ("diameter_mm",),
                f"{d:g} mm is larger than any lesion (at most {MAX_DIAMETER_MM:g} mm): the "
                f"diameter is in mm{hint}",
            )
        if d < 1.0:
            raise FieldError(
                ("diameter_mm",),
                f"{d:g} mm is below 1 mm, not a lesion CT could measure: the diameter is in mm "
                f"({d:g} cm is {d * 10:g} mm)",
            )
        need = NODE_MEASURABLE_MM if self.node else MEASURABLE_MM
        if self.target and d < need:
            kind = "lymph node (short axis)" if self.node else "lesion"
            raise FieldError(
                ("diameter_mm",),
                f"{d:g} mm is below RECIST 1.1's measurable size for a target {kind}, "
                f"{need:g} mm: make it larger or `target: false`",
            )
        if self.node and d < NODE_NORMAL_MM:
            raise FieldError(
                ("diameter_mm",),
                f"a lymph node of {d:g} mm short axis is normal (< {NODE_NORMAL_MM:g} mm), "
                "not a lesion",
            )
        return self


def _auto_centres(windows: list[Window], radius_mm: float, edge_mm: float) -> list[tuple]:
    """Centres of windows: their ``center_mm``, or for windows without one a place apart from
    every other: margin windows start at the lesion's boundary (x = radius), core windows at
    its centre, and each further one is one window width further along y."""
    out: list[tuple] = []
    placed = 0
    for w in windows:
        if w.center_mm is not None:
            out.append(w.center_mm)
            continue
        x = radius_mm if w.region == "margin" else 0.0
        out.append((x, placed * edge_mm * 1.01))
        placed += 1
    return out


class Patient(_Strict):
    """A patient: lesions carried by compartment models whose rates come from lattice windows,
    and one lymph node shared by all lesions (docs/patient-scale.md)."""

    lesions: Annotated[list[Lesion], Field(min_length=1, max_length=20)]
    bridge: Bridge = Bridge()
    shared_lymph_node: Annotated[
        bool,
        Field(
            description="one lymph node fed by every lesion's antigen and priming every "
            "lesion (true), or one per lesion fed by its own (false: no abscopal route)"
        ),
    ] = True

    @model_validator(mode="after")
    def _recist_targets(self) -> Patient:
        names: dict[str, int] = {}
        for i, lesion in enumerate(self.lesions):
            if lesion.name in names:
                raise FieldError(
                    ("lesions", i, "name"),
                    f"lesion {lesion.name!r} is named twice (also lesions[{names[lesion.name]}])",
                )
            names[lesion.name] = i
        targets = [i for i, lesion in enumerate(self.lesions) if lesion.target]
        if len(targets) > MAX_TARGETS:
            raise FieldError(
                ("lesions", targets[MAX_TARGETS], "target"),
                f"RECIST 1.1 allows at most {MAX_TARGETS} target lesions; this is the "
                f"{len(targets[: MAX_TARGETS + 1])}th (make it `target: false`)",
            )
        per_site: dict[str, list[int]] = {}
        for i in targets:  # all lymph nodes are one organ (RECIST 1.1 FAQ), whatever their site
            lesion = self.lesions[i]
            organ = NODES_ORGAN if lesion.node else lesion.site.casefold()
            per_site.setdefault(organ, []).append(i)
        for site, members in per_site.items():
            if len(members) > MAX_TARGETS_PER_ORGAN:
                raise FieldError(
                    ("lesions", members[MAX_TARGETS_PER_ORGAN], "target"),
                    f"RECIST 1.1 allows at most {MAX_TARGETS_PER_ORGAN} target lesions per "
                    f"organ; site {site!r} has {len(members)} (make one `target: false`)",
                )
        return self

    def irradiated_names(self) -> list[str]:
        """Names of the lesions marked ``irradiated``: a field treatment's default target."""
        return [lesion.name for lesion in self.lesions if lesion.irradiated]

    def check_windows(self, site_um: float) -> None:
        """FieldError (located below ``patient``) if two windows of a lesion overlap, for
        lattice sites of ``site_um`` µm."""
        edge = self.window_edge_mm(site_um)
        for i, lesion in enumerate(self.lesions):
            windows = self.windows_of(lesion)
            centres = self.window_centres_mm(lesion, site_um)
            for a in range(len(windows)):
                for b in range(a):
                    (xa, ya), (xb, yb) = centres[a], centres[b]
                    if abs(xa - xb) < edge and abs(ya - yb) < edge:
                        where = ("lesions", i, "windows", a) if lesion.windows else ("bridge",)
                        raise FieldError(
                            (*where, "center_mm") if lesion.windows else (*where, "windows"),
                            f"windows {b} and {a} of lesion {lesion.name!r} overlap (centres "
                            f"({xb:g}, {yb:g}) and ({xa:g}, {ya:g}) mm, windows "
                            f"{edge:g} mm wide): a window samples tissue no other window "
                            "samples",
                        )

    def windows_of(self, lesion: Lesion) -> list[Window]:
        """The lesion's windows (its own, or the bridge's defaults)."""
        return lesion.windows if lesion.windows is not None else self.bridge.windows

    def window_edge_mm(self, site_um: float) -> float:
        """Edge of one window in mm: ``window_sites`` sites of ``site_um`` µm."""
        return self.bridge.window_sites * site_um / 1000.0

    def window_centres_mm(self, lesion: Lesion, site_um: float) -> list[tuple]:
        """Each window's centre in the lesion's mid-plane (mm from the lesion centre)."""
        return _auto_centres(
            self.windows_of(lesion), lesion.diameter_mm / 2, self.window_edge_mm(site_um)
        )
