"""Golden outputs: every shipped scenario, truncated, must give a bit-identical timeseries.

    PYTHONPATH=src .venv/bin/python benchmarks/golden.py            # --check benchmarks/golden
    PYTHONPATH=src .venv/bin/python benchmarks/golden.py --save benchmarks/golden
    PYTHONPATH=src .venv/bin/python benchmarks/golden.py --only baseline,chemo_ici

Each ``scenarios/*.yaml`` (not ``sweeps/`` or ``schema/``) is run with all its arms through
``gcsim.runner.run_scenario`` — the work behind ``gcsim run`` — into a temporary directory, cut
to ``DAYS`` simulated days and ``REPLICATES`` replicates (the one place these are set, see
``truncated``). ``--save DIR`` stores each run's ``timeseries.parquet`` as ``DIR/<name>.parquet``
and ``DIR/golden.json`` (commit, package versions, scenario file digests); ``--check DIR`` (the
default) runs the current code and compares: same columns and dtypes, same rows, every value
bit-identical (NaN equals NaN; 0.0 and -0.0 differ). One line per scenario; exit status 1 on
any difference or missing reference.

The numerical stack is pinned in ``benchmarks/golden-constraints.txt``
(``pip install -c benchmarks/golden-constraints.txt ...``); ``--check`` warns when the installed
versions differ from those recorded with the reference, since a numpy/numba/scipy release may
change the last bits of a result without any change in gcsim. Set ``PYTHONPATH`` to the tree's
``src``: the venv's editable install may point at another checkout (the script says which
``gcsim`` it imported). Takes about two minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from gcsim.scenario.schema import Scenario

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = REPO / "scenarios"
DEFAULT_DIR = REPO / "benchmarks" / "golden"
META = "golden.json"

# The truncation, in one place. 21 days: every shipped treatment has started (the latest first
# dose is day 14, antivegf_window's nivolumab). Two replicates: the replicate seeds differ.
DAYS = 21.0
REPLICATES = 2

# Versions recorded with the reference; a difference is warned about, not failed.
STACK = ("numpy", "numba", "llvmlite", "scipy", "pandas", "pyarrow", "mesa")


def scenario_files(only: Sequence[str] = ()) -> list[Path]:
    """The shipped scenarios (``scenarios/*.yaml``), or those named in ``only``."""
    files = sorted(SCENARIOS.glob("*.yaml"))
    if only:
        known = {f.stem: f for f in files}
        unknown = [name for name in only if name not in known]
        if unknown:
            raise SystemExit(f"unknown scenario(s) {unknown}; shipped: {', '.join(known)}")
        files = [known[name] for name in only]
    return files


def truncated(scenario: Scenario) -> Scenario:
    """``scenario`` cut to ``DAYS`` days and at most ``REPLICATES`` replicates.

    ``model_copy`` (as ``Scenario.for_arm`` does), not a ``time.days`` override: validation
    rightly refuses doses scheduled after the end, and here the later doses simply never come.
    """
    time_ = scenario.time.model_copy(update={"days": DAYS})
    replicates = min(scenario.replicates, REPLICATES)
    return scenario.model_copy(update={"time": time_, "replicates": replicates})


def run_one(path: Path, workers: int | None) -> pd.DataFrame:
    """Run the truncated scenario in a temporary directory; its ``timeseries.parquet``."""
    from gcsim.runner import run_scenario
    from gcsim.scenario.loader import load_scenario

    scenario = truncated(load_scenario(path))
    with tempfile.TemporaryDirectory(prefix=f"golden-{path.stem}-") as tmp:
        out = Path(tmp) / "run"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # EdgeWarning etc.: not what is checked here
            run_scenario(scenario, out, workers=workers)
        return pd.read_parquet(out / "timeseries.parquet")


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise: bit-identical, or both NaN (for float columns); plain equality otherwise."""
    if a.dtype.kind == "f" and b.dtype == a.dtype:
        bits = a.view(f"u{a.dtype.itemsize}") == b.view(f"u{b.dtype.itemsize}")
        return bits | (np.isnan(a) & np.isnan(b))
    if a.dtype == object or b.dtype == object:
        return np.array([x == y for x, y in zip(a, b, strict=True)], dtype=bool)
    return a == b


def _show(value: Any) -> str:
    return repr(value.item() if isinstance(value, np.generic) else value)


def compare(reference: pd.DataFrame, current: pd.DataFrame) -> str | None:
    """``None`` if the tables are identical; otherwise what differs first, in one line.

    Columns are compared by name, not position; a column the reference lacks is not a
    difference (adding a therapy adds its ``exposure_<type>`` column to every run, 0 where it
    is not given), a column the reference has and the current run lacks is.
    """
    gone = [c for c in reference.columns if c not in current.columns]
    if gone:
        new = [c for c in current.columns if c not in reference.columns]
        return f"columns differ (missing {gone}, new {new})"
    current = current[list(reference.columns)]
    dtypes = [c for c in reference.columns if reference[c].dtype != current[c].dtype]
    if dtypes:
        c = dtypes[0]
        return f"dtype of {c} differs ({reference[c].dtype} → {current[c].dtype})"
    if len(reference) != len(current):
        return f"rows differ ({len(reference)} → {len(current)})"
    first: tuple[int, str] | None = None
    worst, worst_column, n_columns = 0.0, "", 0
    for column in reference.columns:
        ref, cur = reference[column].to_numpy(), current[column].to_numpy()
        differs = ~_same(ref, cur)
        if not differs.any():
            continue
        n_columns += 1
        row = int(np.argmax(differs))
        if first is None or row < first[0]:
            first = (row, column)
        if ref.dtype.kind in "fiub":
            delta = np.abs(ref[differs].astype(float) - cur[differs].astype(float))
            delta = delta[~np.isnan(delta)]
            if delta.size and float(delta.max()) > worst:
                worst, worst_column = float(delta.max()), column
    if first is None:
        return None
    row, column = first
    where = reference.iloc[row]
    place = ", ".join(
        f"{key}={_show(where[key])}" for key in ("run_id", "time_h") if key in reference.columns
    )
    largest = f"max |Δ| {worst:.6g} ({worst_column})" if worst_column else "non-numeric"
    return (
        f"first difference at {place}: {column} {_show(reference[column].iloc[row])} → "
        f"{_show(current[column].iloc[row])}; {n_columns} column(s) differ, {largest}"
    )


def versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for name in STACK:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _git(*args: str) -> str | None:
    try:
        proc = subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class Outcome:
    name: str
    ok: bool
    line: str


def save(directory: Path, files: list[Path], workers: int | None) -> Iterator[Outcome]:
    """Run and store each scenario, then (re)write ``golden.json``; yield as each is done."""
    directory.mkdir(parents=True, exist_ok=True)
    meta_path = directory / META
    meta: dict[str, Any] = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    scenarios = meta.get("scenarios", {}) if meta.get("days") == DAYS else {}
    for path in files:
        started = time.perf_counter()
        table = run_one(path, workers)
        table.to_parquet(directory / f"{path.stem}.parquet", index=False, engine="pyarrow")
        seconds = time.perf_counter() - started
        scenarios[path.stem] = {
            "scenario_sha256": _sha256(path),
            "rows": len(table),
            "seconds": round(seconds, 1),
        }
        yield Outcome(path.stem, True, f"saved {len(table)} rows ({seconds:.0f} s)")
    meta = {
        "commit": _git("rev-parse", "HEAD"),
        "dirty": bool(_git("status", "--porcelain", "--untracked-files=no", "--", "src")),
        "days": DAYS,
        "replicates": REPLICATES,
        "versions": versions(),
        "scenarios": dict(sorted(scenarios.items())),
    }
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")


def check(directory: Path, files: list[Path], workers: int | None) -> Iterator[Outcome]:
    """Run each scenario and compare it with the reference; yield as each is done."""
    meta_path = directory / META
    if not meta_path.exists():
        raise SystemExit(f"{meta_path}: no reference (run with --save first)")
    meta = json.loads(meta_path.read_text())
    if meta.get("days") != DAYS or meta.get("replicates") != REPLICATES:
        raise SystemExit(
            f"reference made with days={meta.get('days')}, replicates={meta.get('replicates')}; "
            f"this script runs days={DAYS}, replicates={REPLICATES}"
        )
    recorded = meta.get("versions", {})
    now = versions()
    changed = [f"{k} {recorded[k]} → {now.get(k)}" for k in recorded if recorded[k] != now.get(k)]
    if changed:
        print(
            "warning: versions differ from the reference's (see golden-constraints.txt): "
            + ", ".join(changed),
            file=sys.stderr,
        )
    for path in files:
        reference_path = directory / f"{path.stem}.parquet"
        info = meta.get("scenarios", {}).get(path.stem)
        if not reference_path.exists() or info is None:
            yield Outcome(path.stem, False, "no reference output (run --save)")
            continue
        note = ""
        if info.get("scenario_sha256") != _sha256(path):
            note = " (scenario file changed since the reference)"
        started = time.perf_counter()
        current = run_one(path, workers)
        seconds = time.perf_counter() - started
        difference = compare(pd.read_parquet(reference_path), current)
        ok = difference is None
        text = "identical" if ok else str(difference)
        yield Outcome(path.stem, ok, f"{text}{note} ({seconds:.0f} s)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--save", type=Path, metavar="DIR", help="write the reference outputs")
    mode.add_argument(
        "--check",
        type=Path,
        metavar="DIR",
        help=f"compare with the reference outputs (default: {DEFAULT_DIR.relative_to(REPO)})",
    )
    parser.add_argument("--only", help="comma-separated scenario names (default: all)")
    parser.add_argument(
        "--workers", type=int, help="processes per scenario (default: runner's; same results)"
    )
    args = parser.parse_args(argv)
    files = scenario_files(args.only.split(",") if args.only else ())

    import gcsim

    source = Path(gcsim.__file__).resolve()
    print(f"gcsim from {source.parent}; days={DAYS:g}, replicates≤{REPLICATES}", flush=True)
    if not source.is_relative_to(REPO / "src"):
        print(
            f"warning: gcsim is not this tree's ({REPO / 'src'}); set PYTHONPATH", file=sys.stderr
        )

    started = time.perf_counter()
    if args.save is not None:
        results = save(args.save, files, args.workers)
    else:
        results = check(args.check or DEFAULT_DIR, files, args.workers)
    outcomes = []
    for outcome in results:
        print(f"{outcome.name}: {outcome.line}", flush=True)
        outcomes.append(outcome)
    failed = [o.name for o in outcomes if not o.ok]
    total = time.perf_counter() - started
    summary = f"{len(outcomes) - len(failed)}/{len(outcomes)} identical" if not args.save else ""
    print(f"{summary or 'saved'} in {total:.0f} s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
