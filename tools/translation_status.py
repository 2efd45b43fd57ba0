"""How much of each page the Chinese edition translates, and whether it uses the glossary's terms.

    python tools/translation_status.py [--pot _build/gettext] [--glossary book/glossary.yml]

For every page (a .pot template from `make po`'s gettext build, or where none is given, the .po file in
locales/zh_CN/LC_MESSAGES), it counts the messages that are translated, fuzzy (sphinx-intl marks a
message fuzzy when its English changed) and untranslated. A message of the template is translated only
when its .po file holds the same English with a non-fuzzy translation, so a page whose prose changed
after it was translated counts as not fully translated, even before `sphinx-intl update` runs.

The companion package's docstrings, which autodoc renders on the API reference's module pages, stay in
English in the Chinese edition (docstring_message: a message whose every location is a docstring);
they are counted apart ("docstrings") and in no total. Everything else, those pages' own titles and
prose included, is translated. Pages listed in locales/zh_CN/translated.txt must be complete and follow
the glossary, and every page of the API reference must be listed (api_reference_problems); for the
other pages, the share and the glossary departures are reported. With a glossary (book/glossary.yml:
entries with ``term``, optional ``aliases``, ``zh``), every translation of a message that uses a
glossary term must contain the term's Chinese (see glossary_terms; a translator's comment
``# glossary-ok: TERM`` above a message marks the word as used there in another sense). Every
translation is also checked for two MyST pitfalls (myst_pitfalls: a leading ``2. `` that makes a list,
emphasis that shows its asterisks next to Chinese punctuation). Exit status 1 when a listed page is
incomplete, a translation departs from the glossary, or one falls into a pitfall.
"""
from __future__ import annotations

import argparse
import re
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
LOCALE = ROOT / "locales" / "zh_CN" / "LC_MESSAGES"
TRANSLATED_LIST = ROOT / "locales" / "zh_CN" / "translated.txt"
GLOSSARY = ROOT / "book" / "glossary.yml"

# The package whose docstrings the Chinese edition shows in English, by policy (locales/README.md): about
# 1,100 messages of the API reference's module pages that would go stale with every docstring edit, and
# whose readers read the code's English anyway. The pages' own prose is translated like any page's.
PACKAGE = "companion"
API = "book/api"


def docstring_message(message) -> bool:
    """Whether ``message`` is docstring text of PACKAGE only, hence left in English.

    Sphinx locates a docstring's message as ``../../companion/quant/affine.py:docstring of
    companion.quant.affine.quantize:3`` (an attribute's as ``../../docstring of NAME``), which babel
    reads as the locations ``of`` and ``companion.quant.affine.quantize`` (line 3). A message is exempt
    only when it has such a location and every location is one: a message that also comes from a
    Markdown page, a notebook or a template (``../../book/api/quant.md``, line 1) is translated, whatever
    its page, so no page's prose can pass for a docstring.
    """
    places = [name for name, _ in message.locations]
    return "of" in places and all(name == "of" or name.endswith("/docstring")
                                  or re.fullmatch(rf"{PACKAGE}(\.\w+)*", name) for name in places)


@dataclass
class PageStatus:
    """The messages of one page: ``total`` of them, and the English of those not (fully) translated;
    ``docstrings`` more are left in English by policy (docstring_message) and counted nowhere else."""
    page: str
    total: int
    docstrings: int = 0
    fuzzy: list[str] = field(default_factory=list)
    untranslated: list[str] = field(default_factory=list)

    @property
    def done(self) -> int:
        return self.total - len(self.fuzzy) - len(self.untranslated)

    @property
    def share_left(self) -> float:
        """The share of messages not (fully) translated, 0 to 1 (0 for a page with no messages)."""
        return (len(self.fuzzy) + len(self.untranslated)) / self.total if self.total else 0.0


def load_catalog(path: Path):
    with path.open("rb") as handle:
        return read_po(handle)


def _key(message) -> tuple[str, str | None]:
    return (message.id, message.context)


def _real(catalog):
    """The messages of a catalogue, without its header entry."""
    return [m for m in catalog if m.id]


def page_status(page: str, po: Path, pot: Path | None = None) -> PageStatus:
    """Translation status of ``page`` from its .po file, against its template ``pot`` when given."""
    translations = {}
    if po.exists():
        translations = {_key(m): m for m in _real(load_catalog(po))}
    english = _real(load_catalog(pot)) if pot else list(translations.values())
    docstrings = [m for m in english if docstring_message(m)]
    status = PageStatus(page, len(english) - len(docstrings), len(docstrings))
    for key in (_key(m) for m in english if not docstring_message(m)):
        message = translations.get(key)
        if message is None or not message.string:
            status.untranslated.append(key[0])
        elif message.fuzzy:
            status.fuzzy.append(key[0])
    return status


