"""The scenario sections that a patient's lesions override (``tumor``, ``immune``,
``parameters``): defined here so that gcsim.scenario.schema and gcsim.patient.schema both build
on them without importing each other."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag

from gcsim.params import ALIASES, DEFAULTS_BY_NAME, REPLACED, is_known, resolve_aliases
from gcsim.validation import MAPPING_TAG, NUMBER_TAG, number_or_mapping
from gcsim.validation import Strict as _Strict


class Antigenicity(_Strict):
    """Per-cell antigenicity (0 = invisible to T cells, 1 = reference neoantigen load), drawn
    per cell at the start from a normal distribution clipped to [0, 1] and copied at division."""

    mean: Annotated[
        float,
        Field(ge=0, le=1, description="the tumour's (clonal) antigenicity level; Assumption"),
    ] = 0.6
    sd: Annotated[
        float,
        Field(
            ge=0,
            le=0.5,
            description="per-cell spread around the tumour's level: small, because "
            "neoantigens are largely clonal and clonal neoantigen burden goes with durable "
            "benefit from PD-1 blockade (McGranahan et al., Science 2016; M); decision 0025 "
            "(was 0.15, which put antigen-loss variants in every tumour)",
        ),
    ] = 0.05


MarkerPattern = Literal["scattered", "patchy", "sectoral"]


class MarkerDistribution(_Strict):
    """One subclone marker written as a mapping: the fraction of initial tumour cells that carry
    it, how they are laid out on the lattice, and how faithfully daughters inherit it. A plain
    number for the marker is ``fraction`` with the defaults below (scattered, always inherited).
    """

    fraction: Annotated[
        float,
        Field(ge=0, le=1, description="fraction of the initial tumour cells carrying the marker"),
    ]
    pattern: Annotated[
        MarkerPattern,
        Field(
            description="scattered: each cell carries it independently with probability "
            "fraction; patchy: the cells where a smoothed random field is highest (clusters a "
            "few length_um across); sectoral: one angular sector around the tumour's centre. "
            "patchy and sectoral mark exactly round(fraction × tumour cells)"
        ),
    ] = "scattered"
    length_um: Annotated[
        float,
        Field(
            gt=0,
            le=20000,
            description="patchy only (not read otherwise): s.d. of the Gaussian smoothing the "
            "white noise, µm (the field's correlation falls to 1/e at 2 × length_um); an "
            "assumption",
        ),
    ] = 200.0
    heritability: Annotated[
        float,
        Field(
            ge=0,
            le=1,
            description="probability that each daughter keeps the marker at division (1 = "
            "always, as a plain fraction; below 1 it is lost with probability 1 − "
            "heritability; never gained)",
        ),
    ] = 1.0


# A marker is a plain fraction (scattered, always inherited: the original form, kept as it is
# so that old scenarios validate, dump and hash as before) or a MarkerDistribution. The value's
# kind picks the member, so an error reports that member's problem alone.
Marker = Annotated[
    Annotated[Annotated[float, Field(ge=0, le=1)], Tag(NUMBER_TAG)]
    | Annotated[MarkerDistribution, Tag(MAPPING_TAG)],
    Discriminator(number_or_mapping),
]


def _marker(description: str) -> Any:
    return Field(
        description=f"{description}: fraction of the initial tumour cells (0–1), or a mapping "
        "{fraction, pattern, length_um, heritability}"
    )


class Subclones(_Strict):
    """Fraction of tumour cells carrying each marker at the start (heritable on division), each a
    plain fraction (scattered) or a :class:`MarkerDistribution` (pattern and heritability)."""

    her2: Annotated[Marker, _marker("HER2-positive (ERBB2-amplified) cells")] = 0.0
    fgfr2b: Annotated[Marker, _marker("FGFR2b-overexpressing cells")] = 0.0
    cldn18_2: Annotated[Marker, _marker("CLDN18.2-positive cells")] = 0.0
    hrd: Annotated[
        Marker, _marker("homologous-recombination-deficient cells (PARP inhibitors)")
    ] = 0.0
    dkk1_high: Annotated[Marker, _marker("DKK1-high cells")] = 0.0
    chemo_resistant: Annotated[
        Marker,
        _marker(
            "cytotoxic-resistant cells at the start (they die at "
            "chemo.resistant_sensitivity of the rate of the others); pre-existing resistance, "
            "Goldie & Coldman 1979; drug-tolerant cells ≈ 0.3 % of a carcinoma cell population, "
            "Sharma et al., Cell 2010 (M); decision 0018",
        ),
    ] = 0.003

    def distribution(self, name: str) -> MarkerDistribution:
        """Marker ``name`` as a distribution (a plain fraction: scattered, always inherited)."""
        value = getattr(self, name)
        if isinstance(value, MarkerDistribution):
            return value
        return MarkerDistribution(fraction=value)

    def with_fraction(self, name: str, fraction: float) -> Subclones:
        """These subclones with marker ``name`` at ``fraction``, its pattern and heritability
        kept."""
        value = getattr(self, name)
        if isinstance(value, MarkerDistribution):
            return self.model_copy(update={name: value.model_copy(update={"fraction": fraction})})
        return self.model_copy(update={name: fraction})


class Tumor(_Strict):
    initial_radius_um: Annotated[
        float, Field(gt=0, le=20000, description="radius of the initial disc of tumour cells, µm")
    ] = 600.0
    pdl1_cps: Annotated[
        float,
        Field(
            ge=0,
            le=100,
            description="target baseline PD-L1 combined positive score (0–100), met at t = 0",
        ),
    ] = 5.0
    antigenicity: Antigenicity = Antigenicity()
    subclones: Subclones = Subclones()


Phenotype = Literal["inflamed", "excluded", "desert"]


class Immune(_Strict):
    phenotype: Annotated[
        Phenotype,
        Field(description="immune phenotype preset: sets priming, seeding and stroma barrier"),
    ] = "inflamed"
    cd8_per_mm2: Annotated[
        float | None,
        Field(
            ge=0,
            le=5000,
            description="initial CD8 density in the tumour, cells/mm²; "
            "None = the phenotype's default",
        ),
    ] = None
    priming: Annotated[
        float | None,
        Field(
            ge=0,
            le=1,
            description="baseline systemic priming of tumour-specific T cells "
            "(0–1); None = the phenotype's default",
        ),
    ] = None


def _check_parameters(value: dict[str, float]) -> dict[str, float]:
    """Check every parameter's range; deprecated aliases become the names they set (the loader
    warns about them where they are written)."""
    for key, number in value.items():
        if key in REPLACED:
            raise ValueError(REPLACED[key])
        if not is_known(key):
            raise ValueError(f"unknown parameter {key!r} (see `gcsim params`)")
        for name in ALIASES.get(key, (key,)):
            param = DEFAULTS_BY_NAME[name]
            if math.isnan(number):
                raise ValueError(f"{key} = NaN: NaN is not a number allowed here")
            if not (param.lo <= number <= param.hi):
                high = "∞" if math.isinf(param.hi) else f"{param.hi:g}"
                unit = "(dimensionless)" if param.unit in ("", "1") else param.unit
                raise ValueError(f"{key} = {number:g} is outside [{param.lo:g}, {high}] {unit}")
    return resolve_aliases(value)
