"""Scaling of the full ``GastricTumorModel`` with lattice size.

What is measured, per lattice size (default 100², 200², 500², 1000² sites), each size in its own
subprocess so that its memory figures are its own:

* **seconds per simulated day** and **site-steps per second** (sites × steps / wall time) over
  ``--hours`` of model time, after one untimed warm-up step (so numba compilation or cache
  loading is excluded; model construction is reported separately as ``build``);
* approximate **agent-steps per second** (mean of the cell counts at the start and end of the
  timed window × steps / wall time), for comparison with ``bench_vs_mesa.py``;
* **bytes of state per site** (``model.state.nbytes / sites``) and bytes per site of every
  numpy array the model holds (state plus solver scratch);
* **peak RSS**: the worker subprocess's peak resident set (``benchlib.peak_rss_bytes``) at the end
  of the run (the high-water mark, so it includes construction), next to the same figure taken
  right after the imports (interpreter + numpy + scipy + numba + mesa + gcsim);
* the **per-phase breakdown** from ``model.timings`` over the timed window, with the
  remainder of the wall time (Python glue in ``step``) as ``other``.

The tumour is a disc of radius ``radius_fraction × width`` (0.3 by default), so the mix of tumour
and normal tissue is the same at every size; the rest of the scenario is the default one. The
model never builds its Mesa grid during ``step`` (it is built lazily), so the grid does not appear
here. By default the 1000² case simulates 6 h and the others 24 h.

Run: ``.venv/bin/python benchmarks/bench_scaling.py [--sizes 100,200] [--hours 24] [--json f]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from benchlib import machine_info, mib, peak_rss_bytes, print_tables, si, write_json

DEFAULT_SIZES = (100, 200, 500, 1000)
QUICK_SIZES = (100, 200)
QUICK_HOURS = 12.0


def default_hours(size: int) -> float:
    """Model time simulated at ``size``: a day, or 6 h from 1000² up."""
    return 6.0 if size >= 1000 else 24.0


def _model_array_bytes(model: Any) -> int:
    """Bytes of every numpy array the model holds: its state and its solver scratch arrays."""
    total = model.state.nbytes
    for value in vars(model).values():
        values = value.values() if isinstance(value, dict) else [value]
        total += sum(v.nbytes for v in values if isinstance(v, np.ndarray))
    return total


def measure_size(
    size: int, hours: float, seed: int = 1, radius_fraction: float = 0.3
) -> dict[str, Any]:
    """Build a ``size``² model, step once untimed, then time ``hours`` of model time.

    Runs in the calling process; ``run`` calls it in a fresh subprocess per size.
    """
    from gcsim.model import GastricTumorModel
    from gcsim.scenario.schema import Domain
    from gcsim.state import NECROTIC, NO_IMMUNE, TUMOR

    rss_after_imports = peak_rss_bytes()
    site_um = Domain().site_size_um
    start = time.perf_counter()
    model = GastricTumorModel(
        rng=seed,
        domain__width=size,
        domain__height=size,
        tumor__initial_radius_um=radius_fraction * size * site_um,
        time__days=hours / 24.0 + 1.0,
    )
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    model.step()
    warmup_s = time.perf_counter() - start

    def cells() -> tuple[int, int]:
        s = model.state
        tumour = int(np.count_nonzero((s.tissue == TUMOR) | (s.tissue == NECROTIC)))
        return tumour, int(np.count_nonzero(s.immune != NO_IMMUNE))

    cells_start = cells()
    timings_before = dict(model.timings)
    sweeps_before = model.oxygen_sweeps
    steps = max(1, round(hours / model.dt_h))
    start = time.perf_counter()
    for _ in range(steps):
        model.step()
    wall = time.perf_counter() - start
    cells_end = cells()
    phases = {name: model.timings[name] - timings_before.get(name, 0.0) for name in model.timings}
    phases["other"] = max(0.0, wall - sum(phases.values()))
    sites = size * size
    agents = 0.5 * (sum(cells_start) + sum(cells_end))
    return {
        "size": size,
        "sites": sites,
        "steps": steps,
        "hours": steps * model.dt_h,
        "build_s": build_s,
        "warmup_step_s": warmup_s,
        "wall_s": wall,
        "s_per_step": wall / steps,
        "s_per_sim_day": wall / (steps * model.dt_h) * 24.0,
        "site_steps_per_s": sites * steps / wall,
        "agent_steps_per_s": agents * steps / wall,
        "cells_start": {"tumour": cells_start[0], "immune": cells_start[1]},
        "cells_end": {"tumour": cells_end[0], "immune": cells_end[1]},
        "oxygen_sweeps_per_step": (model.oxygen_sweeps - sweeps_before) / steps,
        "state_bytes": model.state.nbytes,
        "state_bytes_per_site": model.state.nbytes / sites,
        "model_array_bytes_per_site": _model_array_bytes(model) / sites,
        "rss_after_imports_bytes": rss_after_imports,
        "peak_rss_bytes": peak_rss_bytes(),
        "peak_rss_method": "VmHWM (Linux) or ru_maxrss, in a per-size subprocess",
        "phases_s": phases,
    }


def _parse_hours(text: str | None, sizes: Sequence[int]) -> list[float]:
    if not text:
        return [default_hours(n) for n in sizes]
    values = [float(h) for h in text.split(",")]
    if len(values) == 1:
        return values * len(sizes)
    if len(values) != len(sizes):
        raise ValueError("--hours takes one value or one per size")
    return values


def run(
    sizes: Sequence[int] = DEFAULT_SIZES,
    hours: Sequence[float] | None = None,
    seed: int = 1,
    radius_fraction: float = 0.3,
    subprocesses: bool = True,
    timeout_s: float = 1800.0,
) -> dict[str, Any]:
    """Measure every size (in a fresh subprocess each unless ``subprocesses`` is False)."""
    hours = list(hours) if hours is not None else [default_hours(n) for n in sizes]
    results = []
    for size, h in zip(sizes, hours, strict=True):
        if not subprocesses:
            results.append(measure_size(size, h, seed, radius_fraction))
            continue
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--worker",
            "--sizes",
            str(size),
            "--hours",
            str(h),
            "--seed",
            str(seed),
            "--radius-fraction",
            str(radius_fraction),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"scaling worker for {size}² failed:\n{proc.stderr}")
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return {"seed": seed, "radius_fraction": radius_fraction, "sizes": results}


def tables(result: dict[str, Any]) -> list[Table]:
    """Throughput/memory table and per-phase table (ms per step and share of the step)."""
    rows = result["sizes"]
    main = Table(title="Full model scaling (one process; build and first step excluded)")
    for col in (
        "sites",
        "model h",
        "s/step",
        "s per sim. day",
        "site-steps/s",
        "≈agent-steps/s",
        "cells",
        "state B/site",
        "arrays B/site",
        "peak RSS",
        "RSS after imports",
        "build",
    ):
        main.add_column(col, justify="right")
    for r in rows:
        cells = r["cells_end"]["tumour"] + r["cells_end"]["immune"]
        main.add_row(
            f"{r['size']}²",
            f"{r['hours']:g}",
            f"{r['s_per_step']:.4f}",
            f"{r['s_per_sim_day']:.2f}",
            si(r["site_steps_per_s"], "/s"),
            si(r["agent_steps_per_s"], "/s"),
            f"{cells:,}",
            f"{r['state_bytes_per_site']:.0f}",
            f"{r['model_array_bytes_per_site']:.0f}",
            mib(r["peak_rss_bytes"]),
            mib(r["rss_after_imports_bytes"]),
            f"{r['build_s']:.2f} s",
        )
    names = list(dict.fromkeys(n for r in rows for n in r["phases_s"]))
    phases = Table(title="Where a step's time goes: ms per step (share of the step)")
    phases.add_column("sites", justify="right")
    for name in names:
        phases.add_column(name, justify="right")
    phases.add_column("O₂ sweeps/step", justify="right")
    for r in rows:
        total = sum(r["phases_s"].values()) or 1.0
        cells = [
            f"{1e3 * r['phases_s'].get(n, 0.0) / r['steps']:.2f} "
            f"({r['phases_s'].get(n, 0.0) / total:.0%})"
            for n in names
        ]
        phases.add_row(f"{r['size']}²", *cells, f"{r['oxygen_sweeps_per_step']:.1f}")
    return [main, phases]


def run_default(quick: bool = False) -> dict[str, Any]:
    """What the script runs without options (``quick``: as with ``--quick``)."""
    if quick:
        return run(list(QUICK_SIZES), [QUICK_HOURS] * len(QUICK_SIZES))
    return run()


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", help="comma-separated lattice widths, e.g. 100,200,500,1000")
    parser.add_argument(
        "--hours",
        help="model hours to time: one value, or one per size (default 24, and 6 from 1000² up)",
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"sizes {QUICK_SIZES}, {QUICK_HOURS:g} h each"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--radius-fraction", type=float, default=0.3)
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="no subprocess per size (peak RSS then accumulates across sizes)",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", help="write the result here")
    args = parser.parse_args(argv)
    if args.quick:
        sizes = list(QUICK_SIZES)
        hours = _parse_hours(args.hours or str(QUICK_HOURS), sizes)
    else:
        sizes = [int(n) for n in args.sizes.split(",")] if args.sizes else list(DEFAULT_SIZES)
        hours = _parse_hours(args.hours, sizes)
    if args.worker:  # one size, JSON on the last line of stdout
        print(json.dumps(measure_size(sizes[0], hours[0], args.seed, args.radius_fraction)))
        return {}
    result = run(sizes, hours, args.seed, args.radius_fraction, not args.in_process)
    print_tables(tables(result))
    if args.json:
        write_json(args.json, {"machine": machine_info(), "scaling": result})
    return result


if __name__ == "__main__":
    main()
