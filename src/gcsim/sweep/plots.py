"""Figures of a sweep: each metric against each factor, main effects, sensitivity indices.

Every figure is written to a temporary name and renamed, like the tables, so a killed sweep
never leaves a truncated PNG behind.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from gcsim.io import atomic_path
from gcsim.summary import CATEGORICAL_METRICS
from gcsim.sweep.results import read_run_table


def _save(fig: plt.Figure, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format=path.suffix.lstrip("."))
    plt.close(fig)
    return path


def _positions(values: pd.Series) -> tuple[np.ndarray, list[str] | None]:
    """Numeric factor values as they are; categorical ones as 0..k-1 with their labels."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype=float), None
    labels = sorted(values.astype(str).unique())
    return values.astype(str).map(labels.index).to_numpy(dtype=float), labels


def _numeric(table: pd.DataFrame, metric: str) -> pd.Series:
    """A metric as numbers; the best-response category as its rank (0 = CR … 3 = PD, 4 = NE)."""
    if metric in CATEGORICAL_METRICS:
        from gcsim.summary import RESPONSES

        return table[metric].map({r: i for i, r in enumerate(RESPONSES)}).astype(float)
    return pd.to_numeric(table[metric], errors="coerce")


def _ylabel(metric: str) -> str:
    return f"{metric} (0=CR…3=PD, 4=NE)" if metric in CATEGORICAL_METRICS else metric


def _grid(rows: int, cols: int) -> tuple[plt.Figure, np.ndarray]:
    fig, axes = plt.subplots(
        rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False, layout="constrained"
    )
    return fig, axes


def plot_metrics_vs_factors(sweep_dir: Path) -> Path | None:
    """One panel per (metric, factor): every successful run as a point."""
    info, table = read_run_table(Path(sweep_dir))
    table = table[table["status"] == "ok"].reset_index(drop=True)
    factors, names = info["factors"], info["metrics"]
    if table.empty:
        return None
    fig, axes = _grid(len(names), len(factors))
    for i, metric in enumerate(names):
        y = _numeric(table, metric)
        for j, factor in enumerate(factors):
            ax = axes[i, j]
            x, labels = _positions(table[factor])
            for arm in dict.fromkeys(table["arm"]):  # one colour per treatment arm
                chosen = (table["arm"] == arm).to_numpy()
                ax.scatter(x[chosen], y.to_numpy()[chosen], s=10, alpha=0.6, label=arm)
            _label_panel(ax, labels, factor if i == len(names) - 1 else None, metric, j == 0)
    if table["arm"].nunique() > 1:
        axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"{info['name']}: metrics against factors ({len(table)} runs)", fontsize=10)
    return _save(fig, sweep_dir / "metrics_vs_factors.png")


def _label_panel(ax, labels, xlabel: str | None, metric: str, first_column: bool) -> None:
    """Categorical tick labels, the factor under the bottom row, the metric left of the first
    column."""
    if labels is not None:
        ax.set_xticks(range(len(labels)), labels, rotation=30)
    if xlabel is not None:
        ax.set_xlabel(xlabel, fontsize=8)
    if first_column:
        ax.set_ylabel(_ylabel(metric), fontsize=8)
    ax.tick_params(labelsize=7)


def plot_main_effects(effects: pd.DataFrame, path: Path) -> Path:
    """Mean ± standard error of each metric at each level of each factor (factorial designs)."""
    factors = list(dict.fromkeys(effects["factor"]))
    names = list(dict.fromkeys(effects["metric"]))
    fig, axes = _grid(len(names), len(factors))
    for i, metric in enumerate(names):
        for j, factor in enumerate(factors):
            ax = axes[i, j]
            rows = effects[(effects["metric"] == metric) & (effects["factor"] == factor)]
            x, labels = _positions(rows["level"].reset_index(drop=True))
            order = np.argsort(x)
            mean, sem = rows["mean"].to_numpy(), rows["sem"].to_numpy()
            ax.errorbar(x[order], mean[order], sem[order], marker="o", capsize=3)
            _label_panel(ax, labels, factor if i == len(names) - 1 else None, metric, j == 0)
    fig.suptitle("main effects (mean ± s.e. over the other factors and replicates)", fontsize=10)
    return _save(fig, path)


def plot_indices(indices: pd.DataFrame, path: Path, title: str) -> Path:
    """Bars of each index for each factor, one panel per metric, with confidence intervals."""
    names = list(dict.fromkeys(indices["metric"]))
    kinds = list(dict.fromkeys(indices["index"]))
    fig, axes = _grid(1, len(names))
    width = 0.8 / len(kinds)
    for j, metric in enumerate(names):
        ax = axes[0, j]
        rows = indices[indices["metric"] == metric]
        factors = list(dict.fromkeys(rows["factor"]))
        for k, kind in enumerate(kinds):
            part = rows[rows["index"] == kind].set_index("factor").reindex(factors)
            x = np.arange(len(factors)) + (k - (len(kinds) - 1) / 2) * width
            ax.bar(x, part["value"], width, yerr=part["conf"], capsize=2, label=kind)
        ax.set_xticks(range(len(factors)), factors, rotation=30, ha="right", fontsize=7)
        ax.set_title(metric, fontsize=9)
        ax.axhline(0, color="grey", lw=0.5)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)
