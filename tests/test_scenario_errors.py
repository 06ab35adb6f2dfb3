"""A bad scenario must fail with one located line naming the file, the line and the field.

Each case writes one small YAML file and checks the exact ``FILE:LINE:COL: field: message``
prefix, because that prefix is what a user (or an editor) relies on to find the mistake.
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import pytest

from gcsim.scenario import (
    Scenario,
    ScenarioError,
    json_schema,
    load_scenario,
    scenario_hash,
)
from gcsim.scenario.loader import ScenarioWarning


def write(tmp_path: Path, text: str | bytes, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def listing(directory: Path) -> set[Path]:
    return set(directory.rglob("*"))


def assert_located(tmp_path: Path, text: str, line: int, field: str, fragment: str) -> None:
    """``text`` as a scenario fails to load with one line at ``line`` naming ``field`` and
    saying ``fragment``."""
    path = write(tmp_path, text)
    message = str(load_error(path))
    assert message.startswith(f"{path}:{line}:"), message
    assert f" {field}" in message, message
    assert fragment in message, message


def load_error(path: Path, overrides: tuple[str, ...] = ()) -> ScenarioError:
    """Load, expect a ScenarioError, check that it is one line and that nothing was written."""
    before = listing(path.parent) if path.parent.is_dir() else set()
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, overrides)
    error = info.value
    assert error.messages, "a ScenarioError always carries at least one message"
    assert str(error) == error.messages[0]
    for message in error.messages:
        assert "\n" not in message and "\r" not in message, message
    if path.parent.is_dir():
        assert listing(path.parent) == before, "loading must not write anything"
    return error


# (case id, YAML text, line, field path, fragment of the message)
LOCATED = [
    ("unknown-top-level-key", "name: a\nbogus: 1\n", 2, "bogus", "unknown key 'bogus'"),
    (
        "unknown-nested-key",
        "name: a\ntumor:\n  pdl1: 3\n",
        3,
        "tumor.pdl1",
        "did you mean 'pdl1_cps'?",
    ),
    ("wrong-type", "name: a\ntime:\n  days: ninety\n", 3, "time.days", "must be a number"),
    ("section-not-a-mapping", "name: a\ntumor: 5\n", 2, "tumor", "valid dictionary"),
    ("empty-section", "name: a\ntumor:\nseed: 1\n", 2, "tumor", "got None"),
    ("negative", "name: a\nseed: -1\n", 2, "seed", "greater than or equal to 0"),
    (
        "out-of-range",
        "name: a\ntumor:\n  pdl1_cps: 150\n",
        3,
        "tumor.pdl1_cps",
        "less than or equal to 100, got 150",
    ),
    (
        "unit-mistake-mm-for-um",
        "name: a\ndomain:\n  width: 300\n  site_size_um: 0.02\n",
        4,
        "domain.site_size_um",
        "got 0.02 (edge of one lattice site in µm",
    ),
    # a marker is a plain fraction or a mapping: the error names the field in the file, not
    # pydantic's union member
    (
        "marker-fraction-above-one",
        "name: a\ntumor:\n  subclones:\n    hrd: 1.5\n",
        4,
        "tumor.subclones.hrd",
        "less than or equal to 1, got 1.5",
    ),
    (
        "marker-mapping-fraction-above-one",
        "name: a\ntumor:\n  subclones:\n    her2:\n      pattern: patchy\n      fraction: 1.2\n",
        6,
        "tumor.subclones.her2.fraction",
        "less than or equal to 1, got 1.2",
    ),
    (
        "marker-negative-length",
        "name: a\ntumor:\n  subclones:\n    fgfr2b: {fraction: 0.3, pattern: patchy, "
        "length_um: -50}\n",
        4,
        "tumor.subclones.fgfr2b.length_um",
        "greater than 0, got -50",
    ),
    (
        "marker-unknown-pattern",
        "name: a\ntumor:\n  subclones:\n    cldn18_2:\n      fraction: 0.3\n"
        "      pattern: stripy\n",
        6,
        "tumor.subclones.cldn18_2.pattern",
        "'scattered', 'patchy' or 'sectoral', got 'stripy'",
    ),
    (
        "marker-heritability-above-one",
        "name: a\ntumor:\n  subclones:\n    hrd: {fraction: 0.3, heritability: 2}\n",
        4,
        "tumor.subclones.hrd.heritability",
        "less than or equal to 1, got 2",
    ),
    (
        "marker-misspelt-key",
        "name: a\ntumor:\n  subclones:\n    hrd: {fraction: 0.3, heritabilty: 0.9}\n",
        4,
        "tumor.subclones.hrd.heritabilty",
        "did you mean 'heritability'?",
    ),
    (
        "marker-missing-fraction",
        "name: a\ntumor:\n  subclones:\n    hrd:\n      pattern: sectoral\n",
        4,
        "tumor.subclones.hrd.fraction",
        "required field is missing",
    ),
    ("missing-required-name", "# no name\nseed: 3\n", 2, "name", "required field is missing"),
    ("bad-name-pattern", "name: 'a/b'\n", 1, "name", "should match pattern"),
    (
        "bad-phenotype-literal",
        "name: a\nimmune:\n  phenotype: hot\n",
        3,
        "immune.phenotype",
        "'inflamed', 'excluded' or 'desert', got 'hot'",
    ),
    (
        "unknown-parameter",
        "name: a\nparameters:\n  cd8.speed: 1.0\n  cd8.kill_prob: 0.2\n",
        4,
        "parameters.cd8.kill_prob",
        "unknown parameter 'cd8.kill_prob'",
    ),
    (
        "replaced-parameter",
        "name: a\nparameters:\n  cd8.speed: 1.0\n  oxygen.uptake_tumor: 10\n",
        4,
        "parameters.oxygen.uptake_tumor",
        "was replaced by 'oxygen.consumption_tumor' (mmHg/min)",
    ),
    (
        "parameter-out-of-range",
        "name: a\nparameters:\n  cd8.speed: 1.0\n  cd8.kill_probability: 1.5\n",
        4,
        "parameters.cd8.kill_probability",
        "cd8.kill_probability = 1.5 is outside [0, 1] (dimensionless)",
    ),
    (
        "parameter-not-a-number",
        "name: a\nparameters:\n  cd8.speed: fast\n",
        3,
        "parameters.cd8.speed",
        "must be a number, got a string 'fast'",
    ),
    (
        "tumour-does-not-fit-domain",
        "name: a\ndomain:\n  width: 40\n  height: 40\ntumor:\n  initial_radius_um: 400\n",
        6,
        "tumor.initial_radius_um",
        "does not fit a 40×40 domain",
    ),
    (
        "record-interval-not-whole-steps",
        "name: a\ntime:\n  dt_hours: 5\n",
        3,
        "time.dt_hours",
        "whole number of time steps",
    ),
    (
        "python-tag",
        "name: a\nseed: !!python/object/apply:os.system ['echo hi']\n",
        2,
        "seed",
        "tag !!python/object/apply:os.system is not allowed",
    ),
    (
        "custom-tag",
        "name: a\ntumor:\n  pdl1_cps: !cps 12\n",
        3,
        "tumor.pdl1_cps",
        "tag !cps is not allowed",
    ),
    (
        "arms-sharing-output-files",
        "name: a\narms:\n  ici+rt: []\n  ici rt: []\n",
        4,
        "arms.ici rt",
        "would write the same output files (*_ici_rt.*)",
    ),
    (
        "late-dose-in-an-arm-named-with-a-space",
        "name: a\ntime: {days: 10}\narms:\n  ici: []\n  ici rt:\n"
        "    - {type: radiotherapy, dose_per_fraction: {value: 2, unit: Gy},\n"
        "       schedule: {days: [20]}}\n",
        7,
        "arms.ici rt[0].schedule",
        "a dose on day 20 falls after the end",
    ),
    (
        "arms-differing-only-in-case",
        "name: a\narms:\n  ICI: []\n  ici: []\n",
        4,
        "arms.ici",
        "would write the same output files",
    ),
    ("recursive-alias", "name: a\nloop: &x [*x]\n", 2, "loop[0]", "recursive alias"),
    # issue 15: mistakes that used to pass
    (
        "radius-in-mm",
        "name: a\ntumor:\n  initial_radius_um: 0.5\n",
        3,
        "tumor.initial_radius_um",
        "smaller than one lattice site (20 µm)",
    ),
    (
        "radius-in-mm-in-an-arm",
        "name: a\narms:\n  a:\n    tumor: {initial_radius_um: 0.5}\n",
        4,
        "arms.a.tumor.initial_radius_um",
        "smaller than one lattice site",
    ),
    (
        "record-interval-longer-than-the-run",
        "name: a\ntime:\n  days: 2\n  record_every_hours: 100\n",
        4,
        "time.record_every_hours",
        "100 h is longer than the run (2 days = 48 h)",
    ),
    ("cps-true", "name: a\ntumor:\n  pdl1_cps: true\n", 3, "tumor.pdl1_cps", "got a boolean"),
    (
        "cps-quoted",
        'name: a\ntumor:\n  pdl1_cps: "5"\n',
        3,
        "tumor.pdl1_cps",
        "must be a number, got a string '5' (write it without quotes)",
    ),
    (
        "parameter-quoted",
        'name: a\nparameters:\n  cd8.speed: "1.0"\n',
        3,
        "parameters.cd8.speed",
        "must be a number, got a string '1.0'",
    ),
    (
        "dose-day-quoted",
        "name: a\ntime: {days: 30}\narms:\n  p:\n    - type: checkpoint_inhibitor\n"
        "      drug: pembrolizumab\n      dose: {value: 200, unit: mg}\n"
        "      schedule: {days: ['1']}\n",
        8,
        "arms.p[0].schedule.days[0]",
        "must be a number",
    ),
    ("cps-nan", "name: a\ntumor:\n  pdl1_cps: .nan\n", 3, "tumor.pdl1_cps", "NaN (.nan) is not"),
    (
        "parameter-nan",
        "name: a\nparameters:\n  cd8.speed: .nan\n",
        3,
        "parameters.cd8.speed",
        "NaN is not a number allowed here",
    ),
    (
        "unknown-key-in-an-arm",
        "name: a\narms:\n  a:\n    treatmnts: []\n",
        4,
        "arms.a.treatmnts",
        "(did you mean 'treatments'?); allowed: treatments, tumor, immune, parameters",
    ),
    (
        "unknown-key-in-a-treatment",
        "name: a\ntime: {days: 30}\narms:\n  p:\n    - type: checkpoint_inhibitor\n"
        "      drug: pembrolizumab\n      dose: {value: 200, unit: mg}\n"
        "      schedule: {days: [1]}\n      lable: x\n",
        9,
        "arms.p[0].lable",
        "(did you mean 'label'?); allowed: type, schedule, label",
    ),
    (
        "radiotherapy-dose",
        "name: a\ntime: {days: 30}\narms:\n  rt:\n    treatments:\n"
        "      - type: radiotherapy\n        dose: {value: 8, unit: Gy}\n"
        "        schedule: {days: [1]}\n",
        6,
        "arms.rt.treatments[0].dose_per_fraction",
        "radiotherapy names its dose dose_per_fraction",
    ),
    ("non-scalar-key", "name: a\n? [x, y]\n: 1\n", 2, "", "keys must be plain scalars"),
]


@pytest.mark.parametrize(
    ("text", "line", "field", "fragment"),
    [case[1:] for case in LOCATED],
    ids=[case[0] for case in LOCATED],
)
def test_located_error(tmp_path: Path, text: str, line: int, field: str, fragment: str) -> None:
    path = write(tmp_path, text)
    error = load_error(path)
    message = str(error)
    prefix = f"{path}:{line}:"
    assert message.startswith(prefix), message
    col, _, rest = message[len(prefix) :].partition(": ")
    assert col.isdigit() and int(col) >= 1, message
    if field:
        assert rest.startswith(f"{field}: "), message
    assert fragment in message


# (case id, YAML text or bytes, line, fragment): YAML-level problems carry no field path.
YAML_LEVEL = [
    ("syntax-error", "name: a\ntumor: [1, 2\nseed: 3\n", 3, "expected ',' or ']'"),
    ("bad-indentation", "name: a\ntumor:\n  pdl1_cps: 3\n bad: 1\n", 4, ""),
    ("tab-indentation", "name: a\n\tseed: 1\n", 2, "'\\t'"),
    ("duplicate-key", "name: a\nseed: 1\nseed: 2\n", 3, 'duplicate key "seed"'),
    ("two-documents", "name: a\n---\nname: b\n", 2, "another document"),
    ("top-level-list", "- name: a\n- name: b\n", 1, "must be a mapping of scenario fields"),
    ("top-level-scalar", "\n\njust text\n", 3, "got a string"),
    ("not-utf8", b"name: a\ndescription: caf\xe9\n", 2, "not UTF-8"),
    ("control-character", "name: a\ndescription: a\x01b\n", 2, "#x0001"),
]


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [case[1:] for case in YAML_LEVEL],
    ids=[case[0] for case in YAML_LEVEL],
)
def test_yaml_level_error(tmp_path: Path, text: str | bytes, line: int, fragment: str) -> None:
    path = write(tmp_path, text)
    message = str(load_error(path))
    assert message.startswith(f"{path}:{line}:"), message
    assert fragment in message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("", "file is empty"), ("# only a comment\n\n", "file is empty"), ("~\n", "file is empty")],
    ids=["empty", "comment-only", "null-document"],
)
def test_empty_file(tmp_path: Path, text: str, fragment: str) -> None:
    path = write(tmp_path, text)
    message = str(load_error(path))
    assert message.startswith(f"{path}: "), message
    assert fragment in message


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    assert str(load_error(path)) == f"{path}: no such file"
    assert not path.exists()


def test_directory(tmp_path: Path) -> None:
    directory = tmp_path / "scenarios.yaml"
    directory.mkdir()
    assert str(load_error(directory)) == f"{directory}: is a directory, not a scenario file"


def test_python_tag_is_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = f"name: a\nseed: !!python/object/apply:os.system ['touch {marker}']\n"
    for payload in (text, text.replace("apply:os.system", "new:os.system")):
        load_error(write(tmp_path, payload))
        assert not marker.exists()
    load_error(
        write(tmp_path, "name: a\n"), (f"seed=!!python/object/apply:os.system ['touch {marker}']",)
    )
    assert not marker.exists()


def test_billion_laughs_is_refused(tmp_path: Path) -> None:
    lines = ["name: a", "l0: &l0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 8)]
    path = write(tmp_path, "\n".join(lines) + "\n")
    assert "aliases are expanded" in str(load_error(path))


def test_all_errors_are_reported_in_file_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "name: a\nseed: -1\ntumor:\n  pdl1_cps: 150\n  bogus: 1\nimmune:\n  phenotype: hot\n",
    )
    error = load_error(path)
    lines = [int(message.split(":")[1]) for message in error.messages]
    assert lines == [2, 4, 5, 7]
    assert [m.split(": ")[1] for m in error.messages] == [
        "seed",
        "tumor.pdl1_cps",
        "tumor.bogus",
        "immune.phenotype",
    ]
    assert error.issues[1].line == 4 and error.issues[1].field == "tumor.pdl1_cps"


def test_error_survives_pickling(tmp_path: Path) -> None:
    error = load_error(write(tmp_path, "name: a\nbogus: 1\n"))
    copy = pickle.loads(pickle.dumps(error))
    assert copy.messages == error.messages


# --- overrides ---------------------------------------------------------------------------------

BAD_OVERRIDES = [
    ("tumor.bogus=1", "tumor.bogus", "unknown key 'bogus'"),
    ("tumor.extra.deep=1", "tumor.extra", "unknown key 'extra'"),
    ("time.days=-3", "time.days", "greater than 0, got -3"),
    ("time.days=abc", "time.days", "must be a number, got a string 'abc'"),
    ("time.days=true", "time.days", "must be a number, got a boolean True"),
    ("tumor.pdl1_cps=.nan", "tumor.pdl1_cps", "NaN (.nan) is not a number allowed here"),
    ("time.record_every_hours=480", "time.record_every_hours", "longer than the run"),
    ("tumor.pdl1_cps=150", "tumor.pdl1_cps", "less than or equal to 100"),
    ("parameters.cd8.kill_probability=2", "parameters.cd8.kill_probability", "outside"),
    ("parameters.cd8.kill_prob=0.2", "parameters.cd8.kill_prob", "unknown parameter"),
    ("immune.phenotype=hot", "immune.phenotype", "got 'hot'"),
    ("name.first=x", "name", "is a string, not a mapping"),
    ("seed=[1, 2]", "seed", "single YAML scalar"),
    ("seed=!custom 3", "seed", "tag !custom is not allowed"),
    ("time..days=3", "time..days", "empty part"),
]


@pytest.mark.parametrize(
    ("override", "field", "fragment"), BAD_OVERRIDES, ids=[o for o, *_ in BAD_OVERRIDES]
)
def test_bad_override(tmp_path: Path, override: str, field: str, fragment: str) -> None:
    path = write(tmp_path, "name: a\ntime:\n  days: 10\n")
    message = str(load_error(path, (override,)))
    assert message.startswith(f"--set {override}: {field}: "), message
    assert fragment in message


@pytest.mark.parametrize("override", ["time.days", "=3", ""])
def test_malformed_override(tmp_path: Path, override: str) -> None:
    path = write(tmp_path, "name: a\n")
    assert str(load_error(path, (override,))) == f"--set {override}: expected key.path=value"


def test_file_errors_and_override_errors_keep_their_sources(tmp_path: Path) -> None:
    path = write(tmp_path, "name: a\nseed: -1\n")
    error = load_error(path, ("time.days=0",))
    assert error.messages[0].startswith(f"{path}:2:")
    assert error.messages[1].startswith("--set time.days=0: time.days: ")


# --- what must load ----------------------------------------------------------------------------


def test_minimal_file_loads_with_defaults(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, "name: minimal\n"))
    assert scenario == Scenario(name="minimal")


def test_overrides_apply_and_create_sections(tmp_path: Path) -> None:
    path = write(tmp_path, "name: a\ntime:\n  days: 10\nparameters:\n  cd8.speed: 1.5\n")
    scenario = load_scenario(
        path,
        [
            "time.days=30",
            "tumor.pdl1_cps=12",
            "parameters.cd8.kill_probability=0.2",
            "immune.phenotype=excluded",
            "seed = 7",
        ],
    )
    assert scenario.time.days == 30.0
    assert scenario.tumor.pdl1_cps == 12.0
    assert scenario.parameters == {"cd8.speed": 1.5, "cd8.kill_probability": 0.2}
    assert scenario.immune.phenotype == "excluded"
    assert scenario.seed == 7


def test_later_override_wins(tmp_path: Path) -> None:
    path = write(tmp_path, "name: a\n")
    assert load_scenario(path, ["time.days=5", "time.days=6"]).time.days == 6.0


def test_loaded_values_are_plain_python(tmp_path: Path) -> None:
    """ruamel's ScalarFloat & co. must not leak into the model (numba would choke on them)."""
    path = write(tmp_path, "name: a\ntime:\n  days: 1.50\nparameters:\n  cd8.speed: 1.0e0\n")
    scenario = load_scenario(path)
    assert type(scenario.time.days) is float
    assert type(scenario.parameters["cd8.speed"]) is float
    assert all(type(key) is str for key in scenario.parameters)


