"""Build the website with -W (a warning or a failing cell fails it), then check it in a real browser."""
import base64
import contextlib
import functools
import http.server
import io
import os
import re
import shutil
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
        for chapter in part["chapters"]:
            files += [chapter["file"], *(section["file"] for section in chapter.get("sections", []))]
    return [f"{f}.html" for f in files]


@pytest.fixture(scope="module")
def site():
    env = {**os.environ, "COMPANION_PROGRESS": "0"}
    # Every cell runs: the execution cache that the other editions reuse starts empty (_config.yml).
    shutil.rmtree(ROOT / "_build" / ".jupyter_cache", ignore_errors=True)
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


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serving(directory: Path, handler: type = QuietHandler):
    """A local HTTP server for ``directory`` on a free port, for the block; yields its address."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(directory)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()


@pytest.fixture(scope="module")
def server(site):
    with serving(site) as address:
        yield address


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


def chapter_pages() -> list[str]:
    return [page for page in toc_pages() if page.startswith("notebooks/")]


def launch(p):
    return p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)


@pytest.mark.parametrize("path", ["notebooks/ch03_4_pruning_weights.html", "book/intro.html"])
def test_phone_navigation_drawers_open_and_their_links_work(server, path):
    """At 390 px both header toggles open their drawer, and a link inside it is visible and clickable."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.goto(f"{server}/{path}", wait_until="networkidle")
        sidebar = page.locator(".bd-sidebar-primary")
        assert not sidebar.is_visible()
        page.locator(".primary-toggle").first.click()
        # The drawer slides in: wait until it is fully on screen.
        page.wait_for_function("() => document.querySelector('.bd-sidebar-primary').getBoundingClientRect().left >= 0",
                               timeout=5000)
        chapter = sidebar.locator("a.reference", has_text="3.5").first
        chapter.wait_for(state="visible", timeout=5000)
        box = chapter.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
        chapter.click()
        page.wait_for_url("**/notebooks/ch03_5_pruning_neurons.html*", timeout=10_000)

        page.goto(f"{server}/{path}", wait_until="networkidle")
        contents = page.locator(".bd-sidebar-secondary")
        assert not contents.is_visible()
        page.locator(".secondary-toggle").first.click()
        page.wait_for_function(
            "() => document.querySelector('.bd-sidebar-secondary').getBoundingClientRect().right <= innerWidth + 1",
            timeout=5000)
        section = contents.locator("a.nav-link").nth(1)
        section.wait_for(state="visible", timeout=5000)
        target = section.get_attribute("href")
        section.click()
        page.wait_for_function("h => location.hash === h", arg=target, timeout=5000)
        browser.close()


def test_no_page_is_wider_than_a_phone(server):
    """At 390 px nothing (an inline literal, a table, a figure) makes the page scroll sideways."""
    from playwright.sync_api import sync_playwright

    wide = []
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 390, "height": 844})
        for path in toc_pages():
            page.goto(f"{server}/{path}", wait_until="networkidle")
            width = page.evaluate("document.documentElement.scrollWidth")
            if width > 391:
                wide.append(f"{path}: {width} px")
        browser.close()
    assert not wide, "pages wider than a 390 px phone:\n" + "\n".join(wide)


def test_desktop_menu_button_collapses_the_sidebar_and_theme_button_changes_the_page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1280, "height": 900}, color_scheme="light")
        page.goto(f"{server}/notebooks/ch01_background.html", wait_until="networkidle")
        sidebar = page.locator(".bd-sidebar-primary")
        assert sidebar.is_visible()
        page.locator(".primary-toggle").first.click()
        page.wait_for_function("() => document.querySelector('.bd-sidebar-primary').getBoundingClientRect().right <= 0",
                               timeout=5000)
        theme = page.evaluate("document.documentElement.dataset.theme")
        page.locator(".theme-switch-button").first.click()
        assert page.evaluate("document.documentElement.dataset.theme") != theme  # the first click shows a change
        browser.close()


def test_exercises_are_numbered_per_chapter(site):
    for page in chapter_pages():
        numbers = [int(n) for n in re.findall(r'<span class="caption-number">Exercise (\d+) ?</span>',
                                              (site / page).read_text(encoding="utf-8"))]
        numbers = list(dict.fromkeys(numbers))
        if numbers:
            assert numbers == list(range(1, len(numbers) + 1)), f"{page}: exercises numbered {numbers}"


