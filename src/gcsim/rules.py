"""Rules as data: how each kernel's rule constants follow from the parameter table and the
step's effect channels, and the behaviour table a reader checks them against.

Each kernel takes a ``NamedTuple`` of per-step constants (``TumorRules``, ``ImmuneRules``…).
A ``RuleSet`` declares every field of one of them as an ``Input``: which parameters (and
channels) it reads and how it converts them — a rate into a per-step probability, a time
constant into a relaxation fraction, a Hill half-max and power passed as they are. ``compile``
evaluates the declarations; nothing else maps parameters to kernels.

``gcsim.behaviours.BEHAVIOURS`` is the same biology read as a PhysiCell-style rule table;
a test checks the two agree: every Hill power a rule set reads appears in the table and every
parameter the table names is read by a rule set.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple

from gcsim.effects import Effects
from gcsim.kernels.immune import ImmuneRules, RecruitmentRules
from gcsim.kernels.secretion import SecretionRules
from gcsim.kernels.tumor import TumorRules
from gcsim.kernels.vessels import VesselRules
from gcsim.parameter import per_step


@dataclass(frozen=True)
class Context:
    """What conversions need besides the parameters: the step length and the site size."""

    params: Mapping[str, float]
    dt_h: float
    site_um: float


Convert = Callable[[Context, Any], float | int]


@dataclass(frozen=True)
class Input:
    """One field of a kernel's rules: the parameters and channels it reads and its conversion."""

    field: str
    params: tuple[str, ...]
    convert: Convert
    rule: str  # the conversion in words, for the table and for reviewers
    channels: tuple[str, ...] = ()


def value(field: str, name: str) -> Input:
    """The parameter as it is (a threshold, a half-max, a Hill power, a weight)."""
    return Input(field, (name,), lambda c, e: c.params[name], "value")


def probability(field: str, name: str, channel: str | None = None) -> Input:
    """A rate (1/h) as the probability of the event within one step, 1 − exp(−rate·dt);
    with ``channel``, the rate is first multiplied by that factor channel."""
    if channel is None:
        return Input(field, (name,), lambda c, e: per_step(c.params[name], c.dt_h), "1−exp(−r·dt)")
    return Input(
        field,
        (name,),
        lambda c, e: per_step(c.params[name] * getattr(e, channel), c.dt_h),
        f"1−exp(−r·{channel}·dt)",
        (channel,),
    )


def relaxation(field: str, name: str) -> Input:
    """A time constant τ (h) as the fraction of a gap closed per step, 1 − exp(−dt/τ)."""
    return Input(
        field, (name,), lambda c, e: per_step(1.0 / c.params[name], c.dt_h), "1−exp(−dt/τ)"
    )


def scaled(field: str, name: str, channel: str) -> Input:
    """The parameter times a factor channel."""
    return Input(
        field,
        (name,),
        lambda c, e: c.params[name] * getattr(e, channel),
        f"× {channel}",
        (channel,),
    )


def channel(field: str, name: str) -> Input:
    """A channel's value for this step (neutral when untreated)."""
    return Input(field, (), lambda c, e: getattr(e, name), "channel", (name,))


def derived(field: str, params: tuple[str, ...], convert: Convert, rule: str, *channels: str):
    """A conversion that is none of the above, written out with its rule."""
    return Input(field, params, convert, rule, channels)


@dataclass(frozen=True)
class RuleSet:
    """The declared inputs of one kernel's rules tuple."""

    name: str
    kernel_rules: type[NamedTuple]
    inputs: tuple[Input, ...]

    def __post_init__(self) -> None:
        declared = [i.field for i in self.inputs]
        expected = list(self.kernel_rules._fields)
        if sorted(declared) != sorted(expected):
            missing = sorted(set(expected) - set(declared))
            extra = sorted(set(declared) - set(expected))
            raise TypeError(f"rule set {self.name!r}: missing {missing}, not in the kernel {extra}")

    # Read on every step of a treated model: computed once per rule set.
    @cached_property
    def channels(self) -> frozenset[str]:
        """The channels any input reads."""
        return frozenset(c for i in self.inputs for c in i.channels)

    @cached_property
    def _fed(self) -> tuple[Input, ...]:
        return tuple(i for i in self.inputs if i.channels)

    def compile(self, context: Context, effects: Any) -> Any:
        """The kernel's rules tuple for these parameters and this step's effects."""
        return self.kernel_rules(**{i.field: i.convert(context, effects) for i in self.inputs})

    def update(self, base: Any, context: Context, effects: Any) -> Any:
        """``base`` with only the channel-fed fields recomputed (``base`` if all are neutral)."""
        if all(effects.is_neutral(name) for name in self.channels):
            return base
        return base._replace(**{i.field: i.convert(context, effects) for i in self._fed})


def _substeps(speed: str) -> Convert:
    # lattice moves per step: speed (µm/min) · 60 · dt / site size, at least one
    return lambda c, e: max(1, round(c.params[speed] * (60.0 * c.dt_h / c.site_um)))