def test_anchors_merge_keys_dates_and_bom_are_fine(tmp_path: Path) -> None:
    text = (
        "\ufeffname: 2024-05-01\n"
        "domain: &square\n  width: 300\n  height: 300\n"
        "stroma:\n  fraction: 0.2\n"
        "vessels: {density: 0.03}\n"
    )
    scenario = load_scenario(write(tmp_path, text))
    assert scenario.name == "2024-05-01"
    assert scenario.domain.width == 300
    assert scenario.vessels.density == 0.03


def test_scenario_hash_is_stable_and_sensitive(tmp_path: Path) -> None:
    first = load_scenario(write(tmp_path, "name: a\nseed: 1\ntime: {days: 30}\n", "a.yaml"))
    same = load_scenario(
        write(
            tmp_path,
            "# reordered, defaults spelled out\ntime:\n  days: 30.0\n"
            "  dt_hours: 1\nseed: 1\nname: a\n",
            "b.yaml",
        )
    )
    other = load_scenario(write(tmp_path, "name: a\nseed: 2\ntime: {days: 30}\n", "c.yaml"))
    assert scenario_hash(first) == scenario_hash(same)
    assert scenario_hash(first) == scenario_hash(load_scenario(tmp_path / "a.yaml"))
    assert scenario_hash(first) != scenario_hash(other)
    assert len(scenario_hash(first)) == 64
    overridden = load_scenario(tmp_path / "a.yaml", ["seed=2"])
    assert scenario_hash(overridden) == scenario_hash(other)


