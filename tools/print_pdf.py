"""Print the single-page edition of the book to PDF with Debian's Chromium, offline.

    python tools/print_pdf.py _build/pdf-en/_build/singlehtml/index.html _build/pdf/book.pdf

``make pdf`` builds the single page (Sphinx's singlehtml builder, cell outputs from the shared cache)
and calls this. Chromium loads it from disk with every request outside it refused, waits until MathJax
has typeset the equations, and prints it on A4 with page numbers. The explorers (ipywidgets) do not
print: book/_static/print.css hides them, and each chapter shows every explorer as a static figure.
Jupyter Book's own pdfhtml builder does the same through Playwright's downloaded browser, which an
offline machine lacks.
"""
from __future__ import annotations

import sys
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
FOOTER = ('<div style="font-size:8px;width:100%;text-align:center;color:#555">'
          '<span class="pageNumber"></span> / <span class="totalPages"></span></div>')


def print_pdf(html: Path, pdf: Path, timeout_ms: int = 300_000) -> list[str]:
    """Print ``html`` to ``pdf``; return the requests it was refused (anything not under its folder)."""
    from playwright.sync_api import sync_playwright

    html, refused = html.resolve(), []
    site = html.parent.as_uri()

    def only_the_site(route):
        if route.request.url.startswith(site) or route.request.url.startswith("data:"):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    pdf.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        page.set_default_timeout(timeout_ms)
        page.route("**/*", only_the_site)
        page.emulate_media(media="print")
        page.goto(html.as_uri(), wait_until="load")
        page.wait_for_function("() => !window.MathJax || (MathJax.startup && MathJax.startup.promise)")
        page.evaluate("() => window.MathJax ? MathJax.startup.promise : null")
        page.pdf(path=str(pdf), format="A4", print_background=True, display_header_footer=True,
                 header_template="<div></div>", footer_template=FOOTER,
                 margin={"top": "15mm", "bottom": "18mm", "left": "15mm", "right": "15mm"})
        browser.close()
    return refused


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    refused = print_pdf(Path(sys.argv[1]), Path(sys.argv[2]))
    if refused:
        sys.exit("the page asked for outside resources: " + ", ".join(sorted(set(refused))))
    print(sys.argv[2])
