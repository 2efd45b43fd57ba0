"""Render the book's glossary from its data, ``book/glossary.yml``, at build time.

``book/glossary.md`` holds one directive::

    ```{glossary-yaml} glossary.yml
    ```

which reads the YAML list (one entry per term: ``term``, ``zh``, ``zh_source``, ``definition``,
``chapter``, optional ``anchor`` and ``aliases``; the file's header describes them) and emits
Sphinx's own ``glossary`` directive, so chapters link a term with ``{term}`quantization``` and the
Chinese edition with ``{term}`量化```: each entry is listed under its English and its Chinese term.
The definition ends with a link to the section (``anchor``) or chapter that defines the term.
The YAML is the only copy of the data: the page cannot drift from it.

The Chinese edition: the definitions are parsed as ordinary paragraphs of ``book/glossary.md``, so the
gettext build (``make po``) extracts each one, with its "Defined in" link, as a message of
``locales/zh_CN/LC_MESSAGES/book/glossary.po``, and the zh_CN build shows its translation; the term
lines are messages too, translated as themselves, so each entry stays listed under both terms.
"""
from __future__ import annotations

from pathlib import Path

import yaml
from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

REQUIRED = ("term", "zh", "zh_source", "definition", "chapter")


def load_glossary(path: str | Path) -> list[dict]:
    """Read and validate the glossary entries of ``path``, sorted by English term (case-folded)."""
    entries = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path}: expected a non-empty list of glossary entries")
    for position, entry in enumerate(entries):
        missing = [key for key in REQUIRED if key not in entry]
        if missing:
            raise ValueError(f"{path}: entry {position} ({entry.get('term')!r}) lacks {missing}")
    return sorted(entries, key=lambda entry: entry["term"].casefold())


def glossary_markdown(entries: list[dict]) -> list[str]:
    """The lines of a MyST ``glossary`` directive listing ``entries``.

    Each entry gets two term lines (English, then Chinese) and a definition that ends with where the
    term is defined; ``‡`` marks a Chinese term quoted from the source article.
    """
    lines = []
    for entry in entries:
        chapter = "/" + entry["chapter"]
        where = f"{{ref}}`{entry['anchor']}`" if entry.get("anchor") else f"{{doc}}`{chapter}`"
        if entry.get("anchor"):
            where += f" ({{doc}}`{chapter}`)"
        source = f" ‡ {entry['zh']} is the source article's term." if entry["zh_source"] else ""
        definition = " ".join(str(entry["definition"]).split())
        lines += [entry["term"], entry["zh"], f"  {definition} Defined in {where}.{source}", ""]
    return lines


class GlossaryYaml(SphinxDirective):
    """``{glossary-yaml} path``: a glossary rendered from a YAML file (relative to the page)."""

    required_arguments = 1
    has_content = False

    def run(self):
        source_dir = Path(self.env.doc2path(self.env.docname)).parent
        path = (source_dir / self.arguments[0]).resolve()
        self.env.note_dependency(str(path))
        body = ["```{glossary}", *glossary_markdown(load_glossary(path)), "```"]
        holder = nodes.container()
        self.state.nested_parse(StringList(body, source=str(path)), self.content_offset, holder)
        return holder.children


def setup(app):
    app.add_directive("glossary-yaml", GlossaryYaml)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
