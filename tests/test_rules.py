"""Rules as data and effect channels: the declarations agree with the kernels and the table,
every channel has a reader that moves the biology, and deprecated names still work."""

from __future__ import annotations

import math
import warnings
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import small_model
from gcsim.behaviours import BEHAVIOURS
from gcsim.effects import CHANNELS, CHANNELS_BY_NAME, Effects
from gcsim.params import (
    ALIASES,
    DEFAULTS_BY_NAME,
    ParameterDeprecationWarning,
    Parameters,
)
from gcsim.rules import RULE_SETS, CompiledRules
from gcsim.scenario import load_scenario
from gcsim.state import CD8, MACROPHAGE, MDSC, TREG, TUMOR, VESSEL


def _rule_params() -> set[str]:
    return {name for rs in RULE_SETS for i in rs.inputs for name in i.params}


def test_every_rule_input_reads_known_parameters_and_channels():
    for rs in RULE_SETS:
        assert set(rs.kernel_rules._fields) == {i.field for i in rs.inputs}, rs.name
        for i in rs.inputs:
            for name in i.params:
                assert name in DEFAULTS_BY_NAME, (rs.name, i.field, name)
            for channel in i.channels:
                assert channel in CHANNELS_BY_NAME, (rs.name, i.field, channel)


def test_behaviour_table_and_rule_sets_agree():
    read = _rule_params()
    for b in BEHAVIOURS:
        for name in (b.half_max, b.hill):
            if name is not None:
                assert name in read, f"{name} is in the behaviour table but no rule reads it"
    tabled = {b.hill for b in BEHAVIOURS}
    for name in read:
        if name.endswith("_hill"):
            assert name in tabled, f"Hill power {name} is read by a rule but not in the table"


def test_conversions_follow_their_rules():
    p = Parameters()
    rules = CompiledRules(p, 0.5, 20.0)
    tumour = rules.base["tumor"]
    assert tumour.necrosis_p == pytest.approx(1 - math.exp(-p["tumor.necrosis_rate"] * 0.5))
    assert tumour.pdl1_relax == pytest.approx(1 - math.exp(-0.5 / p["pdl1.response_time"]))
    assert tumour.cycle_per_step == pytest.approx(p["tumor.cycle_rate"] * 0.5)
    immune = rules.base["immune"]
    assert immune.exhaustion_per_kill == pytest.approx(1 / p["cd8.kill_capacity"])
    assert immune.cd8_substeps == max(1, round(p["cd8.speed"] * 60 * 0.5 / 20.0))


def test_a_moved_channel_changes_only_the_fields_it_feeds():
    rules = CompiledRules(Parameters(), 1.0, 20.0)
    assert rules.for_step("immune", Effects()) is rules.base["immune"]
    effects = Effects()
    effects.combine("t_cell_killing", 0.5)
    effects.combine("pd1_occupancy", 0.8)
    moved = rules.for_step("immune", effects)
    base = rules.base["immune"]
    assert moved.kill_p == pytest.approx(0.5 * base.kill_p)
    assert moved.pd1_occupancy == 0.8 and moved.reinvigoration_p > 0.0
    unchanged = set(base._fields) - {"kill_p", "pd1_occupancy", "reinvigoration_p"}
    assert all(getattr(moved, f) == getattr(base, f) for f in unchanged)


def test_channels_combine_by_their_rule():
    e = Effects()
    assert all(e.is_neutral(c.name) for c in CHANNELS)
    e.combine("vegf_block", 0.5)
    e.combine("vegf_block", 0.5)
    assert e.vegf_block == pytest.approx(0.75)  # independent blockades
    e.combine("lymphocyte_supply", 0.5)
    e.combine("lymphocyte_supply", 0.5)
    assert e.lymphocyte_supply == pytest.approx(0.25)
    e.combine("m1_stimulus", 0.2)
    e.combine("m1_stimulus", 0.3)
    assert e.m1_stimulus == pytest.approx(0.5)
    with pytest.raises(KeyError, match="unknown effect channel 'nope'"):
        e.combine("nope", 1.0)


class _Channel:
    """A stand-in therapy that holds one channel at one value from the first step."""

    # Observers sum exposures by the therapy's kind: borrow one and add nothing to it.
    config = SimpleNamespace(kind="radiotherapy")

    def __init__(self, name: str, value: float) -> None:
        self.name, self.value = name, value

    def apply(self, model, effects) -> None:
        effects.combine(self.name, self.value)

    def exposure(self, t_h: float) -> float:
        return 0.0


