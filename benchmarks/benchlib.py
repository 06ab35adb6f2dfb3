"""Helpers shared by the benchmarks: machine description, formatting, JSON output.

The benchmark scripts are run as files (``python benchmarks/run_all.py``), so this module is
imported by its bare name; ``tests/test_benchmarks_smoke.py`` puts ``benchmarks/`` on the path.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent


def machine_info() -> dict[str, Any]:
    """What the figures were measured on: CPU, core counts, Python and library versions, commit."""
    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count() or 1
    versions = {}
    for name in ("numpy", "numba", "mesa", "scipy", "gcsim"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cpu_model": cpu_model or platform.processor(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        **{f"{name}_version": v for name, v in versions.items()},
        "numba_num_threads": os.environ.get("NUMBA_NUM_THREADS"),
        "load_average_1min": os.getloadavg()[0],  # other work on the machine skews timings
        "git": _git_describe(),
    }


def _git_describe() -> str | None:
    """The commit the figures belong to, with ``-dirty`` when the work tree has changes."""
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far.

    On Linux ``VmHWM`` of ``/proc/self/status``: ``ru_maxrss`` survives ``exec``, so it also
    counts the resident memory of the parent this process was forked from, and a subprocess
    started by a large benchmark run would report the parent's memory. Elsewhere
    ``ru_maxrss``.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024  # Linux reports KiB


def si(value: float, unit: str = "", digits: int = 3) -> str:
    """``value`` with an SI prefix, e.g. ``si(2.5e6, "/s") == "2.50 M/s"``."""
    for factor, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.{digits}g} {prefix}{unit}"
    return f"{value:.{digits}g} {unit}".rstrip()


def mib(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:.0f} MiB"


def print_tables(tables: list[Table], console: Console | None = None) -> None:
    """Print rich tables; 150 columns wide when the output is not a terminal (logs, CI)."""
    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=150)
    for table in tables:
        console.print(table)


def write_json(path: str | Path, payload: dict[str, Any]) -> None:
    Path(path).write_text(json.dumps(payload, indent=2, default=_jsonable) + "\n")


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def child_json(
    cmd: list[str], *, cwd: Path, env: dict[str, str] | None, timeout_s: float, what: str
) -> dict[str, Any]:
    """Run a benchmark child process and return the JSON object on its last stdout line;
    RuntimeError with its stderr if it fails."""
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout_s, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
