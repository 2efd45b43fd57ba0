"""The site built with and without a repository URL: buttons, install cell, sitemap, 404, link previews.

Each build here uses a temporary copy of ``_config.yml`` with notebook execution off (the pages'
structure does not depend on the outputs) and writes into a temporary folder; the full build with
every notebook run is tests/test_book.py's.
"""
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
import yaml

from test_book import CHROMIUM_ARGS, serving, toc_pages

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))

import install_cell  # noqa: E402
import publishing  # noqa: E402

pytestmark = pytest.mark.slow
REPOSITORY = "https://github.com/some-org/pruning-book"
ADDRESS = "https://some-org.github.io/pruning-book/"
CHAPTER = "notebooks/ch03_4_pruning_weights.html"


def build(out: Path, repository_url: str) -> Path:
    """Build the site with ``repository_url`` and notebooks not executed; return the HTML folder."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["execute"]["execute_notebooks"] = "off"
    config["repository"]["url"] = repository_url
    extensions = config["sphinx"]["local_extensions"]
    for name, folder in extensions.items():
        extensions[name] = str(ROOT / folder)  # relative to the config file, which moves here
    out.mkdir(parents=True, exist_ok=True)
    (out / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    env = {**os.environ, "COMPANION_PROGRESS": "0"}
    jb = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run([str(jb), "build", "-W", "--keep-going", "--all", "--config",
                             str(out / "_config.yml"), "--path-output", str(out), "."],
                            cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"book build failed:\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
    return out / "_build" / "html"


@pytest.fixture(scope="module")
def unset_site(tmp_path_factory):
    return build(tmp_path_factory.mktemp("unset"), "")


@pytest.fixture(scope="module")
def url_site(tmp_path_factory):
    return build(tmp_path_factory.mktemp("url"), REPOSITORY)


def links(html: str) -> set[str]:
    return set(re.findall(r'<a [^>]*href="([^"]+)"', html))


def test_without_a_repository_there_are_no_buttons_install_cell_or_sitemap(unset_site):
    for page in toc_pages():
        html = (unset_site / page).read_text(encoding="utf-8")
        for button in ("btn-source-repository-button", "btn-source-edit-button", 'title="Launch on'):
            assert button not in html, f"{page}: {button}"
        assert not [link for link in links(html) if re.match(r"https://(mybinder|colab)", link)], page
        assert "git+https" not in html, page
    assert not (unset_site / "sitemap.xml").exists()
    assert (unset_site / "robots.txt").read_text() == publishing.robots_txt("", "sitemap.xml")


def test_with_a_repository_the_buttons_are_links(url_site):
    chapter = (url_site / CHAPTER).read_text(encoding="utf-8")
    source = CHAPTER.replace(".html", ".ipynb")
    assert {REPOSITORY,
            f"{REPOSITORY}/edit/main/{source}",
            f"https://mybinder.org/v2/gh/some-org/pruning-book/main?urlpath=tree/{source}",
            f"https://colab.research.google.com/github/some-org/pruning-book/blob/main/{source}",
            } <= links(chapter)
    intro = (url_site / "book/intro.html").read_text(encoding="utf-8")
    assert {REPOSITORY, f"{REPOSITORY}/edit/main/book/intro.md"} <= links(intro)
    assert "mybinder.org" not in intro  # launch buttons are for chapters, which are notebooks


def test_with_a_repository_each_chapter_shows_the_install_cell_first(url_site):
    for page in [page for page in toc_pages() if page.startswith("notebooks/")]:
        html = (url_site / page).read_text(encoding="utf-8")
        first_code = html.index('class="cell docutils container')
        assert html.find("companion @ git+" + REPOSITORY, first_code) < html.find(
            'class="cell docutils container', first_code + 1), page


def test_sitemap_lists_every_toc_page_at_the_site_address(url_site):
    tree = ElementTree.parse(url_site / "sitemap.xml")
    namespace = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    listed = {loc.text for loc in tree.getroot().findall("s:url/s:loc", namespace)}
    assert listed == {ADDRESS + page for page in toc_pages()}
    assert f"Sitemap: {ADDRESS}sitemap.xml" in (url_site / "robots.txt").read_text()


@pytest.mark.parametrize("which", ["unset_site", "url_site"])
def test_opengraph_tags_and_version_footer_on_every_page(which, request):
    site = request.getfixturevalue(which)
    version = publishing.project_version(ROOT)
    for page in toc_pages():
        html = (site / page).read_text(encoding="utf-8")
        tags = dict(re.findall(r'<meta property="(og:[a-z_:]+)" content="([^"]*)"', html))
        assert {"og:title", "og:type", "og:url", "og:site_name", "og:image"} <= set(tags), page
        if which == "url_site":
            assert tags["og:url"] == ADDRESS + page and tags["og:image"] == ADDRESS + publishing.SITE_IMAGE
        assert re.search(rf"Version {re.escape(version)}, built \d{{4}}-\d{{2}}-\d{{2}}\.", html), page
    assert (site / publishing.SITE_IMAGE).exists()


def test_download_page_offers_the_wheel_of_the_books_version(url_site):
    version = publishing.project_version(ROOT)
    wheel = f"companion-{version}-py3-none-any.whl"
    assert f'href="../downloads/{wheel}"' in (url_site / "book/get_the_code.html").read_text(encoding="utf-8")
    assert (url_site / "downloads" / wheel).exists()


@pytest.mark.parametrize("which, prefix", [("unset_site", "/"), ("url_site", "/pruning-book/")])
def test_404_page_is_rendered_with_the_theme(which, prefix, request):
    html = (request.getfixturevalue(which) / "404.html").read_text(encoding="utf-8")
    assert "<h1>Page not found" in html
    assert f'href="{prefix}_static/styles/sphinx-book-theme.css' in html
    assert 'class="bd-sidebar-primary' in html  # the theme's navigation, as on every page


@pytest.fixture(scope="module")
def url_server(url_site):
    with serving(url_site) as address:
        yield address


def test_buttons_load_nothing_from_outside_in_a_real_browser(url_server):
    from playwright.sync_api import sync_playwright

    outside: list[str] = []
    errors: list[str] = []

    def route(request_route):
        if request_route.request.url.startswith(url_server):
            request_route.continue_()
        else:
            outside.append(request_route.request.url)
            request_route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.route("**/*", route)
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        for path in (CHAPTER, "book/intro.html"):
            page.goto(f"{url_server}/{path}", wait_until="networkidle")
        hrefs = page.eval_on_selector_all(
            ".article-header-buttons a", "els => els.map(e => e.getAttribute('href'))")
        browser.close()
    assert outside == [], f"pages requested outside addresses: {outside}"
    assert errors == []
    assert any(href and href.startswith(REPOSITORY) for href in hrefs), hrefs


def test_every_page_footer_links_the_licence_and_names_no_placeholder_author(unset_site):
    licence = unset_site / "book" / "licence.html"
    assert licence.exists() and "MIT" in licence.read_text(encoding="utf-8")
    for page in toc_pages():
        html = (unset_site / page).read_text(encoding="utf-8")
        target = os.path.relpath(licence, (unset_site / page).parent).replace(os.sep, "/")
        target = "#" if page == "book/licence.html" else target  # Sphinx's link to the page itself
        notes = re.findall(r'<p class="licence">(.*?)</p>', html, re.S)
        assert any(f'href="{target}"' in note for note in notes), f"{page}: no footer link to the licence"
        assert "By The book" not in html and "By The contributors" not in html, page
