"""What a published site needs: its address, link previews, a sitemap, robots.txt, a 404 page, a version.

The site's address comes from ``_config.yml``: ``html: baseurl:`` when set, otherwise the GitHub
Pages address of ``repository: url:`` (``https://github.com/OWNER/REPO`` is published at
``https://OWNER.github.io/REPO/``). With neither, the site has no known address: pages still carry
their OpenGraph tags (with relative links), and no sitemap is written, since a sitemap lists
absolute addresses only.

* OpenGraph (``sphinxext-opengraph``): every page, with one site image drawn here by matplotlib
  (``_static/site-card.png``, written into the output at build time; nothing is fetched).
* Sitemap (``sphinx-sitemap``): every page of the site, when the address is known.
* ``robots.txt``: allows everything and names the sitemap when there is one.
* 404 page (``sphinx-notfound-page``): rendered with the book's theme; its links start from the
  site's path (``/REPO/`` on GitHub Pages) so that it works at any missing address.
* Version: the book's version is the package's, read from ``pyproject.toml`` (the one place it is
  kept); the footer shows it with the build date (``SOURCE_DATE_EPOCH`` fixes that date).
"""
from __future__ import annotations

import textwrap
import tomllib
from pathlib import Path
from urllib.parse import urlparse

SITE_IMAGE = "_static/site-card.png"
# The size link previews expect (pixels) and the dpi the image is drawn at.
SITE_IMAGE_SIZE = (1200, 630)
SITE_IMAGE_DPI = 100


def project_version(project: Path) -> str:
    """The version in ``pyproject.toml`` (``[project] version``), the book's and the wheel's."""
    return tomllib.loads((project / "pyproject.toml").read_text())["project"]["version"]


def site_address(baseurl: str, repository_url: str) -> str:
    """The published site's address, ending in ``/``; ``""`` when neither setting gives one.

    ``baseurl`` wins; otherwise a ``https://github.com/OWNER/REPO`` repository gives its GitHub Pages
    address. Any other repository host gives none (its pages host is not derivable).
    """
    if baseurl.strip():
        return baseurl.strip().rstrip("/") + "/"
    parsed = urlparse(repository_url.strip())
    parts = [part for part in parsed.path.split("/") if part]
    if parsed.scheme == "https" and parsed.netloc == "github.com" and len(parts) == 2:
        owner, repo = parts[0], parts[1].removesuffix(".git")
        if repo.lower() == f"{owner.lower()}.github.io":
            return f"https://{repo.lower()}/"
        return f"https://{owner.lower()}.github.io/{repo}/"
    return ""


def robots_txt(address: str, sitemap: str) -> str:
    """``robots.txt``: every page may be crawled; the sitemap's absolute address when there is one."""
    lines = ["User-agent: *", "Allow: /"]
    if address:
        lines.append(f"Sitemap: {address}{sitemap}")
    return "\n".join(lines) + "\n"


SITE_SUBTITLE = "An open book with runnable chapters"
SITE_SUBTITLE_ZH = "一本各章都能运行的开放图书"


def draw_site_image(title: str, subtitle: str, target: Path) -> Path:
    """Draw the link-preview image (``SITE_IMAGE_SIZE`` pixels, PNG) with matplotlib, offline."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    from companion.plots import font_families  # a CJK fallback draws the Chinese edition's title

    width, height = SITE_IMAGE_SIZE
    figure = Figure(figsize=(width / SITE_IMAGE_DPI, height / SITE_IMAGE_DPI), dpi=SITE_IMAGE_DPI)
    figure.patch.set_facecolor("#1f3a5f")
    # A pruned weight matrix as the motif: kept weights as squares, pruned ones left out.
    axes = figure.add_axes((0.62, 0.12, 0.32, 0.76))
    axes.set_axis_off()
    for row in range(8):
        for col in range(8):
            if (row * 5 + col * 3) % 7 < 3:  # a fixed pattern, about 40% kept
                axes.add_patch(Rectangle((col, row), 0.85, 0.85, color="#f2b134"))
    axes.set_xlim(0, 8)
    axes.set_ylim(0, 8)
    axes.set_aspect("equal")
    # A title in Chinese (the zh_CN edition) needs the CJK fallback font, which has no bold face.
    latin = (title + subtitle).isascii()
    fonts, weight = (["DejaVu Sans"], "bold") if latin else (font_families(), "normal")
    figure.text(0.06, 0.62, textwrap.fill(title, 24), color="white", fontsize=34,
                fontweight=weight, va="center", fontfamily=fonts)
    figure.text(0.06, 0.28, subtitle, color="#d5e3f0", fontsize=20, va="center", fontfamily=fonts)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, format="png", metadata={"Software": None})
    return target


def _configure(app, config) -> None:
    project = Path(app.srcdir)
    config.version = config.release = project_version(project)
    theme = config.html_theme_options or {}
    address = site_address(config.html_baseurl or "", theme.get("repository_url", ""))
    config.html_baseurl = address
    config.ogp_site_url = address
    config.ogp_image = SITE_IMAGE
    # Jupyter Book puts the book's title in html_title (Sphinx's own `project` stays unset).
    config.ogp_site_name = config.ogp_image_alt = config.html_title
    # Page addresses are the site's own, not version folders.
    config.sitemap_url_scheme = "{link}"
    config.sitemap_excludes = ["search.html", "genindex.html", "py-modindex.html", f"{config.notfound_pagename}.html"]
    config.notfound_urls_prefix = (urlparse(address).path or "/") if address else "/"
    if not address:
        # No address, so no sitemap: sphinx-sitemap's "html_baseurl is required" is expected here.
        config.suppress_warnings = [*config.suppress_warnings, "sitemap.configuration"]


def _write_site_image(app) -> None:
    if app.builder.format == "html":
        subtitle = SITE_SUBTITLE_ZH if (app.config.language or "").startswith("zh") else SITE_SUBTITLE
        draw_site_image(app.config.html_title, subtitle,
                        Path(app.outdir) / SITE_IMAGE)


def _write_robots(app, exception) -> None:
    if exception is None and app.builder.format == "html":
        text = robots_txt(app.config.html_baseurl, app.config.sitemap_filename)
        (Path(app.outdir) / "robots.txt").write_text(text)


def setup(app):
    for extension in ("sphinxext.opengraph", "sphinx_sitemap", "notfound.extension"):
        app.setup_extension(extension)
    app.connect("config-inited", _configure)
    app.connect("builder-inited", _write_site_image)
    app.connect("build-finished", _write_robots)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
