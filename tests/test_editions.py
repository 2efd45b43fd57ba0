"""The Chinese edition (`make book-zh`) and the PDF (`make pdf`): built offline, checked in a real browser.

The Chinese build reuses the cell outputs that the English build (tests/test_book.py, which runs
first) left in the shared execution cache; run alone, it executes the notebooks itself.
"""
import os
import posixpath
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import edition_config  # noqa: E402
from test_book import CHROMIUM_ARGS, EXTERNAL_RESOURCE, QuietHandler, serving, toc_pages  # noqa: E402

HTML, HTML_ZH = ROOT / "_build" / "html", ROOT / "_build" / "html-zh"
pytestmark = pytest.mark.slow


def jupyter_book(*args: str) -> subprocess.CompletedProcess:
    jb = Path(sys.executable).with_name("jupyter-book")
    return subprocess.run([str(jb), "build", "-W", "--keep-going", "--all", *args, "."], cwd=ROOT,
                          env={**os.environ, "COMPANION_PROGRESS": "0"}, capture_output=True, text=True)


@pytest.fixture(scope="module")
def zh_site():
    """`make book-zh`: build to _build/zh, then move the site to _build/html-zh."""
    config = edition_config.write("zh")
    result = jupyter_book("--config", str(config), "--path-output", "_build/zh")
    assert result.returncode == 0, f"zh build failed:\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
    shutil.rmtree(HTML_ZH, ignore_errors=True)
    shutil.move(ROOT / "_build" / "zh" / "_build" / "html", HTML_ZH)
    return HTML_ZH


def h1(html: str) -> str:
    """The page's title: its heading's text up to the heading's own link."""
    match = re.search(r"<h1>([^<]+)<a class=\"headerlink\"", html)
    return match.group(1).strip() if match else ""


def test_every_page_is_built_in_chinese_with_translated_prose(zh_site):
    for page in toc_pages():
        text = (zh_site / page).read_text(encoding="utf-8")
        assert '<html lang="zh-CN"' in text, page
        for leak in (str(ROOT), "site-packages", "Traceback (most recent call last)", "Warning:"):
            assert leak not in text, f"{page} contains {leak!r}"
        assert not EXTERNAL_RESOURCE.search(text), f"{page} loads a resource from another host"
    assert h1((zh_site / "book/faq.html").read_text(encoding="utf-8")) == "常见问题"
    assert "Search.setIndex" in (zh_site / "searchindex.js").read_text(encoding="utf-8")


def test_code_and_outputs_are_the_english_editions(zh_site):
    """Same cells, same outputs: a chapter's code, text outputs and figures are identical in both."""
    if not (HTML / "index.html").exists():
        pytest.skip("the English edition is not built")
    page = "notebooks/ch03_4_pruning_weights.html"
    editions = [(site / page).read_text(encoding="utf-8") for site in (HTML, zh_site)]
    blocks = [re.findall(r"<pre>(.*?)</pre>", html, re.S) for html in editions]
    figures = [re.findall(r'<img alt="[^"]*" src="([^"]+)"', html) for html in editions]
    assert len(blocks[0]) > 20 and blocks[0] == blocks[1]
    assert figures[0] and figures[0] == figures[1]


SWITCH = re.compile(r'<a class="btn btn-sm edition-switch" href="([^"]+)"')


def test_every_page_links_to_itself_in_the_other_edition(zh_site):
    """The Chinese site is published as zh/ in the English one (make book-zh copies it there)."""
    for page in toc_pages():
        [href] = SWITCH.findall((zh_site / page).read_text(encoding="utf-8"))
        assert posixpath.normpath(posixpath.join("zh", posixpath.dirname(page), href)) == page
        if (HTML / page).exists():
            [href] = SWITCH.findall((HTML / page).read_text(encoding="utf-8"))
            assert posixpath.normpath(posixpath.join(posixpath.dirname(page), href)) == f"zh/{page}"


@pytest.fixture(scope="module")
def server(zh_site):
    """The English site at /, the Chinese one at /zh/ (as published)."""
    class Handler(QuietHandler):
        def translate_path(self, path):
            if path.startswith("/zh/"):
                return str(HTML_ZH / path[4:].split("?")[0].split("#")[0])
            return super().translate_path(path)

    with serving(HTML, Handler) as address:
        yield address


def offline_page(browser, server, errors, outside):
    page = browser.new_page()
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("requestfailed", lambda req: errors.append(f"request failed: {req.url}")
            if req.url.startswith(server) else None)

    def only_local(route):
        if route.request.url.startswith(server) or route.request.url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    return page


def test_every_chinese_page_in_a_real_browser(server):
    from playwright.sync_api import sync_playwright

    problems = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        errors, outside = [], []
        page = offline_page(browser, server, errors, outside)
        for path in toc_pages():
            errors.clear()
            outside.clear()
            page.goto(f"{server}/zh/{path}", wait_until="networkidle")
            title = page.locator("main h1").first.inner_text().strip()
            images = page.eval_on_selector_all("main img", "els => els.map(e => ({src: e.src, ok: e.complete && e.naturalWidth > 0}))")
            if not title:
                problems.append(f"{path}: no title")
            problems += [f"{path}: image did not load: {i['src']}" for i in images if not i["ok"]]
            problems += [f"{path}: console: {e}" for e in errors]
            problems += [f"{path}: outside request: {u}" for u in outside]
            if page.locator("mjx-merror").count():
                problems.append(f"{path}: MathJax errors")
        browser.close()
    assert not problems, "\n".join(problems)


