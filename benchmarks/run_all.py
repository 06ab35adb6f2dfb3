"""Run every gcsim benchmark, print one table per benchmark and optionally write JSON.

    .venv/bin/python benchmarks/run_all.py [--quick] [--json out.json] [--only vs_mesa,scaling]

* ``vs_mesa``  — plain Mesa vs gcsim's engine on the same core rules (``bench_vs_mesa.py``);
* ``scaling``  — the full model at 100²…1000² sites (``bench_scaling.py``);
* ``startup``  — process start to the end of the first step, warm and cold numba cache
  (``bench_startup.py``).

``--quick`` shrinks every benchmark (about a minute in all, most of it the cold-cache start);
the full run takes a few minutes on 2 cores. The JSON holds the machine description (CPU, core
counts, load average, Python, numpy/numba/mesa/scipy versions, git commit) and each benchmark's
full result. See docs/benchmarks.md for what each figure means.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

from rich.console import Console

import bench_scaling
import bench_startup
import bench_vs_mesa
from benchlib import machine_info, print_tables, write_json

BENCHMARKS = ("vs_mesa", "scaling", "startup")


MODULES = {"vs_mesa": bench_vs_mesa, "scaling": bench_scaling, "startup": bench_startup}


TABLES = {
    "vs_mesa": bench_vs_mesa.tables_by_size,
    "scaling": bench_scaling.tables,
    "startup": bench_startup.tables,
}


def run_all(
    only: Sequence[str] = BENCHMARKS, quick: bool = False, console: Console | None = None
) -> dict[str, Any]:
    """Run the selected benchmarks in order, printing each one's tables as it finishes."""
    unknown = set(only) - set(BENCHMARKS)
    if unknown:
        raise ValueError(f"unknown benchmark(s) {sorted(unknown)}; choose from {BENCHMARKS}")
    console = console or Console()
    payload: dict[str, Any] = {
        "machine": machine_info(),
        "quick": quick,
        "results": {},
        "seconds": {},
    }
    for name in BENCHMARKS:
        if name not in only:
            continue
        console.rule(f"[bold]{name}")
        start = time.perf_counter()
        result = MODULES[name].run_default(quick)
        payload["seconds"][name] = time.perf_counter() - start
        payload["results"][name] = result
        print_tables(TABLES[name](result))
    payload["machine"]["load_average_1min_end"] = machine_info()["load_average_1min"]
    return payload


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description="Run every gcsim benchmark.")
    parser.add_argument("--quick", action="store_true", help="small sizes, about a minute")
    parser.add_argument("--json", help="write machine info and all results to this file")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(BENCHMARKS)}")
    args = parser.parse_args(argv)
    only = tuple(args.only.split(",")) if args.only else BENCHMARKS
    payload = run_all(only, args.quick)
    machine = payload["machine"]
    Console().print(
        f"[dim]{machine['cpu_model']} · {machine['cpus_usable']} usable CPUs · Python "
        f"{machine['python']} · numpy {machine['numpy_version']} · numba "
        f"{machine['numba_version']} · mesa {machine['mesa_version']} · load "
        f"{machine['load_average_1min']:.2f}→{machine['load_average_1min_end']:.2f} · "
        f"git {machine['git']}[/dim]"
    )
    if args.json:
        write_json(args.json, payload)
        Console().print(f"wrote {args.json}")
    return payload


if __name__ == "__main__":
    main()
