"""The report of a virtual trial: one self-contained ``report.html`` and its figures as PNGs.

The HTML opens offline and alone: its figures are embedded as base64 ``data:`` URIs and its
style is inline; it references no URL, script or web font. It holds no time stamp or path, so
the same trial gives the same report. Every file is written atomically (``gcsim.io``).
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from gcsim.io import atomic_path, package_versions, write_text
from gcsim.trial import figures, stats

FIGURES = ("km_pfs", "forest", "waterfall", "spider", "swimmer")
# what would make the page reach outside its own file
_EXTERNAL = re.compile(
    r"""(?:\b(?:src|href|srcset|action|poster)\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:)?//"""
    r"""|url\(\s*["']?\s*(?:[a-z][a-z0-9+.-]*:)?//|@import|<script|<link)""",
    re.IGNORECASE,
)
CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2em auto;
       max-width: 1100px; padding: 0 1em; color: #1f2328; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 1px solid #d0d7de; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { border: 1px solid #d0d7de; padding: 0.25em 0.6em; text-align: left;
         vertical-align: top; }
th { background: #f6f8fa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
dl.meta { display: grid; grid-template-columns: max-content auto; gap: 0.15em 1.2em; }
dl.meta dt { font-weight: 600; }
dl.meta dd { margin: 0; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eaeef2; }
figcaption { font-size: 0.9em; color: #57606a; }
.note { color: #9a6700; font-size: 0.88em; }
.caveats { background: #f6f8fa; border-left: 4px solid #8c959f; padding: 0.6em 1em; }
footer { margin-top: 2.5em; font-size: 0.8em; color: #57606a; }
"""


# --- formatting -------------------------------------------------------------------------------


def number_text(value: float | None, digits: int = 2) -> str:
    """A number for a table: "–" for NaN or None (no estimate), "NR" for inf (not reached)."""
    value = math.nan if value is None else float(value)
    if math.isnan(value):
        return "–"
    if math.isinf(value):
        return "NR"
    return f"{value:.{digits}f}"


def percent_text(value: float | None, unit: str = " %", digits: int = 1) -> str:
    """A fraction as a percentage: "–" for NaN or None."""
    value = math.nan if value is None else float(value)
    return "–" if math.isnan(value) else f"{100 * value:.{digits}f}{unit}"


def _with_ci(estimate: str, low: str, high: str) -> str:
    return estimate if estimate == "–" else f"{estimate} ({low}–{high})"


def _p(value: float) -> str:
    value = float(value)
    if math.isnan(value):
        return "–"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]], numeric: set[int]) -> str:
    """An HTML table, every cell escaped; the columns in ``numeric`` right-aligned."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="num">{html.escape(str(c))}</td>'
            if i in numeric
            else f"<td>{html.escape(str(c))}</td>"
            for i, c in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _section(title: str, *parts: str) -> str:
    return f"<section><h2>{html.escape(title)}</h2>{''.join(parts)}</section>"


def _para(text: str) -> str:
    return f"<p>{html.escape(text)}</p>"


# --- sections ---------------------------------------------------------------------------------


def _meta_section(patients: pd.DataFrame, meta: Mapping[str, Any], arms: list[str]) -> str:
    reference = meta.get("reference_arm", arms[0])
    n = patients["patient"].nunique() if "patient" in patients else len(patients)
    follow_up = meta.get("follow_up_days")
    items = [
        ("design", str(meta.get("design", "not stated"))),
        ("virtual patients", str(n)),
        ("arms", ", ".join(f"{a} (reference)" if a == reference else a for a in arms)),
        ("seed", str(meta.get("seed", "not stated"))),
        (
            "follow-up",
            "not stated"
            if follow_up is None
            else f"{float(follow_up):g} days ({float(follow_up) / stats.DAYS_PER_MONTH:.1f} "
            "months)",
        ),
    ]
    if meta.get("scan_every_days") is not None:
        items.append(("scans", f"every {float(meta['scan_every_days']):g} days (RECIST 1.1)"))
    if meta.get("characteristics"):
        items.append(("characteristics", ", ".join(map(str, meta["characteristics"]))))
    rows = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in items)
    return _section("Trial", f'<dl class="meta">{rows}</dl>')


def _best_responses(group: pd.DataFrame) -> str:
    if "best_response" not in group:
        return ""
    counts = group["best_response"].astype(str).value_counts()
    order = [r for r in figures.RESPONSE_ORDER if r in counts] + sorted(
        r for r in counts.index if r not in figures.RESPONSE_ORDER
    )
    return " · ".join(f"{r} {counts[r]}" for r in order)


def _response_section(patients: pd.DataFrame, arms: list[str]) -> str:
    table = stats.response_rates(patients, arms)
    rows = [
        [
            r.arm,
            r.n,
            _best_responses(patients[patients["arm"] == r.arm]),
            r.responders,
            _with_ci(
                percent_text(r.orr), percent_text(r.orr_low, ""), percent_text(r.orr_high, "")
            ),
            r.disease_control,
            _with_ci(
                percent_text(r.dcr), percent_text(r.dcr_low, ""), percent_text(r.dcr_high, "")
            ),
        ]
        for r in table.itertuples()
    ]
    header = [
        "arm",
        "n",
        "best responses",
        "CR + PR",
        "ORR (95 % CI)",
        "CR + PR + SD",
        "DCR (95 % CI)",
    ]
    return _section(
        "Response (RECIST 1.1)",
        _table(header, rows, numeric={1, 3, 5}),
        _para(
            "Rates over all patients of the arm (non-evaluable ones count as non-responders); "
            "exact Clopper–Pearson 95 % intervals."
        ),
    )


def _km_section(patients: pd.DataFrame, arms: list[str], km_png: str) -> str:
    table = stats.km_summary(patients, arms)
    rows = [
        [
            r.arm,
            r.n,
            r.events,
            r.censored,
            _with_ci(
                number_text(r.median_months, 1),
                number_text(r.median_low_months, 1),
                number_text(r.median_high_months, 1),
            ),
            _with_ci(
                number_text(r.median_days, 0),
                number_text(r.median_low_days, 0),
                number_text(r.median_high_days, 0),
            ),
            percent_text(r.pfs_6m),
            percent_text(r.pfs_12m),
        ]
        for r in table.itertuples()
    ]
    header = [
        "arm",
        "n",
        "progressions",
        "censored",
        "median PFS, months (95 % CI)",
        "days",
        "PFS at 6 months",
        "PFS at 12 months",
    ]
    return _section(
        "Progression-free survival",
        _table(header, rows, numeric={1, 2, 3, 4, 5, 6, 7}),
        _para(
            "Kaplan–Meier estimates; NR: not reached; –: not estimable (a PFS rate past the "
            "arm's last follow-up). A month is 30.4375 days."
        ),
        km_png,
    )


def _hr_section(hrs: list[dict[str, Any]], paired: bool) -> str:
    if not hrs:
        return _section("Hazard ratios", _para("One arm only: nothing to compare."))
    rows = [
        [
            f"{h['arm']} vs {h['reference']}",
            f"{h['n_reference']}/{h['n_arm']}",
            f"{h['events_reference']}/{h['events_arm']}",
            _with_ci(number_text(h["hr"]), number_text(h["hr_low"]), number_text(h["hr_high"])),
            _p(h["p_wald"]),
            number_text(h["logrank_statistic"]),
            _p(h["logrank_p"]),
            h["ph_verdict"],
            h["note"],
        ]
        for h in hrs
    ]
    header = [
        "comparison",
        "n (reference/arm)",
        "progressions (reference/arm)",
        "HR (95 % CI)",
        "Wald p",
        "log-rank χ²",
        "log-rank p",
        "proportional hazards",
        "note",
    ]
    pairing = (
        " In this paired design the same patients are in every arm; the CIs and p-values are "
        "computed as if the arms were independent samples and do not use that pairing."
        if paired
        else ""
    )
    return _section(
        "Hazard ratios of progression",
        _table(header, rows, numeric={1, 2, 3, 4, 5, 6}),
        _para(
            "Cox proportional-hazards model with the arm as the only covariate (HR < 1: fewer "
            "progressions than in the reference), log-rank test, and the Grambsch–Therneau test "
            "of proportional hazards (rank time transform)." + pairing
        ),
    )


def _subgroup_section(table: pd.DataFrame, forest_png: str) -> str:
    if table.empty:
        return _section("Subgroups", _para("No comparison, so no subgroups."))
    rows = [
        [
            r.subgroup,
            r.rule,
            f"{r.arm} vs {r.reference}",
            f"{r.n_reference}/{r.n_arm}",
            f"{r.events_reference}/{r.events_arm}",
            _with_ci(number_text(r.hr), number_text(r.hr_low), number_text(r.hr_high)),
            r.note,
        ]
        for r in table.itertuples()
    ]
    header = [
        "subgroup",
        "rule",
        "comparison",
        "n (reference/arm)",
        "progressions (reference/arm)",
        "HR (95 % CI)",
        "note",
    ]
    return _section(
        "Subgroups",
        _table(header, rows, numeric={3, 4, 5}),
        _para(
            "Cox HR within each subgroup; subgroup results "
            "are exploratory and not adjusted for multiplicity."
        ),
        forest_png,
    )


def _caveats(meta: Mapping[str, Any]) -> str:
    paired = meta.get("design") == "paired"
    design = (
        "The design is paired: every virtual patient is treated in every arm, so differences "
        "between arms are free of between-patient noise. The confidence intervals and p-values "
        "of this report are computed as if the arms were independent samples and do not use "
        "that pairing (with outcomes correlated within a patient, a paired analysis would usually "
        "give narrower intervals); the point estimates are not affected."
        if paired
        else "The design is randomised: each virtual patient is in one arm, and the intervals "
        "are those of independent samples."
    )
    text = (
        "The endpoints are response by RECIST 1.1 and progression-free survival from "
        "simulated lesion diameters at scheduled scans; there is no overall survival (the "
        "patients table records no deaths), and no surrogate of it is reported. "
        + design
        + " These are virtual patients sampled from model characteristics, not trial patients: "
        "the numbers say what the model implies under its assumptions and calibration, not "
        "what a clinical trial would find."
    )
    return _section("What this can and cannot say", f'<div class="caveats">{_para(text)}</div>')


# --- figures and files ------------------------------------------------------------------------


def png_bytes(fig: Figure) -> bytes:
    """A figure as PNG, without the metadata that would differ between runs."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=figures.DPI, metadata={"Software": None})
    return buffer.getvalue()


def _write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def data_uri(png: bytes) -> str:
    """PNG bytes as a data: URI, so a page holds its images (it opens offline)."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _img(data: bytes, alt: str, caption: str) -> str:
    return (
        f'<figure><img src="{data_uri(data)}" alt="{html.escape(alt)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _check_fragment(title: str, fragment: str) -> None:
    match = _EXTERNAL.search(fragment)
    if match:
        raise ValueError(
            f"extra section {title!r} would make the report reach outside its file "
            f"({match.group(0)!r}): embed images as data: URIs and use no scripts or links"
        )


def write_report(
    patients: pd.DataFrame,
    meta: Mapping[str, Any],
    out_dir: Path | str,
    extra_sections: Sequence[tuple[str, str]] | None = None,
) -> Path:
    """Write ``report.html`` and its figures (``km_pfs.png``, ``forest.png``,
    ``waterfall.png``, ``spider.png``, ``swimmer.png``) into ``out_dir``.

    Parameters
    ----------
    patients : DataFrame
        The trial's patients table (its columns: docs/trials.md).
    meta : mapping
        Trial metadata (``trial.json``): ``name``, ``design``, ``arms``, ``reference_arm``,
        ``seed``, ``follow_up_days``, ``scan_every_days``, ``characteristics``, ``subgroups``.
        Missing ``arms`` / ``reference_arm`` default to the table's arms and the first of them.
    out_dir : path
        Created if needed; files already there with these names are replaced (atomically).
    extra_sections : sequence of (title, HTML fragment), optional
        Appended after the trial's own sections (e.g. the biomarkers'); titles are escaped,
        fragments inserted as given.

    Returns
    -------
    Path
        The path of ``report.html``.

    Raises
    ------
    ValueError
        An extra section references anything outside the file (a URL, a script, a
        stylesheet link), or the table lacks a column the statistics need.
    """
    extra_sections = list(extra_sections or [])
    for title, fragment in extra_sections:
        _check_fragment(title, fragment)
    arms = stats._arms(patients, meta.get("arms"))
    reference = meta.get("reference_arm") or arms[0]
    others = [a for a in arms if a != reference]
    hrs = [stats.hazard_ratio(patients, reference, a) for a in others]
    subgroup_tables = [
        stats.subgroup_hazard_ratios(patients, reference, a, meta.get("subgroups") or [])
        for a in others
    ]
    subgroups = pd.concat(subgroup_tables, ignore_index=True) if subgroup_tables else pd.DataFrame()

    drawn = {
        "km_pfs": figures.km_figure(patients, arms),
        "forest": figures.forest_figure(subgroups),
        "waterfall": figures.waterfall_figure(patients, arms, colour_by="arm"),
        "spider": figures.spider_figure(patients, arms),
        "swimmer": figures.swimmer_figure(patients, arms),
    }
    pngs = {name: png_bytes(fig) for name, fig in drawn.items()}
    out = Path(out_dir)  # created only now: a refused input leaves no empty directory behind
    out.mkdir(parents=True, exist_ok=True)
    for name, data in pngs.items():
        _write_bytes(out / f"{name}.png", data)
    captions = {
        "km_pfs": "Kaplan–Meier PFS per arm (shaded: 95 % pointwise CI; ticks: censored), "
        "numbers at risk under the axis.",
        "forest": "Cox HR of progression per subgroup with 95 % CI (log scale; 1 = no difference).",
        "waterfall": "Best % change of the sum of lesion diameters per patient and arm; "
        "dashed: −30 % (partial response), dotted: +20 % (progression).",
        "spider": "% change of the sum of lesion diameters at each scan, one line per patient, "
        "coloured by best response.",
        "swimmer": "Time on treatment per patient, coloured by best response; triangle: first "
        "response, cross: progression.",
    }
    img = {name: _img(pngs[name], name, captions[name]) for name in FIGURES}

    name = str(meta.get("name", "virtual trial"))
    body = [
        f"<h1>{html.escape(name)}: virtual trial report</h1>",
        _meta_section(patients, meta, arms),
        _response_section(patients, arms),
        _km_section(patients, arms, img["km_pfs"]),
        _hr_section(hrs, meta.get("design") == "paired"),
        _subgroup_section(subgroups, img["forest"]),
        _section("Waterfall", img["waterfall"]),
        _section("Spider plot", img["spider"]),
        _section("Swimmer plot", img["swimmer"]),
        *(_section(title, fragment) for title, fragment in extra_sections),
        _caveats(meta),
        f"<footer>gcsim {html.escape(package_versions()['gcsim'])}</footer>",
    ]
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(name)}: virtual trial report</title>"
        f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>\n"
    )
    path = out / "report.html"
    write_text(path, page)
    return path
