"""The suite's report: scores.json, patterns.md, patterns.html and one figure per pattern.

scores.json is deterministic (the same seeds give the same file, byte for byte): it holds the
scores, the scenario and parameter hashes and the notes, never a time or a path outside the
pattern directory.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from gcsim.io import atomic_path, write_text

SCORES_FORMAT = 1


def write_scores(out: Path, scored: dict[str, Any]) -> Path:
    """Write scores.json atomically; return its path."""
    path = Path(out) / "scores.json"
    text = json.dumps(
        {"format": SCORES_FORMAT, "patterns": scored},
        indent=2,
        sort_keys=True,
        allow_nan=False,
        ensure_ascii=False,
    )
    write_text(path, text + "\n")
    return path


def short_source(source: str, limit: int = 48) -> str:
    """The first clause of a source, cut to ``limit`` characters (for one-line summaries)."""
    head = source.split(";")[0].split(". ")[0].strip()
    return head if len(head) <= limit else head[: limit - 1].rstrip() + "…"


def _num(value: float | None) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "NaN"
    return f"{value:.3g}"


def estimate_text(check: dict[str, Any]) -> str:
    """``estimate [low, high]`` (or ``p = …`` for a trend), as printed and tabulated."""
    if check["rule"] == "trend":
        return f"p = {_num(check['estimate'])}"
    text = _num(check["estimate"])
    if check["ci_low"] is not None or check["ci_high"] is not None:
        text += f" [{_num(check['ci_low'])}, {_num(check['ci_high'])}]"
    return text


def plot_pattern(pattern_id: str, entry: dict[str, Any], path: Path) -> Path:
    """One small figure: each check's estimate with its 95 % CI against the expected range
    (a band for ``range``, a line for ``above``/``below``/``p_below``), one panel per check."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    checks = entry["checks"]
    fig, axes = plt.subplots(
        1, len(checks), figsize=(1.9 * len(checks) + 0.6, 2.4), squeeze=False, layout="constrained"
    )
    colours = {
        "PASS": "tab:green",
        "FAIL": "tab:red",
        "INCONCLUSIVE": "tab:orange",
        "ERROR": "tab:gray",
    }
    for ax, check in zip(axes[0], checks, strict=True):
        expected = check["expected"]
        est, low, high = (
            np.nan if check[k] is None else check[k] for k in ("estimate", "ci_low", "ci_high")
        )
        colour = colours[check["status"]]
        if "[" in expected and expected.startswith("in ["):
            lo, hi = (float(v) for v in expected[4 : expected.index("]")].split(","))
            ax.axhspan(lo, hi, color="tab:blue", alpha=0.15, lw=0)
        elif expected.startswith(("CI > ", "CI < ")):
            ax.axhline(float(expected[5:].split(",")[0]), color="tab:blue", lw=1, ls="--")
        elif "p < " in expected:
            ax.axhline(
                float(expected.split("p < ")[1].split(",")[0]), color="tab:blue", lw=1, ls="--"
            )
        if np.isfinite(est):
            yerr = None
            if np.isfinite(low) and np.isfinite(high):
                # a bootstrap percentile interval need not contain the estimate: clip the bars
                yerr = [[max(0.0, est - low)], [max(0.0, high - est)]]
            ax.errorbar([0], [est], yerr=yerr, fmt="o", color=colour, capsize=4)
        else:
            ax.text(
                0,
                0.5,
                check["status"],
                ha="center",
                va="center",
                color=colour,
                transform=ax.get_yaxis_transform(),
            )
        ax.set_xticks([])
        ax.set_xlim(-1, 1)
        ax.set_title(f"{check['id']}\n{check['status']}", fontsize=7, color=colour)
        ax.tick_params(labelsize=7)
    fig.suptitle(f"{pattern_id}: {entry['status']}", fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


def markdown(scored: dict[str, Any], mode: str) -> str:
    """patterns.md: a summary table, then each pattern's checks and figure."""
    lines = [
        f"# Pattern suite ({mode})",
        "",
        "| pattern | role | status | checks passed | source |",
        "|---|---|---|---|---|",
    ]
    for pid, entry in scored.items():
        passed = sum(c["status"] == "PASS" for c in entry["checks"])
        lines.append(
            f"| {pid} | {entry['role']} | **{entry['status']}** | "
            f"{passed}/{len(entry['checks'])} | {short_source(entry['source'])} |"
        )
    for pid, entry in scored.items():
        lines += [
            "",
            f"## {pid}: {entry['title']}",
            "",
            f"Status: **{entry['status']}** "
            f"({entry['role']}, {entry['file']}). Source: {' '.join(entry['source'].split())}",
            "",
            f"![{pid}](figures/{pid}.png)",
            "",
            "| check | rule | status | estimate [95 % CI] | expected | n | detail |",
            "|---|---|---|---|---|---|---|",
        ]
        for c in entry["checks"]:
            detail = c["detail"].replace("|", "\\|")
            lines.append(
                f"| {c['id']} | {c['rule']} | {c['status']} | {estimate_text(c)} | "
                f"{c['expected']} | {c['n']} | {detail} |"
            )
        for note in entry["notes"]:
            lines.append(f"\nQuick mode: {note}")
    return "\n".join(lines) + "\n"


def html_page(scored: dict[str, Any], mode: str) -> str:
    """patterns.html: the same as patterns.md, as a standalone page (figures beside it)."""
    e = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>gcsim patterns</title>"
        "<style>body{font-family:sans-serif;max-width:70em;margin:auto}table{border-collapse:"
        "collapse}td,th{border:1px solid #ccc;padding:2px 6px;font-size:90%}.PASS{color:green}"
        ".FAIL,.INCONCLUSIVE{color:#b00}.ERROR{color:#777}</style></head><body>",
        f"<h1>Pattern suite ({e(mode)})</h1><table><tr><th>pattern</th><th>role</th>"
        "<th>status</th><th>checks passed</th><th>source</th></tr>",
    ]
    for pid, entry in scored.items():
        passed = sum(c["status"] == "PASS" for c in entry["checks"])
        parts.append(
            f"<tr><td><a href='#{e(pid)}'>{e(pid)}</a></td><td>{e(entry['role'])}</td>"
            f"<td class='{entry['status']}'>{entry['status']}</td>"
            f"<td>{passed}/{len(entry['checks'])}</td>"
            f"<td>{e(short_source(entry['source']))}</td></tr>"
        )
    parts.append("</table>")
    for pid, entry in scored.items():
        parts.append(
            f"<h2 id='{e(pid)}'>{e(pid)}: {e(entry['title'])}</h2><p>Status: "
            f"<b class='{entry['status']}'>{entry['status']}</b> ({e(entry['role'])}). "
            f"Source: {e(entry['source'])}</p><img src='figures/{e(pid)}.png' "
            f"alt='{e(pid)}'><table><tr><th>check</th><th>rule</th><th>status</th>"
            "<th>estimate [95 % CI]</th><th>expected</th><th>n</th><th>detail</th></tr>"
        )
        for c in entry["checks"]:
            parts.append(
                f"<tr><td title='{e(c['what'])}'>{e(c['id'])}</td><td>{e(c['rule'])}"
                f"</td><td class='{c['status']}'>{c['status']}</td><td>"
                f"{e(estimate_text(c))}</td><td>{e(c['expected'])}</td><td>{c['n']}"
                f"</td><td>{e(c['detail'])}</td></tr>"
            )
        parts.append("</table>")
        for note in entry["notes"]:
            parts.append(f"<p>Quick mode: {e(note)}</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(out: Path, scored: dict[str, Any], mode: str) -> list[Path]:
    """scores.json, the figures, patterns.md and patterns.html in ``out``."""
    out = Path(out)
    paths = [write_scores(out, scored)]
    for pid, entry in scored.items():
        paths.append(plot_pattern(pid, entry, out / "figures" / f"{pid}.png"))
    write_text(out / "patterns.md", markdown(scored, mode))
    write_text(out / "patterns.html", html_page(scored, mode))
    return [*paths, out / "patterns.md", out / "patterns.html"]
