"""The Chinese edition's catalogues: listed pages complete and current, glossary terms used, configs sound."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import edition_config  # noqa: E402
import translation_status as status  # noqa: E402
from notebook_rules import NOTEBOOKS, exercise_titles, load  # noqa: E402

PO_HEADER = 'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n\n'


def write_po(path: Path, entries: list[tuple]) -> Path:
    """A catalogue of (English, Chinese, fuzzy) messages, each optionally with its location line."""
    text = PO_HEADER + "".join(f'{"#: " + where[0] + chr(10) if where else ""}'
                               f'{"#, fuzzy" + chr(10) if fuzzy else ""}msgid "{en}"\nmsgstr "{zh}"\n\n'
                               for en, zh, fuzzy, *where in entries)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_counts_translated_fuzzy_and_untranslated_messages(tmp_path):
    po = write_po(tmp_path / "page.po", [("One.", "一。", False), ("Two.", "二。", True), ("Three.", "", False)])
    page = status.page_status("page", po)
    assert (page.total, page.done, page.fuzzy, page.untranslated) == (3, 1, ["Two."], ["Three."])
    assert page.share_left == pytest.approx(2 / 3)


def test_changed_english_counts_as_untranslated_before_sphinx_intl_runs(tmp_path):
    """A page whose prose changed: the template's new sentence has no translation yet."""
    po = write_po(tmp_path / "locale" / "book" / "page.po", [("Old sentence.", "旧句子。", False)])
    write_po(tmp_path / "pot" / "book" / "page.pot", [("New sentence.", "", False)])
    pages = status.all_pages(tmp_path / "pot", tmp_path / "locale")
    assert [(p.page, p.untranslated) for p in pages] == [("book/page", ["New sentence."])]
    assert status.page_status("book/page", po).share_left == 0  # the .po alone looks complete
    problems = status.report(pages, ["book/page"])
    assert problems == ["book/page: untranslated: 'New sentence.'"]


def test_a_page_without_a_catalogue_is_wholly_untranslated(tmp_path):
    write_po(tmp_path / "pot" / "notebooks" / "ch.pot", [("A.", "", False), ("B.", "", False)])
    (tmp_path / "locale").mkdir()
    [page] = status.all_pages(tmp_path / "pot", tmp_path / "locale")
    assert (page.page, page.total, page.share_left) == ("notebooks/ch", 2, 1.0)


def test_pages_listed_as_translated_are_complete():
    listed = status.translated_pages()
    assert listed, "no page is listed in locales/zh_CN/translated.txt"
    pages = {p.page: p for p in status.all_pages()}
    for page in listed:
        assert page in pages, f"{page} is listed as translated but has no catalogue"
        assert not pages[page].fuzzy, f"{page}: fuzzy messages: {pages[page].fuzzy}"
        assert not pages[page].untranslated, f"{page}: untranslated messages: {pages[page].untranslated}"


def test_theme_strings_are_all_translated():
    for po in (ROOT / "book" / "_locale").rglob("*.po"):
        page = status.page_status(po.stem, po)
        assert page.total and page.done == page.total, (po, page.untranslated, page.fuzzy)


GLOSSARY = """
- {term: sparsity, zh: 稀疏度}
- {term: N:M sparsity, aliases: [2:4 sparsity], zh: N:M 稀疏（半结构化稀疏）}
- {term: pruning, zh: 剪枝}
- {term: unstructured pruning, zh: 非结构化剪枝}
- {term: multiply–accumulate operation (MAC), aliases: [MACs], zh: 乘累加运算 (MAC)}
- {term: scale, zh: 缩放因子}
- {term: FP8, aliases: [E4M3], zh: 8 位浮点 (FP8)}
"""


@pytest.fixture
def terms(tmp_path):
    path = tmp_path / "glossary.yml"
    path.write_text(GLOSSARY, encoding="utf-8")
    return status.glossary_terms(path)


