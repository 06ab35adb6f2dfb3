"""Read a scenario YAML file into a validated :class:`Scenario`, or fail with located messages.

A scenario is hand-written, so every problem is reported like a compiler error,
``FILE:LINE:COL: field.path: message`` on one line, which editors and CI logs can jump to. The
file is read with ruamel.yaml's round-trip loader because it keeps the line and column of every
key (``CommentedMap.lc``); pydantic validates, and each pydantic ``loc`` is mapped back to the
deepest key that exists in the file.

Safety: the round-trip loader never builds Python objects from tags, and on top of that every
node is checked *before* construction, so a tag other than the plain YAML ones
(``!!python/...``, ``!custom``) is an error at its line rather than something half-understood.
"""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import hashlib
import json
import math
import os
import re
import tempfile
import types
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.scalarbool import ScalarBoolean

from gcsim.params import (
    DEFAULTS,
    DEFAULTS_BY_NAME,
    Param,
    ParameterDeprecationWarning,
    deprecation,
    is_known,
)
from gcsim.scenario.schema import SCHEMA_VERSION, Scenario, suspicious_fields
from gcsim.validation import MAPPING_TAG, NUMBER_TAG, FieldError

__all__ = [
    "Issue",
    "ScenarioError",
    "field_info",
    "issue_at",
    "json_schema",
    "json_schema_text",
    "key_path",
    "load_scenario",
    "read_yaml_mapping",
    "scenario_hash",
    "validate_yaml_mapping",
    "write_json_schema",
]

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

# Plain YAML 1.2 values. ``merge`` is the ``<<`` key; ``timestamp`` is what an unquoted date
# resolves to, which is turned back into its ISO text so that ``name: 2024-01-01`` still works.
_PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{kind}"
    for kind in ("str", "int", "float", "bool", "null", "map", "seq", "merge", "timestamp")
)
# Aliases share nodes, so a small file can expand to a huge tree ("billion laughs").
_MAX_VALUES = 100_000
# Pydantic error types whose location is the key itself rather than its value.
_KEY_ERRORS = frozenset({"extra_forbidden", "missing", "invalid_key"})
# Errors raised by our own validators: they sit on the model, the message names the field.
_CUSTOM_ERRORS = frozenset({"value_error", "assertion_error"})
_WORD = re.compile(r"'([^']+)'|([A-Za-z_]\w*(?:\.\w+)*)")

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Issue:
    """One problem, printed like a compiler message so that editors and CI logs can jump to it.

    ``source`` is the file name, or ``--set key=value`` for a problem caused by an override.
    ``line`` and ``col`` are 1-based, or ``None`` when the problem has no place in the file.
    """

    source: str
    message: str
    field: str = ""
    line: int | None = None
    col: int | None = None

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}:{self.col}"
        parts = [where, _one_line(self.field), _one_line(self.message)]
        return ": ".join(part for part in parts if part)


class ScenarioError(Exception):
    """A scenario that cannot be used; ``str()`` is the first problem, ``messages`` all of them."""

    def __init__(self, issues: Iterable[Issue]) -> None:
        self.issues: tuple[Issue, ...] = tuple(dict.fromkeys(issues))
        if not self.issues:
            raise ValueError("ScenarioError needs at least one issue")
        super().__init__(str(self.issues[0]))

    @property
    def messages(self) -> list[str]:
        """Every problem as one line, in file order, override problems last."""
        return [str(issue) for issue in self.issues]

    def __str__(self) -> str:
        return self.messages[0]

    def __reduce__(self) -> tuple[type[ScenarioError], tuple[tuple[Issue, ...]]]:
        return (type(self), (self.issues,))  # survive pickling (worker processes)


class _YamlProblem(Exception):
    """A problem found while parsing YAML text, before we know whether it came from a file."""

    def __init__(
        self, message: str, line: int | None = None, col: int | None = None, field: str = ""
    ) -> None:
        super().__init__(message)
        self.message, self.line, self.col, self.field = message, line, col, field


# --- public API ------------------------------------------------------------------------------


