"""Check that every translation in gettext catalogues keeps its source's markup.

For each message of each ``.po`` file given (or every ``.po`` under ``locales/`` by default) the
translation (msgstr) must carry exactly the same

- MyST roles with their content, e.g. ``{cite:t}`han2016deep``` or ``{doc}`ch04_best_practice```; a
  cross-reference with an explicit title, ``{ref}`chapter 4 <label>```, may translate its title;
- inline code spans, e.g. ```torch.save```;
- inline and display math, ``$...$`` and ``$$...$$``;
- link targets, the ``(url)`` of ``[text](url)`` (the link text is translated);
- numbers written in the prose (outside code and math), so that no computed figure changes;
- bold markers ``**``;

as its msgid (as multisets: the order may change with the language). Messages left untranslated or
marked fuzzy are reported too, except the companion package's docstrings, which stay in English by
policy (translation_status.docstring_message). Exit status 1 when anything is reported.

    python tools/check_po_markup.py [FILE.po ...]
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

from babel.messages.pofile import read_po

sys.path.insert(0, str(Path(__file__).resolve().parent))
from translation_status import docstring_message  # noqa: E402

ROLE = re.compile(r"\{[\w:.-]+\}`[^`]*`")
TITLED_ROLE = re.compile(r"(?P<role>\{(?:ref|doc|term|numref|download)\})`[^`<]*\S\s*<(?P<target>[^<>`]+)>`")
CODE = re.compile(r"``[^`]+``|`[^`]+`")
DISPLAY_MATH = re.compile(r"\$\$.*?\$\$", re.S)
INLINE_MATH = re.compile(r"\$[^$]+\$")
LINK_TARGET = re.compile(r"\]\(([^)\s]+)\)")
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def role_span(span: str) -> str:
    """A role as it must survive translation: a cross-reference with an explicit title,
    ``{ref}`chapter 4 <label>```, keeps its role and target, and its title may be translated."""
    titled = TITLED_ROLE.fullmatch(span)
    return f"{titled['role']}`<{titled['target']}>`" if titled else span


def markup_spans(text: str) -> dict[str, Counter]:
    """The markup of one message, by kind, as multisets of the exact source spans."""
    spans: dict[str, Counter] = {}
    for kind, pattern in (("role", ROLE), ("code", CODE), ("display math", DISPLAY_MATH),
                          ("math", INLINE_MATH)):
        found = pattern.findall(text)
        spans[kind] = Counter(map(role_span, found) if kind == "role" else found)
        text = pattern.sub(" ", text)
    spans["link target"] = Counter(LINK_TARGET.findall(text))
    text = LINK_TARGET.sub("]", text)
    spans["number"] = Counter(NUMBER.findall(text))
    spans["bold marker"] = Counter({"**": text.count("**")}) if "**" in text else Counter()
    return spans


def message_problems(msgid: str, msgstr: str) -> list[str]:
    """What the translation ``msgstr`` lost or added relative to ``msgid``; empty when it matches."""
    problems = []
    source, target = markup_spans(msgid), markup_spans(msgstr)
    for kind in source:
        missing = source[kind] - target[kind]
        extra = target[kind] - source[kind]
        if missing:
            problems.append(f"{kind} missing: {sorted(missing)}")
        if extra:
            problems.append(f"{kind} added: {sorted(extra)}")
    return problems


def catalogue_problems(path: Path) -> list[str]:
    """Every problem of one ``.po`` file, one line each, prefixed with the file and msgid."""
    with open(path, "rb") as handle:
        catalogue = read_po(handle)
    problems = []
    for message in catalogue:
        if not message.id:
            continue
        where = f"{path}: {message.id[:60]!r}"
        if not message.string:
            if docstring_message(message):
                continue
            problems.append(f"{where}: untranslated")
            continue
        if message.fuzzy:
            problems.append(f"{where}: fuzzy")
        problems.extend(f"{where}: {p}" for p in message_problems(message.id, message.string))
    return problems


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted(Path("locales").rglob("*.po"))
    problems = [p for path in paths for p in catalogue_problems(path)]
    for problem in problems:
        print(problem)
    print(f"{len(paths)} catalogue(s), {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
