"""The chapters' widget explorers on the built website, in a real browser with the network blocked.

On every page that embeds widget state: the state is under 1 MB, each widget view renders once,
pressing an arrow key on each slider changes the displayed frame (and so does a toggle button), the
browser logs no error, and no request goes to another host (all are routed to abort and recorded).
Reuses ``_build/html`` when its chapter pages are newer than the sources (as after ``tests/test_book.py``);
builds it otherwise.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from test_book import serving

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
STATE = re.compile(r'<script type="application/vnd\.jupyter\.widget-state\+json">(.*?)</script>', re.S)
VIEW = re.compile(r'<script type="application/vnd\.jupyter\.widget-view\+json">')
MAX_STATE_BYTES = 1_000_000
pytestmark = pytest.mark.slow


def _site_is_current() -> bool:
    """Whether every chapter page was written after the last change to the sources it is built from."""
    pages = list((HTML / "notebooks").glob("*.html"))
    if not pages:
        return False
    sources = [p for pattern in ("notebooks/*.ipynb", "companion/**/*.py", "_config.yml", "book/_widgets/**/*",
                                 "book/_static/*") for p in ROOT.glob(pattern)]
    return min(p.stat().st_mtime for p in pages) > max(p.stat().st_mtime for p in sources)


@pytest.fixture(scope="module")
def site() -> Path:
    if not _site_is_current():
        jb = Path(sys.executable).with_name("jupyter-book")
        result = subprocess.run([str(jb), "build", "-W", "--keep-going", "--all", "."], cwd=ROOT,
                                env={**os.environ, "COMPANION_PROGRESS": "0"}, capture_output=True, text=True)
        assert result.returncode == 0, f"book build failed:\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
    return HTML


def widget_pages(site: Path) -> dict[str, dict]:
    """Page path → its embedded widget state (model id → model), for every page that has one."""
    pages = {}
    for page in sorted(site.rglob("*.html")):
        text = page.read_text(encoding="utf-8")
        match = STATE.search(text)
        if match:
            pages[str(page.relative_to(site))] = {"state": json.loads(match.group(1))["state"],
                                                  "state_bytes": len(match.group(1).encode()),
                                                  "views": len(VIEW.findall(text))}
    return pages


def test_widget_pages_and_state_size(site):
    pages = widget_pages(site)
    chapters = {p for p in pages if p.startswith("notebooks/")}
    assert len(chapters) >= 3, f"widgets on only {sorted(pages)}"
    sliders = sum(1 for p in pages.values() for m in p["state"].values()
                  if m["model_name"] == "SelectionSliderModel")
    assert sliders >= 4, f"only {sliders} explorers"
    for path, page in pages.items():
        assert page["state_bytes"] < MAX_STATE_BYTES, f"{path}: widget state {page['state_bytes']:,} bytes"


def test_vendored_scripts_are_served_by_the_site(site):
    for name in ("require.js", "embed-amd.js", "widgets-config.js", "LICENSE-html-manager.txt",
                 "LICENSE-requirejs.txt"):
        assert (site / "ipywidgets" / name).is_file(), name
    for path in widget_pages(site):
        text = (site / path).read_text(encoding="utf-8")
        assert re.search(r'<script[^>]*src="[^"]*/ipywidgets/embed-amd\.js', text), f"{path} does not load the vendored bundle"
        assert not re.search(r"""<script[^>]*\ssrc=["']https?://""", text), f"{path} loads a script from another host"


@pytest.fixture(scope="module")
def server(site):
    with serving(site) as address:
        yield address


# Each explorer is a VBox holding its controls and its Stack; the images shown are its visible ones.
VISIBLE_FRAMES = """(box) => [...box.querySelectorAll('.widget-image')]
    .filter(i => i.offsetParent !== null).map(i => i.src.length + ':' + i.src.slice(-48))"""


def test_every_explorer_responds_offline(site, server):
    from playwright.sync_api import sync_playwright

    pages = widget_pages(site)
    problems, checked = [], 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        outside, errors = [], []

        def route(request_route):
            url = request_route.request.url
            if url.startswith((server + "/", "data:", "blob:")):
                request_route.continue_()
            else:
                outside.append(url)
                request_route.abort()

        page.route("**/*", route)
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("requestfailed", lambda req: errors.append(f"request failed: {req.url}"))
        for path, info in pages.items():
            outside.clear()
            errors.clear()
            page.goto(f"{server}/{path}", wait_until="networkidle")
            page.wait_for_selector(".widget-image", state="attached", timeout=20_000)
            page.wait_for_timeout(500)
            # One explorer per displayed view; a Stack renders only its selected frame.
            n_sliders = sum(1 for m in info["state"].values() if m["model_name"] == "SelectionSliderModel")
            rendered_sliders = page.locator(".widget-hslider").count()
            rendered_images = page.locator(".widget-image").count()
            if not rendered_sliders == n_sliders == rendered_images == info["views"]:
                problems.append(f"{path}: {info['views']} widget views, {n_sliders} sliders in the state, but "
                                f"{rendered_sliders} sliders and {rendered_images} frames rendered (each once)")
            for i in range(rendered_sliders):
                slider = page.locator(".widget-hslider").nth(i)
                box = slider.locator("xpath=ancestor::div[contains(@class,'widget-vbox')][1]")
                before = box.evaluate(VISIBLE_FRAMES)
                if len(before) != 1:
                    problems.append(f"{path}: explorer {i} shows {len(before)} frames, not 1")
                handle = slider.locator(".noUi-handle").first
                handle.scroll_into_view_if_needed()
                handle.focus()
                page.keyboard.press("ArrowRight")
                page.wait_for_timeout(300)
                after = box.evaluate(VISIBLE_FRAMES)
                if after == before or len(after) != 1:
                    problems.append(f"{path}: explorer {i}: ArrowRight on the slider did not change the frame")
                toggles = box.locator(".widget-toggle-buttons button")
                if toggles.count():
                    toggles.nth(toggles.count() - 1).click()
                    page.wait_for_timeout(300)
                    toggled = box.evaluate(VISIBLE_FRAMES)
                    if toggled == after or len(toggled) != 1:
                        problems.append(f"{path}: explorer {i}: a toggle button did not change the frame")
                checked += 1
            problems += [f"{path}: console: {e}" for e in errors]
            problems += [f"{path}: request to another host: {u}" for u in sorted(set(outside))]
        browser.close()
    assert checked >= 4, f"only {checked} explorers checked"
    assert not problems, "\n".join(problems)
