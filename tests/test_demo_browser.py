"""`gcsim demo` in a real headless browser (Playwright driving Debian's /usr/bin/chromium).

The app runs as `gcsim demo` would run it in a classroom, on a free loopback port. The browser
may not reach anything but that server: every other request is aborted and recorded, and the
test fails if there was any (the page must work offline), or if the server answered an asset
request with an error (an asset missing from the local copies).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        "/usr/bin/chromium is missing: install Debian's chromium package (as .ci/run does) "
        "to run the browser test",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
expect = sync_api.expect

TIMEOUT_MS = 120_000  # generous: numba loads its cache and the first figure renders on 2 cores
SCENARIO = """\
name: browser_demo
seed: 3
domain: {width: 60, height: 60}
time: {days: 20, record_every_hours: 6}
tumor: {initial_radius_um: 300}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_serving(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gcsim demo exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)  # polling interval, not an assertion
    pytest.fail(f"gcsim demo did not answer at {url}:\n{log.read_text()}")


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory):
    """`gcsim demo tiny.yaml --port N` in a subprocess; stopped (by its process id) after."""
    root = tmp_path_factory.mktemp("demo")
    scenario = root / "tiny.yaml"
    scenario.write_text(SCENARIO)
    port = _free_port()
    log = root / "server.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "gcsim.cli", "demo", str(scenario), "--port", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=root,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_until_serving(url, process, log)
        assert url in log.read_text()  # the command printed where to point the browser
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


@contextlib.contextmanager
def _browser_page():
    with sync_api.sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.set_default_timeout(TIMEOUT_MS)
            expect.set_options(timeout=TIMEOUT_MS)
            yield page
        finally:
            browser.close()


def _hours(page) -> float:
    text = page.locator(".gcsim-day").inner_text()
    match = re.search(r"\(([\d.]+) h\)", text)
    assert match, text
    return float(match.group(1))


def _image_src(card) -> str:
    image = card.locator("img").first
    expect(image).to_be_visible()
    # decoded, not just present: a broken image has naturalWidth 0
    image.page.wait_for_function(
        "img => img.complete && img.naturalWidth > 100", arg=image.element_handle()
    )
    return image.get_attribute("src") or ""


def test_demo_page_renders_steps_and_applies_therapies_offline(demo_url, tmp_path):
    outside: list[str] = []
    failed: list[str] = []
    with _browser_page() as page:

        def only_this_server(route):
            parts = urlsplit(route.request.url)
            if parts.scheme in ("data", "blob") or parts.hostname == "127.0.0.1":
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        page.route("**/*", only_this_server)
        page.on(
            "response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None
        )
        page.goto(demo_url)

        # the lattice (with its legend drawn in) and the plots render as decoded images
        lattice = page.locator(".gcsim-lattice")
        plots = page.locator(".gcsim-plots")
        # the first model may compile the numba kernels (no cache yet): wait longer for it
        expect(page.locator(".gcsim-day")).to_contain_text("Day 0.00", timeout=2 * TIMEOUT_MS)
        cells_src = _image_src(lattice)
        _image_src(plots)
        expect(page.locator(".gcsim-treatments")).to_contain_text("untreated")

        # Step advances simulated time and redraws the lattice
        page.get_by_role("button", name="Step").click()
        expect(page.locator(".gcsim-day")).not_to_contain_text("Day 0.00")
        assert _hours(page) > 0
        expect(lattice.locator("img").first).not_to_have_attribute("src", cells_src)
        stepped_src = _image_src(lattice)

        # an overlay is drawn over the lattice, and its caption says what it shows
        lattice.get_by_role("button", name="oxygen").click()
        expect(page.locator(".gcsim-overlay")).to_contain_text("oxygen (mmHg)")
        expect(lattice.locator("img").first).not_to_have_attribute("src", stepped_src)
        _image_src(lattice)

        # therapy controls take effect on Reset: the new model gets pembrolizumab, 1 Gy, metformin
        page.get_by_text("ICI (pembrolizumab)").click()
        page.get_by_role("button", name="Radiotherapy, Gy per fraction (0 = off)").click()
        page.get_by_role("option", name="1", exact=True).click()
        page.get_by_role("button", name="Sensitiser").click()
        page.get_by_role("option", name="metformin", exact=True).click()
        page.get_by_role("button", name="Reset").click()
        treatments = page.locator(".gcsim-treatments")
        expect(treatments).to_contain_text("pembrolizumab 200 mg: day 7")
        expect(treatments).to_contain_text("RT 1 Gy × 1: day 0")
        expect(treatments).to_contain_text("metformin 1000 mg: day 0, 0.5")
        expect(page.locator(".gcsim-day")).to_contain_text("Day 0.00")
        page.get_by_role("button", name="Step").click()
        expect(page.locator(".gcsim-day")).not_to_contain_text("Day 0.00")

        screenshot = tmp_path / "demo.png"
        page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000
    assert outside == [], f"the page tried to reach other hosts: {outside}"
    assert failed == [], f"the server answered with errors: {failed}"