@pytest.mark.parametrize("english, chinese, missing", [
    ("Pruning sets the sparsity.", "剪枝决定稀疏度。", []),
    ("Pruning sets the sparsity.", "修剪决定稀疏度。", ["pruning"]),
    ("Unstructured pruning at 2:4 sparsity.", "2:4 稀疏下的非结构化剪枝。", []),  # no bare "sparsity" here
    ("Unstructured pruning at 2:4 sparsity.", "2:4 稀疏下的非结构化修剪。", ["unstructured pruning"]),
    ("Count the multiply–accumulate operations.", "计算乘累加运算（MAC）的数量。", []),
    ("Count the multiply–accumulate operations.", "计算乘加的数量。", ["multiply–accumulate operation (MAC)"]),
    ("Call `prune.l1_unstructured` with $s$ scales.", "用 $s$ 个缩放因子调用 `prune.l1_unstructured`。", []),
    ("Set `pruning=True`.", "设置 `pruning=True`。", []),  # code is no prose
    ("Per-channel scales.", "逐通道的比例。", ["scale"]),
    # the term is an abbreviation that the glossary's Chinese carries: keeping it uses the term
    ("Compare FP8 with int8.", "比较FP8与 int8。", []),
    ("Compare FP8 with int8.", "比较 8 位浮点与 int8。", []),
    ("Compare FP8 with int8.", "比较浮点与 int8。", ["FP8"]),
    # a spelled-out term still needs its Chinese: the abbreviation alone does not do
    ("Count the multiply–accumulate operations.", "计算 MAC 的数量。", ["multiply–accumulate operation (MAC)"]),
])
def test_glossary_terms_must_keep_their_chinese(terms, english, chinese, missing):
    assert [term for term, _ in status.term_problems(english, chinese, terms)] == missing


def test_a_translator_comment_exempts_a_word_used_in_another_sense(terms, tmp_path):
    locale = tmp_path / "locale"
    write_po(locale / "page.po", [("At LLM scale, prune.", "在大模型的规模上剪枝。", False)])
    assert status.glossary_problems(terms, locale) == [
        "page: 'scale' is not translated as '缩放因子' in: 'At LLM scale, prune.'"]
    text = (locale / "page.po").read_text(encoding="utf-8").replace('msgid "At', '# glossary-ok: scale\nmsgid "At')
    (locale / "page.po").write_text(text, encoding="utf-8")
    assert status.glossary_problems(terms, locale) == []
    write_po(locale / "math.po", [("s = \\\\text{sparsity}", "s = \\\\text{sparsity}", False)])  # copied: no prose
    assert status.glossary_problems(terms, locale) == []
    assert status.glossary_problems(terms, locale, pages=["other"]) == []


def test_translations_use_the_glossarys_chinese_terms():
    """On every page listed as translated (the others' departures are reported by the tool)."""
    if not status.GLOSSARY.exists():
        pytest.skip("book/glossary.yml does not exist yet")
    problems = status.glossary_problems(status.glossary_terms(), pages=status.translated_pages())
    assert not problems, "\n".join(problems)


def test_exercise_titles_are_read_from_every_fence():
    cell = {"cell_type": "markdown", "source": ["```{exercise} A mel filterbank\n", "Do it.\n```\n",
                                                 ":::{exercise} Write `f` for $x$ \n:::\n",
                                                 "```{exercise}\nNo title.\n```\n"]}
    assert exercise_titles({"cells": [cell]}) == ["A mel filterbank", "Write `f` for $x$"]


def test_exercise_titles_are_translated_on_translated_pages():
    """Each ``{exercise}`` title of a chapter listed as translated is a translated message of its
    catalogue (book/_ext/exercise_i18n.py makes them messages; `make po` adds them)."""
    listed = set(status.translated_pages())
    checked = 0
    for notebook in NOTEBOOKS:
        page = f"notebooks/{notebook.stem}"
        if page not in listed:
            continue
        catalog = {m.id: m for m in status.load_catalog(status.LOCALE / f"{page}.po") if m.id}
        for title in exercise_titles(load(notebook)):
            message = catalog.get(title)
            assert message is not None, f"{page}: the exercise title {title!r} is not in its catalogue"
            assert message.string and not message.fuzzy, f"{page}: {title!r} is not translated"
            checked += 1
    assert checked >= 40  # every chapter has exercises


