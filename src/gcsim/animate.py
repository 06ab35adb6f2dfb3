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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from gcsim.plots import IMMUNE_COLOURS, TISSUE_COLOURS, codes_image, legend_handles
from gcsim.pool import LocalPool, available_cores
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


def render_frames(
    snapshots: Snapshots,
    table: pd.DataFrame,
    title: str,
    progress: Callable[[int], None] | None = None,
) -> list[np.ndarray]:
    """One RGB frame (uint8, 480 × 960 × 3) per snapshot; ``progress(1)`` after each.

    The figure is drawn once, without what changes; each frame then restores that background,
    pastes the lattice as an array (nearest-neighbour, straight into the lattice axes' pixels)
    and draws only the moving artists (curves, cursors, title): about a millisecond or two a
    frame instead of a full figure draw.
    """
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
    heading = lattice_ax.set_title(f"{title} — day {snapshots.time_h[-1] / 24.0:.1f}")
    days = table["time_h"].to_numpy() / 24.0
    end_day = max(float(days.max()) if len(days) else 0.0, snapshots.time_h[-1] / 24.0)
    moving: list[Any] = [heading]
    traces = []
    cursors: list[Line2D] = []
    for row, (label, columns) in enumerate(PANELS):
        ax = fig.add_subplot(grid[row, 1])
        for column, name in columns:
            values = table[column].to_numpy(dtype=float)
            # the full run in grey for context; the part up to the frame's time in colour
            ax.plot(days, values, color="0.85", linewidth=1)
            (line,) = ax.plot(days, values, label=name)  # full data: autoscaling sees it all
            traces.append((line, days, values))
            moving.append(line)
        if len(columns) > 1:
            ax.legend(fontsize=7, loc="upper left")
        ax.set_title(label, fontsize=9)
        ax.set_xlim(0, max(end_day, 1e-9))
        cursors.append(ax.axvline(0, color="black", linewidth=0.8))
        moving.append(cursors[-1])
    fig.axes[-1].set_xlabel("day")
    canvas.draw()  # lays the figure out (constrained) with every artist in place
    fig.set_layout_engine("none")  # and keeps that layout while the moving parts are hidden
    hidden = [image, *moving[1:]]
    for artist in hidden:
        artist.set_visible(False)
    heading.set_text("")  # (a hidden title would lose its place above the axes)
    canvas.draw()
    background = canvas.copy_from_bbox(fig.bbox)
    for artist in hidden[1:]:
        artist.set_visible(True)
    rows, cols = _pixel_index(lattice_ax, image, canvas.get_width_height()[1], width, height)
    palette = _palette()
    frames = []
    for i, t_h in enumerate(snapshots.time_h):
        day = t_h / 24.0
        canvas.restore_region(background)
        heading.set_text(f"{title} — day {day:.1f}")
        for line, x, y in traces:
            shown = x <= day + 1e-9
            line.set_data(x[shown], y[shown])
        for cursor in cursors:
            cursor.set_xdata([day, day])
        for artist in moving:
            artist.axes.draw_artist(artist)
        frame = np.asarray(canvas.buffer_rgba())[..., :3].copy()
        frame[rows[0] : rows[1], cols[0] : cols[1]] = _lattice_pixels(
            snapshots.tissue[i], snapshots.immune[i], rows[2], cols[2], palette
        )
        frames.append(frame)
        if progress is not None:
            progress(1)
    return frames


def _pixel_index(
    ax: Any, image: Any, figure_height: int, width: int, height: int
) -> tuple[tuple[int, int, np.ndarray], tuple[int, int, np.ndarray]]:
    """The pixel rows and columns the lattice image covers in the frame, and for each the
    lattice row / column it shows (nearest neighbour, as ``interpolation="nearest"`` draws)."""
    x0, y0, x1, y1 = ax.get_window_extent().extents  # the axes box: imshow fills it (aspect 1)
    extent = image.get_extent()
    lo, hi = (
        ax.transData.transform((extent[0], extent[2])),
        ax.transData.transform((extent[1], extent[3])),
    )
    left, right = round(max(lo[0], x0)), round(min(hi[0], x1))
    top, bottom = round(figure_height - min(hi[1], y1)), round(figure_height - max(lo[1], y0))
    col_of = np.clip(
        ((np.arange(left, right) + 0.5 - lo[0]) / (hi[0] - lo[0]) * width).astype(int), 0, width - 1
    )
    row_of = np.clip(
        (
            (np.arange(top, bottom) + 0.5 - (figure_height - hi[1])) / (hi[1] - lo[1]) * height
        ).astype(int),
        0,
        height - 1,
    )
    return (top, bottom, row_of), (left, right, col_of)