def all_pages(pot_dir: Path | None = None, locale: Path = LOCALE) -> list[PageStatus]:
    """The status of every page: those of ``pot_dir``'s templates when given, else of the .po files."""
    own = {str(po.relative_to(locale).with_suffix("")): po for po in sorted(locale.rglob("*.po"))}
    if pot_dir is None:
        return [page_status(page, po) for page, po in own.items()]
    templates = {str(pot.relative_to(pot_dir).with_suffix("")): pot for pot in sorted(pot_dir.rglob("*.pot"))}
    # A catalogue with no template (a page since removed) is reported from its own messages.
    return [page_status(page, locale / f"{page}.po", templates.get(page)) for page in sorted({*templates, *own})]


def api_reference_problems(listed, root: Path = ROOT) -> list[str]:
    """Every page of the API reference (``book/api/*.md``) that ``listed`` misses: their own prose is a
    title, a sentence and module names, and their docstrings are exempt message by message, so none has
    a reason to stay incomplete."""
    pages = sorted(f"{API}/{path.stem}" for path in (root / API).glob("*.md"))
    return [f"{page}: a page of the API reference not listed as translated" for page in pages
            if page not in listed]


def translated_pages(path: Path = TRANSLATED_LIST) -> list[str]:
    """The pages declared fully translated (one docname a line; ``#`` starts a comment)."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line]


# Text that a translation keeps as written, where an English term is no prose: inline code, math, link
# targets and role targets.
_VERBATIM = re.compile(r"``.*?``|`[^`]*`|\$\$.*?\$\$|\$[^$]*\$|\]\([^)]*\)|<[^>]*>", re.S)


def _prose(text: str) -> str:
    return _VERBATIM.sub(" ", text)


def _chinese_core(zh: str) -> str:
    """The Chinese term without a parenthesised abbreviation: 乘累加运算 (MAC) -> 乘累加运算."""
    return re.sub(r"\s*[(（][^)）]*[)）]\s*$", "", zh).strip()


def _abbreviation(zh: str) -> str | None:
    """The parenthesised abbreviation that ends a Chinese term: 8 位浮点 (FP8) -> FP8."""
    found = re.search(r"[(（]([^)）]*)[)）]\s*$", zh)
    return found.group(1).strip() if found else None


def glossary_terms(path: Path = GLOSSARY) -> list[tuple[str, bool, str, str, str | None]]:
    """(English spelling, whether it requires the Chinese, the term, its Chinese, the abbreviation that
    also counts) for every entry.

    The term itself (with and without its parenthesised abbreviation) and the aliases that contain it
    (plurals) require the Chinese term; other aliases ("2:4 sparsity" for N:M sparsity) only keep their
    words from counting as a shorter term's ("sparsity"). Where the English spelling is the very
    abbreviation that the glossary's Chinese carries in parentheses (FP8 for 8 位浮点 (FP8), APoZ), a
    translation that keeps the abbreviation uses the glossary's term too: Chinese technical writing
    keeps these abbreviations as they are, and spelling 8 位浮点 out would add a number to the message.
    Longest spellings first.
    """
    spellings = []
    for entry in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
        term, zh = entry["term"], _chinese_core(str(entry["zh"]))
        abbreviation = _abbreviation(str(entry["zh"]))
        bare = re.sub(r"\s*\([^)]*\)$", "", term).strip()
        for spelling in {term, bare, *entry.get("aliases", [])}:
            required = spelling in (term, bare) or bare.lower() in spelling.lower()
            also = abbreviation if spelling == abbreviation else None
            spellings.append((spelling, required, term, zh, also))
    return sorted(spellings, key=lambda s: (-len(s[0]), not s[1]))


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def term_problems(english: str, chinese: str, terms) -> list[tuple[str, str]]:
    """(term, zh) for each glossary term that ``english`` uses and ``chinese`` does not translate."""
    text, missing = _prose(english), []
    for spelling, required, term, zh, also in terms:
        pattern = re.compile(r"(?<![\w-])" + re.escape(spelling) + r"(?:e?s)?(?![\w-])", re.I)
        if pattern.search(text):
            text = pattern.sub(" ", text)  # a shorter term inside this one does not count again
            used = _squeeze(zh) in _squeeze(chinese) or (also is not None and also in chinese)
            if required and not used and (term, zh) not in missing:
                missing.append((term, zh))
    return missing


def exempt_terms(message) -> set[str]:
    """Terms that a translator's comment ``# glossary-ok: TERM`` marks as used in another sense here
    (e.g. "scale" in "at LLM scale" is no quantization scale)."""
    return {comment.split(":", 1)[1].strip() for comment in message.user_comments
            if comment.startswith("glossary-ok:")}


def translations(locale: Path = LOCALE, pages: list[str] | None = None):
    """Each (page, message) of a non-fuzzy translation in ``locale``'s catalogues (``pages`` only, when
    given), pages in name order."""
    for po in sorted(locale.rglob("*.po")):
        page = str(po.relative_to(locale).with_suffix(""))
        if pages is None or page in pages:
            yield from ((page, m) for m in _real(load_catalog(po)) if m.string and not m.fuzzy)


def glossary_problems(terms, locale: Path = LOCALE, pages: list[str] | None = None) -> list[str]:
    """Every non-fuzzy translation whose English uses a glossary term and whose Chinese lacks its zh
    (on ``pages`` only, when given). A message copied as it stands (an equation) translates nothing."""
    return [f"{page}: {term!r} is not translated as {zh!r} in: {message.id[:80]!r}"
            for page, message in translations(locale, pages) if message.string != message.id
            for term, zh in term_problems(message.id, message.string, terms)
            if term not in exempt_terms(message)]


def _punctuation(char: str) -> bool:
    return unicodedata.category(char)[0] in "PS"


def myst_pitfalls(english: str, chinese: str) -> list[str]:
    """Markdown that renders differently in ``chinese`` than its ``english`` intends.

    - A translation starting with ``2. `` becomes an ordered list (write ``2\\.``).
    - Emphasis whose inner edge is punctuation must have a space or punctuation outside it
      (CommonMark's flanking rule): ``**乘累加运算（MAC）**次数`` shows its asterisks; write
      ``**乘累加运算**（MAC）次数``.
    """
    problems = []
    if re.match(r"\d+[.)] ", chinese) and not re.match(r"\d+[.)] ", english):
        problems.append(f"starts with {chinese.split()[0]!r}, an ordered list: escape the dot")
    text = _VERBATIM.sub("x", chinese)
    for span in re.finditer(r"(?<!\*)(\*\*?)(?!\*)(\S(?:.*?\S)?)(?<!\*)\1(?!\*)", text):
        inner = span.group(2)
        before = text[span.start() - 1] if span.start() else " "
        after = text[span.end()] if span.end() < len(text) else " "
        opens = not _punctuation(inner[0]) or before.isspace() or _punctuation(before)
        closes = not _punctuation(inner[-1]) or after.isspace() or _punctuation(after)
        if not (opens and closes):
            problems.append(f"emphasis shows its asterisks: {span.group(0)!r}")
    return problems


def markdown_problems(locale: Path = LOCALE, pages: list[str] | None = None) -> list[str]:
    """The MyST pitfalls (myst_pitfalls) of every non-fuzzy translation (on ``pages`` only, when given)."""
    return [f"{page}: {problem} in: {message.id[:60]!r}"
            for page, message in translations(locale, pages)
            for problem in myst_pitfalls(message.id, message.string)]


def report(statuses: list[PageStatus], listed: list[str]) -> list[str]:
    """Print the table; return the problems of the pages listed as translated. The docstring messages
    left in English (docstring_message) are shown apart and left out of every other count."""
    problems = []
    known = {s.page for s in statuses}
    problems += [f"{page}: listed as translated but has no messages" for page in listed if page not in known]
    print(f"{'page':45} {'messages':>8} {'fuzzy':>6} {'untransl.':>9} {'left':>6} {'docstrings':>10}")
    for s in statuses:
        mark = " (listed as translated)" if s.page in listed else ""
        print(f"{s.page:45} {s.total:8d} {len(s.fuzzy):6d} {len(s.untranslated):9d} {s.share_left:6.0%} {s.docstrings or '':>10}{mark}")
        if s.page in listed:
            problems += [f"{s.page}: fuzzy: {m[:80]!r}" for m in s.fuzzy]
            problems += [f"{s.page}: untranslated: {m[:80]!r}" for m in s.untranslated]
    total = sum(s.total for s in statuses)
    left = sum(len(s.fuzzy) + len(s.untranslated) for s in statuses)
    english = sum(s.docstrings for s in statuses)
    print(f"{'all pages':45} {total:8d} {'':6} {'':9} {left / total if total else 0:6.0%} {english:10d}"
          " (docstrings: English by policy)")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pot", type=Path, help="folder of .pot templates (make po writes _build/gettext)")
    parser.add_argument("--glossary", type=Path, default=GLOSSARY)
    args = parser.parse_args(argv)
    listed = translated_pages()
    problems = api_reference_problems(listed)
    problems += report(all_pages(args.pot), listed)
    problems += markdown_problems()
    if args.glossary.exists():
        terms = glossary_terms(args.glossary)
        problems += glossary_problems(terms, pages=listed)
        others = [p for p in glossary_problems(terms) if p.split(":", 1)[0] not in listed]
        print(f"{len(others)} glossary departures on pages not yet listed as translated:")
        for other in others:
            print("  " + other)
    else:
        print(f"no glossary at {args.glossary}: terms not compared")
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