def test_the_chinese_configuration_changes_only_what_the_edition_needs(tmp_path):
    base = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    zh = edition_config.edition("zh")
    options = zh["sphinx"]["config"]
    assert options["language"] == "zh_CN" and options["locale_dirs"][0] == "locales/"
    assert options["gettext_compact"] is False and options["html_search_language"] == "zh"
    assert zh["execute"] == base["execute"]  # the same execution settings, hence the same cache
    assert base["execute"]["execute_notebooks"] == "cache" and zh["execute"]["cache"]
    # everything else is the English edition's
    assert options["html_theme_options"]["footer_content_items"] == \
        base["sphinx"]["config"]["html_theme_options"]["footer_content_items"]
    assert zh["sphinx"]["local_extensions"] == base["sphinx"]["local_extensions"]
    gettext = edition_config.edition("gettext")
    assert gettext["execute"]["execute_notebooks"] == "off"
    assert gettext["sphinx"]["config"]["gettext_compact"] is False
    with pytest.raises(ValueError, match="edition must be one of"):
        edition_config.edition("fr")


def test_written_configuration_finds_the_local_extensions(tmp_path):
    written = yaml.safe_load(edition_config.write("zh", tmp_path).read_text(encoding="utf-8"))
    for name, where in written["sphinx"]["local_extensions"].items():
        assert (tmp_path / where / f"{name}.py").is_file(), (name, where)


def test_merge_leaves_its_inputs_alone():
    base, overlay = {"a": {"b": 1, "c": 2}}, {"a": {"c": 3}, "d": [1]}
    assert edition_config.merge(base, overlay) == {"a": {"b": 1, "c": 3}, "d": [1]}
    assert base == {"a": {"b": 1, "c": 2}} and overlay == {"a": {"c": 3}, "d": [1]}


