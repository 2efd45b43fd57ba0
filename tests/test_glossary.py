"""The glossary (book/glossary.yml, rendered by book/_ext/glossary_yaml.py into book/glossary.md).

Each entry is well formed; each term is used by the chapter said to define it, under the section
label given; each Chinese term marked as the source article's is in the source article; every term
that a chapter introduces in bold is in the glossary; and the page renders exactly the YAML's terms.
"""
import re
import sys

import pytest
import yaml

from notebook_rules import NOTEBOOKS, ROOT, load, markdown

sys.path.insert(0, str(ROOT / "book" / "_ext"))
from glossary_yaml import glossary_markdown, load_glossary  # noqa: E402

GLOSSARY = ROOT / "book" / "glossary.yml"
ENTRIES = load_glossary(GLOSSARY)
SOURCE = "".join(path.read_text(encoding="utf-8") for path in sorted((ROOT.parent / "shared" / "source").glob("*.txt"))) \
    if (ROOT.parent / "shared" / "source").is_dir() else None
CHAPTER_TEXT = {f"notebooks/{path.stem}": "\n".join(markdown(load(path))) for path in NOTEBOOKS}

# The Chinese terms the source article uses for the concepts the book defines (issue 20).
SOURCE_TERMS = {"剪枝", "量化", "整数化", "子整数化", "权重裁剪", "学习率", "梯度下降", "权重优化",
                "权重剪枝", "神经元剪枝", "学习率调整", "优化器"}

# Phrases the chapters set in bold that are emphasis, headings or names, not terms they define.
NOT_TERMS = {
    "bytes", "size.", "time.", "energy.", "mlp", "smallcnn", "resnet-18", "median",
    "pruning the classifier shrinks the file; pruning the convolutions saves the time.",
    "quantization speeds up small-batch inference even though it does not remove any arithmetic",
    "unstructured vs structured", "post-training (ptq) vs quantization-aware training (qat)",
    "static vs dynamic", "what did the mask save?", "twice as large",
    "zeros in a dense tensor cost as much as any other number", "explorer.", "train", "prune",
    "fine-tune", "quantize", "store", "measure", "by norm", "by value", "clipped", "narrow",
    "fused multiply–add", "on the fly", "the integer layer.", "why torchao is not faster here.",
    "sum of its members' gradients", "side tensors", "container", "per output channel",
    "further exercises", "one named parameter of one module", "a mask alone saves neither bytes nor time",
    "target", "layer-wise or global?", "no weights at all",
    "trained in isolation from the same initial values", "new random initial values", "all",
    "smaller and faster on ordinary hardware", "column", "columns", "masked",
    "wider cnn of the same shape", "efficiency", "new", "4.1", "4.2", "4.3",
    "4.1 权重优化 (weight optimization)", "4.2 量化 (quantization)", "4.3 剪枝 (pruning)",
    "positions as relative indices.", "filler", "zero stays zero.", "not", "fidelity", "big-endian",
    "all-minilm-l6-v2", "text longer than the model's 512 positions is truncated by the tokenizer",
    "with the same head", "one scale per row", "group", "by voice", "synthesises", "espeak ng", "flite",
    "what this implies.", "htk mel scale", "sum to one", "pure tone", "weight bytes", "4-bit weights",
    "accuracy.", "64 kb.", "activations.",
    "same trained model", "twice", "nothing, silently", "no smaller", "brevitas", "nncf", "tensorrt",
    "openvino", "executorch", "tflite / litert", "bytes are easy, time is hard", "measure side by side",
    "accuracy at high compression needs training.", "fewer parameters are not less time.",
    "choosing per layer.", "where the bytes are.", "honest evaluation.",
    "bytes depend on what a tool quantizes", "small", "with the teacher it ends higher",
    "it cannot be installed next to pytorch 2.13", "pruned", "no evidence either way", "installs",
    "a quarter of the fp32 bytes", "one weight scale for the whole depthwise layer",
    "a quarter of the bytes: met by int8 with pruning, not by int8 alone",
}


def names(entry):
    return [entry["term"], *entry.get("aliases", [])]


def normal(text):
    return " ".join(text.split()).casefold()


def test_entries_are_well_formed_and_unique():
    for entry in ENTRIES:
        assert set(entry) <= {"term", "aliases", "zh", "zh_source", "definition", "chapter", "anchor"}, entry
        assert isinstance(entry["zh_source"], bool), entry["term"]
        assert re.search(r"[\u4e00-\u9fff]", entry["zh"]), f"{entry['term']}: zh has no Chinese"
        assert 20 <= len(entry["definition"]) <= 400, f"{entry['term']}: definition length"
        assert entry["chapter"] in CHAPTER_TEXT, f"{entry['term']}: unknown chapter {entry['chapter']}"
    for field in ("term", "zh"):
        values = [normal(entry[field]) for entry in ENTRIES]
        assert len(values) == len(set(values)), f"duplicate {field}"


def test_each_term_appears_in_its_chapter():
    for entry in ENTRIES:
        text = normal(CHAPTER_TEXT[entry["chapter"]])
        assert any(normal(name) in text for name in names(entry)), \
            f"{entry['term']!r} is not used in {entry['chapter']}"


def test_each_anchor_is_a_label_of_its_chapter():
    for entry in ENTRIES:
        if "anchor" in entry:
            assert f"({entry['anchor']})=" in CHAPTER_TEXT[entry["chapter"]], entry["term"]