def load_scenario(path: str | os.PathLike[str], overrides: Sequence[str] = ()) -> Scenario:
    """Read, override and validate a scenario file; raise :class:`ScenarioError` on any problem.

    ``overrides`` are ``key.path=value`` strings (as given to ``--set``); the value is read as a
    YAML scalar. After ``parameters.`` the rest of the path is one key, because parameter names
    contain dots (``parameters.cd8.kill_probability=0.2``).
    """
    if isinstance(overrides, str):  # a bare string would be read one character at a time
        raise TypeError("overrides must be a sequence of 'key.path=value' strings")
    file = os.fspath(path)
    data = read_yaml_mapping(path)
    scenario = validate_yaml_mapping(Scenario, data, file, overrides)
    owned = _apply_overrides(copy.deepcopy(data), overrides) if overrides else {}
    for loc, message in suspicious_fields(scenario):
        issue = _place(data, file, owned, loc, message)
        warnings.warn(ScenarioWarning(str(issue)), stacklevel=2)
    return scenario


class ScenarioWarning(UserWarning):
    """A value that is legal but probably a mistake; its text is ``FILE:LINE:COL: field: ...``
    (the command line prints it after ``warning: ``)."""


def _place(data: CommentedMap, file: str, owned: dict[Loc, str], loc: Loc, message: str) -> Issue:
    """An issue at ``loc``: at the ``--set`` that set it, else at its line in the file."""
    for path, text in owned.items():
        if loc[: len(path)] == path:
            return Issue(f"--set {text}", message, _dotted(loc))
    line, col = _locate(data, loc, at_key=False)
    return Issue(file, message, _dotted(loc), line, col)


def read_yaml_mapping(
    path: str | os.PathLike[str],
    kind: str = "scenario",
    empty_hint: str = "a scenario needs at least `name:`",
) -> CommentedMap:
    """Read and safely parse a YAML file whose top level must be a mapping of ``kind`` fields.

    The result keeps the position of every key, for :func:`validate_yaml_mapping` and
    :func:`issue_at`. ``empty_hint`` completes the message for an empty file.
    """
    file = os.fspath(path)
    text = _read_text(Path(path), file)
    try:
        data, (line, col) = _parse_yaml(text)
    except _YamlProblem as problem:
        raise ScenarioError([_file_issue(file, problem)]) from None
    if data is None:
        raise ScenarioError([Issue(file, f"file is empty ({empty_hint})")])
    if not isinstance(data, CommentedMap):
        message = f"top level must be a mapping of {kind} fields, got {_kind(data)}"
        raise ScenarioError([Issue(file, message, line=line, col=col)])
    return data


def validate_yaml_mapping[M: BaseModel](
    model: type[M], data: CommentedMap, file: str, overrides: Sequence[str] = ()
) -> M:
    """Validate parsed YAML (from :func:`read_yaml_mapping`) as ``model``, after ``overrides``.

    ``data`` itself is left unchanged, so one parsed file can be validated with many sets of
    overrides (a sweep resolves every design point this way). Errors are located in ``file``.
    """
    if overrides:
        data = copy.deepcopy(data)
    owned = _apply_overrides(data, overrides)
    try:
        plain = _plain(data, [_MAX_VALUES])
    except _YamlProblem as problem:
        raise ScenarioError([_file_issue(file, problem)]) from None
    try:
        validated = model.model_validate(plain)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        issues = [_issue_for(err, data, file, owned, model) for err in errors]
        raise ScenarioError(_in_file_order(issues, file)) from exc
    _warn_deprecated_parameters(plain, data, file)
    return validated


def _warn_deprecated_parameters(plain: Any, data: CommentedMap, file: str, loc: Loc = ()) -> None:
    """A located ``ParameterDeprecationWarning`` for each deprecated parameter name in any
    ``parameters:`` mapping of the file (the scenario's and its arms')."""
    if not isinstance(plain, dict):
        return
    for key, value in plain.items():
        if key == "parameters" and isinstance(value, dict):
            for name in value:
                message = deprecation(name)
                if message is not None:
                    issue = issue_at(file, data, (*loc, key, name), message)
                    warnings.warn(str(issue), ParameterDeprecationWarning, stacklevel=3)
        else:
            _warn_deprecated_parameters(value, data, file, (*loc, key))


def issue_at(file: str, data: CommentedMap, loc: Sequence[str | int], message: str) -> Issue:
    """An issue placed at the deepest key of ``loc`` present in ``data``, for checks made after
    validation (a sweep's factor paths, its design)."""
    line, col = _locate(data, tuple(loc), at_key=True)
    return Issue(file, message, _dotted(tuple(loc)), line, col)


