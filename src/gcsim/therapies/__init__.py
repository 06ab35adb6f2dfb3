"""Therapies: one module per intervention behind one protocol and a registry.

A therapy is a pydantic model of its scenario entry (a subclass of ``TreatmentConfig`` with a
``type: Literal[...]``, which is also its registry key ``kind``), whose ``start(model)``
returns a running ``Therapy`` that adds its mechanisms to each step's ``Effects`` or acts on
cells through a kernel.

Third-party therapies register through the ``gcsim.therapies`` entry-point group; in the
plugin package's ``pyproject.toml``::

    [project.entry-points."gcsim.therapies"]
    hyperbaric_oxygen = "my_package.hbo:HyperbaricOxygen"

The scenario schema, ``gcsim validate`` and ``gcsim run`` then accept ``type: hyperbaric_oxygen``.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points
from typing import Annotated, Any, Union

from pydantic import Field

from gcsim.therapies.antivegf import AntiVEGF
from gcsim.therapies.base import Dose, Effects, Schedule, Therapy, TreatmentConfig
from gcsim.therapies.checkpoint import CheckpointInhibitor
from gcsim.therapies.chemotherapy import Chemotherapy
from gcsim.therapies.radiotherapy import Radiotherapy, Region

ENTRY_POINT_GROUP = "gcsim.therapies"
BUILTIN: tuple[type[TreatmentConfig], ...] = (
    CheckpointInhibitor,
    AntiVEGF,
    Radiotherapy,
    Chemotherapy,
)

__all__ = [
    "BUILTIN",
    "ENTRY_POINT_GROUP",
    "AntiVEGF",
    "CheckpointInhibitor",
    "Chemotherapy",
    "Dose",
    "Effects",
    "Radiotherapy",
    "Region",
    "Schedule",
    "Therapy",
    "TreatmentConfig",
    "registry",
    "treatment_type",
]


class PluginError(RuntimeError):
    """A registered therapy plugin could not be loaded or is not a TreatmentConfig."""


@cache
def registry() -> dict[str, type[TreatmentConfig]]:
    """Every therapy by its ``type``: the built-ins, then those of installed plugins."""
    found: dict[str, type[TreatmentConfig]] = {cls.kind: cls for cls in BUILTIN}
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


def treatment_type() -> Any:
    """The pydantic type of one treatment entry: a union of all therapies, keyed by ``type``."""
    classes = tuple(registry().values())
    return Annotated[Union[classes], Field(discriminator="type")]  # noqa: UP007
