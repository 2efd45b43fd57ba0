"""The bibliography in one author–year style, titles as written, every entry linked to its paper.

Registers the pybtex formatting style ``authoryear`` (set ``bibtex_default_style: authoryear``):

- labels are author–year, as the text cites (``Han et al., 2015``; ``a``/``b`` when two collide),
  and entries are sorted by author, year and title;
- titles keep their capitals as written in ``book/references.bib`` (pybtex's default lower-cases
  them: "Binaryconnect", "imagenet");
- an arXiv identifier written in ``note`` or ``journal`` (``arXiv:1506.02626``) becomes an
  ``eprint`` link to arxiv.org, so entries added later need no extra field; ``doi`` and ``url``
  fields are linked as usual.
"""
from __future__ import annotations

import re
from collections import Counter

from pybtex.database import Entry
from pybtex.plugin import register_plugin
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle
from pybtex.style.template import field, sentence

ARXIV_ID = re.compile(r"arXiv:\s*(\d{4}\.\d{4,5})(v\d+)?", re.IGNORECASE)


def _plain(text: str) -> str:
    return re.sub(r"[{}\\]", "", text)


def author_year_label(entry: Entry) -> str:
    """``Surname, 2015``, ``A and B, 2015`` or ``A et al., 2015`` (``organization``/key when no author)."""
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    surnames = [_plain(" ".join(p.prelast_names + p.last_names)) for p in people]
    if not surnames:
        surnames = [_plain(entry.fields.get("organization", "") or entry.fields.get("title", entry.key))]
    if len(surnames) > 1 and surnames[-1] == "others":  # BibTeX's "and others"
        return f"{surnames[0]} et al., {entry.fields.get('year', 'n.d.')}"
    if len(surnames) == 1:
        who = surnames[0]
    elif len(surnames) == 2:
        who = f"{surnames[0]} and {surnames[1]}"
    else:
        who = f"{surnames[0]} et al."
    year = entry.fields.get("year", "n.d.")
    return f"{who}, {year}"


class AuthorYearLabels(BaseLabelStyle):
    """Author–year labels, with ``a``, ``b``, … appended where two entries would share one."""

    def format_labels(self, sorted_entries):
        entries = list(sorted_entries)
        labels = [author_year_label(e) for e in entries]
        counts, seen = Counter(labels), Counter()
        for label in labels:
            if counts[label] > 1:
                seen[label] += 1
                yield f"{label}{chr(ord('a') + seen[label] - 1)}"
            else:
                yield label


def with_arxiv_link(entry: Entry) -> Entry:
    """A copy of ``entry`` with ``eprint`` set from an ``arXiv:`` id in its note or journal (removed there)."""
    fields = dict(entry.fields)
    if "eprint" not in fields:
        for name in ("note", "journal"):
            match = ARXIV_ID.search(fields.get(name, ""))
            if match:
                fields["eprint"] = match.group(1)
                rest = ARXIV_ID.sub("", fields[name]).strip(" ,;")
                rest = re.sub(r"\s*preprint\s*$", " preprint", rest).strip()
                if name == "journal" and rest.lower() in ("", "arxiv preprint"):
                    rest = "arXiv preprint"
                if rest:
                    fields[name] = rest
                else:
                    del fields[name]
                break
    copy = Entry(entry.type, fields=fields, persons=entry.persons)
    copy.key = entry.key
    return copy


class AuthorYearStyle(UnsrtStyle):
    default_label_style = "authoryear"
    default_sorting_style = "author_year_title"

    def format_title(self, e, which_field, as_sentence=True):
        formatted_title = field(which_field)  # as written: no change of case
        return sentence[formatted_title] if as_sentence else formatted_title

    def format_entry(self, label, entry, bib_data=None):
        return super().format_entry(label, with_arxiv_link(entry), bib_data=bib_data)


def setup(app):
    register_plugin("pybtex.style.labels", "authoryear", AuthorYearLabels)
    register_plugin("pybtex.style.formatting", "authoryear", AuthorYearStyle)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
