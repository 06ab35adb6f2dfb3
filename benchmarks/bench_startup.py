"""Time from process start to the end of the first model step, with a warm and a cold numba cache.

What is measured: wall-clock time from just before the parent launches
``python -c "<import gcsim; build a model; step once>"`` to the moment the child finishes its
first ``step()``, split into

* *interpreter*: process start until the child's first line runs,
* *import*: ``from gcsim.model import GastricTumorModel`` (numpy, scipy, numba, mesa, gcsim),
* *build*: constructing the model (seeding, the initial oxygen and cytokine solves),
* *first step*: the first ``model.step()``.

Numba compiles a kernel the first time it is called unless its ``cache=True`` result is on disk,
so the split between import, build and first step depends on the cache:

* **warm**: the default numba cache location, after one untimed priming run that fills it;
* **cold**: ``NUMBA_CACHE_DIR`` pointed at a fresh empty temporary directory for each run, so
  every kernel is compiled (Python's own bytecode cache and the OS file cache stay warm).

A bare ``python -c pass``-like child is timed too, for the interpreter's own share. Figures are
the median over the runs of each kind. Clocks: ``time.time()`` in both processes (same machine).

Run: ``.venv/bin/python benchmarks/bench_startup.py [--size 200] [--warm 3] [--cold 1]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from rich.table import Table

from benchlib import REPO, child_json, machine_info, print_tables, write_json

PHASES = ("interpreter", "import", "build", "first_step")

CHILD = """\
import sys, time
t0 = float(sys.argv[1])
marks = {"interpreter": time.time() - t0}
if sys.argv[2] != "bare":
    import json
    from gcsim.model import GastricTumorModel
    marks["import"] = time.time() - t0
    n = int(sys.argv[2])
    model = GastricTumorModel(rng=1, domain__width=n, domain__height=n, time__days=1)
    marks["build"] = time.time() - t0
    model.step()
    marks["first_step"] = time.time() - t0
    print(json.dumps(marks))
else:
    print('{"interpreter": %r}' % marks["interpreter"])
"""


def launch(
    size: int | None, cache_dir: str | None = None, timeout_s: float = 600.0
) -> dict[str, float]:
    """One child process; returns its cumulative marks (seconds since the parent launched it).

    ``size`` None runs the bare child (interpreter only). ``cache_dir`` sets ``NUMBA_CACHE_DIR``.
    """
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    t0 = time.time()
    return child_json(
        [sys.executable, "-c", CHILD, repr(t0), "bare" if size is None else str(size)],
        cwd=REPO,
        env=env,
        timeout_s=timeout_s,
        what="startup child",
    )


def _split(marks: dict[str, float]) -> dict[str, float]:
    """Cumulative marks → duration of each phase, plus the total to the end of the first step."""
    out, previous = {}, 0.0
    for name in PHASES:
        if name in marks:
            out[name] = marks[name] - previous
            previous = marks[name]
    out["total"] = previous
    return out


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]} if runs else {}


def run(
    size: int = 200, warm_runs: int = 3, cold_runs: int = 1, bare_runs: int = 3
) -> dict[str, Any]:
    """Bare-interpreter, warm-cache and cold-cache children; per-run splits and medians."""
    bare = [_split(launch(None)) for _ in range(bare_runs)]
    warm: list[dict[str, float]] = []
    if warm_runs:
        launch(size)  # priming: fills the default cache if it is empty or stale
        warm = [_split(launch(size)) for _ in range(warm_runs)]
    cold = []
    for _ in range(cold_runs):
        with tempfile.TemporaryDirectory(prefix="gcsim-numba-cold-") as cache_dir:
            cold.append(_split(launch(size, cache_dir)))
    return {
        "size": size,
        "bare": {"runs": bare, "median": _median(bare)},
        "warm": {"runs": warm, "median": _median(warm)},
        "cold": {"runs": cold, "median": _median(cold)},
    }


def tables(result: dict[str, Any]) -> list[Table]:
    """One row per kind of start: medians of each phase and of the total."""
    table = Table(
        title=(f"Process start → end of first step ({result['size']}² model; median seconds)")
    )
    table.add_column("numba cache")
    for name in (*PHASES, "total"):
        table.add_column(name.replace("_", " "), justify="right")
    table.add_column("runs", justify="right")
    labels = {"bare": "(bare python)", "warm": "warm", "cold": "cold (fresh dir)"}
    for kind, label in labels.items():
        median = result[kind]["median"]
        if not median:
            continue
        cells = [f"{median[n]:.2f}" if n in median else "" for n in (*PHASES, "total")]
        table.add_row(label, *cells, str(len(result[kind]["runs"])))
    return [table]


def run_default(quick: bool = False) -> dict[str, Any]:
    """What the script runs without options (``quick``: as with ``--quick``)."""
    return run(warm_runs=1, cold_runs=1) if quick else run()


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=200, help="lattice width and height")
    parser.add_argument("--warm", type=int, default=3, help="warm-cache runs")
    parser.add_argument("--cold", type=int, default=1, help="cold-cache runs")
    parser.add_argument("--quick", action="store_true", help="one warm and one cold run")
    parser.add_argument("--json", help="write the result here")
    args = parser.parse_args(argv)
    warm, cold = (1, 1) if args.quick else (args.warm, args.cold)
    result = run(args.size, warm, cold)
    print_tables(tables(result))
    if args.json:
        write_json(args.json, {"machine": machine_info(), "startup": result})
    return result


if __name__ == "__main__":
    main()
