"""Build the website with -W (a warning or a failing cell fails it), then check it in a real browser."""
import functools
import http.server
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
pytestmark = pytest.mark.slow


def toc_pages() -> list[str]:
    """Every page of the table of contents, as a path relative to the site root."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part["chapters"]]
    return [f"{f}.html" for f in files]


@pytest.fixture(scope="module")
def site():
    env = {**os.environ, "COMPANION_PROGRESS": "0"}
    jb = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run([str(jb), "build", "-W", "--keep-going", "--all", "."], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, f"book build failed:\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
    return HTML


def test_every_toc_page_is_built(site):
    assert (site / "index.html").exists()
    for page in toc_pages():
        assert (site / page).exists(), page


EXTERNAL_RESOURCE = re.compile(r"""<(?:script|img|iframe)[^>]*\ssrc=["']https?://|<link[^>]*rel=["']stylesheet["'][^>]*href=["']https?://""")


def test_no_build_machine_details_or_external_resources_in_pages(site):
    for page in toc_pages():
        text = (site / page).read_text(encoding="utf-8")
        for leak in (str(ROOT), "site-packages", "Traceback (most recent call last)", "Warning:", "DeprecationWarning"):
            assert leak not in text, f"{page} contains {leak!r}"
        assert not EXTERNAL_RESOURCE.search(text), f"{page} loads a resource from another host"


@pytest.fixture(scope="module")
def server(site):
    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def test_every_page_in_a_real_browser(server):
    from playwright.sync_api import sync_playwright

    problems = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page()
        errors: list[str] = []
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("requestfailed", lambda req: errors.append(f"request failed: {req.url}"))
        for path in toc_pages():
            errors.clear()
            page.goto(f"{server}/{path}", wait_until="networkidle")
            title = page.locator("main h1").first.inner_text().strip()
            images = page.eval_on_selector_all(
                "main img", "els => els.map(e => ({src: e.src, ok: e.complete && e.naturalWidth > 0, alt: e.alt}))")
            math_errors = page.locator("mjx-merror").count()
            if not title:
                problems.append(f"{path}: no title")
            problems += [f"{path}: image did not load: {i['src']}" for i in images if not i["ok"]]
            problems += [f"{path}: image without alt text: {i['src']}" for i in images if not i["alt"].strip()]
            problems += [f"{path}: console: {e}" for e in errors]
            if math_errors:
                problems.append(f"{path}: {math_errors} MathJax errors")
        browser.close()
    assert not problems, "\n".join(problems)
