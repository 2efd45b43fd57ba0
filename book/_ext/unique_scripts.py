"""Drop repeated inline scripts from each page.

sphinx-thebe 0.3.1 (loaded by Jupyter Book 1 even with launch buttons off) registers its inline
configuration script once per read phase; a page that includes it twice re-declares ``const
THEBE_JS_URL`` and the browser logs a SyntaxError. Keeping only the first copy of each script fixes it.
"""
from __future__ import annotations


def _dedupe(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        body = getattr(script, "attributes", {}).get("body")
        key = ("inline", body) if body else ("file", str(getattr(script, "filename", script)))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique  # in place: later handlers (MathJax) still add to this same list


def setup(app):
    # Early: html-page-context stops at the first handler that returns a value (a template name).
    app.connect("html-page-context", _dedupe, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
