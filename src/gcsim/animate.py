"""Animations of a finished run for slides: the lattice beside its plots, as a GIF and an MP4.

``gcsim run --snapshots-every HOURS`` stores the lattice of replicate 0 of each arm
(``snapshots_<arm>.npz``); this module draws one frame per snapshot — the cells on the left, and
on the right viable tumour, CD8 density (core vs margin) and the hypoxic fraction of the same run
from ``timeseries.parquet`` up to that time — and writes ``animation_<arm>.gif`` and
``animation_<arm>.mp4``. The MP4 is encoded by the ffmpeg binary that the imageio-ffmpeg wheel
ships, so no system ffmpeg is needed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from gcsim.plots import codes_image, legend_handles
from gcsim.snapshots import Snapshots, load_snapshots, snapshot_name

# 960 × 480 px: both multiples of 16, the macro-block size of H.264, so ffmpeg need not rescale
FIGSIZE_IN = (12, 6)
DPI = 80
PANELS = (
    ("viable tumour (mm²)", (("viable_tumor_mm2", "viable tumour"),)),
    (
        "CD8 density (cells/mm²)",
        (("cd8_core_per_mm2", "core"), ("cd8_margin_per_mm2", "margin")),
    ),
    ("hypoxic fraction of tumour", (("hypoxic_fraction", "hypoxic"),)),
)


class AnimationError(Exception):
    """The run directory cannot be animated (no snapshots, missing files)."""


@dataclass(frozen=True)
class Animation:
    arm: str
    gif: Path
    mp4: Path
    frames: int


def _arm_tables(run_dir: Path) -> dict[str, Path]:
    """Snapshot files by arm, in the order run.json lists them."""
    manifest_path = run_dir / "run.json"
    if not manifest_path.is_file():
        raise AnimationError(f"{run_dir}: not a run directory (no run.json)")
    manifest = json.loads(manifest_path.read_text())
    files = set(manifest.get("files", []))
    arms = {}
    for run in manifest.get("runs", []):
        name = snapshot_name(run["arm"])
        if run["replicate"] == 0 and name in files:
            arms[run["arm"]] = run_dir / name
    if not arms:
        raise AnimationError(
            f"{run_dir}: the run has no lattice snapshots; run it again with "
            "`gcsim run --snapshots-every HOURS`"
        )
    return arms


def render_frames(snapshots: Snapshots, table: pd.DataFrame, title: str) -> list[np.ndarray]:
    """One RGB frame (uint8, 480 × 960 × 3) per snapshot."""
    fig = Figure(figsize=FIGSIZE_IN, dpi=DPI, layout="constrained")
    canvas = FigureCanvasAgg(fig)  # a figure of its own: no pyplot state, safe in threads
    grid = fig.add_gridspec(len(PANELS), 2, width_ratios=(1.1, 1))
    lattice_ax = fig.add_subplot(grid[:, 0])
    width, height = snapshots.tissue.shape[1:]
    extent = [0, width * snapshots.site_um / 1000, 0, height * snapshots.site_um / 1000]
    image = lattice_ax.imshow(
        codes_image(snapshots.tissue[0], snapshots.immune[0]),
        origin="lower",
        extent=extent,
        interpolation="nearest",
    )
    lattice_ax.set_xlabel("mm")
    lattice_ax.set_ylabel("mm")
    lattice_ax.legend(
        handles=legend_handles(),
        loc="upper left",
        bbox_to_anchor=(0.0, -0.08),
        ncol=5,
        fontsize=7,
        frameon=False,
    )
    days = table["time_h"].to_numpy() / 24.0
    end_day = max(float(days.max()) if len(days) else 0.0, snapshots.time_h[-1] / 24.0)
    cursors = []
    traces = []
    for row, (label, columns) in enumerate(PANELS):
        ax = fig.add_subplot(grid[row, 1])
        for column, name in columns:
            values = table[column].to_numpy(dtype=float)
            # the full run in grey for context; the part up to the frame's time in colour
            ax.plot(days, values, color="0.85", linewidth=1)
            (line,) = ax.plot([], [], label=name)
            traces.append((line, days, values))
        if len(columns) > 1:
            ax.legend(fontsize=7, loc="upper left")
        ax.set_title(label, fontsize=9)
        ax.set_xlim(0, max(end_day, 1e-9))
        cursors.append(ax.axvline(0, color="black", linewidth=0.8))
    fig.axes[-1].set_xlabel("day")
    frames = []
    for i, t_h in enumerate(snapshots.time_h):
        day = t_h / 24.0
        image.set_data(codes_image(snapshots.tissue[i], snapshots.immune[i]))
        lattice_ax.set_title(f"{title} — day {day:.1f}")
        for cursor in cursors:
            cursor.set_xdata([day, day])
        for line, x, y in traces:
            shown = x <= day + 1e-9
            line.set_data(x[shown], y[shown])
        canvas.draw()
        frames.append(np.asarray(canvas.buffer_rgba())[..., :3].copy())
    return frames


def write_gif(path: Path, frames: list[np.ndarray], fps: float) -> None:
    import imageio.v3 as iio

    # duration is per frame in ms; loop=0 repeats forever, as slides expect
    iio.imwrite(path, np.stack(frames), extension=".gif", duration=1000.0 / fps, loop=0)


def write_mp4(path: Path, frames: list[np.ndarray], fps: float) -> None:
    import imageio.v2 as imageio

    # yuv420p: the pixel format every player (and PowerPoint) decodes
    with imageio.get_writer(
        path, format="FFMPEG", mode="I", fps=fps, codec="libx264", pixelformat="yuv420p"
    ) as writer:
        for frame in frames:
            writer.append_data(frame)


def animate_run(run_dir: Path, out_dir: Path | None = None, fps: float = 4.0) -> list[Animation]:
    """Write ``animation_<arm>.gif`` and ``.mp4`` for every arm with snapshots in ``run_dir``
    (to ``out_dir``, default ``run_dir``)."""
    if fps <= 0:
        raise AnimationError(f"fps must be positive, got {fps}")
    run_dir = Path(run_dir)
    out_dir = run_dir if out_dir is None else Path(out_dir)
    arms = _arm_tables(run_dir)
    timeseries_path = run_dir / "timeseries.parquet"
    if not timeseries_path.is_file():
        raise AnimationError(f"{run_dir}: timeseries.parquet is missing")
    timeseries = pd.read_parquet(timeseries_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    done = []
    for arm, path in arms.items():
        snapshots = load_snapshots(path)
        table = timeseries[(timeseries["arm"] == arm) & (timeseries["replicate"] == 0)]
        frames = render_frames(snapshots, table, arm)
        stem = path.stem.replace("snapshots_", "animation_", 1)
        gif, mp4 = out_dir / f"{stem}.gif", out_dir / f"{stem}.mp4"
        write_gif(gif, frames, fps)
        write_mp4(mp4, frames, fps)
        done.append(Animation(arm=arm, gif=gif, mp4=mp4, frames=len(frames)))
    return done
