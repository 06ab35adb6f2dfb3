"""docs/odd.md, the ODD description of the model, stays complete: it names every parameter of the
model's table (the per-drug PK rows as the group ``drug.<drug>.<field>``), has a subsection for
every kernel rule set, and names no parameter that does not exist; only the subsections whose
biology may still change carry a ``biology under revision`` marker, and the rules of decisions
0015-0018 are described."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from gcsim.params import ALIASES, DEFAULTS, DEFAULTS_BY_NAME
from gcsim.rules import RULE_SETS
from gcsim.scenario.schema import Scenario

ODD = Path(__file__).resolve().parent.parent / "docs" / "odd.md"
DRUG = re.compile(r"^drug\.(?P<drug>[a-z0-9_]+)\.(?P<field>[a-z0-9_]+)$")


@pytest.fixture(scope="module")
def text() -> str:
    return ODD.read_text(encoding="utf-8")


def _mentions(text: str, name: str) -> bool:
    """Whether ``name`` occurs as a whole dotted name (not inside a longer one)."""
    return re.search(rf"(?<![\w.]){re.escape(name)}(?![\w])", text) is not None


def core_parameters() -> list[str]:
    """Every parameter of the table except the per-drug PK rows (``drug.<drug>.<field>``)."""
    return [p.name for p in DEFAULTS if not DRUG.match(p.name)]


def missing_parameters(text: str) -> list[str]:
    """Core parameters the document does not name."""
    return [name for name in core_parameters() if not _mentions(text, name)]


def missing_drug_rows(text: str) -> list[str]:
    """Per-drug rows the document does not cover: the drug must be named and its field appear
    in the group form ``drug.<drug>.<field>``."""
    missing = []
    for p in DEFAULTS:
        match = DRUG.match(p.name)
        if match is None:
            continue
        drug, field = match["drug"], match["field"]
        if not re.search(rf"\b{drug}\b", text) or f"drug.<drug>.{field}" not in text:
            missing.append(p.name)
    return missing


def missing_rule_sets(text: str) -> list[str]:
    """Rule sets of ``gcsim.rules`` without a subsection titled "rule set `name`"."""
    headings = [line for line in text.splitlines() if line.startswith("#")]
    return [rs.name for rs in RULE_SETS if not any(f"rule set `{rs.name}`" in h for h in headings)]


def _model_paths(model: type[BaseModel], prefix: str) -> set[str]:
    """Dotted paths of ``model``'s fields under ``prefix``, nested models included."""
    paths = set()
    for field, info in model.model_fields.items():
        path = f"{prefix}.{field}" if prefix else field
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            paths |= _model_paths(annotation, path)
        if prefix:
            paths.add(path)
    return paths


def _scenario_paths() -> set[str]:
    """``section.field`` (and ``section.sub.field``) of the scenario schema (``tumor.pdl1_cps``,
    ``tumor.subclones.chemo_resistant``), which share prefixes with parameter groups."""
    return _model_paths(Scenario, "")


def unknown_parameters(text: str) -> list[str]:
    """Dotted names with a parameter group's prefix that are neither a parameter, a deprecated
    alias nor a scenario field (a renamed or removed parameter left in the document)."""
    groups = {name.split(".", 1)[0] for name in DEFAULTS_BY_NAME}
    known = set(DEFAULTS_BY_NAME) | set(ALIASES) | _scenario_paths()
    prefix = "|".join(sorted(groups))
    pattern = re.compile(rf"(?<![\w.])((?:{prefix})\.[a-z0-9_]+(?:\.[a-z0-9_]+)?)")
    found = {m.group(1) for m in pattern.finditer(text)}
    return sorted(n for n in found if n not in known and not n.endswith(".py"))


def test_every_core_parameter_is_named(text):
    assert missing_parameters(text) == []


def test_the_drug_rows_are_covered_as_a_group(text):
    assert missing_drug_rows(text) == []


def test_every_rule_set_has_a_subsection(text):
    assert missing_rule_sets(text) == []


def test_no_unknown_parameter_is_named(text):
    assert unknown_parameters(text) == []


def test_the_checks_fail_when_the_document_loses_something(text):
    name = "cd8.kill_capacity"
    assert _mentions(text, name)
    assert missing_parameters(text.replace(name, "cd8.kill_limit")) == [name]
    assert "cd8.kill_limit" in unknown_parameters(text.replace(name, "cd8.kill_limit"))
    # a longer name does not count for a shorter one
    assert not _mentions("see `vessel.vegf_survival_hill`", "vessel.vegf_hill")
    assert missing_rule_sets(text.replace("rule set `vessels`", "vessel rules")) == ["vessels"]
    assert "drug.nivolumab.ec50" in missing_drug_rows(text.replace("nivolumab", "a PD-1 antibody"))
    # nested scenario fields are known, a misspelt one is not
    assert "tumor.subclones.chemo_resistant" in _scenario_paths()
    assert "tumor.subclones.chemo_resistent" in unknown_parameters(
        text + " tumor.subclones.chemo_resistent"
    )


# Subsections whose biology the decision records 0015-0020 settled: they describe the current
# code, so they must not carry a marker; the others may still change on main and must.
SETTLED = ("oxygen consumption", "PD-L1", "chemotherapy kill", "vessel perfusion")
UNDER_REVISION = ("CD8 lifecycle",)
MARKER = re.compile(r"<!-- biology under revision: (?P<topic>[^(>]+?) \(")


def marked_topics(text: str) -> set[str]:
    """Topics of the ``biology under revision`` markers in ``text``."""
    return {m["topic"] for m in MARKER.finditer(text)}


def test_only_subsections_still_under_revision_are_marked(text):
    topics = marked_topics(text)
    assert topics == set(UNDER_REVISION)
    assert not topics & set(SETTLED)
    # the check sees a stale marker put back
    stale = text + "\n<!-- biology under revision: oxygen consumption (stale) -->\n"
    assert "oxygen consumption" in marked_topics(stale)


def test_the_document_names_the_new_biology(text):
    """Decisions 0015-0018 in the rules: Michaelis-Menten consumption with its Picard passes,
    the uncapped priming formula, the PD-1 blockade's lymph-node arm, the resistant subclone."""
    for phrase in (
        "V·c/(K_m + c)",
        "Picard passes",
        "b + priming.boost × drive",
        "priming_gain ⊗= 1 + ici.priming_gain × occupancy",
        "tumor.subclones.chemo_resistant",
        "hf25_fraction",
        "rt_sf_ratio_vs_oer_model",
        "permeability_factor",
        "vessel.vegf_leak_max",
    ):
        assert phrase in text, phrase
    for stale in ("uptake is linear", "There is no resistance", "(1 − b) × P"):
        assert stale not in text, stale
