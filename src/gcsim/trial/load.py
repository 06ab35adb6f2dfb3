"""Loading a trial file: the schema, then every check that needs the base scenario, the cohort's
characteristics written into it, and the parameter sets (gcsim.trial.spec, .cohort)."""

from __future__ import annotations

import os
from pathlib import Path

from gcsim.scenario import Scenario, ScenarioError, issue_at, read_yaml_mapping
from gcsim.scenario.loader import validate_yaml_mapping
from gcsim.trial.cohort import check_characteristics
from gcsim.trial.spec import Trial, TrialSpec, check


def load_trial(path: str | os.PathLike[str], *, patients: int | None = None) -> Trial:
    """Read and check a trial file and its base scenario; raise :class:`ScenarioError`.
    ``patients``: the cohort's size instead of the file's ``cohort.patients`` (the first
    ``patients`` of the same design: a quick look at a large trial)."""
    file = os.fspath(path)
    data = read_yaml_mapping(path, "trial", "a trial needs `name`, `scenario`, `arms` and `cohort`")
    if patients is not None and isinstance(data.get("cohort"), dict):
        data["cohort"]["patients"] = patients
    spec = validate_yaml_mapping(TrialSpec, data, file)
    base_file = os.fspath(Path(file).parent / spec.scenario)
    try:
        base_data = read_yaml_mapping(base_file)
    except ScenarioError as exc:
        if exc.issues[0].line is None:
            message = f"base scenario {base_file}: {exc.issues[0].message}"
            raise ScenarioError([issue_at(file, data, ("scenario",), message)]) from None
        raise
    base = validate_yaml_mapping(Scenario, base_data, base_file)
    trial = Trial(spec, file, data, base_file, base_data, base)
    check(trial)
    check_characteristics(trial)
    trial.parameter_sets()  # a missing file or an unknown name fails here
    return trial