def _run(channel: str | None, value: float, steps: int, **fields):
    model = small_model(seed=3, **fields)
    if channel is not None:
        model.therapies.append(_Channel(channel, value))
    for _ in range(steps):
        model.step()
    return model


def _tumour_po2(m):
    return float(m.state.oxygen[m.state.tissue == TUMOR].mean())


def _tumour_pdl1(m):
    return float(m.state.pdl1[m.state.tissue == TUMOR].mean())


def _polarisation(m):
    return float(m.state.polarisation[m.state.immune == MACROPHAGE].mean())


def _vessel_maturity(m):
    return float(m.state.maturity[m.state.tissue == VESSEL].mean())


def _mdsc_count(m):
    return int((m.state.immune == MDSC).sum())


# channel, moved value, steps, readout, direction (+1: the readout rises with the channel),
# model overrides
READERS = [
    ("vessel_oxygen_supply", 3.0, 2, _tumour_po2, +1, {}),
    ("tumor_oxygen_consumption", 0.5, 2, _tumour_po2, -1, {}),
    (
        "pdl1_expression",
        0.2,
        48,
        lambda m: float(m.state.pdl1[m.state.tissue == TUMOR].mean()),
        +1,
        {},
    ),
    ("mdsc_recruitment", 20.0, 96, _mdsc_count, +1, {}),
    ("t_cell_killing", 0.0, 96, lambda m: m.counters["kills"], +1, {}),
    ("antigen_presentation", 0.0, 96, lambda m: m.counters["engagements"], +1, {}),
    ("priming_gain", 50.0, 96, lambda m: m.priming_level, +1, {"immune__priming": 0.2}),
    ("lymphocyte_supply", 0.0, 96, lambda m: m.counters["cd8_recruited"], +1, {}),
    ("m1_stimulus", 1.0, 48, _polarisation, +1, {}),
    ("vegf_block", 0.9, 96, _vessel_maturity, +1, {}),
    ("antigen", 20.0, 48, lambda m: m.priming_level, +1, {"immune__priming": 0.2}),
    ("antibody_delivery", 2.0, 2, lambda m: m.lesion_delivery("antibody"), +1, {}),
]


@pytest.mark.parametrize(("channel", "value", "steps", "readout", "sign", "fields"), READERS)
def test_every_channel_reader_moves_the_biology(channel, value, steps, readout, sign, fields):
    neutral = readout(_run(None, 1.0, steps, **fields))
    moved = readout(_run(channel, value, steps, **fields))
    neutral_value = CHANNELS_BY_NAME[channel].neutral
    assert moved != neutral, channel
    assert np.sign(moved - neutral) == sign * np.sign(value - neutral_value), (
        channel,
        neutral,
        moved,
    )


def test_suppression_channels_weight_adjacent_suppressors():
    from gcsim.kernels.immune import kill_probability

    rules = CompiledRules(Parameters(), 1.0, 20.0).base["immune"]
    none = kill_probability(rules, 1.0, 0.0, 0.0, 0.0)
    one = kill_probability(rules, 1.0, 0.0, 0.0, 1.0)
    half = kill_probability(rules, 1.0, 0.0, 0.0, 0.5)  # one Treg at treg_suppression 0.5
    assert one < half < none


def test_a_deprecated_alias_sets_the_parameters_it_was_split_into():
    with pytest.warns(ParameterDeprecationWarning, match="suppression.tgfb_half_max"):
        p = Parameters({"tgfb.half_max": 0.3})
    for name in ALIASES["tgfb.half_max"]:
        assert p[name] == 0.3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Parameters({"suppression.tgfb_half_max": 0.3})  # a current name: no warning


@pytest.mark.parametrize("old", sorted(ALIASES))
def test_every_old_name_keeps_its_old_meaning(old):
    with pytest.warns(ParameterDeprecationWarning, match="is deprecated"):
        p = Parameters({old: 7.0})
    assert ALIASES[old] and all(p[name] == 7.0 for name in ALIASES[old])
    assert old not in DEFAULTS_BY_NAME  # renamed: no current name is also an alias


