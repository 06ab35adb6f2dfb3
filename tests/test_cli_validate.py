"""The CLI turns scenario problems into exit code 2 and one-line messages, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gcsim import cli
from gcsim.cli import app
from gcsim.params import DEFAULTS, markdown_table
from gcsim.scenario import json_schema_text

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


def write(tmp_path: Path, text: str, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def assert_no_traceback(text: str) -> None:
    assert "Traceback" not in text
    assert "Error ─" not in text  # Typer's boxed usage errors are not ours either


def test_valid_file_exits_0(tmp_path: Path) -> None:
    path = write(tmp_path, "name: demo run\n")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{path}: ok (demo run)\n"
    assert result.stderr == ""


def test_invalid_file_exits_2_with_one_line_per_error(tmp_path: Path) -> None:
    path = write(tmp_path, "name: a\ntumor:\n  pdl1_cps: 150\nbogus: 1\n")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{path}:3:13: tumor.pdl1_cps: Input should be less than")
    assert lines[1].startswith(f"{path}:4:1: bogus: unknown key 'bogus'")
    assert_no_traceback(result.output)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, "no such file"),
        ("", "file is empty"),
        ("name: [a\n", "expected ',' or ']'"),
        ("name: a\nseed: !!python/object/apply:os.system ['true']\n", "is not allowed"),
    ],
    ids=["missing", "empty", "syntax", "python-tag"],
)
def test_unreadable_files_exit_2(tmp_path: Path, text: str | None, expected: str) -> None:
    path = tmp_path / "scenario.yaml" if text is None else write(tmp_path, text)
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"{path}") and expected in line
    assert_no_traceback(result.output)


def test_set_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, "name: a\n")
    good = ["--set", "time.days=30", "-s", "parameters.cd8.kill_probability=0.2"]
    assert runner.invoke(app, ["validate", str(path), *good]).exit_code == 0
    result = runner.invoke(app, ["validate", str(path), "--set", "tumor.bogus=1"])
    assert result.exit_code == 2
    assert result.stderr.startswith("--set tumor.bogus=1: tumor.bogus: unknown key 'bogus'")
    result = runner.invoke(app, ["validate", str(path), "--set", "time.days"])
    assert result.exit_code == 2
    assert result.stderr == "--set time.days: expected key.path=value\n"


def test_several_files_report_each(tmp_path: Path) -> None:
    good = write(tmp_path, "name: good\n", "good.yaml")
    bad = write(tmp_path, "name: bad\nseed: -1\n", "bad.yaml")
    result = runner.invoke(app, ["validate", str(good), str(bad)])
    assert result.exit_code == 2
    assert result.stdout == f"{good}: ok (good)\n"
    assert result.stderr.startswith(f"{bad}:2:7: seed: ")


def test_schema_prints_json() -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert "properties" in schema and "name" in schema["properties"]


def test_schema_out_writes_atomically(tmp_path: Path) -> None:
    target = tmp_path / "nested" / "scenario.schema.json"
    result = runner.invoke(app, ["schema", "--out", str(target)])
    assert result.exit_code == 0, result.output
    assert json.loads(target.read_text(encoding="utf-8"))["properties"]
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temporary left


def test_schema_out_unwritable_exits_2(tmp_path: Path) -> None:
    blocker = write(tmp_path, "not a directory", "file")
    result = runner.invoke(app, ["schema", "--out", str(blocker / "schema.json")])
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"{blocker / 'schema.json'}: cannot write")
    assert_no_traceback(result.output)


def test_committed_schema_is_current() -> None:
    committed = REPO / "scenarios" / "schema" / "scenario.schema.json"
    assert committed.read_text(encoding="utf-8") == json_schema_text(), (
        "regenerate with: gcsim schema --out scenarios/schema/scenario.schema.json"
    )


def test_params_table_and_markdown() -> None:
    result = runner.invoke(app, ["params"])
    assert result.exit_code == 0
    missing = [p.name for p in DEFAULTS if p.name not in result.stdout]
    assert not missing, "every name must be shown whole, even at 80 columns"
    result = runner.invoke(app, ["params", "--markdown"])
    assert result.exit_code == 0
    assert result.stdout == markdown_table()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"gcsim {version('gcsim')}\n"


def test_unexpected_exception_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bug still must not dump a traceback on the user; GCSIM_DEBUG=1 shows it."""

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "load_scenario", broken)
    monkeypatch.delenv("GCSIM_DEBUG", raising=False)
    with pytest.raises(SystemExit) as info:
        app(["validate", str(write(tmp_path, "name: a\n"))], prog_name="gcsim")
    assert info.value.code == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("gcsim: internal error: RuntimeError: boom")
    assert len(captured.err.splitlines()) == 1
    monkeypatch.setenv("GCSIM_DEBUG", "1")
    with pytest.raises(RuntimeError):
        app(["validate", str(tmp_path / "scenario.yaml")], prog_name="gcsim")


def test_real_process_narrow_terminal(tmp_path: Path) -> None:
    """Through ``python -m gcsim.cli``: exit codes, and long messages are not wrapped."""
    deep = tmp_path / ("long-directory-name-" * 4)
    deep.mkdir()
    bad = write(deep, "name: a\ndomain:\n  site_size_um: 0.02\n")
    env = {**os.environ, "COLUMNS": "40", "GCSIM_DEBUG": ""}
    command = [sys.executable, "-m", "gcsim.cli", "validate", str(bad)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 2
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith(f"{bad}:3:17: domain.site_size_um: ")
    assert_no_traceback(done.stderr)
    good = write(tmp_path, "name: a\n")
    command = [sys.executable, "-m", "gcsim.cli", "validate", str(good)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{good}: ok (a)\n"


def test_therapies_lists_every_registered_type_with_its_channels() -> None:
    from gcsim.therapies import registry

    result = runner.invoke(app, ["therapies"])
    assert result.exit_code == 0, result.output
    for kind, cls in registry().items():
        assert kind in result.stdout
        for channel in cls.channels:
            assert channel in result.stdout


def test_rules_prints_the_behaviour_table() -> None:
    from gcsim.behaviours import BEHAVIOURS

    result = runner.invoke(app, ["rules"])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("\n") == len(BEHAVIOURS) + 2  # header, rule, one row each
    assert "`pdl1.induction_half_max` = 0.11 ng/mL" in result.stdout
