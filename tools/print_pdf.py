"""Print the single-page edition of the book to PDF with Debian's Chromium, offline.

    python tools/print_pdf.py _build/pdf-en/_build/singlehtml/index.html _build/pdf/book.pdf

``make pdf`` builds the single page (Sphinx's singlehtml builder, cell outputs from the shared cache)
and calls this. Chromium loads it from a local server with every request outside the site refused, waits until MathJax
has typeset the equations, and prints it on A4 with page numbers. The explorers (ipywidgets) do not
print: book/_static/print.css hides them, and each chapter shows every explorer as a static figure.
Jupyter Book's own pdfhtml builder does the same through Playwright's downloaded browser, which an
offline machine lacks.
"""
from __future__ import annotations

import functools
import http.server
import re
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
FOOTER = ('<div style="font-size:8px;width:100%;text-align:center;color:#555">'
          '<span class="pageNumber"></span> / <span class="totalPages"></span></div>')


# An explorer's output: the cell output holding an ipywidgets view; and whether print.css hides it.
EXPLORERS = """() => [...document.querySelectorAll('.cell_output')]
    .filter(o => o.querySelector('script[type="application/vnd.jupyter.widget-view+json"]'))
    .map(o => getComputedStyle(o).display === 'none')"""


def redirect_target(html: Path) -> Path:
    """The page that ``html`` redirects to (Jupyter Book's index.html points at the root page)."""
    refresh = re.search(r'http-equiv="Refresh" content="0; url=([^"]+)"', html.read_text(encoding="utf-8"), re.I)
    return (html.parent / refresh.group(1)).resolve() if refresh else html


@contextmanager
def serve(root: Path, page: Path):
    """Serve ``root`` on 127.0.0.1 with ``page`` as /print.html: Sphinx's single page links its assets
    relative to the site root wherever the page itself lies, and file:// pages may not load fonts."""
    body = page.read_bytes()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            if self.path.split("?")[0] != "/print.html":
                return super().do_GET()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()


def print_pdf(html: Path, pdf: Path, root: Path | None = None, timeout_ms: int = 120_000) -> dict:
    """Print ``html`` to ``pdf``, loading nothing from outside ``root`` (default: ``html``'s folder).

    Returns ``refused``, the requests refused, and ``explorers``, for each explorer on the page
    whether it was left out of the print (True for every one, with book/_static/print.css).
    """
    from playwright.sync_api import sync_playwright

    root = (root or html.parent).resolve()
    refused: list[str] = []
    pdf.parent.mkdir(parents=True, exist_ok=True)
    with serve(root, redirect_target(html.resolve())) as site, sync_playwright() as p:
        def only_the_site(route):
            if route.request.url.startswith((site, "data:", "blob:")):
                route.continue_()
            else:
                refused.append(route.request.url)
                route.abort()

        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        page.set_default_timeout(timeout_ms)
        page.route("**/*", only_the_site)
        page.emulate_media(media="print")
        page.goto(f"{site}/print.html", wait_until="networkidle")
        page.wait_for_function("() => !window.MathJax || (MathJax.startup && MathJax.startup.promise)")
        page.evaluate("() => window.MathJax ? MathJax.startup.promise : null")
        explorers = page.evaluate(EXPLORERS)
        page.pdf(path=str(pdf), format="A4", print_background=True, display_header_footer=True,
                 header_template="<div></div>", footer_template=FOOTER,
                 margin={"top": "15mm", "bottom": "18mm", "left": "15mm", "right": "15mm"})
        browser.close()
    return {"refused": refused, "explorers": explorers}


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    result = print_pdf(Path(sys.argv[1]), Path(sys.argv[2]))
    if result["refused"]:
        sys.exit("the page asked for outside resources: " + ", ".join(sorted(set(result["refused"]))))
    if not all(result["explorers"]):
        sys.exit("an explorer would be printed: book/_static/print.css no longer hides it")
    print(sys.argv[2])