def test_a_scenario_with_an_alias_loads_with_a_located_warning(tmp_path):
    path = tmp_path / "old.yaml"
    path.write_text("name: old\nparameters:\n  tgfb.half_max: 0.2\n")
    with pytest.warns(ParameterDeprecationWarning) as caught:
        scenario = load_scenario(path)
    assert scenario.parameters == {
        "suppression.tgfb_half_max": 0.2,
        "macrophage.tgfb_m2_half_max": 0.2,
    }
    message = str(caught[0].message)
    assert message.startswith(f"{path}:3:")
    assert "parameters.tgfb.half_max" in message


@pytest.mark.parametrize(
    ("suppressor", "channel"), [(TREG, "treg_suppression"), (MDSC, "mdsc_suppression")]
)
def test_a_suppression_channel_weights_its_cell_type_in_the_immune_kernel(suppressor, channel):
    """A CD8 T cell beside a fully antigenic tumour cell and one suppressor, with contact
    suppression 1 and a sure kill otherwise: the kill happens only when the channel is 0."""
    from gcsim.kernels.immune import immune_step
    from gcsim.kernels.rng import stream_handle

    def kills(weight: float) -> int:
        effects = Effects()
        effects.combine(channel, weight)
        rules = CompiledRules(Parameters(), 1.0, 20.0).for_step("immune", effects)
        rules = rules._replace(kill_p=1.0, contact_suppression=1.0, cd8_death_p=0.0)
        shape = (5, 5)
        tissue = np.zeros(shape, np.int8)
        immune = np.zeros(shape, np.int8)
        tissue[2, 3] = TUMOR
        immune[2, 2] = CD8
        immune[1, 2] = suppressor
        antigen = np.zeros(shape, np.float32)
        antigen[2, 3] = 1.0
        f32 = [np.zeros(shape, np.float32) for _ in range(7)]  # pdl1 … polarisation, fields
        exhaustion, engaged, polarisation, chemokine, ifng, tgfb, vegf = f32
        counters = np.zeros(4, np.int64)
        immune_step(
            stream_handle(np.random.default_rng(0)),
            rules,
            np.array([2 * 5 + 2], np.int64),
            tissue,
            antigen,
            np.zeros(shape, np.float32),
            immune,
            exhaustion,
            engaged,
            np.zeros(shape, np.int8),
            polarisation,
            np.full(shape, 40.0),
            chemokine,
            ifng,
            tgfb,
            vegf,
            np.zeros(shape, np.uint8),
            counters,
        )
        return int(counters[1])

    assert kills(1.0) == 0
    assert kills(0.0) == 1


def test_a_rule_set_that_misses_or_invents_a_kernel_field_is_refused():
    from gcsim.kernels.vessels import VesselRules
    from gcsim.rules import VESSELS, RuleSet, value

    with pytest.raises(TypeError, match=r"missing \['vegf_hill'\]"):
        RuleSet("v", VesselRules, tuple(i for i in VESSELS.inputs if i.field != "vegf_hill"))
    with pytest.raises(TypeError, match=r"not in the kernel \['bogus'\]"):
        RuleSet("v", VesselRules, (*VESSELS.inputs, value("bogus", "vessel.vegf_hill")))


def test_a_therapy_declaring_an_unknown_channel_is_refused():
    from typing import Literal

    from gcsim.therapies import TreatmentConfig

    with pytest.raises(TypeError, match="unknown effect channel"):

        class Bad(TreatmentConfig):
            type: Literal["bad"]
            channels = ("warp_drive",)

            def start(self, model):
                raise NotImplementedError


def test_every_channel_has_a_reader():
    """Each channel is fed into a kernel's rules by a rule input, or read by the model itself
    (``effects.<name>`` in model.py); a declared channel that nothing reads fails here."""
    from pathlib import Path

    import gcsim.model

    model_source = Path(gcsim.model.__file__).read_text(encoding="utf-8")
    fed = {c for rs in RULE_SETS for c in rs.channels}
    for channel in CHANNELS:
        assert channel.name in fed or f"effects.{channel.name}" in model_source, channel.name


def test_every_alias_target_accepts_what_the_old_name_accepted():
    for old, targets in ALIASES.items():
        ranges = {(DEFAULTS_BY_NAME[n].lo, DEFAULTS_BY_NAME[n].hi) for n in targets}
        assert len(ranges) == 1, (old, ranges)
    Parameters({"pdl1.induction_half_max": 0.0})
    with pytest.warns(ParameterDeprecationWarning):
        Parameters({"pdl1.ifng_half_max": 0.0})  # valid before the split, valid now