def _palette() -> np.ndarray:
    """uint8 RGB of code ``t`` (tissue) and ``len(TISSUE_COLOURS) - 1 + i`` (immune ``i``),
    the colours ``codes_image`` uses."""
    tissue = [TISSUE_COLOURS[c][0] for c in sorted(TISSUE_COLOURS)]
    immune = [IMMUNE_COLOURS[c][0] for c in sorted(IMMUNE_COLOURS)]
    rgb = np.array([matplotlib.colors.to_rgb(c) for c in tissue + immune])
    return (rgb * 255.0 + 0.5).astype(np.uint8)


def _lattice_pixels(
    tissue: np.ndarray, immune: np.ndarray, row_of: np.ndarray, col_of: np.ndarray, palette
) -> np.ndarray:
    """The lattice as the frame's pixels: sites picked per pixel row and column (nearest
    neighbour), immune cells over their tissue site, then coloured, all in small integers."""
    codes = tissue.astype(np.int16)
    immune_codes = sorted(IMMUNE_COLOURS)
    for k, code in enumerate(immune_codes):
        codes[immune == code] = len(TISSUE_COLOURS) + k
    # arrays are [x, y] with y up; pixel rows run top to bottom
    picked = codes.T[::-1][row_of][:, col_of]
    return palette[picked]


def write_gif(path: Path, frames: list[np.ndarray], fps: float) -> None:
    """An animated GIF with one palette for all frames (taken from the middle frame), mapped
    without dithering: a few milliseconds a frame, where a palette of its own per frame took
    tens."""
    from PIL import Image

    def image(frame: np.ndarray) -> Image.Image:
        return Image.fromarray(frame, mode="RGB")

    reference = image(frames[len(frames) // 2]).quantize(256, method=Image.Quantize.FASTOCTREE)
    pictures = [image(f).quantize(palette=reference, dither=Image.Dither.NONE) for f in frames]
    # duration is per frame in ms; loop=0 repeats forever, as slides expect
    pictures[0].save(
        path,
        format="GIF",
        save_all=True,
        append_images=pictures[1:],
        duration=round(1000.0 / fps),
        loop=0,
        optimize=False,
    )


def write_mp4(path: Path, frames: list[np.ndarray], fps: float) -> None:
    import imageio.v2 as imageio

    # yuv420p: the pixel format every player (and PowerPoint) decodes
    with imageio.get_writer(
        path,
        format="FFMPEG",
        mode="I",
        fps=fps,
        codec="libx264",
        pixelformat="yuv420p",
        ffmpeg_params=["-preset", "veryfast"],
    ) as writer:
        for frame in frames:
            writer.append_data(frame)


def animate_arm(
    path: Path,
    table: pd.DataFrame,
    arm: str,
    out_dir: Path,
    fps: float,
    progress: Callable[[int], None] | None = None,
) -> Animation:
    """Render one arm's snapshots ``path`` to its GIF and MP4 in ``out_dir``."""
    frames = render_frames(load_snapshots(path), table, arm, progress)
    stem = path.stem.replace("snapshots_", "animation_", 1)
    gif, mp4 = out_dir / f"{stem}.gif", out_dir / f"{stem}.mp4"
    write_gif(gif, frames, fps)
    write_mp4(mp4, frames, fps)
    return Animation(arm=arm, gif=gif, mp4=mp4, frames=len(frames))


def animate_run(
    run_dir: Path,
    out_dir: Path | None = None,
    fps: float = 4.0,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> list[Animation]:
    """Write ``animation_<arm>.gif`` and ``.mp4`` for every arm with snapshots in ``run_dir``
    (to ``out_dir``, default ``run_dir``); ``progress(done, total)`` counts frames.

    ``workers``: processes, one arm each at a time (default: one per core, at most one per arm;
    0 or 1 renders in this process, frame by frame on the progress bar)."""
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
    tables = {
        arm: timeseries[(timeseries["arm"] == arm) & (timeseries["replicate"] == 0)] for arm in arms
    }
    frames = {arm: _frame_count(path) for arm, path in arms.items()}
    total, count = sum(frames.values()), 0

    def advance(step: int) -> None:
        nonlocal count
        count += step
        if progress is not None:
            progress(count, total)

    workers = min(len(arms), available_cores()) if workers is None else workers
    if workers <= 1:
        return [
            animate_arm(path, tables[arm], arm, out_dir, fps, advance) for arm, path in arms.items()
        ]
    pool = LocalPool(min(workers, len(arms)))
    try:
        futures = {
            pool.submit(animate_arm, path, tables[arm], arm, out_dir, fps): arm
            for arm, path in arms.items()
        }
        done = {}
        for future in pool.as_completed(futures):
            animation = future.result()
            done[animation.arm] = animation
            advance(frames[animation.arm])
    except BaseException:
        pool.close(abort=True)
        raise
    pool.close()
    return [done[arm] for arm in arms]


def _frame_count(path: Path) -> int:
    with np.load(path) as stored:
        return len(stored["time_h"])
