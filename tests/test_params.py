"""The parameter table: complete, sourced, in range, and its documentation current."""

from pathlib import Path

import pytest

from gcsim.params import DEFAULTS, Parameters, markdown_table

DOCS = Path(__file__).resolve().parents[1] / "docs" / "parameters.md"


def test_every_parameter_has_a_unit_a_source_and_a_valid_default():
    names = [p.name for p in DEFAULTS]
    assert len(names) == len(set(names))
    for p in DEFAULTS:
        assert p.unit.strip() and p.source.strip() and p.description.strip(), p.name
        p.check(p.value)


def test_docs_parameters_md_is_current():
    assert DOCS.read_text() == markdown_table(), (
        "docs/parameters.md is stale: run `python -m gcsim.params > docs/parameters.md`"
    )


def test_overrides_are_validated():
    assert Parameters({"cd8.kill_probability": 0.3})["cd8.kill_probability"] == 0.3
    with pytest.raises(KeyError, match="unknown parameter"):
        Parameters({"cd8.kill_prob": 0.3})
    with pytest.raises(ValueError, match=r"outside \[0.0, 1"):
        Parameters({"cd8.kill_probability": 1.5})


def test_digest_hashes_the_resolved_values_however_they_were_written():
    default = DEFAULTS[0]
    assert Parameters().digest() == Parameters({default.name: default.value}).digest()
    changed = Parameters({"cd8.kill_probability": 0.2}).digest()
    assert changed != Parameters().digest() and len(changed) == 64
    assert changed == Parameters({"cd8.kill_probability": 0.2}).digest()