@pytest.mark.slow
def test_translated_pages_match_the_current_sources(tmp_path):
    """Extract every page's messages now (the translators' gettext flow, no cell runs): a page listed
    as translated must have a current, non-fuzzy translation of each, so changing its prose without
    updating its .po fails here."""
    config = edition_config.write("gettext", tmp_path)
    jb = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run([str(jb), "build", "--all", "--config", str(config), "--path-output", str(tmp_path),
                             "--builder", "custom", "--custom-builder", "gettext", "."],
                            cwd=ROOT, capture_output=True, text=True, env={**os.environ, "COMPANION_PROGRESS": "0"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    pages = status.all_pages(tmp_path / "_build" / "gettext")
    assert {"book/intro", "book/faq", "notebooks/ch01_background"} <= {p.page for p in pages}
    problems = status.report(pages, status.translated_pages())
    assert not problems, "\n".join(problems)
    for notebook in NOTEBOOKS:  # book/_ext/exercise_i18n.py: every exercise title is extracted
        template = {m.id for m in status.load_catalog(tmp_path / "_build" / "gettext" / "notebooks"
                                                      / f"{notebook.stem}.pot")}
        missing = set(exercise_titles(load(notebook))) - template
        assert not missing, f"{notebook.name}: exercise titles not extracted: {missing}"


DOCSTRING = "../../companion/quant/affine.py:docstring of companion.quant.affine.quantize:3"
ATTRIBUTE = "../../docstring of companion.quant.fp8.FP8_DTYPES:1"
PAGE = "../../book/api/quant.md:1"


@pytest.mark.parametrize("locations, english", [
    ([DOCSTRING], True),
    ([ATTRIBUTE], True),
    ([DOCSTRING, "companion.quant:1 of"], True),  # as sphinx-intl writes a module docstring back
    ([PAGE], False),  # the page's own prose, on an API page as anywhere
    ([DOCSTRING, PAGE], False),  # also written on a page: translated
    (["../../book/_templates/version-footer.html:1"], False),
    (["../../notebooks/ch01_background.ipynb:12"], False),
    (["../../book/notes.md:3 of"], False),  # the word "of" alone makes no docstring
    ([], False),
])
def test_only_docstring_messages_stay_in_english(tmp_path, locations, english):
    po = tmp_path / "page.po"
    po.write_text(PO_HEADER + "".join(f"#: {where}\n" for where in locations) + 'msgid "Text."\nmsgstr ""\n',
                  encoding="utf-8")
    [message] = status._real(status.load_catalog(po))
    assert status.docstring_message(message) is english


def test_an_api_pages_own_prose_must_be_translated_and_its_docstrings_not(tmp_path, capsys):
    """On a page listed as translated, an untranslated title of an API page is reported; an
    untranslated docstring is not, and is counted apart."""
    po = write_po(tmp_path / "quant.po", [("`companion.quant`: quantization", "", False, PAGE),
                                          ("Quantize a tensor.", "", False, DOCSTRING),
                                          ("The scale.", "", False, ATTRIBUTE)])
    page = status.page_status("book/api/quant", po)
    assert (page.total, page.docstrings, page.untranslated) == (1, 2, ["`companion.quant`: quantization"])
    assert status.report([page], ["book/api/quant"]) == [
        "book/api/quant: untranslated: '`companion.quant`: quantization'"]
    write_po(tmp_path / "quant.po", [("`companion.quant`: quantization", "`companion.quant`：量化", False, PAGE),
                                     ("Quantize a tensor.", "", False, DOCSTRING)])
    page = status.page_status("book/api/quant", po)
    assert status.report([page], ["book/api/quant"]) == []
    table = capsys.readouterr().out.splitlines()
    assert table[-1].split()[2:5] == ["1", "0%", "1"]  # all pages: 1 message, none left; 1 docstring apart


def test_an_api_pages_prose_follows_the_glossary(terms, tmp_path):
    locale = tmp_path / "locale"
    write_po(locale / "book" / "api" / "prune.po", [("`companion.prune`: pruning", "`companion.prune`：修剪", False,
                                                     "../../book/api/prune.md:1")])
    assert status.glossary_problems(terms, locale) == [
        "book/api/prune: 'pruning' is not translated as '剪枝' in: '`companion.prune`: pruning'"]


def test_every_api_reference_page_is_listed_as_translated(tmp_path):
    assert status.api_reference_problems(status.translated_pages()) == []
    api = tmp_path / "book" / "api"
    api.mkdir(parents=True)
    for name in ("index", "core", "notes"):
        (api / f"{name}.md").write_text(f"# {name}\n", encoding="utf-8")
    assert status.api_reference_problems(["book/api/index", "book/api/core"], tmp_path) == [
        "book/api/notes: a page of the API reference not listed as translated"]


@pytest.mark.parametrize("english, chinese, found", [
    ("**Multiply–accumulate operations (MACs)** per prediction", "每次预测的**乘累加运算**（MACs）次数", []),
    ("**Multiply–accumulate operations (MACs)** per prediction", "每次预测的**乘累加运算（MACs）**次数", ["emphasis"]),
    ("**Task.** Prune it.", "**任务。** 对它剪枝。", []),  # a space after the closing run
    ("**Task.** Prune it.", "**任务。**对它剪枝。", ["emphasis"]),
    ("*initial values* matter", "保留下来的权重的*初始值*仍然重要", []),
    ("Compute `a * b` and $x * y$.", "计算 `a * b` 和 $x * y$。", []),  # code and math are no emphasis
    ("Two steps.", "2. 两步。", ["starts"]),
    ("Two steps.", "2\\. 两步。", []),
    ("2. Two steps.", "2. 两步。", []),  # a list item in English too
])
def test_myst_pitfalls_are_found(english, chinese, found):
    problems = status.myst_pitfalls(english, chinese)
    assert [problem.split()[0] for problem in problems] == found, problems


def test_translations_render_their_markdown_as_intended():
    problems = status.markdown_problems()
    assert not problems, "\n".join(problems)
