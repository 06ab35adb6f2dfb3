"""Patient mode, bad input: every mistake is one located line (file, line, field), exit status 2
from `gcsim run`, and nothing is written."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from gcsim.cli import app
from gcsim.scenario import Scenario, ScenarioError, load_scenario

GOOD = """\
name: patient
time: {days: 2, record_every_hours: 24}
patient:
  bridge: {window_sites: 40}
  lesions:
    - name: primary
      site: stomach
      diameter_mm: 30
    - name: liver1
      site: liver
      diameter_mm: 12
arms:
  rt:
    - type: radiotherapy
      dose_per_fraction: {value: 8, unit: Gy}
      schedule: {days: [1]}
      lesions: [primary]
"""


def run_bad(tmp_path: Path, text: str) -> str:
    """`gcsim run` on ``text``: exit 2, one line on stderr, no output directory."""
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(out)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]
    return lines[0]


def test_a_good_patient_scenario_loads(tmp_path):
    path = tmp_path / "good.yaml"
    path.write_text(GOOD, encoding="utf-8")
    scenario = load_scenario(path)
    assert [lesion.name for lesion in scenario.patient.lesions] == ["primary", "liver1"]
    assert scenario.arms["rt"].treatments[0].lesions == ("primary",)


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "fragment"),
    [
        (
            "diameter_mm: 12",
            "diameter_mm: 8",
            11,
            "patient.lesions[1].diameter_mm",
            "below RECIST 1.1's measurable size",
        ),
        (
            "diameter_mm: 30\n",
            "diameter_mm: 30\n      node: true\n      target: true\n",
            8,
            "patient.lesions[0].diameter_mm",
            None,  # 30 mm node is fine: replaced below by a too-small one
        ),
        ("diameter_mm: 30", "diameter_mm: 30000", 8, "patient.lesions[0].diameter_mm", "in mm"),
        ("diameter_mm: 30", "diameter_mm: 0.03", 8, "patient.lesions[0].diameter_mm", "in mm"),
        (
            "lesions: [primary]",
            "lesions: [primry]",
            17,
            "arms.rt[0].lesions[0]",
            "no lesion 'primry'",
        ),
        (
            "lesions: [primary]",
            "lesions: [primary, primary]",
            17,
            "arms.rt[0].lesions[1]",
            "named twice",
        ),
        # radiotherapy that names no lesion while none is marked irradiated would silently be
        # an untreated arm
        ("      lesions: [primary]\n", "", 14, "arms.rt[0]", "reaches no lesion"),
    ],
)
def test_bad_lesion_is_a_located_error(tmp_path, old, new, line, field, fragment):
    text = GOOD.replace(old, new)
    if fragment is None:  # a target node must be ≥ 15 mm short axis
        text = text.replace(
            "diameter_mm: 30\n      node: true", "diameter_mm: 12\n      node: true"
        )
        fragment = "lymph node (short axis)"
    message = run_bad(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'bad.yaml'}:{line}:"), message
    assert f": {field}: " in message, message
    assert fragment in message, message


def test_overlapping_windows_are_a_located_error(tmp_path):
    text = GOOD.replace(
        "      diameter_mm: 12\n",
        "      diameter_mm: 12\n      windows:\n"
        "        - {region: core, center_mm: [0, 0]}\n"
        "        - {region: core, center_mm: [0.5, 0]}\n",
    )
    message = run_bad(tmp_path, text)
    assert ": patient.lesions[1].windows[1].center_mm: " in message, message
    assert "overlap" in message
    assert message.startswith(f"{tmp_path / 'bad.yaml'}:14:"), message


def test_a_lesion_named_without_a_patient_is_an_error(tmp_path):
    text = GOOD.split("patient:")[0] + "arms:" + GOOD.split("arms:")[1]
    message = run_bad(tmp_path, text)
    assert ": arms.rt[0].lesions: " in message
    assert "no `patient:` section" in message


def test_recist_target_limits():
    lesion = {"site": "liver", "diameter_mm": 20}
    three = [{"name": f"l{i}", **lesion} for i in range(3)]
    with pytest.raises(ValueError, match="at most 2 target lesions per organ"):
        Scenario.model_validate({"name": "x", "patient": {"lesions": three}})
    six = [{"name": f"l{i}", "site": f"s{i}", "diameter_mm": 20} for i in range(6)]
    with pytest.raises(ValueError, match="at most 5 target lesions"):
        Scenario.model_validate({"name": "x", "patient": {"lesions": six}})
    nodes = [
        {"name": f"n{i}", "site": f"node{i}", "node": True, "diameter_mm": 20} for i in range(3)
    ]
    with pytest.raises(ValueError, match="site 'lymph nodes' has 3"):  # nodes are one organ
        Scenario.model_validate({"name": "x", "patient": {"lesions": nodes}})
    six[5]["target"] = False
    three[2]["target"] = False
    assert Scenario.model_validate({"name": "x", "patient": {"lesions": six}}).patient
    assert Scenario.model_validate({"name": "x", "patient": {"lesions": three}}).patient


def test_exchange_interval_is_whole_steps(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text(GOOD.replace("window_sites: 40}", "window_sites: 40, exchange_hours: 5}"))
    with pytest.raises(ScenarioError, match="record_every_hours"):
        load_scenario(path)


def test_a_scenario_without_lesions_has_no_patient():
    assert Scenario(name="single").patient is None


PATIENT_EXAMPLES = sorted((Path(__file__).parent.parent / "scenarios" / "patient").glob("*.yaml"))


@pytest.mark.parametrize("path", PATIENT_EXAMPLES, ids=lambda p: p.stem)
def test_patient_examples_load_and_run_every_arm(path):
    """Each shipped patient scenario, every arm, for one day on small windows spun up for a
    day (the spin-up's path, not its length: decision 0027)."""
    from gcsim.patient.simulate import PatientModel

    scenario = load_scenario(path)
    assert len(scenario.patient.lesions) >= 3
    bridge = scenario.patient.bridge.model_copy(update={"window_sites": 30, "spinup_days": 1.0})
    scenario = scenario.model_copy(
        update={
            "time": scenario.time.model_copy(update={"days": 1.0}),
            "patient": scenario.patient.model_copy(update={"bridge": bridge}),
        }
    )
    for arm in scenario.arms:
        model = PatientModel(scenario, arm, 1)
        model.run()
        table = model.lesions_table(f"{arm}/r0", 0)
        assert set(table["lesion"]) == {lesion.name for lesion in scenario.patient.lesions}
        assert (table["diameter_mm"] > 0).all()


def _load_message(tmp_path: Path, text: str, overrides: tuple[str, ...] = ()) -> str:
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path, list(overrides))
    return str(caught.value)


def test_an_override_past_the_lesions_says_lesions(tmp_path):
    message = _load_message(tmp_path, GOOD, ("patient.lesions[7].diameter_mm=20",))
    assert "has 2 lesion(s); index 7 is out of range" in message, message
    assert "treatment" not in message, message


def test_lesions_given_as_one_name_asks_for_a_list(tmp_path):
    message = _load_message(tmp_path, GOOD.replace("lesions: [primary]", "lesions: primary"))
    assert "arms.rt[0].lesions" in message and "should be a list" in message, message
    assert "tuple" not in message, message


@pytest.mark.parametrize(
    ("diameter", "hint"), [(251, False), (999, False), (30000, True), (1000, True)]
)
def test_the_micrometre_hint_only_where_the_diameter_reads_as_micrometres(tmp_path, diameter, hint):
    text = GOOD.replace("diameter_mm: 30", f"diameter_mm: {diameter}")
    message = _load_message(tmp_path, text)
    assert "larger than any lesion" in message and "in mm" in message, message
    assert ("µm is" in message) == hint, message
