"""The base of every scenario model: unknown keys are errors, values are frozen once validated,
and a number is a number: a YAML string (``"5"``) or boolean (``true``) where a number is asked is
an error, not silently converted (pydantic's lax mode would read both as numbers)."""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, model_validator


class FieldError(ValueError):
    """A model validator's error about a field below the model it validates. ``loc`` (keys and
    list indices from that model) says which field, so the scenario loader locates the error in
    the file without reading the path back out of the message."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


# Tags of a field that takes a plain number or a mapping (``tumor.subclones.<marker>``): pydantic
# puts the chosen member's tag in an error's ``loc``; the scenario loader drops it again.
NUMBER_TAG = "number"
MAPPING_TAG = "mapping"


def number_or_mapping(value: Any) -> str:
    """The union member a number-or-mapping field validates ``value`` with (a pydantic
    ``Discriminator``): the mapping's for a mapping or a model, the number's otherwise."""
    return MAPPING_TAG if isinstance(value, Mapping | BaseModel) else NUMBER_TAG


def _members(annotation: Any) -> list[Any]:
    """The types a field accepts: ``Annotated`` and unions unwrapped."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [m for arg in get_args(annotation) for m in _members(arg)]
    return [annotation]


def _numeric_only(annotation: Any) -> bool:
    """True if the field takes numbers and no strings or booleans."""
    members = _members(annotation)
    numeric = any(m in (int, float) for m in members)
    return numeric and not any(m in (str, bool) or get_origin(m) is not None for m in members)


def _not_a_number(annotation: Any, value: Any) -> tuple[tuple[str | int, ...], Any] | None:
    """Where (relative loc) and what a string or boolean is given for a number, if anywhere."""
    if isinstance(value, str | bool) and _numeric_only(annotation):
        return (), value
    for member in _members(annotation):
        origin, args = get_origin(member), get_args(member)
        if origin is dict and len(args) == 2 and isinstance(value, dict):
            for key, item in value.items():
                found = _not_a_number(args[1], item)
                if found is not None:
                    return (key, *found[0]), found[1]
        if origin in (list, tuple) and args and isinstance(value, list | tuple):
            for i, item in enumerate(value):
                found = _not_a_number(args[0], item)
                if found is not None:
                    return (i, *found[0]), found[1]
    return None


def _numeric_text(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        float(value)
    except ValueError:
        return False
    return True


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    @model_validator(mode="before")
    @classmethod
    def _numbers_are_numbers(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for name, value in data.items():
            info = cls.model_fields.get(name) if isinstance(name, str) else None
            found = None if info is None else _not_a_number(info.annotation, value)
            if found is not None:
                loc, bad = found
                kind = "a boolean" if isinstance(bad, bool) else "a string"
                hint = " (write it without quotes)" if _numeric_text(bad) else ""
                raise FieldError((name, *loc), f"must be a number, got {kind} {bad!r}{hint}")
        return data
