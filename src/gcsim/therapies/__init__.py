"""Therapies: one module per intervention behind one protocol and a registry.

A therapy is a pydantic model of its scenario entry (a subclass of ``TreatmentConfig`` with a
``type: Literal[...]``, which is also its registry key ``kind``), whose ``start(model)``
returns a running ``Therapy`` that adds its mechanisms to each step's ``Effects`` or acts on
cells through a kernel.

Third-party therapies register through the ``gcsim.therapies`` entry-point group; in the
plugin package's ``pyproject.toml``::

    [project.entry-points."gcsim.therapies"]
    nk_engager = "my_package.nk:NKCellEngager"

The scenario schema, ``gcsim validate`` and ``gcsim run`` then accept ``type: nk_engager``.
"""

from __future__ import annotations

import importlib
import pkgutil
import warnings
from collections.abc import Callable, Mapping
from functools import cache
from importlib.metadata import entry_points
from typing import Annotated, Any, Union

from pydantic import Field

from gcsim.therapies.base import Dose, Effects, Exposure, Schedule, Therapy, TreatmentConfig

ENTRY_POINT_GROUP = "gcsim.therapies"

__all__ = [
    "ENTRY_POINT_GROUP",
    "Dose",
    "Effects",
    "Exposure",
    "Schedule",
    "Therapy",
    "TreatmentConfig",
    "builtin",
    "exposure_styles",
    "registry",
    "therapy_counters",
    "therapy_derived_metrics",
    "treatment_type",
]


class PluginError(RuntimeError):
    """A registered therapy plugin could not be loaded or is not a TreatmentConfig."""


@cache
def builtin() -> tuple[type[TreatmentConfig], ...]:
    """The therapies of this package: every concrete ``TreatmentConfig`` defined in one of its
    modules (found by scanning them, so a new therapy is a new module and nothing else)."""
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, TreatmentConfig)
                and value.__module__ == module.__name__
                and "kind" in vars(value)
            ):
                found.append(value)
    return tuple(found)


@cache
def registry() -> dict[str, type[TreatmentConfig]]:
    """Every therapy by its ``type``: the built-ins, then those of installed plugins."""
    found: dict[str, type[TreatmentConfig]] = {}
    for cls in builtin():
        if cls.kind in found:
            raise TypeError(f"{cls.__module__} redefines therapy type {cls.kind!r}")
        found[cls.kind] = cls
    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = point.load()
        except Exception as exc:  # a broken plugin must name itself, not crash obscurely
            raise PluginError(f"therapy plugin {point.name!r} ({point.value}): {exc}") from exc
        if not (isinstance(cls, type) and issubclass(cls, TreatmentConfig)):
            raise PluginError(
                f"therapy plugin {point.name!r} ({point.value}) is not a TreatmentConfig subclass"
            )
        if cls.kind in found:
            raise PluginError(f"therapy plugin {point.name!r} redefines type {cls.kind!r}")
        found[cls.kind] = cls
    return found


# Names this package exported before therapies were found by scanning (docs/decisions/0012):
# they still import, with a DeprecationWarning that says where they live now.
_MOVED = {
    "AntiVEGF": "antivegf",
    "CheckpointInhibitor": "checkpoint",
    "Chemotherapy": "chemotherapy",
    "Radiotherapy": "radiotherapy",
    "Region": "radiotherapy",
}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        module = f"{__name__}.{_MOVED[name]}"
        warnings.warn(
            f"import {name} from {module}; gcsim.therapies.{name} is deprecated",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(module), name)
    if name == "BUILTIN":
        warnings.warn(
            "gcsim.therapies.BUILTIN is deprecated: use gcsim.therapies.builtin()",
            DeprecationWarning,
            stacklevel=2,
        )
        return builtin()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def therapy_counters() -> tuple[str, ...]:
    """The event counters the registered therapies add, each once, in registry order (every
    model counts them all, so every run has the same columns)."""
    return tuple(dict.fromkeys(c for cls in registry().values() for c in cls.counters))


def therapy_derived_metrics() -> dict[str, Callable[[Mapping[str, float]], float]]:
    """The metrics the registered therapies compute from the model's counters, by name."""
    return {n: f for cls in registry().values() for n, f in cls.derived_metrics.items()}


def exposure_styles() -> tuple[Exposure, ...]:
    """The exposure lines of the registered therapies, for plots and the demo."""
    return tuple(cls.exposure for cls in registry().values() if cls.exposure is not None)


def treatment_type() -> Any:
    """The pydantic type of one treatment entry: a union of all therapies, keyed by ``type``."""
    classes = tuple(registry().values())
    return Annotated[Union[classes], Field(discriminator="type")]  # noqa: UP007
