"""The book's own translations of a theme's interface strings take precedence over the theme's.

Sphinx puts a project's ``locale_dirs`` first only for its own message domain, ``sphinx``. A theme or
extension registers its domain with ``app.add_message_catalog`` (sphinx-book-theme: ``booktheme``),
which loads the package's catalogue; a catalogue of that domain in the project's ``locale_dirs`` would
only ever be a fallback (``sphinx.locale.init`` appends). sphinx-book-theme's zh_CN catalogue writes
"Print to PDF" in Taiwan usage (列印成 PDF); the Chinese edition uses mainland usage (打印为 PDF).

On ``builder-inited`` (after every extension has registered its domain), each ``<domain>.po`` in the
language's ``LC_MESSAGES`` of the project's ``locale_dirs`` whose domain an extension registered (other
than ``sphinx``) is compiled in memory and put in front of that domain's translator, which stays as the
fallback for the messages the book's catalogue does not hold. Fuzzy messages are left out.
"""
from __future__ import annotations

import gettext
import io
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from sphinx import locale

NAMESPACE = "general"  # sphinx.locale.get_translation's default, which themes and extensions use


def compiled(po: Path) -> gettext.GNUTranslations:
    """The translations of catalogue ``po`` (fuzzy messages left out), without writing a .mo file."""
    with po.open("rb") as handle:
        catalog = read_po(handle)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def put_own_catalogues_first(srcdir: Path, locale_dirs: list[str], language: str | None) -> list[Path]:
    """Put each registered domain's catalogue from ``locale_dirs`` in front of it; return those used."""
    used = []
    if not language:
        return used
    for folder in locale_dirs:
        for po in sorted((Path(srcdir) / folder / language / "LC_MESSAGES").glob("*.po")):
            key = (NAMESPACE, po.stem)
            if po.stem == "sphinx" or key not in locale.translators:
                continue  # Sphinx's own domain is ordered by Sphinx; an unregistered one is unused
            ours = compiled(po)
            ours.add_fallback(locale.translators[key])
            locale.translators[key] = ours
            used.append(po)
    return used


def _builder_inited(app) -> None:
    put_own_catalogues_first(Path(app.srcdir), app.config.locale_dirs, app.config.language)


def setup(app):
    app.connect("builder-inited", _builder_inited)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
