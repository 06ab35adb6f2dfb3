"""Scenario files: the pydantic schema, a loader with located error messages, and the hash.

``load_scenario("x.yaml", ["time.days=30"])`` returns a frozen :class:`Scenario` or raises
:class:`ScenarioError`, whose messages read ``FILE:LINE:COL: field.path: message``.
"""

from gcsim.scenario.loader import (
    Issue,
    ScenarioError,
    field_info,
    issue_at,
    json_schema,
    json_schema_text,
    load_scenario,
    read_yaml_mapping,
    scenario_hash,
    validate_yaml_mapping,
    write_json_schema,
)
from gcsim.scenario.schema import SCHEMA_VERSION, Scenario

__all__ = [
    "SCHEMA_VERSION",
    "Issue",
    "Scenario",
    "ScenarioError",
    "field_info",
    "issue_at",
    "json_schema",
    "json_schema_text",
    "load_scenario",
    "read_yaml_mapping",
    "scenario_hash",
    "validate_yaml_mapping",
    "write_json_schema",
]
