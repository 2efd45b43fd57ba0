"""Serve MathJax from the built site itself, never from a CDN, so every page renders offline.

MathJax 3 comes from the pinned PyPI package ``django-static-mathjax`` (plain static files; Django is
not needed). On ``builder-inited`` its ``es5`` folder is added as ``_static/mathjax`` and Sphinx's
``mathjax_path`` points at the local ``tex-chtml.js``.
"""
from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path


def _mathjax_source() -> Path:
    return Path(resources.files("mathjax")) / "static" / "mathjax" / "es5"


def _copy_mathjax(app, exception) -> None:
    if exception is None and app.builder.format == "html":
        shutil.copytree(_mathjax_source(), Path(app.outdir) / "_static" / "mathjax", dirs_exist_ok=True)


def _use_local_mathjax(app, config) -> None:
    if not (_mathjax_source() / "tex-chtml.js").exists():
        raise RuntimeError("MathJax not found: install the pinned requirements (django-static-mathjax)")
    config.mathjax_path = "mathjax/tex-chtml.js"


def setup(app):
    app.connect("config-inited", _use_local_mathjax)
    app.connect("build-finished", _copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
