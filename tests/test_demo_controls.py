"""The demo's controls → a scenario of one treatment arm (gcsim.demo.scenario_from_controls)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from gcsim.cli import app
from gcsim.demo import (
    ARM,
    SENSITISERS,
    DemoModel,
    demo_base_scenario,
    offline_environment,
    parse_seed,
    scenario_from_controls,
    server_command,
)
from gcsim.scenario import Scenario

BASE = Scenario.model_validate(
    {
        "name": "base",
        "seed": 99,
        "domain": {"width": 40, "height": 40},
        "time": {"days": 30, "record_every_hours": 24},
        "tumor": {"initial_radius_um": 200},
        "immune": {"phenotype": "inflamed", "cd8_per_mm2": 50},
    }
)


def _by_kind(scenario: Scenario) -> dict[str, list]:
    out: dict[str, list] = {}
    for treatment in scenario.arms[ARM].treatments:
        out.setdefault(treatment.kind, []).append(treatment)
    return out


def test_all_controls_off_is_one_untreated_arm_with_the_seed_and_phenotype():
    scenario = scenario_from_controls(BASE, seed=7, phenotype="desert")
    assert list(scenario.arms) == [ARM]
    assert scenario.arms[ARM].treatments == []
    assert scenario.seed == 7 and scenario.replicates == 1
    assert scenario.immune.phenotype == "desert"
    assert scenario.immune.cd8_per_mm2 == 50  # the rest of the base is kept
    assert scenario.domain == BASE.domain and scenario.time == BASE.time


def test_each_control_adds_its_treatment_with_dose_and_schedule():
    scenario = scenario_from_controls(
        BASE,
        ici=True,
        ici_start_day=3,
        antivegf_mg_per_kg=7.5,
        rt_gy_per_fraction=2,
        rt_start_day=1,
        rt_fractions=3,
        chemotherapy=True,
    )
    kinds = _by_kind(scenario)
    assert set(kinds) == {"checkpoint_inhibitor", "anti_vegf", "radiotherapy", "chemotherapy"}
    (ici,) = kinds["checkpoint_inhibitor"]
    assert (ici.drug, ici.dose.value, ici.dose.unit) == ("pembrolizumab", 200, "mg")
    assert list(ici.schedule.dose_days()) == [3.0, 24.0]  # every 21 days within 30
    (vegf,) = kinds["anti_vegf"]
    assert (vegf.drug, vegf.dose.value, vegf.dose.unit) == ("bevacizumab", 7.5, "mg/kg")
    assert list(vegf.schedule.dose_days()) == [0.0, 14.0, 28.0]
    (rt,) = kinds["radiotherapy"]
    assert rt.dose_per_fraction.value == 2 and rt.dose_per_fraction.unit == "Gy"
    assert list(rt.schedule.dose_days()) == [1.0, 2.0, 3.0]
    oxaliplatin, capecitabine = kinds["chemotherapy"]
    assert oxaliplatin.drug == "oxaliplatin" and list(oxaliplatin.schedule.dose_days()) == [
        0.0,
        21.0,
    ]
    assert capecitabine.drug == "capecitabine"
    assert len(capecitabine.schedule.dose_days()) == 28 + 18  # cycle 2 is cut at day 30


def test_each_sensitiser_adds_its_therapy_and_an_unknown_one_is_refused():
    expected = {
        "none": set(),
        "entinostat (HDAC inhibitor)": {"hdac_inhibitor"},
        "epacadostat (IDO1 inhibitor)": {"ido1_inhibitor"},
        "LSD1 inhibitor": {"lsd1_inhibitor"},
        "metformin": {"metformin"},
        "olaparib (PARP inhibitor)": {"parp_inhibitor"},
        "hyperbaric oxygen": {"hyperbaric_oxygen"},
        "microbiota transplant": {"faecal_microbiota_transplant"},
        "oncolytic virus (intratumoral)": {"oncolytic_virus"},
    }
    assert set(SENSITISERS) == set(expected)
    for name, kinds in expected.items():
        scenario = scenario_from_controls(BASE, ici=True, sensitiser=name)
        assert set(_by_kind(scenario)) == {"checkpoint_inhibitor"} | kinds, name
        for treatment in scenario.arms[ARM].treatments:
            assert max(treatment.schedule.dose_days()) < BASE.time.days, name
    with pytest.raises(ValueError, match="unknown sensitiser 'aspirin'"):
        scenario_from_controls(BASE, sensitiser="aspirin")


def test_doses_after_the_end_are_not_given():
    scenario = scenario_from_controls(
        BASE, ici=True, ici_start_day=40, rt_gy_per_fraction=8, rt_start_day=28, rt_fractions=5
    )
    kinds = _by_kind(scenario)
    assert "checkpoint_inhibitor" not in kinds  # would start after day 30
    assert list(kinds["radiotherapy"][0].schedule.dose_days()) == [28.0, 29.0]


def test_zero_dose_means_off_and_bad_values_are_rejected():
    assert _by_kind(scenario_from_controls(BASE, antivegf_mg_per_kg=0, rt_gy_per_fraction=0)) == {}
    with pytest.raises(ValidationError):
        scenario_from_controls(BASE, phenotype="cold")


def test_demo_model_is_built_from_the_controls():
    model = DemoModel(base=BASE, seed="12", phenotype="excluded", ici=True, ici_start_day=0)
    assert model.arm == ARM and model.spec.seed == 12
    assert model.spec.immune.phenotype == "excluded"
    assert model.treatment_lines() == ["pembrolizumab 200 mg: day 0, 21"]
    model.step()
    assert model.effects.pd1_occupancy > 0  # the antibody is on board from day 0


def test_seed_text_box_values():
    assert parse_seed("42") == 42
    assert parse_seed(" 3 ") == 3
    assert parse_seed("abc") == 1


def test_demo_base_records_often_enough_for_live_plots(tmp_path):
    default = demo_base_scenario()
    assert default.time.record_every_hours == 6
    path = tmp_path / "s.yaml"
    path.write_text("name: s\ntime: {days: 10, record_every_hours: 24}\n")
    assert demo_base_scenario(path).time.record_every_hours == 6


def test_offline_environment_turns_off_telemetry_and_remote_assets(tmp_path):
    env = offline_environment(tmp_path / "s.yaml")
    assert env["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] == "False"
    assert env["SOLARA_ASSETS_PROXY"] == "True"
    assert env["SOLARA_ASSETS_CDN"].startswith("http://127.0.0.1:")
    assert env["GCSIM_DEMO_SCENARIO"] == str((tmp_path / "s.yaml").resolve())


def test_server_listens_where_asked_and_does_not_check_pypi():
    command = server_command("127.0.0.1", 8123)
    assert command[1:5] == ["-m", "gcsim.demo", "run", "gcsim.app"]
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert command[command.index("--port") + 1] == "8123"
    assert "--no-check-version" in command and "--no-open" in command


def test_demo_command_refuses_a_bad_scenario_before_starting(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\ntumor: {pdl1_cps: 150}\n")
    result = CliRunner().invoke(app, ["demo", str(path)])
    assert result.exit_code == 2
    assert "tumor.pdl1_cps" in result.output


def test_teaching_commands_name_the_missing_extra(monkeypatch, tmp_path):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "solara" else real(name, *a)
    )
    result = CliRunner().invoke(app, ["demo"])
    assert result.exit_code == 2
    assert "gcsim[teach]" in result.output
