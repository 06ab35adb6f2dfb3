"""Effect channels: the declared mechanism inputs a therapy may move in one step.

A therapy never reaches into the rules: it moves channels, and each channel has exactly one
reader in the step pipeline (named in ``reader``), which turns it into a rule input. Therapies
given together combine per channel by the channel's rule, so combinations follow from the
mechanisms and no arm is special-cased:

* ``blockade`` — independent fractional blockades, ``1 − (1 − a)(1 − b)`` (neutral 0);
* ``factor`` — multiplicative factors on a rate or level, ``a · b`` (neutral 1);
* ``sum`` — additive drives or amounts, ``a + b`` (neutral 0).

Adding a channel is one declaration in ``CHANNELS`` plus its reader (docs/architecture.md,
"add an effect channel"). Channels are scalars for the whole lattice; a spatially varying
effect (a drug's tissue exposure) is a field the therapy computes, not a channel.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, make_dataclass
from typing import Any, Literal

Combine = Literal["blockade", "factor", "sum"]
NEUTRAL: dict[Combine, float] = {"blockade": 0.0, "factor": 1.0, "sum": 0.0}


@dataclass(frozen=True)
class Channel:
    """One mechanism input: its name, how therapies combine on it, its unit, its reader."""

    name: str
    combine: Combine
    unit: str
    reader: str  # the one place in the step that reads it (module.function)
    description: str
    recorded: bool = False  # written to the time series as a metric of its own name

    @property
    def neutral(self) -> float:
        return NEUTRAL[self.combine]


CHANNELS: tuple[Channel, ...] = (
    Channel(
        "pd1_occupancy",
        "blockade",
        "fraction",
        "rules.IMMUNE → kernels.immune (kill brake, exhaustion)",
        "fraction of PD-1/PD-L1 interactions blocked",
        recorded=True,
    ),
    Channel(
        "vegf_block",
        "blockade",
        "fraction",
        "GastricTumorModel._vegf_signal (vessels, recruitment, macrophages)",
        "fraction of the VEGF signal neutralised before endothelium and myeloid cells read it",
        recorded=True,
    ),
    Channel(
        "m1_stimulus",
        "sum",
        "Hill units",
        "rules.IMMUNE → kernels.immune (macrophage polarisation)",
        "M1 drive added to Hill(IFN-γ) in macrophage polarisation",
        recorded=True,
    ),
    Channel(
        "lymphocyte_supply",
        "factor",
        "× T-cell supply from blood",
        "GastricTumorModel._recruitment → kernels.immune.recruit",
        "factor on CD8 and Treg extravasation (lymphodepletion lowers it)",
        recorded=True,
    ),
    Channel(
        "radiation_death_weight",
        "sum",
        "antigen per death (kill units)",
        "GastricTumorModel._antigen_released (antigen sent to priming)",
        "antigen released per mitotic death after radiation (cGAS–STING adjuvant)",
    ),
    Channel(
        "antigen",
        "sum",
        "kill units",
        "GastricTumorModel._antigen_released (antigen sent to priming)",
        "antigen released this step by treatment-induced deaths (immunogenic cell death)",
    ),
    Channel(
        "vessel_oxygen_supply",
        "factor",
        "× blood pO₂ (oxygen.blood)",
        "GastricTumorModel._solve_fields (oxygen boundary value at perfused vessels)",
        "factor on the oxygen tension of blood in perfused vessels (hyperbaric oxygen raises it)",
    ),
    Channel(
        "tumor_oxygen_consumption",
        "factor",
        "× oxygen.consumption_tumor",
        "rules.SECRETION → kernels.secretion.oxygen_coefficients",
        "factor on a tumour cell's oxygen consumption (OXPHOS inhibitors lower it)",
    ),
    Channel(
        "antigen_presentation",
        "factor",
        "× antigenicity seen by CD8 T cells",
        "rules.IMMUNE → kernels.immune (recognition and kill)",
        "factor on MHC-I presentation of a tumour cell's antigen (capped at full presentation)",
    ),
    Channel(
        "pdl1_expression",
        "factor",
        "× PD-L1 target level",
        "rules.TUMOR → kernels.tumor (PD-L1 relaxation target)",
        "factor on tumour PD-L1 expression, constitutive and IFN-γ-induced (capped at 1)",
    ),
    Channel(
        "mdsc_recruitment",
        "factor",
        "× mdsc.influx_rate",
        "rules.RECRUITMENT → kernels.immune.recruit",
        "factor on MDSC extravasation",
    ),
    Channel(
        "mdsc_suppression",
        "factor",
        "× MDSC contact suppression",
        "rules.IMMUNE → kernels.immune.kill_probability",
        "factor on the contact suppression of killing by an adjacent MDSC",
    ),
    Channel(
        "treg_suppression",
        "factor",
        "× Treg contact suppression",
        "rules.IMMUNE → kernels.immune.kill_probability",
        "factor on the contact suppression of killing by an adjacent Treg",
    ),
    Channel(
        "t_cell_killing",
        "factor",
        "× cd8.kill_probability",
        "rules.IMMUNE → kernels.immune.kill_probability",
        "factor on a CD8 T cell's per-engagement kill probability",
    ),
    Channel(
        "priming_gain",
        "factor",
        "× presented antigen",
        "GastricTumorModel._update_priming (lymph-node Hill drive)",
        "factor on the priming drive of antigen presented in the lymph node",
    ),
    Channel(
        "antibody_delivery",
        "factor",
        "× antibody tissue exposure",
        "GastricTumorModel._delivery_factor (delivery, lesion_delivery of antibodies)",
        "factor on the tissue exposure of antibodies (matrix depletion by hyperbaric oxygen "
        "raises it)",
    ),
)
CHANNELS_BY_NAME: dict[str, Channel] = {c.name: c for c in CHANNELS}
RECORDED: tuple[str, ...] = tuple(c.name for c in CHANNELS if c.recorded)


def _combine(self: Any, name: str, value: float) -> None:
    """Add ``value`` to channel ``name`` by the channel's rule (blockade, factor or sum)."""
    channel = CHANNELS_BY_NAME.get(name)
    if channel is None:
        raise KeyError(f"unknown effect channel {name!r}; channels: {', '.join(CHANNELS_BY_NAME)}")
    current = getattr(self, name)
    if channel.combine == "blockade":
        setattr(self, name, 1.0 - (1.0 - current) * (1.0 - value))
    elif channel.combine == "factor":
        setattr(self, name, current * value)
    else:
        setattr(self, name, current + value)


def _is_neutral(self: Any, name: str) -> bool:
    """True when channel ``name`` holds its neutral value (no therapy moved it)."""
    return getattr(self, name) == CHANNELS_BY_NAME[name].neutral


def _add_blockade(self: Any, attribute: str, fraction: float) -> None:
    """Deprecated: ``combine(name, value)`` combines by the channel's own rule."""
    warnings.warn(
        "Effects.add_blockade is deprecated: use effects.combine(name, value)",
        DeprecationWarning,
        stacklevel=2,
    )
    self.combine(attribute, fraction)


Effects = make_dataclass(
    "Effects",
    [(c.name, float, field(default=c.neutral)) for c in CHANNELS],
    namespace={
        "combine": _combine,
        "is_neutral": _is_neutral,
        "add_blockade": _add_blockade,
        "__module__": __name__,
    },
)
Effects.__doc__ = (
    "What all active therapies do to the model in one step: one float per channel of "
    "``CHANNELS``, at its neutral value when untreated. Therapies move a channel with "
    "``effects.combine(name, value)``."
)