def _leak_relax(c: Context, e: Any) -> float:
    # τ = 0: the leak follows the VEGF signal at once (relax_leak sets the target itself)
    tau = c.params["vessel.leak_relaxation_time"]
    return 1.0 if tau <= 0.0 else per_step(1.0 / tau, c.dt_h)


def _leak_relaxes(field: str) -> Input:
    return derived(
        field,
        ("vessel.leak_relaxation_time",),
        lambda c, e: 1.0 if c.params["vessel.leak_relaxation_time"] > 0.0 else 0.0,
        "1 if τ > 0 (flow reads the relaxed leak) else 0",
    )


TUMOR = RuleSet(
    "tumor",
    TumorRules,
    (
        derived(
            "cycle_per_step",
            ("tumor.cycle_rate",),
            lambda c, e: c.params["tumor.cycle_rate"] * c.dt_h,
            "r·dt",
        ),
        value("proliferation_threshold", "tumor.proliferation_po2"),
        value("proliferation_saturation", "tumor.proliferation_saturation"),
        value("necrosis_threshold", "tumor.necrosis_threshold"),
        value("necrosis_max_po2", "tumor.necrosis_max_po2"),
        probability("necrosis_p", "tumor.necrosis_rate"),
        probability("apoptosis_p", "tumor.apoptosis_rate"),
        value("stroma_invasion", "tumor.stroma_invasion"),
        relaxation("pdl1_relax", "pdl1.response_time"),
        value("pdl1_ifng_half_max", "pdl1.induction_half_max"),
        value("pdl1_ifng_hill", "pdl1.induction_hill"),
        channel("pdl1_factor", "pdl1_expression"),
        probability("clearance_p", "tumor.necrotic_clearance_rate"),
    ),
)

VESSELS = RuleSet(
    "vessels",
    VesselRules,
    (
        probability("sprout_p", "vessel.sprout_rate"),
        value("vegf_half_max", "vessel.sprout_vegf_half_max"),
        value("vegf_hill", "vessel.vegf_hill"),
        relaxation("maturity_relax", "vessel.maturation_time"),
        value("sprout_maturity", "vessel.sprout_maturity"),
        value("survival_half_max", "vessel.vegf_survival_half_max"),
        value("survival_hill", "vessel.vegf_survival_hill"),
        value("stable_maturity", "vessel.stable_maturity"),
        probability("regression_p", "vessel.immature_regression_rate"),
        derived(
            "leak_relax",
            ("vessel.leak_relaxation_time",),
            _leak_relax,
            "1−exp(−dt/τ); 1 at τ = 0",
        ),
        value("leak_max", "vessel.vegf_leak_max"),
        value("leak_half_max", "vessel.vegf_leak_half_max"),
        value("leak_hill", "vessel.vegf_leak_hill"),
    ),
)

SECRETION = RuleSet(
    "secretion",
    SecretionRules,
    (
        scaled("consumption_tumor", "oxygen.consumption_tumor", "tumor_oxygen_consumption"),
        value("consumption_stroma", "oxygen.consumption_stroma"),
        value("consumption_immune", "oxygen.consumption_immune"),
        value("consumption_km", "oxygen.consumption_km"),
        value("uptake_background", "oxygen.background_decay"),
        value("vessel_exchange", "oxygen.vessel_exchange"),
        value("perfusion_threshold", "vessel.perfusion_threshold"),
        value("leak_max", "vessel.vegf_leak_max"),
        value("leak_half_max", "vessel.vegf_leak_half_max"),
        value("leak_hill", "vessel.vegf_leak_hill"),
        _leak_relaxes("leak_relaxes"),
        value("vegf_hypoxic", "vegf.secretion_hypoxic"),
        value("vegf_basal_fraction", "vegf.basal_fraction"),
        value("hypoxic_threshold", "tumor.hypoxic_po2"),
        value("chemokine", "chemokine.secretion"),
        value("chemokine_basal_fraction", "chemokine.basal_fraction"),
        value("chemokine_ifng_half_max", "chemokine.ifng_half_max"),
        value("chemokine_ifng_hill", "chemokine.ifng_hill"),
        value("ifng", "ifng.secretion"),
        value("tgfb", "tgfb.secretion"),
    ),
)


def _reinvigoration(c: Context, e: Any) -> float:
    # exhausted CD8s regain function at ici.reinvigoration_rate × occupancy (per h)
    return per_step(e.pd1_occupancy * c.params["ici.reinvigoration_rate"], c.dt_h)


