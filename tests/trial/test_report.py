"""gcsim.trial.report: the files it writes, a page that references nothing outside itself, and
that page opened offline in a real headless browser (Playwright driving Debian's
/usr/bin/chromium, as tests/test_demo_browser.py does; skipped without it)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from synthetic_trial import meta_for, synthetic_patients

from gcsim.trial import figures, stats
from gcsim.trial.report import FIGURES, write_report

CHROMIUM = Path("/usr/bin/chromium")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
BIOMARKERS = ("Biomarkers", "<p>CD8 density at baseline: AUC 0.71</p>")


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    patients = synthetic_patients(n=60, hazard_ratio=0.6, seed=2, paired=True)
    out = tmp_path_factory.mktemp("trial") / "report"  # not there yet: created
    return write_report(patients, meta_for(patients, paired=True), out, [BIOMARKERS])


def test_the_report_and_its_five_figures_are_written(report):
    assert report.name == "report.html"
    names = sorted(p.name for p in report.parent.iterdir())
    assert names == sorted(["report.html", *(f"{name}.png" for name in FIGURES)])
    for name in FIGURES:
        assert (report.parent / f"{name}.png").read_bytes().startswith(PNG_MAGIC)


def test_the_page_references_nothing_outside_itself(report):
    page = report.read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page
    assert 'src="http' not in page and 'href="http' not in page
    assert "<script" not in page and "<link" not in page and "@import" not in page
    sources = re.findall(r'<img\b[^>]*\bsrc="([^"]*)"', page)
    assert len(sources) == len(FIGURES) == page.count("<img")
    assert all(src.startswith("data:image/png;base64,") for src in sources)


def test_the_page_has_every_section(report):
    page = report.read_text(encoding="utf-8")
    for text in (
        "synthetic: virtual trial report",
        "paired",
        "ORR (95 % CI)",
        "median PFS, months (95 % CI)",
        "chemo+pembro vs chemo",
        "proportional hazards",
        "CPS 1-9",
        "What this can and cannot say",
        "no overall survival",
        "do not use that pairing",
        "not trial patients",
        "Biomarkers",
        "AUC 0.71",
    ):
        assert text in page, text
    assert page.index("Swimmer plot") < page.index("Biomarkers") < page.index("What this can")


def test_an_extra_section_reaching_outside_the_file_is_refused(tmp_path):
    patients = synthetic_patients(n=10, seed=1)
    fragment = '<img src="https://example.org/roc.png">'
    with pytest.raises(ValueError, match="'ROC'"):
        write_report(patients, meta_for(patients), tmp_path / "out", [("ROC", fragment)])
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_arms_without_responders_events_or_scans_still_give_a_report(tmp_path):
    """Nobody progresses, responds or has a follow-up scan."""
    patients = synthetic_patients(n=12, seed=4).assign(
        pfs_event=False,
        objective_response=False,
        disease_control=False,
        best_response="NE",
        best_pct_change=np.nan,
        response_day=np.nan,
    )
    patients["scan_days"] = [[0.0]] * len(patients)
    patients["scan_sld_mm"] = [[50.0]] * len(patients)
    meta = meta_for(patients)
    path = write_report(patients, meta, tmp_path)
    page = path.read_text(encoding="utf-8")
    assert "no progression in either arm" in page
    assert page.count("data:image/png;base64,") == len(FIGURES)
    # and each figure on its own, with one arm only
    arm = meta["arms"][:1]
    for fig in (
        figures.km_figure(patients, arm),
        figures.waterfall_figure(patients, arm, colour_by="best_response"),
        figures.spider_figure(patients, arm),
        figures.swimmer_figure(patients, arm),
        figures.forest_figure(stats.subgroup_hazard_ratios(patients, *meta["arms"], [])),
    ):
        assert fig.axes


def test_the_report_opens_offline_in_a_browser_with_every_image_decoded(report):
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is missing: install Debian's chromium package")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    outside: list[str] = []
    requested: list[str] = []
    with sync_api.sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
            page.set_default_timeout(30_000)

            def only_this_file(route):
                if urlsplit(route.request.url).scheme in ("file", "data"):
                    route.continue_()
                else:
                    outside.append(route.request.url)
                    route.abort()

            page.on("request", lambda request: requested.append(request.url))
            page.route("**/*", only_this_file)
            page.goto(report.as_uri(), wait_until="load")
            images = page.evaluate(
                "() => Array.from(document.images, i => [i.complete, i.naturalWidth])"
            )
            title = page.title()
        finally:
            browser.close()
    assert outside == [], f"the report tried to reach other hosts: {outside}"
    assert {urlsplit(url).scheme for url in requested} <= {"file", "data"}, requested
    assert len(images) == len(FIGURES)
    assert all(complete and width > 0 for complete, width in images), images
    assert title == "synthetic: virtual trial report"