def field_info(model: type[BaseModel], loc: Sequence[str | int]) -> FieldInfo | None:
    """The pydantic field at ``loc`` below ``model`` (None if ``loc`` is not a model field)."""
    return _field_info(tuple(loc), model)


def scenario_hash(scenario: Scenario) -> str:
    """SHA-256 of the resolved scenario (defaults filled in), stable across key order and runs.

    Two runs with the same hash simulated the same thing, whatever the YAML looked like.
    """
    canonical = json.dumps(
        scenario.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def json_schema() -> dict[str, Any]:
    """JSON Schema of a scenario file, for editors (yaml-language-server) and other tools.

    Pydantic's schema is used as is, except that ``parameters`` lists the known names with their
    ranges: the model checks those in a validator, which pydantic cannot export.
    """
    schema = Scenario.model_json_schema()
    parameters = schema["properties"]["parameters"]
    parameters["properties"] = {p.name: _parameter_schema(p) for p in DEFAULTS}
    parameters["additionalProperties"] = False
    schema.pop("title", None)
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "title": "gcsim scenario",
        "$comment": f"schema version {SCHEMA_VERSION}; generated by `gcsim schema`, do not edit",
        **schema,
    }


def json_schema_text() -> str:
    """The JSON Schema as the text written to disk (stable, so diffs show real changes)."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def write_json_schema(path: str | os.PathLike[str]) -> Path:
    """Write the JSON Schema atomically, so a reader never sees a half-written file."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json_schema_text())
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the schema is meant to be shared
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


# --- reading and parsing ---------------------------------------------------------------------


def _read_text(path: Path, file: str) -> str:
    """The file as text; every way of not having one becomes a one-line issue."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ScenarioError([Issue(file, "no such file")]) from None
    except IsADirectoryError:
        raise ScenarioError([Issue(file, "is a directory, not a scenario file")]) from None
    except PermissionError:
        raise ScenarioError([Issue(file, "permission denied")]) from None
    except OSError as exc:
        raise ScenarioError([Issue(file, f"cannot read: {exc.strerror or exc}")]) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line, col = _position(raw, exc.start)
        message = f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as UTF-8"
        raise ScenarioError([Issue(file, message, line=line, col=col)]) from None


def _parse_yaml(text: str) -> tuple[Any, tuple[int, int]]:
    """Parse one YAML document; return the round-trip data and the 1-based start of its root.

    The node tree is composed and checked first, so nothing is constructed from a bad tag.
    """
    yaml = YAML(typ="rt")
    try:
        root = yaml.compose(text)
        if root is None:
            return None, (1, 1)
        _check_nodes(root, (), set(), set())
        return yaml.load(text), (root.start_mark.line + 1, root.start_mark.column + 1)
    except MarkedYAMLError as exc:
        raise _marked_problem(exc) from None
    except ReaderError as exc:
        line, col = _position(text, exc.position)
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        message = f"character #x{char:04x} is not allowed in YAML ({exc.reason})"
        raise _YamlProblem(message, line, col) from None
    except YAMLError as exc:
        raise _YamlProblem(str(exc)) from None
    except RecursionError:
        raise _YamlProblem("nesting too deep") from None


def _check_nodes(node: Node, path: Loc, on_path: set[int], seen: set[int]) -> None:
    """Reject non-plain tags, non-scalar keys and recursive aliases, before construction."""
    line, col = node.start_mark.line + 1, node.start_mark.column + 1
    if id(node) in on_path:
        raise _YamlProblem("recursive alias is not allowed", line, col, _dotted(path))
    if id(node) in seen:  # an alias of a node already checked
        return
    seen.add(id(node))
    tag = str(node.tag)
    if tag not in _PLAIN_TAGS:
        short = tag.replace("tag:yaml.org,2002:", "!!")
        message = f"tag {short} is not allowed: a scenario holds plain YAML values only"
        raise _YamlProblem(message, line, col, _dotted(path))
    on_path.add(id(node))
    if isinstance(node, MappingNode):
        for key, value in node.value:
            if not isinstance(key, ScalarNode):
                kline, kcol = key.start_mark.line + 1, key.start_mark.column + 1
                raise _YamlProblem("keys must be plain scalars", kline, kcol, _dotted(path))
            _check_nodes(key, path, on_path, seen)
            _check_nodes(value, (*path, key.value), on_path, seen)
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            _check_nodes(item, (*path, index), on_path, seen)
    on_path.discard(id(node))


def _marked_problem(exc: MarkedYAMLError) -> _YamlProblem:
    """ruamel's multi-line error as one line, placed at the problem (or else the context)."""
    mark = exc.problem_mark or exc.context_mark
    message = exc.problem or exc.context or "invalid YAML"
    if exc.problem and exc.context:
        where = f" at line {exc.context_mark.line + 1}" if exc.context_mark else ""
        message = f"{exc.problem} ({exc.context}{where})"
    if mark is None:
        return _YamlProblem(message)
    return _YamlProblem(message, mark.line + 1, mark.column + 1)


