"""book/_ext/exercise_i18n.py: exercise titles are gettext messages and read in the page's language.

Small Sphinx builds of one MyST page (a second or two each), with and without the extension."""
import io
import re
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))

import exercise_i18n  # noqa: E402

# A title with markup needs a fence whose info string may hold backticks (~~~ or :::, not ```).
PAGE = """# Features

~~~{exercise} Write the `mel` filterbank for $f_{\\max}$, *by hand*
:label: ex-mel
Compute it.
~~~

```{solution} ex-mel
:class: dropdown
Like this.
```

```{exercise} Noise at a given SNR
Add noise.
```
"""
MARKED_UP = "Write the `mel` filterbank for $f_{\\max}$, *by hand*"
CATALOGUE = f'''msgid ""
msgstr ""
"Content-Type: text/plain; charset=utf-8\\n"

msgid "{MARKED_UP.replace(chr(92), chr(92) * 2)}"
msgstr "*手工*写出 $f_{{\\\\max}}$ 的 `mel` 滤波器组"

msgid "Noise at a given SNR"
msgstr "给定信噪比下的噪声"
'''


def build(tmp_path: Path, builder: str, language: str | None = None, extension: bool = True,
          page: str = PAGE) -> Path:
    """Build ``page`` as index.md with ``builder``; return the output folder (``warnings.txt`` beside it
    holds the build's warnings)."""
    from sphinx.application import Sphinx
    from sphinx.locale import translators
    from sphinx.util.docutils import docutils_namespace

    name = f"{builder}-{language}-{extension}"
    source = tmp_path / name / "src"
    source.mkdir(parents=True)
    (source / "index.md").write_text(page, encoding="utf-8")
    extensions = ["myst_parser", "sphinx_exercise"] + (["exercise_i18n"] if extension else [])
    config = {"extensions": extensions, "myst_enable_extensions": ["dollarmath"], "gettext_compact": False}
    if language:
        locale = tmp_path / name / "locale" / language / "LC_MESSAGES"
        locale.mkdir(parents=True)
        (locale / "index.po").write_text(CATALOGUE, encoding="utf-8")
        config |= {"language": language, "locale_dirs": [str(tmp_path / name / "locale")]}
    out = tmp_path / name / "out"
    # Neither the directives and nodes nor the loaded catalogues (cached per domain, here "index") of one
    # build leak into the next.
    translators.clear()
    warnings = io.StringIO()
    try:
        with docutils_namespace():
            app = Sphinx(str(source), None, str(out), str(tmp_path / name / "doctrees"), builder,
                         confoverrides=config, status=None, warning=warnings, freshenv=True)
            app.build()
    finally:
        translators.clear()
    (out / "warnings.txt").write_text(warnings.getvalue(), encoding="utf-8")
    return out


def titles(html: str) -> list[str]:
    """The text of each admonition title (exercise and solution) of a built page."""
    return [" ".join(re.sub(r"<[^>]+>", "", t).split())
            for t in re.findall(r'<p class="admonition-title">(.*?)</p>', html, re.S)]


def template_messages(out: Path) -> set[str]:
    from babel.messages.pofile import read_po

    with open(out / "index.pot", "rb") as handle:
        return {message.id for message in read_po(handle) if message.id}


def reported(out: Path) -> str:
    """The warnings of the build that wrote ``out``."""
    return (out / "warnings.txt").read_text(encoding="utf-8")


def test_exercise_titles_are_messages_of_the_template_with_their_markup(tmp_path):
    out = build(tmp_path, "gettext")
    assert {MARKED_UP, "Noise at a given SNR"} <= template_messages(out)
    assert "exercise title" not in reported(out)
    # sphinx-exercise alone leaves them out: this is what the extension is for
    assert not {MARKED_UP, "Noise at a given SNR"} & template_messages(build(tmp_path, "gettext", extension=False))


def test_exercise_and_solution_titles_read_in_chinese(tmp_path):
    html = (build(tmp_path, "html", "zh_CN") / "index.html").read_text(encoding="utf-8")
    mel = "(手工写出 \\(f_{\\max}\\) 的 mel 滤波器组)"
    assert titles(html) == [f"练习 1 {mel}", f"解答 练习 1 {mel}", "练习 2 (给定信噪比下的噪声)"]
    assert "<em>手工</em>" in html and '<span class="pre">mel</span>' in html  # the markup survives


def test_the_english_page_is_unchanged(tmp_path):
    with_it = (build(tmp_path, "html") / "index.html").read_text(encoding="utf-8")
    without = (build(tmp_path, "html", extension=False) / "index.html").read_text(encoding="utf-8")
    assert with_it == without
    assert titles(with_it)[0] == "Exercise 1 (Write the mel filterbank for \\(f_{\\max}\\), by hand)"


def test_a_title_with_other_markup_is_reported(tmp_path):
    page = "# Links\n\n```{exercise} Read [the paper](https://example.org)\nRead it.\n```\n"
    out = build(tmp_path, "gettext", page=page)
    assert "'Read the paper' holds markup that cannot be translated" in reported(out)
    assert "Read the paper" not in template_messages(out)


def test_myst_source_writes_back_code_math_and_emphasis():
    from docutils import nodes

    subtitle = nodes.subtitle("", "", nodes.Text("A "), nodes.literal("", "x"), nodes.Text(" and "),
                              nodes.math("", "y^2"), nodes.Text(", "), nodes.strong("", "z"),
                              nodes.emphasis("", "w"))
    assert exercise_i18n.myst_source(subtitle) == "A `x` and $y^2$, **z***w*"
    nested = nodes.subtitle("", "", nodes.emphasis("", "", nodes.literal("", "x")))
    assert exercise_i18n.myst_source(nested) is None
    assert exercise_i18n.myst_source(nodes.subtitle("", "", nodes.reference("", "link"))) is None
