"""Engine speed of this tree against an earlier revision: the ≤ 3 % criterion of a refactoring.

    .venv/bin/python benchmarks/compare_revisions.py BEFORE_REV [--size 200] [--repeat 5]

``BEFORE_REV`` (a commit, branch or tag) is checked out in a temporary ``git worktree``, removed
at the end (also on error or Ctrl-C). The measurement is ``bench_scaling.py``'s own — the full
model's seconds per step at ``--size``² after an untimed warm-up step, one fresh subprocess per
sample — run with each tree's own script and ``PYTHONPATH`` set to that tree's ``src``. Each
tree is run once untimed first, so compiling its numba cache is not counted. Samples then
alternate between the trees (before, current; current, before; …) so that drift in the machine's
load falls on both; the figure is the best of ``--repeat``. Prints both figures and the ratio
current / before.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench_scaling import default_hours
from benchlib import child_json

REPO = Path(__file__).resolve().parent.parent
SCRIPT = Path("benchmarks") / "bench_scaling.py"
CRITERION = 1.03


def _git(*args: str, cwd: Path = REPO) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"git {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout.strip()


@contextmanager
def worktree(rev: str) -> Iterator[Path]:
    """A temporary detached worktree of ``rev``, removed (and pruned) when the block ends."""
    commit = _git("rev-parse", "--verify", f"{rev}^{{commit}}")
    parent = Path(tempfile.mkdtemp(prefix="gcsim-before-"))
    path = parent / "tree"
    _git("worktree", "add", "--detach", str(path), commit)
    try:
        yield path
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(path)],
            cwd=REPO,
            capture_output=True,
            check=False,
        )
        subprocess.run(["git", "worktree", "prune"], cwd=REPO, capture_output=True, check=False)
        shutil.rmtree(parent, ignore_errors=True)  # if the remove failed, the files too


def _env(tree: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(tree / "src")}


def check_import(tree: Path) -> None:
    """The subprocesses must import ``gcsim`` from ``tree``, not from an editable install."""
    proc = subprocess.run(
        [sys.executable, "-c", "import gcsim; print(gcsim.__file__)"],
        cwd=tree,
        env=_env(tree),
        capture_output=True,
        text=True,
        check=True,
    )
    source = Path(proc.stdout.strip()).resolve()
    if not source.is_relative_to(tree.resolve() / "src"):
        raise SystemExit(f"{tree}: imports gcsim from {source}, not from its src/")


def sample(tree: Path, size: int, hours: float, timeout_s: float = 1800.0) -> dict[str, Any]:
    """One ``bench_scaling.py --worker`` run in ``tree``: its JSON result."""
    script = tree / SCRIPT
    if not script.exists():
        raise SystemExit(f"{tree}: no {SCRIPT}")
    cmd = [sys.executable, str(script), "--worker", "--sizes", str(size), "--hours", str(hours)]
    return child_json(
        cmd, cwd=tree, env=_env(tree), timeout_s=timeout_s, what=f"{' '.join(cmd)} in {tree}"
    )


def compare(
    before: Path, current: Path, size: int, repeat: int, hours: float
) -> dict[str, list[float]]:
    """Seconds per step of each tree, ``repeat`` samples each, alternating."""
    trees = {"before": before, "current": current}
    for name, tree in trees.items():
        check_import(tree)
        print(f"warming {name} ({tree}) …", flush=True)
        sample(tree, size, 1.0)  # compiles or loads this tree's numba cache
    seconds: dict[str, list[float]] = {name: [] for name in trees}
    for i in range(repeat):
        order = list(trees) if i % 2 == 0 else list(reversed(trees))
        for name in order:
            s_per_step = sample(trees[name], size, hours)["s_per_step"]
            seconds[name].append(s_per_step)
            print(f"  {i + 1}/{repeat} {name:7s} {1e3 * s_per_step:8.2f} ms/step", flush=True)
    return seconds


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", metavar="BEFORE_REV", help="revision to compare against")
    parser.add_argument("--size", type=int, default=200, help="lattice width (default 200)")
    parser.add_argument("--repeat", type=int, default=5, help="samples per tree (best of)")
    parser.add_argument(
        "--hours",
        type=float,
        help="model hours timed per sample (default: bench_scaling's at that size, 24 h to 1000²)",
    )
    args = parser.parse_args(argv)
    if args.hours is None:
        args.hours = default_hours(args.size)
    if args.repeat < 1 or args.size < 10 or args.hours <= 0:
        parser.error("--repeat ≥ 1, --size ≥ 10 and --hours > 0")
    described = _git("describe", "--always", "--dirty")
    with worktree(args.before) as before:
        print(
            f"before: {args.before} = {_git('rev-parse', '--short', 'HEAD', cwd=before)}; "
            f"current: {REPO} at {described}; {args.size}², {args.hours:g} h per sample, "
            f"best of {args.repeat}; load {os.getloadavg()[0]:.2f}",
            flush=True,
        )
        seconds = compare(before, REPO, args.size, args.repeat, args.hours)
    best = {name: min(values) for name, values in seconds.items()}
    ratio = best["current"] / best["before"]
    print(f"before : {1e3 * best['before']:.2f} ms/step (best of {args.repeat})")
    print(f"current: {1e3 * best['current']:.2f} ms/step (best of {args.repeat})")
    verdict = "within" if ratio <= CRITERION else "OUTSIDE"
    print(f"ratio current/before: {ratio:.3f} ({verdict} the {CRITERION - 1:.0%} criterion)")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