IMMUNE = RuleSet(
    "immune",
    ImmuneRules,
    (
        derived("dt_h", (), lambda c, e: c.dt_h, "dt"),
        derived("cd8_substeps", ("cd8.speed",), _substeps("cd8.speed"), "speed·dt/site"),
        derived(
            "other_substeps",
            ("suppressive.speed",),
            _substeps("suppressive.speed"),
            "speed·dt/site",
        ),
        value("chemotaxis_bias", "cd8.chemotaxis_bias"),
        value("stroma_permeability", "cd8.stroma_permeability"),
        scaled("kill_p", "cd8.kill_probability", "t_cell_killing"),
        channel("antigen_presentation", "antigen_presentation"),
        value("engagement_h", "cd8.engagement_time"),
        derived(
            "exhaustion_per_kill",
            ("cd8.kill_capacity",),
            lambda c, e: 1.0 / c.params["cd8.kill_capacity"],
            "1/capacity",
        ),
        value("pd1_exhaustion_gain", "pd1.exhaustion_gain"),
        value("pd1_brake_max", "pd1.brake_max"),
        channel("pd1_occupancy", "pd1_occupancy"),
        derived(
            "reinvigoration_p",
            ("ici.reinvigoration_rate",),
            _reinvigoration,
            "1−exp(−r·occupancy·dt)",
            "pd1_occupancy",
        ),
        derived(
            "reinvigorated_exhaustion",
            ("ici.reinvigorated_kills", "cd8.kill_capacity"),
            lambda c, e: max(
                0.0, 1.0 - c.params["ici.reinvigorated_kills"] / c.params["cd8.kill_capacity"]
            ),
            "1 − kills/capacity",
        ),
        value("tgfb_max", "suppression.tgfb_max"),
        value("tgfb_half_max", "suppression.tgfb_half_max"),
        value("tgfb_hill", "suppression.tgfb_hill"),
        value("contact_suppression", "suppression.treg_contact"),
        channel("treg_suppression", "treg_suppression"),
        channel("mdsc_suppression", "mdsc_suppression"),
        value("division_p", "cd8.division_probability"),
        derived(
            "max_divisions",
            ("cd8.max_divisions",),
            lambda c, e: round(c.params["cd8.max_divisions"]),
            "rounded",
        ),
        probability("cd8_death_p", "cd8.death_rate"),
        derived(
            "exhausted_death_p",
            ("cd8.death_rate", "cd8.exhausted_death_multiplier"),
            lambda c, e: per_step(
                c.params["cd8.death_rate"] * c.params["cd8.exhausted_death_multiplier"], c.dt_h
            ),
            "1−exp(−r·m·dt)",
        ),
        probability("treg_death_p", "treg.death_rate"),
        probability("mdsc_death_p", "mdsc.death_rate"),
        probability("macrophage_death_p", "macrophage.death_rate"),
        relaxation("polarisation_relax", "macrophage.polarisation_time"),
        value("m1_ifng_half_max", "macrophage.ifng_m1_half_max"),
        value("m1_ifng_hill", "macrophage.ifng_m1_hill"),
        value("m2_tgfb_half_max", "macrophage.tgfb_m2_half_max"),
        value("m2_tgfb_hill", "macrophage.tgfb_m2_hill"),
        value("hypoxia_m2", "macrophage.hypoxia_m2"),
        value("vegf_m2", "macrophage.vegf_m2"),
        value("vegf_half_max", "macrophage.vegf_m2_half_max"),
        value("vegf_hill", "macrophage.vegf_m2_hill"),
        channel("m1_stimulus", "m1_stimulus"),
        value("hypoxia_lo", "macrophage.hypoxia_full_po2"),
        value("hypoxia_hi", "macrophage.hypoxia_onset_po2"),
    ),
)

RECRUITMENT = RuleSet(
    "recruitment",
    RecruitmentRules,
    (
        value("perfusion_threshold", "vessel.perfusion_threshold"),
        value("leak_max", "vessel.vegf_leak_max"),
        value("leak_half_max", "vessel.vegf_leak_half_max"),
        value("leak_hill", "vessel.vegf_leak_hill"),
        _leak_relaxes("leak_relaxes"),
        probability("cd8_p", "cd8.influx_rate"),
        value("treg_ratio", "treg.influx_ratio"),
        probability("mdsc_p", "mdsc.influx_rate", channel="mdsc_recruitment"),
        probability("macrophage_p", "macrophage.influx_rate"),
        value("chemokine_half_max", "chemokine.half_max"),
        value("chemokine_hill", "chemokine.recruitment_hill"),
        value("vegf_half_max", "mdsc.vegf_half_max"),
        value("vegf_hill", "mdsc.vegf_hill"),
    ),
)

RULE_SETS: tuple[RuleSet, ...] = (TUMOR, VESSELS, SECRETION, IMMUNE, RECRUITMENT)


class CompiledRules:
    """The rules of one model: compiled once for the untreated state, updated per step only
    in the fields a moved channel feeds."""

    def __init__(self, params: Mapping[str, float], dt_h: float, site_um: float) -> None:
        self.context = Context(params, dt_h, site_um)
        neutral = Effects()
        self.base = {rs.name: rs.compile(self.context, neutral) for rs in RULE_SETS}
        self._sets = {rs.name: rs for rs in RULE_SETS}

    def for_step(self, name: str, effects: Any) -> Any:
        """Rule set ``name``'s rules under this step's ``effects``."""
        return self._sets[name].update(self.base[name], self.context, effects)