def test_json_schema_describes_the_file() -> None:
    schema = json_schema()
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert {"name", "tumor", "parameters"} <= set(schema["properties"])
    parameters = schema["properties"]["parameters"]
    assert parameters["additionalProperties"] is False
    assert parameters["properties"]["cd8.kill_probability"]["maximum"] == 1


# (case id, YAML text, line, field, fragment): legal but suspicious values are warnings that name
# the file, line and field, and the scenario still loads.
SUSPICIOUS = [
    (
        "days-in-hours",
        "name: a\ntime:\n  days: 2160\n",
        3,
        "time.days",
        "beyond what the parameter table is meant for (weeks to months, at most 365 days); "
        "written in hours? 2160 h is 90 days",
    ),
    (
        "last-day-not-recorded",
        "name: a\ntime:\n  days: 3\n  record_every_hours: 48\n",
        4,
        "time.record_every_hours",
        "the last observation is at day 2, the last 24 h are simulated but not recorded",
    ),
    (
        "marker-length-without-patches",
        "name: a\ntumor:\n  subclones:\n    hrd:\n      fraction: 0.3\n      pattern: sectoral\n"
        "      length_um: 100\n",
        7,
        "tumor.subclones.hrd.length_um",
        "length_um is read only with pattern: patchy, not sectoral",
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "field", "fragment"),
    [case[1:] for case in SUSPICIOUS],
    ids=[case[0] for case in SUSPICIOUS],
)
def test_suspicious_value_is_a_located_warning(
    tmp_path: Path, text: str, line: int, field: str, fragment: str
) -> None:
    path = write(tmp_path, text)
    with pytest.warns(ScenarioWarning) as caught:
        load_scenario(path)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert message.startswith(f"{path}:{line}:"), message
    assert f": {field}: " in message and fragment in message


