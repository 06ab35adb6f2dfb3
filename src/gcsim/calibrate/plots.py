"""Calibration figures: posterior marginals, pairs, and the fit to each target."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from gcsim.calibrate.spec import Calibration


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    from gcsim.io import atomic_path

    with atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)


def _edges(prior: Any, bins: int = 25) -> np.ndarray:
    space = np.geomspace if prior.distribution == "loguniform" else np.linspace
    return space(prior.low, prior.high, bins)


def _values(cal: Calibration, posterior: Any) -> np.ndarray:
    return cal.from_unit(posterior.unit)


def plot_marginals(cal: Calibration, posterior: Any, summary: dict, path: Path) -> None:
    """One weighted histogram per parameter over its prior range, median and 90 % interval."""
    plt = _pyplot()
    values = _values(cal, posterior)
    d = len(cal.priors)
    fig, axes = plt.subplots(1, d, figsize=(3.2 * d, 2.8), squeeze=False)
    for i, (ax, prior) in enumerate(zip(axes[0], cal.priors, strict=True)):
        log = prior.distribution == "loguniform"
        ax.hist(
            values[:, i], bins=_edges(prior), weights=posterior.weights, color="tab:blue", alpha=0.7
        )
        s = summary["parameters"][prior.path]
        ax.axvline(s["median"], color="k", lw=1.5)
        for x in s["interval_90"]:
            ax.axvline(x, color="k", lw=0.8, ls="--")
        ax.set_xlim(prior.low, prior.high)
        if log:
            ax.set_xscale("log")
        ax.set_xlabel(prior.name + ("" if s["identifiable"] else " (not identified)"))
        ax.set_yticks([])
    fig.suptitle(f"{cal.spec.name}: posterior marginals (median, 90 % interval; x = prior range)")
    _save(fig, path)


def plot_pairs(cal: Calibration, posterior: Any, summary: dict, path: Path) -> None:
    """Pairwise scatter of the particles (size ∝ weight), chosen set marked."""
    plt = _pyplot()
    values = _values(cal, posterior)
    d = len(cal.priors)
    fig, axes = plt.subplots(d, d, figsize=(2.4 * d + 0.6, 2.4 * d + 0.6), squeeze=False)
    size = 4 + 60 * posterior.weights / posterior.weights.max()
    chosen = [summary["chosen"][p] for p in cal.paths]
    for i, pi in enumerate(cal.priors):
        for j, pj in enumerate(cal.priors):
            ax = axes[i][j]
            if i == j:
                ax.hist(values[:, i], bins=_edges(pi), weights=posterior.weights, color="tab:blue")
                ax.set_yticks([])
            else:
                ax.scatter(values[:, j], values[:, i], s=size, alpha=0.4, lw=0)
                ax.plot(chosen[j], chosen[i], "r+", ms=10, mew=2)
                ax.set_ylim(pi.low, pi.high)
                if pi.distribution == "loguniform":
                    ax.set_yscale("log")
            ax.set_xlim(pj.low, pj.high)
            if pj.distribution == "loguniform":
                ax.set_xscale("log")
            if i == d - 1:
                ax.set_xlabel(pj.name, fontsize=8)
            if j == 0 and i != j:
                ax.set_ylabel(pi.name, fontsize=8)
    fig.suptitle(f"{cal.spec.name}: posterior pairs (+ chosen set)")
    _save(fig, path)


def plot_fit(summary: dict, path: Path) -> None:
    """Each target (± 2 sd band) with the emulator at the chosen set and the confirmation runs
    (mean ± 2 sd, individual runs as dots)."""
    plt = _pyplot()
    targets = summary["targets"]
    k = len(targets)
    fig, axes = plt.subplots(1, k, figsize=(2.8 * k, 3.0), squeeze=False)
    confirmation = (summary.get("confirmation") or {}).get("readouts", {})
    for ax, (name, t) in zip(axes[0], targets.items(), strict=True):
        sd = float(np.hypot(t["sd_obs"], t["sd_discrepancy"]))
        ax.axhspan(t["value"] - 2 * sd, t["value"] + 2 * sd, color="0.85", label="target ± 2 sd")
        ax.axhline(t["value"], color="0.4")
        em = summary["emulator_at_chosen"].get(name)
        if em:
            ax.errorbar(
                [0],
                [em["mean"]],
                yerr=[2 * em["sd"]],
                fmt="o",
                color="tab:blue",
                capsize=4,
                label="emulator ± 2 sd",
            )
        c = confirmation.get(name)
        if c and c.get("mean") is not None:
            ax.errorbar(
                [1],
                [c["mean"]],
                yerr=[2 * c["sd"]],
                fmt="s",
                color="tab:red",
                capsize=4,
                label="full runs ± 2 sd",
            )
            ax.plot(np.full(len(c["values"]), 1.15), c["values"], ".", color="tab:red", alpha=0.5)
        ax.set_xticks([0, 1], ["emulator", "full runs"])
        ax.set_xlim(-0.6, 1.6)
        ax.set_title(name, fontsize=9)
    axes[0][0].legend(fontsize=7, loc="best")
    fig.suptitle(f"{summary['calibration']}: fit at the chosen parameter set")
    _save(fig, path)
