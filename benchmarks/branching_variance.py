"""Arm differences across replicates with and without branching (docs/decisions/0010).

    PYTHONPATH=src .venv/bin/python benchmarks/branching_variance.py scenarios/chemo_ici.yaml \\
        --days 42 --replicates 12 --workers 2

Runs the scenario, cut to ``--days`` and set to ``--replicates``, twice through the runner's own
``_execute``: *before*, every arm from t = 0 on its replicate's stream (the runner until
decision 0010, and still what an arm alone in its group does); *after*, as ``gcsim run`` now
runs it (arms of a group branch from one trunk, each on its own stream). For every treated arm
it prints, per replicate, the final-day ``--metric`` of the arm minus that of the untreated arm
of its group, and across replicates the mean and sample variance of that difference, the
variance ratio after/before with its 95 % F interval (both samples taken as independent, which
they are not quite: they share the trunks' seeds), and the wall time of each mode.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
from scipy import stats

from gcsim.runner import _execute, branch_groups, plan
from gcsim.scenario.loader import load_scenario


def final_values(scenario, jobs, workers: int, metric: str) -> tuple[dict, float]:
    started = time.perf_counter()
    simulations, _ = _execute(scenario, jobs, {}, workers, None)
    wall = time.perf_counter() - started
    return {
        (s.job.arm, s.job.replicate): float(s.table[metric].iloc[-1]) for s in simulations
    }, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", type=Path)
    parser.add_argument("--days", type=float, default=42.0)
    parser.add_argument("--replicates", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--metric", default="tumor_cells")
    args = parser.parse_args()

    scenario = load_scenario(args.scenario)
    scenario = scenario.model_copy(
        update={
            "time": scenario.time.model_copy(update={"days": args.days}),
            "replicates": args.replicates,
        }
    )
    after_jobs = plan(scenario)
    before_jobs = [dataclasses.replace(j, branch_step=None, arm_seed=None) for j in after_jobs]
    before, before_s = final_values(scenario, before_jobs, args.workers, args.metric)
    after, after_s = final_values(scenario, after_jobs, args.workers, args.metric)

    print(
        f"{args.scenario.name}: {args.days:g} days, {args.replicates} replicates, final-day "
        f"{args.metric}; wall time before {before_s:.0f} s, after {after_s:.0f} s"
    )
    print("groups (arms, branch step):", branch_groups(scenario))
    header = f"{'arm − control':<34} {'mean before':>12} {'var before':>12} {'mean after':>12}"
    print(header + f" {'var after':>12} {'ratio':>6} {'95 % interval':>14}")
    n = args.replicates
    low, high = stats.f.ppf([0.025, 0.975], n - 1, n - 1)
    for arms, _ in branch_groups(scenario):
        controls = [a for a in arms if not scenario.arms[a].treatments]
        if not controls:
            continue
        control = controls[0]
        for arm in arms:
            if arm == control:
                continue
            d_before = np.array([before[arm, r] - before[control, r] for r in range(n)])
            d_after = np.array([after[arm, r] - after[control, r] for r in range(n)])
            v_before, v_after = d_before.var(ddof=1), d_after.var(ddof=1)
            ratio = v_after / v_before
            print(
                f"{arm + ' − ' + control:<34} {d_before.mean():12.1f} {v_before:12.4g} "
                f"{d_after.mean():12.1f} {v_after:12.4g} {ratio:6.2f} "
                f"[{ratio / high:.2f}, {ratio / low:.2f}]"
            )
    for arm in scenario.arms:
        b = np.array([before[arm, r] for r in range(n)])
        a = np.array([after[arm, r] for r in range(n)])
        print(
            f"  {arm:<32} mean {b.mean():9.1f} → {a.mean():9.1f}, "
            f"SD {b.std(ddof=1):8.1f} → {a.std(ddof=1):8.1f}"
        )


if __name__ == "__main__":
    main()