def test_a_plain_scenario_gives_no_warning(tmp_path: Path) -> None:
    path = write(tmp_path, "name: a\ntime:\n  days: 3\n  record_every_hours: 24\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_scenario(path)


# --- treatments addressed by index and by label (issue 15) -------------------------------------

TREATED = (
    "name: a\ntime: {days: 30}\narms:\n"
    "  ici:\n    - type: checkpoint_inhibitor\n      drug: pembrolizumab\n      label: pembro\n"
    "      dose: {value: 200, unit: mg}\n      schedule: {days: [1]}\n"
    "  group:\n    tumor: {pdl1_cps: 1}\n    treatments:\n"
    "      - type: radiotherapy\n        dose_per_fraction: {value: 8, unit: Gy}\n"
    "        schedule: {days: [1]}\n"
)


@pytest.mark.parametrize(
    ("override", "arm", "read"),
    [
        ("arms.ici[0].dose.value=100", "ici", lambda t: t.dose.value),
        ("arms.ici[pembro].dose.value=100", "ici", lambda t: t.dose.value),
        ("arms.group[0].dose_per_fraction.value=4", "group", lambda t: t.dose_per_fraction.value),
        (
            "arms.group.treatments[0].dose_per_fraction.value=4",
            "group",
            lambda t: t.dose_per_fraction.value,
        ),
    ],
)
def test_set_addresses_a_treatment_by_index_and_label(tmp_path: Path, override, arm, read) -> None:
    scenario = load_scenario(write(tmp_path, TREATED), [override])
    assert read(scenario.arms[arm].treatments[0]) == float(override.rpartition("=")[2])


@pytest.mark.parametrize(
    ("override", "field", "fragment"),
    [
        ("arms.ici[3].dose.value=1", "arms.ici", "has 1 treatment(s); index 3 is out of range"),
        ("arms.ici[pembr].dose.value=1", "arms.ici", "no treatment labelled 'pembr' (did you mean"),
        ("arms.ici[0].dose.value=-1", "arms.ici[0].dose.value", "greater than 0, got -1"),
        ("arms.ici[0].dose.valu=1", "arms.ici[0].dose.valu", "(did you mean 'value'?)"),
        ("arms.ici[0]=1", "arms.ici[0]", "a whole treatment cannot be set"),
        ("arms.group[0].dose.value=8", "arms.group.treatments[0].dose", "dose_per_fraction"),
    ],
)
def test_bad_treatment_override(tmp_path: Path, override: str, field: str, fragment: str) -> None:
    message = str(load_error(write(tmp_path, TREATED), (override,)))
    assert message.startswith(f"--set {override}: {field}: "), message
    assert fragment in message
