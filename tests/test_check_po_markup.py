"""tools/check_po_markup.py: a translation must keep its source's roles, code, math, links and numbers."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from check_po_markup import catalogue_problems, message_problems  # noqa: E402

SOURCE = ("Han et al. {cite}`han2015learning` removed 92% of the weights with `prune.l1` and "
          "$S = \\max|w| / 127$; see [the guide](https://example.org/guide). **Size.**")
GOOD = ("Han 等人 {cite}`han2015learning` 用 `prune.l1` 删去了 92% 的权重，"
        "$S = \\max|w| / 127$；参见[指南](https://example.org/guide)。**大小。**")


def test_faithful_translation_passes():
    assert message_problems(SOURCE, GOOD) == []


@pytest.mark.parametrize("broken, kind", [
    (GOOD.replace("{cite}`han2015learning`", "{cite}`han2015`"), "role"),
    (GOOD.replace("`prune.l1`", "prune.l1"), "code"),
    (GOOD.replace("$S = \\max|w| / 127$", "$S = \\max|w|/127$"), "math"),
    (GOOD.replace("(https://example.org/guide)", "(https://example.org/)"), "link target"),
    (GOOD.replace("92%", "90%"), "number"),
    (GOOD.replace("**大小。**", "大小。"), "bold marker"),
])
def test_lost_or_changed_markup_is_reported(broken, kind):
    problems = message_problems(SOURCE, broken)
    assert any(p.startswith(kind) for p in problems), problems


def test_display_math_copied_verbatim_passes():
    block = "\nw_{t+1} = w_t - \\eta \\nabla L(w_t),\n"
    assert message_problems(block, block) == []


def test_untranslated_and_fuzzy_messages_are_reported(tmp_path):
    po = tmp_path / "page.po"
    po.write_text('msgid ""\nmsgstr "Content-Type: text/plain; charset=utf-8\\n"\n\n'
                  'msgid "Summary"\nmsgstr ""\n\n'
                  '#, fuzzy\nmsgid "Exercises"\nmsgstr "练习"\n\n'
                  'msgid "Learning goals"\nmsgstr "学习目标"\n', encoding="utf-8")
    problems = catalogue_problems(po)
    assert len(problems) == 2
    assert problems[0].endswith("untranslated") and problems[1].endswith("fuzzy")


def test_an_untranslated_docstring_is_no_problem_but_the_pages_own_prose_is(tmp_path):
    """The API reference's docstrings stay in English by policy; the title of their page does not."""
    po = tmp_path / "quant.po"
    po.write_text('msgid ""\nmsgstr "Content-Type: text/plain; charset=utf-8\\n"\n\n'
                  '#: ../../book/api/quant.md:1\nmsgid "`companion.quant`: quantization"\nmsgstr ""\n\n'
                  '#: ../../companion/quant/affine.py:docstring of companion.quant.affine.quantize:1\n'
                  'msgid "Quantize a tensor."\nmsgstr ""\n', encoding="utf-8")
    problems = catalogue_problems(po)
    assert len(problems) == 1 and "quantization" in problems[0] and problems[0].endswith("untranslated")


def test_a_cross_reference_may_translate_its_title_but_not_its_target():
    source = "See {ref}`chapter 4 <ch04-pitfall>` and {doc}`the tools <ch06_tools>`."
    assert message_problems(source, "见 {ref}`第 4 章 <ch04-pitfall>` 与 {doc}`工具 <ch06_tools>`。") == []
    assert message_problems(source, "见 {ref}`第 4 章 <ch04-other>` 与 {doc}`工具 <ch06_tools>`。")
    assert message_problems(source, "见 {doc}`第 4 章 <ch04-pitfall>` 与 {doc}`工具 <ch06_tools>`。")
    assert message_problems("{cite:t}`han2016deep`", "{cite:t}`韩 <han2016deep>`")  # citations keep their key


def test_every_translated_catalogue_keeps_its_markup():
    """The book's own catalogues pass (the API reference's docstrings stay in English by policy)."""
    locales = Path(__file__).resolve().parents[1] / "locales" / "zh_CN" / "LC_MESSAGES"
    problems = []
    for path in sorted(locales.rglob("*.po")):
        problems += catalogue_problems(path)
    assert not problems, "\n".join(problems[:20])