@pytest.mark.skipif(SOURCE is None, reason="the source article is not in this checkout")
def test_chinese_terms_marked_as_the_sources_are_in_the_source():
    for entry in ENTRIES:
        if entry["zh_source"]:
            assert entry["zh"] in SOURCE, f"{entry['zh']} ({entry['term']}) is not in the source"
    marked = {entry["zh"] for entry in ENTRIES if entry["zh_source"]}
    assert SOURCE_TERMS <= marked, f"source terms without an entry: {SOURCE_TERMS - marked}"


def test_every_bold_term_of_the_chapters_is_in_the_glossary():
    known = {normal(name) for entry in ENTRIES for name in names(entry)}
    missing = set()
    not_terms = {phrase.rstrip(".") for phrase in NOT_TERMS}
    for text in CHAPTER_TEXT.values():
        prose = re.sub(r"```.*?```", "", text, flags=re.S)
        for phrase in re.findall(r"\*\*([^*`]{1,120}?)\*\*", prose):
            phrase = normal(phrase).rstrip(".")
            if phrase not in known and phrase not in not_terms:
                missing.add(phrase)
    assert not missing, f"bold terms missing from book/glossary.yml (or add them to NOT_TERMS): {missing}"


def test_the_page_renders_exactly_the_yaml():
    page = (ROOT / "book" / "glossary.md").read_text(encoding="utf-8")
    assert "```{glossary-yaml} glossary.yml\n```" in page
    lines = glossary_markdown(ENTRIES)
    rendered_terms = [line for line in lines if line and not line.startswith(" ")]
    assert rendered_terms == [name for entry in ENTRIES for name in (entry["term"], entry["zh"])]
    assert sum(line.startswith("  ") for line in lines) == len(ENTRIES)


def test_the_glossary_is_in_the_table_of_contents():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    assert "book/glossary" in [chapter["file"] for part in toc["parts"] for chapter in part["chapters"]]


def test_term_roles_in_the_chapters_name_glossary_terms():
    known = {entry[field] for entry in ENTRIES for field in ("term", "zh")}
    for chapter, text in CHAPTER_TEXT.items():
        for role in re.findall(r"\{term\}`([^`]+)`", text):
            target = re.fullmatch(r"[^<]*<([^>]+)>", role)
            target = target.group(1) if target else role
            assert target in known, f"{chapter}: {{term}}`{role}` names no glossary entry"


def test_a_malformed_glossary_is_rejected(tmp_path):
    bad = tmp_path / "glossary.yml"
    bad.write_text("- term: scale\n  zh: 缩放因子\n", encoding="utf-8")
    with pytest.raises(ValueError, match="lacks"):
        load_glossary(bad)


def build_glossary_page(tmp_path, builder: str, language: str | None = None):
    """Build book/glossary.md alone (its YAML beside it) with ``builder``; return the output folder.

    With ``language``, the edition's catalogue (locales/<language>/LC_MESSAGES/book/glossary.po) is used
    as the book's zh build uses it (one catalogue per page, compiled on the fly)."""
    from sphinx.application import Sphinx

    tmp_path = tmp_path / builder
    source = tmp_path / "src"
    (source / "book").mkdir(parents=True)
    for name in ("glossary.md", "glossary.yml"):
        (source / "book" / name).write_text((ROOT / "book" / name).read_text(encoding="utf-8"), encoding="utf-8")
    (source / "index.md").write_text("# Index\n\n```{toctree}\nbook/glossary\n```\n", encoding="utf-8")
    config = {"extensions": ["myst_parser", "glossary_yaml"], "gettext_compact": False,
              "myst_enable_extensions": ["amsmath", "dollarmath"], "exclude_patterns": []}
    if language:
        locale = tmp_path / "locale" / language / "LC_MESSAGES" / "book"
        locale.mkdir(parents=True)
        po = ROOT / "locales" / language / "LC_MESSAGES" / "book" / "glossary.po"
        (locale / "glossary.po").write_bytes(po.read_bytes())
        config |= {"language": language, "locale_dirs": [str(tmp_path / "locale")]}
    out = tmp_path / "out"
    app = Sphinx(str(source), None, str(out), str(tmp_path / "doctrees"), builder,
                 confoverrides=config, status=None, warning=None, freshenv=True)
    app.build()
    return out


def test_the_definitions_reach_gettext_and_the_chinese_edition(tmp_path):
    """The definitions that the directive emits are messages of the page's template, and the zh_CN
    build shows the catalogue's Chinese for each of them, while both term lines stay linkable."""
    from babel.messages.pofile import read_po

    with open(build_glossary_page(tmp_path, "gettext") / "book" / "glossary.pot", "rb") as handle:
        template = {message.id for message in read_po(handle)}
    definitions = [line.strip() for line in glossary_markdown(ENTRIES) if line.startswith("  ")]
    assert definitions and set(definitions) <= template

    with open(ROOT / "locales" / "zh_CN" / "LC_MESSAGES" / "book" / "glossary.po", "rb") as handle:
        chinese = {message.id: message.string for message in read_po(handle) if message.id}
    html = (build_glossary_page(tmp_path, "html", "zh_CN") / "book" / "glossary.html").read_text(encoding="utf-8")
    text = re.sub(r"<[^>]+>", "", html)
    for definition in definitions:
        translated = chinese.get(definition)
        if not translated:
            continue  # an untranslated definition shows in English (tests/test_translations.py reports it)
        opening = re.split(r"[${]", translated, maxsplit=1)[0][:12]
        assert opening and opening in text, (definition[:60], opening)
    for entry in ENTRIES:
        for name in (entry["term"], entry["zh"]):
            assert f">{name}<" in html.replace("&amp;", "&"), name