def _plain(value: Any, budget: list[int]) -> Any:
    """Round-trip data as plain Python types, so the Scenario never holds ruamel subclasses."""
    budget[0] -= 1
    if budget[0] < 0:
        raise _YamlProblem(f"more than {_MAX_VALUES} values once aliases are expanded")
    if isinstance(value, Mapping):
        return {_plain(k, budget): _plain(v, budget) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(item, budget) for item in value]
    if isinstance(value, TaggedScalar):  # an explicit plain tag such as ``!!str 3``
        return str(value.value)
    if isinstance(value, bool | ScalarBoolean):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


# --- overrides -------------------------------------------------------------------------------


def _apply_overrides(data: CommentedMap, overrides: Sequence[str]) -> dict[Loc, str]:
    """Apply ``--set`` strings in order; return the paths each one created or replaced.

    Validation errors under those paths are then blamed on the override, not on the file.
    """
    owned: dict[Loc, str] = {}
    issues: list[Issue] = []
    for text in overrides:
        try:
            path, value = _parse_override(text)
            for created in _assign(data, path, value):
                owned[created] = text
        except _YamlProblem as problem:
            issues.append(Issue(f"--set {text}", problem.message, problem.field))
    if issues:
        raise ScenarioError(issues)
    return owned


def _parse_override(text: str) -> tuple[Loc, Any]:
    """Split ``key.path=value`` and read the value as one YAML scalar."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise _YamlProblem("expected key.path=value")
    path = key_path(key)
    if any(part == "" for part in path):
        raise _YamlProblem("empty part in the key path", field=key)
    try:
        value, _ = _parse_yaml(raw)
    except _YamlProblem as problem:
        raise _YamlProblem(f"invalid YAML value: {problem.message}", field=key) from None
    if isinstance(value, Mapping | list):
        message = f"value must be a single YAML scalar, got {_kind(value)} (quote it)"
        raise _YamlProblem(message, field=key)
    return path, value


_BRACKETS = re.compile(r"\[([^\[\]]*)\]")


def key_path(key: str) -> Loc:
    """The location named by an override key; after ``parameters.`` (the scenario's or an
    arm's: ``arms.ici.parameters.cd8.kill_probability``) the rest is one name, because parameter
    names contain dots. ``[i]`` after a part indexes a list (a treatment of an arm:
    ``arms.ici[0].dose.value``); ``[text]`` picks the treatment whose ``label`` is text (kept as
    the part ``"[text]"`` and resolved against the file by ``_assign``)."""
    loc: list[str | int] = []
    parts = key.split(".")
    for i, part in enumerate(parts):
        name = _BRACKETS.sub("", part)
        if name or not _BRACKETS.search(part):
            loc.append(name)
        for index in _BRACKETS.findall(part):
            loc.append(int(index) if index.isdigit() else f"[{index}]")
        if part == "parameters" and i + 1 < len(parts):
            loc.append(".".join(parts[i + 1 :]))
            break
    return tuple(loc)


def _assign(data: CommentedMap, path: Loc, value: Any) -> list[Loc]:
    """Set ``data[path] = value``, creating missing mappings; return the paths created (with
    treatment labels resolved to list indices, as validation errors name them)."""
    node: Any = data
    created: list[Loc] = []
    done: list[str | int] = []
    for depth, key in enumerate(path[:-1], start=1):
        if _is_index(key):
            node, where = _treatment(node, key, tuple(done))
            done += where
            continue
        child = node.get(key)
        if child is None:
            child = node[key] = CommentedMap()
            created.append((*done, key))
        elif not isinstance(child, Mapping | list) or (
            isinstance(child, list) and not _is_index(path[depth])
        ):
            message = f"is {_kind(child)}, not a mapping, so {path[depth]!r} cannot be set in it"
            raise _YamlProblem(message, field=_dotted(path[:depth]))
        done.append(key)
        node = child
    last = path[-1]
    if _is_index(last):
        noun = _list_item(tuple(done))
        raise _YamlProblem(
            f"a whole {noun} cannot be set; set one of its fields", field=_dotted(path)
        )
    if not isinstance(node, Mapping):
        raise _YamlProblem(f"is {_kind(node)}, not a mapping", field=_dotted(tuple(done)))
    node[last] = value
    created.append((*done, last))
    return created


def _is_index(part: str | int) -> bool:
    return isinstance(part, int) or part.startswith("[")


def _list_item(where: Loc) -> str:
    """What the list at ``where`` holds, for messages: an arm's treatments, else the singular
    of the list's key (``patient.lesions`` → lesion, ``windows`` → window)."""
    keys = [k for k in where if isinstance(k, str) and not _is_index(k)]
    if not keys or (keys[0] == "arms" and (len(keys) <= 2 or keys[-1] == "treatments")):
        return "treatment"
    name = keys[-1]
    return name[:-1] if name.endswith("s") and len(name) > 1 else "item"


def _treatment(node: Any, key: str | int, where: Loc) -> tuple[Any, list[str | int]]:
    """The treatment ``key`` (index or ``[label]``) of the arm or list ``node``, and the keys
    that lead to it from ``node`` (an arm written as a mapping keeps them under treatments).
    Any other list (``patient.lesions[0]``) is indexed the same way."""
    steps: list[str | int] = []
    if isinstance(node, Mapping) and isinstance(node.get("treatments"), list):
        node, steps = node["treatments"], ["treatments"]
    noun = _list_item(where)
    if not isinstance(node, list):
        message = f"is {_kind(node)}, not a list of {noun}s, so {key!r} cannot index it"
        raise _YamlProblem(message, field=_dotted(where))
    if isinstance(key, int):
        if key >= len(node):
            message = f"has {len(node)} {noun}(s); index {key} is out of range"
            raise _YamlProblem(message, field=_dotted(where))
        return node[key], [*steps, key]
    label = key[1:-1]
    labels = [t.get("label") for t in node if isinstance(t, Mapping)]
    if label not in labels:
        known = ", ".join(repr(x) for x in labels if x) or "none is labelled"
        message = f"no treatment labelled {label!r}{_did_you_mean(label, filter(None, labels))}"
        raise _YamlProblem(f"{message}; labels: {known}", field=_dotted(where))
    index = labels.index(label)
    return node[index], [*steps, index]


# --- mapping pydantic errors back to the file ------------------------------------------------


def _issue_for(
    err: ErrorDetails,
    data: CommentedMap,
    file: str,
    owned: dict[Loc, str],
    model: type[BaseModel] = Scenario,
) -> Issue:
    """Turn one pydantic error into an issue at the deepest key of its ``loc`` in the file."""
    loc = tuple(err["loc"])
    error = err.get("ctx", {}).get("error")
    if isinstance(error, FieldError):  # the validator says where, below its model
        loc = (*loc, *error.loc)
    loc = _strip_union_tags(data, loc)
    message = _describe(err, loc, model, data)
    if err["type"] in _CUSTOM_ERRORS and not isinstance(error, FieldError):
        refined = _refine(data, loc, message)
        head, colon, rest = message.partition(": ")
        if refined != loc and colon and "." in head and " " not in head:
            message = rest  # the validator named the path to locate it; the prefix now says it
        loc = refined
        message += _parameter_hint(loc)
    field = _dotted(loc)
    for path, text in owned.items():
        if loc[: len(path)] == path:
            return Issue(f"--set {text}", message, field)
    line, col = _locate(data, loc, at_key=err["type"] in _KEY_ERRORS)
    return Issue(file, message, field, line, col)


def _describe(err: ErrorDetails, loc: Loc, model: type[BaseModel], data: Any = None) -> str:
    """Pydantic's message, with the offending value and the field's unit where that helps."""
    kind = err["type"]
    if kind in _CUSTOM_ERRORS:
        return str(err.get("ctx", {}).get("error", err["msg"]))
    if kind == "extra_forbidden":
        return _unknown_key(loc, model, data)
    if kind == "missing":
        parent = _get(data, loc[:-1])
        if loc and loc[-1] == "dose_per_fraction" and isinstance(parent, Mapping):
            if "dose" in parent:
                return "required field is missing (radiotherapy names its dose dose_per_fraction)"
        return "required field is missing"
    message = err["msg"]
    if kind == "tuple_type":  # a tuple field is a list in YAML (and JSON)
        message = "Input should be a list"
    value = err.get("input")
    if isinstance(value, float) and math.isnan(value):
        message = "NaN (.nan) is not a number allowed here"
    elif not isinstance(value, Mapping | list):
        message += f", got {value!r}"
        if kind == "tuple_type" and isinstance(value, str):
            message += f" (a list of one: [{value}])"
    info = _field_info(loc, model)
    if info is not None and info.description:
        message += f" ({info.description})"
    return message


def _unknown_key(loc: Loc, root: type[BaseModel], data: Any = None) -> str:
    """Name the unknown key, suggest the closest known one and list what is allowed."""
    key = str(loc[-1])
    model = _model_at(loc[:-1], root, data)
    if model is None:
        return f"unknown key {key!r}"
    allowed = list(model.model_fields)
    hint = _did_you_mean(key, allowed)
    if key == "dose" and "dose_per_fraction" in allowed:
        hint = " (radiotherapy takes dose_per_fraction: {value: 8, unit: Gy})"
    return f"unknown key {key!r}{hint}; allowed: {', '.join(allowed)}"


def _parameter_hint(loc: Loc) -> str:
    """Suggest a parameter name when an unknown one was given under ``parameters``."""
    if len(loc) == 2 and loc[0] == "parameters" and not is_known(str(loc[1])):
        return _did_you_mean(str(loc[1]), DEFAULTS_BY_NAME)
    return ""


def _did_you_mean(word: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _refine(data: Any, loc: Loc, message: str) -> Loc:
    """Point a model-level validator error at the key its message names, if that key exists.

    Our validators run on a whole model (``parameters``, ``time``, the root), so pydantic's
    ``loc`` stops there; the message says which key is wrong (``'foo'``, ``tumor.x_um``).
    """
    node = _get(data, loc)
    if not isinstance(node, Mapping):
        return loc
    partial: Loc = ()
    for match in _WORD.finditer(message):
        found, complete = _resolve(node, match.group(1) or match.group(2))
        if complete:
            return (*loc, *found)
        partial = partial or found
    return (*loc, *partial)


def _resolve(node: Mapping[Any, Any], dotted: str) -> tuple[Loc, bool]:
    """The longest existing key path spelled by ``dotted``; keys may contain dots themselves,
    and a numeric part indexes a list (``arms.a.0.schedule``)."""
    if dotted in node:
        return (dotted,), True
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        head = ".".join(parts[:cut])
        if head in node:
            child = node[head]
            rest_parts = parts[cut:]
            if isinstance(child, list) and rest_parts[0] == "treatments":  # arm shorthand
                rest_parts = rest_parts[1:] or ["0"]
            if isinstance(child, list) and rest_parts[0].isdigit():
                index = int(rest_parts[0])
                if index >= len(child):
                    return (head,), False
                if len(rest_parts) == 1:
                    return (head, index), True
                if not isinstance(child[index], Mapping):
                    return (head, index), False
                rest, complete = _resolve(child[index], ".".join(rest_parts[1:]))
                return (head, index, *rest), complete
            if not isinstance(child, Mapping):
                return (head,), False
            rest, complete = _resolve(child, ".".join(rest_parts))
            return (head, *rest), complete
    return (), False


def _strip_union_tags(data: Any, loc: Loc) -> Loc:
    """Drop the tags pydantic inserts in the ``loc`` of a tagged-union member
    (``arms.a[0].radiotherapy.dose`` → ``arms.a[0].dose``, ``tumor.subclones.hrd.mapping.fraction``
    → ``tumor.subclones.hrd.fraction``): they are not keys of the file."""
    kept: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, Mapping):
            is_tag = part not in node and part in (node.get("type"), MAPPING_TAG)
        else:
            is_tag = part == NUMBER_TAG
        if part == "[key]":  # pydantic's marker for an invalid mapping key: point at the key
            continue
        if part == "treatments" and isinstance(node, list):  # an arm written as a bare list
            continue
        if not is_tag:
            kept.append(part)
            node = _get(node, (part,))
    return tuple(kept)


def _locate(data: CommentedMap, loc: Loc, *, at_key: bool) -> tuple[int, int]:
    """1-based line and column of the deepest part of ``loc`` present in the file.

    A scalar value is pointed at itself; a mapping, an empty value, a missing or an unknown key
    at its key.
    """
    line, col = data.lc.line or 0, data.lc.col or 0
    node: Any = data
    for depth, part in enumerate(loc, start=1):
        if not isinstance(node, CommentedMap | CommentedSeq) or part not in (node.lc.data or {}):
            break
        position = node.lc.data[part]
        child = node[part]
        is_scalar = child is not None and not isinstance(child, Mapping | list)
        if depth == len(loc) and not at_key and is_scalar:
            line, col = position[-2], position[-1]  # the value (a seq item has only one pair)
        else:
            line, col = position[0], position[1]
        node = child
    return line + 1, col + 1


def _in_file_order(issues: list[Issue], file: str) -> list[Issue]:
    """File issues sorted by position, then override issues in the order given."""
    in_file = sorted((i for i in issues if i.source == file), key=lambda i: (i.line, i.col))
    return in_file + [i for i in issues if i.source != file]


# --- small helpers ---------------------------------------------------------------------------


def _file_issue(file: str, problem: _YamlProblem) -> Issue:
    return Issue(file, problem.message, problem.field, problem.line, problem.col)


def _get(data: Any, loc: Loc) -> Any:
    for part in loc:
        if not isinstance(data, Mapping | list):
            return None
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _model_at(loc: Loc, root: type[BaseModel], data: Any = None) -> type[BaseModel] | None:
    """The pydantic model that validates the mapping at ``loc`` (None below a plain field).

    It follows mappings of models (``arms.NAME``), lists of models (``treatments[0]``, an arm's
    bare list) and tagged unions, whose member ``data`` (the parsed file) selects by ``type``.
    """
    current: Any = root
    node = data
    for part in loc:
        model = _as_model(current, node)
        if model is not None:
            if isinstance(part, int) and "treatments" in model.model_fields:  # arm shorthand
                current = model.model_fields["treatments"].annotation
            else:
                info = model.model_fields.get(part) if isinstance(part, str) else None
                if info is None:
                    return None
                current = info.annotation
                node = _get(node, (part,))
                continue
        origin, args = get_origin(_bare(current)), get_args(_bare(current))
        if origin is dict and len(args) == 2:
            current = args[1]
        elif origin in (list, tuple) and args and isinstance(part, int):
            current = args[0]
        else:
            return None
        node = _get(node, (part,))
    return _as_model(current, node)


def _bare(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _as_model(annotation: Any, node: Any) -> type[BaseModel] | None:
    """The model ``annotation`` names, or the member of a union that ``node``'s type selects."""
    annotation = _bare(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, types.UnionType):
        members = [_bare(m) for m in get_args(annotation)]
        models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
        tag = node.get("type") if isinstance(node, Mapping) else None
        for model in models:
            field = model.model_fields.get("type")
            if field is not None and tag in get_args(field.annotation):
                return model
        # Optional[Model], or a number-or-mapping field (tumor.subclones.<marker>): only the
        # model has keys, so a key below the field is one of its
        if len(models) == 1:
            return models[0]
    return None


def _field_info(loc: Loc, root: type[BaseModel]) -> FieldInfo | None:
    model = _model_at(loc[:-1], root) if loc else None
    last = loc[-1] if loc else None
    return model.model_fields.get(last) if model and isinstance(last, str) else None


def _parameter_schema(param: Param) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "number",
        "description": f"{param.description} [{param.unit}]. Source: {param.source}",
        "default": param.value,
        "minimum": param.lo,
    }
    if param.hi != float("inf"):
        schema["maximum"] = param.hi
    return schema


def _dotted(loc: Loc) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return f"a {type(value).__name__}"


def _position(text: str | bytes, offset: int) -> tuple[int, int]:
    """1-based line and column of a character (or byte) offset."""
    newline = "\n" if isinstance(text, str) else b"\n"
    before = text[:offset]
    return before.count(newline) + 1, offset - (before.rfind(newline) + 1) + 1


def _one_line(text: str) -> str:
    return " ".join(text.split())
