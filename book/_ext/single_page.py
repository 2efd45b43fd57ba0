"""Let the single-page builder (the PDF's, `make pdf`) render every node the HTML builder renders.

Sphinx looks up a builder's node visitors by the builder's name first and falls back to its format
("html") only when no extension registered any visitor for that name. Once one extension registers a
visitor for "singlehtml", the others' HTML-only visitors (myst-nb's hidden code cells, for one) are
not found there and the build fails with "unknown node type". This copies the missing ones over.
"""
from __future__ import annotations


def _share_html_visitors(app) -> None:
    handlers = app.registry.translation_handlers
    if app.builder.name != "html" and app.builder.format == "html" and app.builder.name in handlers:
        for node, visitors in handlers.get("html", {}).items():
            handlers[app.builder.name].setdefault(node, visitors)


def setup(app):
    app.connect("builder-inited", _share_html_visitors)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