def test_the_switch_goes_to_the_same_page_in_the_other_edition_and_back(server):
    from playwright.sync_api import sync_playwright

    if not (HTML / "book/faq.html").exists():
        pytest.skip("the English edition is not built")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        errors, outside = [], []
        page = offline_page(browser, server, errors, outside)
        page.goto(f"{server}/book/faq.html", wait_until="networkidle")
        page.locator("a.edition-switch").first.click()
        page.wait_for_url(f"{server}/zh/book/faq.html")
        assert page.locator("main h1").first.inner_text().strip() == "常见问题"
        page.locator("a.edition-switch").first.click()
        page.wait_for_url(f"{server}/book/faq.html")
        assert page.locator("main h1").first.inner_text().strip() == "Frequently asked questions"
        browser.close()
    assert not errors and not outside, errors + outside


def test_chinese_search_finds_chinese_words(server):
    """jieba segments the index: a two-character word of the translated prose is found."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        errors, outside = [], []
        page = offline_page(browser, server, errors, outside)
        for word, expected in (("剪枝", "book/faq.html"), ("检查点", "book/distributed.html")):
            page.goto(f"{server}/zh/search.html?q={word}", wait_until="networkidle")
            page.wait_for_selector("#search-results ul.search li", timeout=20_000)
            links = page.eval_on_selector_all("#search-results ul.search li a", "els => els.map(e => e.href)")
            assert any(expected in link for link in links), (word, links)
        browser.close()
    assert not errors and not outside, errors + outside


def test_a_printed_chapter_shows_its_explorer_as_the_static_figure(tmp_path):
    """The cheap PDF check run with every test: print one built chapter with an explorer (print.css
    hides the widget, the static figure stays) and find its title and no page without content."""
    import print_pdf
    from pypdf import PdfReader

    page = HTML / "notebooks" / "ch02_concepts.html"
    if not page.exists():
        pytest.skip("the English edition is not built")
    pdf = tmp_path / "ch02.pdf"
    result = print_pdf.print_pdf(page, pdf, root=HTML)
    assert result["refused"] == []
    assert result["explorers"] and all(result["explorers"]), result["explorers"]  # left out of the print
    reader = PdfReader(pdf)
    text = re.sub(r"\s+", " ", " ".join(p.extract_text() for p in reader.pages))
    assert "Concepts: a map of model compression" in text
    assert blank_pages(reader) == []
    assert sum(len(p.images) for p in reader.pages) >= 3  # the figures, the explorer's still among them


def blank_pages(reader) -> list[int]:
    """Pages with neither text (beyond the page-number footer) nor an image."""
    footer = re.compile(r"^\s*\d+\s*/\s*\d+\s*$", re.M)
    return [i + 1 for i, p in enumerate(reader.pages)
            if not footer.sub("", p.extract_text() or "").strip() and not p.images]


def chapter_titles(site: Path) -> list[str]:
    """Every chapter's title as ``site`` shows it (the h1 of each page)."""
    return [h1((site / page).read_text(encoding="utf-8")) for page in toc_pages()]


@pytest.mark.pdf
@pytest.mark.parametrize("edition, name, site", [("pdf", "book.pdf", HTML), ("pdf-zh", "book-zh.pdf", HTML_ZH)])
def test_make_pdf_prints_every_chapter_offline(edition, name, site):
    """`make pdf`, end to end: the single-page build (cell outputs from the shared cache), printed by
    Chromium offline; every chapter's title is in the PDF, every explorer left out for its still figure,
    and no page is empty. The Chinese PDF (`make pdf-zh`) likewise, after `make book-zh`. Minutes: not
    part of `make test` (run `make test-pdf`)."""
    import print_pdf
    from pypdf import PdfReader

    if not (site / "index.html").exists():
        pytest.skip(f"build {site.name} first (its titles are the reference)")
    config = edition_config.write(edition)
    out = f"_build/{edition}-test"
    result = jupyter_book("--config", str(config), "--builder", "singlehtml", "--path-output", out)
    assert result.returncode == 0, f"single-page build failed:\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
    pdf = ROOT / "_build" / "pdf" / name
    printed = print_pdf.print_pdf(ROOT / out / "_build" / "singlehtml" / "index.html", pdf)
    assert printed["refused"] == []
    assert len(printed["explorers"]) >= 3 and all(printed["explorers"]), printed["explorers"]
    reader = PdfReader(pdf)
    # compared without white space: text extraction adds spaces between Chinese and Latin letters
    text = re.sub(r"\s+", "", "".join(p.extract_text() for p in reader.pages))
    missing = [title for title in chapter_titles(site) if re.sub(r"\s+", "", title) not in text]
    assert not missing, f"chapters missing from the PDF: {missing}"
    assert blank_pages(reader) == []
