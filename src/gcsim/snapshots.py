"""Lattice snapshots of a run, for ``gcsim animate``.

A snapshot is the tissue and immune codes of every site (int8) at one time; a run stores those of
replicate 0 of each arm as ``snapshots_<arm>.npz`` (compressed: the codes are mostly runs of the
same value, so a 200 × 200 lattice takes a few kB per frame). Only codes are kept, not fields:
the animation draws cells, and the plots beside them come from ``timeseries.parquet``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gcsim.scenario.schema import arm_file_stem

if TYPE_CHECKING:
    from gcsim.interface import ModelView


@dataclass
class Snapshots:
    """Frames of one run: ``tissue`` and ``immune`` of shape (frames, width, height)."""

    tissue: np.ndarray
    immune: np.ndarray
    time_h: np.ndarray
    site_um: float

    def __len__(self) -> int:
        return len(self.time_h)


class SnapshotRecorder:
    """Collects a model's lattice every ``every_steps`` steps (and at t = 0)."""

    def __init__(self, model: ModelView, every_steps: int) -> None:
        if every_steps < 1:
            raise ValueError(f"snapshot interval must be at least one step, got {every_steps}")
        self.every_steps = every_steps
        self.site_um = float(model.site_um)
        self._tissue: list[np.ndarray] = []
        self._immune: list[np.ndarray] = []
        self._time_h: list[float] = []
        self.capture(model)

    def capture(self, model: ModelView) -> None:
        self._tissue.append(model.state.tissue.astype(np.int8, copy=True))
        self._immune.append(model.state.immune.astype(np.int8, copy=True))
        self._time_h.append(float(model.time_h))

    def after_step(self, model: ModelView) -> None:
        """Call after every step: keeps the lattice on every ``every_steps``-th step."""
        if model.steps % self.every_steps == 0:
            self.capture(model)

    def continue_from(self, earlier: Snapshots) -> None:
        """Replace the frames so far with ``earlier``'s: the frames of the history this model
        continues (a branched arm's trunk), which end where this recorder started."""
        self._tissue = list(earlier.tissue)
        self._immune = list(earlier.immune)
        self._time_h = [float(t) for t in earlier.time_h]

    def snapshots(self) -> Snapshots:
        return Snapshots(
            tissue=np.stack(self._tissue),
            immune=np.stack(self._immune),
            time_h=np.array(self._time_h),
            site_um=self.site_um,
        )


def steps_between(every_hours: float, dt_hours: float) -> int:
    """Whole time steps between snapshots (at least one)."""
    if every_hours <= 0:
        raise ValueError(f"snapshot interval must be positive, got {every_hours} h")
    return max(1, round(every_hours / dt_hours))


def save_snapshots(path: Path, snapshots: Snapshots) -> None:
    np.savez_compressed(
        path,
        tissue=snapshots.tissue,
        immune=snapshots.immune,
        time_h=snapshots.time_h,
        site_um=np.array(snapshots.site_um),
    )


def load_snapshots(path: Path) -> Snapshots:
    with np.load(path) as data:
        return Snapshots(
            tissue=data["tissue"],
            immune=data["immune"],
            time_h=data["time_h"],
            site_um=float(data["site_um"]),
        )


def snapshot_name(arm: str) -> str:
    """``snapshots_<arm>.npz`` (see ``arm_file_stem``)."""
    return f"snapshots_{arm_file_stem(arm)}.npz"