def test_download_page_serves_a_wheel_that_installs_into_a_fresh_venv(server, tmp_path):
    """The wheel on the Get-the-code page installs into a new venv (no network) and `companion` imports."""
    import sysconfig
    import urllib.request
    import venv
    import zipfile

    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page()
        page.goto(f"{server}/book/get_the_code.html", wait_until="networkidle")
        links = page.eval_on_selector_all("a.companion-download", "els => els.map(e => e.href)")
        commands = page.locator("main pre").first.inner_text()
        browser.close()
    wheels = [url for url in links if url.endswith(".whl")]
    zips = [url for url in links if url.endswith(".zip")]
    assert len(wheels) == 1 and len(zips) == 1, links
    wheel = tmp_path / wheels[0].rsplit("/", 1)[1]
    wheel.write_bytes(urllib.request.urlopen(wheels[0]).read())
    assert f"pip install {wheel.name}" in commands
    notebooks = tmp_path / "notebooks.zip"
    notebooks.write_bytes(urllib.request.urlopen(zips[0]).read())
    with zipfile.ZipFile(notebooks) as archive:
        assert sorted(archive.namelist()) == sorted(f"{page[:-5]}.ipynb" for page in chapter_pages())

    env = tmp_path / "env"
    venv.create(env, with_pip=False)  # pip runs from this interpreter, installing into the new venv
    python = env / "bin" / "python"
    site_packages = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        capture_output=True, text=True, check=True).stdout.strip())
    # The dependencies (torch, numpy, ...) come from this interpreter's environment, seen through a
    # .pth file, so pip resolves them without a network; the package itself comes only from the wheel.
    (site_packages / "outer.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("PIP_")}
    clean["PIP_CONFIG_FILE"] = os.devnull  # no site-wide index or wheel folder: the wheel alone
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index",
                              "--disable-pip-version-check", str(wheel)],
                             capture_output=True, text=True, env=clean, cwd=tmp_path)
    assert install.returncode == 0, install.stdout + install.stderr
    probe = ("import companion, companion.prune, companion.quant, companion.plots, companion.checks; "
             "print(companion.__file__)")
    result = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, env=clean, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).is_relative_to(site_packages), result.stdout


def image_bytes(page, folder: Path, src: str) -> bytes:
    """The bytes of an image: read from the site's folder, or fetched in the page for ``blob:``/``data:`` URLs
    (explorers' frames are PNGs embedded in the widget state, shown through blob URLs)."""
    if not src.startswith(("blob:", "data:")):
        return (folder / src).read_bytes()
    encoded = page.evaluate("""async src => {
        const bytes = new Uint8Array(await (await fetch(src)).arrayBuffer());
        let text = ""; for (const b of bytes) text += String.fromCharCode(b);
        return btoa(text); }""", src)
    return base64.b64decode(encoded)


def test_no_figure_text_under_9px_at_1280px(server, site):
    """Every figure's smallest font (recorded in its PNG by companion.plots) shows at >= 9 CSS px."""
    from PIL import Image
    from playwright.sync_api import sync_playwright

    from companion.plots import MIN_FONT_KEY, MIN_TEXT_PX

    problems, figures = [], 0
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        for path in chapter_pages():
            page.goto(f"{server}/{path}", wait_until="networkidle")
            images = page.eval_on_selector_all(
                "main .cell_output img",
                "els => els.map(e => ({src: e.getAttribute('src'), shown: e.getBoundingClientRect().width,"
                " natural: e.naturalWidth}))")
            for image in images:
                if not image["shown"]:  # a frame an explorer keeps hidden until its slider reaches it
                    continue
                figures += 1
                png = Image.open(io.BytesIO(image_bytes(page, site / Path(path).parent, image["src"])))
                if MIN_FONT_KEY not in png.info:
                    problems.append(f"{path}: {image['src']} was not drawn through companion.plots.use_style()")
                    continue
                points = float(png.info[MIN_FONT_KEY])
                px = points * png.info["dpi"][0] / 72 * image["shown"] / image["natural"]
                if px < MIN_TEXT_PX - 0.05:
                    problems.append(f"{path}: {image['src']} has {points} pt text shown at {px:.1f} px")
        browser.close()
    assert figures, "no figures found"
    assert not problems, "\n".join(problems)


def test_faq_links_resolve_to_sections_in_a_real_browser(server):
    """Every FAQ link into the book opens its page, and a link to a section lands on an element with that id."""
    from playwright.sync_api import sync_playwright

    problems = []
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page()
        page.goto(f"{server}/book/faq.html", wait_until="networkidle")
        questions = page.locator("article h3").count()
        links = page.eval_on_selector_all("article a.reference.internal", "els => els.map(e => e.href)")
        assert questions >= 13, f"the FAQ has {questions} questions"
        targets: dict[str, set[str]] = {}
        for url in links:
            address, _, fragment = url.partition("#")
            if not address.endswith("/book/faq.html") and "/references.html" not in address:
                targets.setdefault(address, set()).add(fragment)
        assert len(targets) >= 8, f"the FAQ links only {sorted(targets)}"
        for address, fragments in sorted(targets.items()):
            response = page.goto(address, wait_until="domcontentloaded")
            if response is None or not response.ok:
                problems.append(f"{address}: HTTP {response.status if response else 'no response'}")
                continue
            problems += [f"{address}#{f}: no element with that id" for f in sorted(fragments - {""})
                         if page.locator(f"[id='{f}']").count() != 1]
        browser.close()
    assert not problems, "\n".join(problems)
