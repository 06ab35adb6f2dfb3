"""Treatment entries: bad schedules, doses and drugs fail with located one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from gcsim.scenario import load_scenario
from gcsim.therapies import Schedule
from test_scenario_errors import assert_located, load_error, write

HEAD = "name: t\ntime: {days: 60}\narms:\n  a:\n"
ICI = (
    "    - type: checkpoint_inhibitor\n"
    "      drug: {drug}\n"
    "      dose: {{value: {value}, unit: {unit}}}\n"
    "      schedule: {schedule}\n"
)
RT = (
    "    - type: radiotherapy\n"
    "      dose_per_fraction: {{value: {value}, unit: {unit}}}\n"
    "      schedule: {schedule}\n"
)


def ici(drug="pembrolizumab", value=200, unit="mg", schedule="{start_day: 0}") -> str:
    return HEAD + ICI.format(drug=drug, value=value, unit=unit, schedule=schedule)


def rt(value=2, unit="Gy", schedule="{days: [1, 2]}") -> str:
    return HEAD + RT.format(value=value, unit=unit, schedule=schedule)


# (case id, YAML, line, field path prefix, message fragment)
CASES = [
    ("unknown-drug", ici(drug="aspirin"), 6, "arms.a[0].drug", "pembrolizumab"),
    (
        "unknown-type",
        HEAD + "    - type: magic\n",
        5,
        "arms.a[0]",
        "does not match any of the expected",
    ),
    (
        "negative-dose",
        ici(value=-5),
        7,
        "arms.a[0].dose.value",
        "greater than 0",
    ),
    (
        "gray-for-a-drug",
        ici(unit="Gy"),
        7,
        "arms.a[0].dose.unit",
        "does not fit a drug",
    ),
    ("mg-for-radiation", rt(unit="mg"), 6, "arms.a[0].dose_per_fraction.unit", "in Gy"),
    (
        "unit-slip",
        ici(value=200, unit="mg/kg"),
        7,
        "arms.a[0].dose.value",
        "check the unit",
    ),
    ("too-many-gray", rt(value=60), 6, "arms.a[0].dose_per_fraction.value", "30 Gy"),
    (
        "negative-day",
        ici(schedule="{days: [-1, 3]}"),
        8,
        "arms.a[0].schedule.days[0]",
        "greater than or equal to 0",
    ),
    (
        "overlapping-fractions",
        rt(schedule="{days: [1, 1.1]}"),
        7,
        "arms.a[0].schedule",
        "overlap",
    ),
    (
        "unordered-days",
        ici(schedule="{days: [7, 3]}"),
        8,
        "arms.a[0].schedule.days",
        "must increase",
    ),
    (
        "doses-without-interval",
        ici(schedule="{doses: 3}"),
        8,
        "arms.a[0].schedule",
        "interval_days",
    ),
    (
        "days-and-interval",
        ici(schedule="{days: [1], interval_days: 7}"),
        8,
        "arms.a[0].schedule",
        "not both",
    ),
    ("dose-after-end", ici(schedule="{start_day: 80}"), 8, "arms.a[0].schedule", "after the end"),
    (
        "unknown-treatment-key",
        ici().replace("      drug:", "      dosis: 1\n      drug:"),
        6,
        "arms.a[0].dosis",
        "unknown key",
    ),
    ("bad-arm-name", "name: t\narms:\n  'a/b': []\n", 3, "arms", "pattern"),
]


@pytest.mark.parametrize(
    ("text", "line", "field", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_treatment_error_is_located(
    tmp_path: Path, text: str, line: int, field: str, fragment: str
) -> None:
    assert_located(tmp_path, text, line, field, fragment)


def test_a_valid_multi_arm_file_loads(tmp_path: Path) -> None:
    scenario = load_scenario(
        write(tmp_path, ici(schedule="{start_day: 7, interval_days: 21, doses: 2}") + "  b: []\n")
    )
    assert list(scenario.arms) == ["a", "b"]
    assert scenario.arms["a"].treatments[0].schedule.dose_days() == (7.0, 28.0)
    assert scenario.arms["b"].treatments == []


def test_schedule_forms_give_dose_days() -> None:
    assert Schedule(start_day=2, interval_days=14, doses=3).dose_days() == (2.0, 16.0, 30.0)
    assert Schedule(days=(0, 0.5, 7)).dose_days() == (0.0, 0.5, 7.0)
    assert Schedule().dose_days() == (0.0,)


def test_an_arm_may_be_a_different_patient_group(tmp_path: Path) -> None:
    text = (
        "name: t\ntime: {days: 30}\ntumor: {initial_radius_um: 400, pdl1_cps: 5,\n"
        "  antigenicity: {mean: 0.2, sd: 0.05}}\n"
        "parameters: {cd8.kill_probability: 0.2}\narms:\n"
        "  low_cps:\n    tumor: {pdl1_cps: 0.5, antigenicity: {mean: 0.9}}\n    treatments: []\n"
        "  desert:\n    immune: {phenotype: desert}\n    parameters: {cd8.speed: 3}\n"
        "  as_is: []\n"
    )
    scenario = load_scenario(write(tmp_path, text))
    low = scenario.for_arm("low_cps")
    assert low.tumor.pdl1_cps == 0.5 and low.tumor.initial_radius_um == 400  # merged per field
    assert (low.tumor.antigenicity.mean, low.tumor.antigenicity.sd) == (0.9, 0.05)  # at depth
    desert = scenario.for_arm("desert")
    assert desert.immune.phenotype == "desert" and desert.tumor.pdl1_cps == 5
    assert desert.parameters == {"cd8.kill_probability": 0.2, "cd8.speed": 3}
    assert scenario.for_arm("as_is").tumor == scenario.tumor
    with pytest.raises(KeyError, match="low_cps, desert, as_is"):
        scenario.for_arm("nope")


def test_an_arm_override_is_validated_and_located(tmp_path: Path) -> None:
    text = "name: t\narms:\n  a:\n    tumor: {pdl1_cps: 300}\n"
    message = str(load_error(write(tmp_path, text)))
    assert message.startswith(f"{tmp_path / 'scenario.yaml'}:4:"), message
    assert "arms.a.tumor.pdl1_cps" in message


def test_cycles_repeat_the_pattern() -> None:
    capecitabine = Schedule(start_day=0, interval_days=0.5, doses=28, cycles=2, cycle_days=21)
    days = capecitabine.dose_days()
    assert len(days) == 56 and days[27] == 13.5 and days[28] == 21.0 and days[-1] == 34.5
    with pytest.raises(ValueError, match="overlaps the next cycle"):
        Schedule(start_day=0, interval_days=1, doses=10, cycles=2, cycle_days=7)
    with pytest.raises(ValueError, match="'cycle_days' is needed"):
        Schedule(cycles=3)


def test_an_arm_tumour_too_large_for_the_domain_is_located(tmp_path: Path) -> None:
    text = (
        "name: t\ndomain: {width: 40, height: 40}\ntumor: {initial_radius_um: 200}\narms:\n"
        "  a: []\n  big:\n    tumor: {initial_radius_um: 500}\n"
    )
    message = str(load_error(write(tmp_path, text)))
    assert message.startswith(f"{tmp_path / 'scenario.yaml'}:7:"), message
    assert "arms.big.tumor.initial_radius_um" in message and "does not fit" in message


def test_a_treatment_type_is_its_registry_key_and_its_drugs_have_molecules() -> None:
    from typing import ClassVar, Literal

    from gcsim.therapies import builtin
    from gcsim.therapies.drugs import DrugTreatment, Molecule

    for cls in builtin():  # kind is read from the type literal, never written twice
        assert cls.kind == cls.model_fields["type"].annotation.__args__[0]
    with pytest.raises(TypeError, match="must name the same drugs"):

        class Incomplete(DrugTreatment):
            type: Literal["incomplete"]
            drug: Literal["a", "b"]
            molecules: ClassVar[dict[str, Molecule]] = {"a": "antibody"}

            def start(self, model):
                raise NotImplementedError


def test_every_declared_exposure_line_reads_a_recorded_column():
    from gcsim.observe import METRICS
    from gcsim.therapies import exposure_styles

    styles = exposure_styles()
    assert {e.column for e in styles} <= set(METRICS)
    assert len({e.linestyle for e in styles}) == len(styles)  # lines tell apart on one panel


def test_names_moved_by_the_restructure_still_import_with_a_warning():
    import gcsim.therapies
    from gcsim.effects import Effects

    with pytest.warns(DeprecationWarning, match="gcsim.therapies.radiotherapy"):
        from gcsim.therapies import Radiotherapy
    assert Radiotherapy.kind == "radiotherapy"
    with pytest.warns(DeprecationWarning, match="builtin"):
        assert set(gcsim.therapies.BUILTIN) == set(gcsim.therapies.builtin())
    effects = Effects()
    with pytest.warns(DeprecationWarning, match="combine"):
        effects.add_blockade("vegf_block", 0.5)
    assert effects.vegf_block == 0.5
