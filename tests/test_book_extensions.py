"""The book's local Sphinx extensions (book/_ext): per-chapter exercise numbers and the downloads."""
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))

import chapter_exercises  # noqa: E402
import downloads  # noqa: E402


def test_exercises_restart_on_every_page_in_order():
    numbers = {
        "notebooks/ch01": {"exercise": {"ex-a": (1,), "ex-b": (2,)}, "figure": {"fig-1": (1,)}},
        "notebooks/ch03_4": {"exercise": {"ex-z": (17,), "ex-y": (16,), "ex-x": (18,)}},
        "book/references": {},
    }
    chapter_exercises.renumber_per_page(numbers)
    assert numbers["notebooks/ch01"]["exercise"] == {"ex-a": (1,), "ex-b": (2,)}
    assert numbers["notebooks/ch03_4"]["exercise"] == {"ex-y": (1,), "ex-z": (2,), "ex-x": (3,)}
    assert numbers["notebooks/ch01"]["figure"] == {"fig-1": (1,)}  # other kinds keep their numbers
    assert numbers["book/references"] == {}


def test_notebooks_zip_is_deterministic_and_complete(tmp_path):
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    first = downloads.zip_notebooks(notebooks, tmp_path / "a.zip").read_bytes()
    second = downloads.zip_notebooks(list(reversed(notebooks)), tmp_path / "b.zip").read_bytes()
    assert first == second
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        assert archive.namelist() == [f"notebooks/{n.name}" for n in notebooks]
        assert archive.read(f"notebooks/{notebooks[0].name}") == notebooks[0].read_bytes()


def test_wheel_name_and_pins_come_from_the_project_files():
    assert downloads.wheel_name(ROOT).startswith("companion-")
    assert downloads.wheel_name(ROOT).endswith("-py3-none-any.whl")
    jupyterlab, myst = downloads.pinned(ROOT, downloads.LAB_PACKAGES)
    assert jupyterlab.startswith("jupyterlab==") and myst.startswith("jupyterlab-myst==")
    with pytest.raises(RuntimeError, match="no-such-package"):
        downloads.pinned(ROOT, ("no-such-package",))


def formatted_bibliography():
    import bibliography_style
    from pybtex.database import parse_file
    from pybtex.plugin import register_plugin

    register_plugin("pybtex.style.labels", "authoryear", bibliography_style.AuthorYearLabels)
    data = parse_file(str(ROOT / "book" / "references.bib"))
    style = bibliography_style.AuthorYearStyle()
    return {entry.key: entry for entry in style.format_entries(data.entries.values())}


def test_bibliography_is_author_year_with_capitals_and_links():
    entries = formatted_bibliography()
    labels = [e.label for e in entries.values()]
    assert len(set(labels)) == len(labels)
    assert entries["han2015learning"].label == "Han et al., 2015"
    assert entries["greydanus2020scaling"].label == "Greydanus, 2020"
    assert entries["paszke2019pytorch"].label == "Paszke et al., 2019"  # "and others"
    html = {key: e.text.render_as("html") for key, e in entries.items()}
    assert "BinaryConnect" in html["courbariaux2015binaryconnect"]
    assert 'href="https://arxiv.org/abs/1506.02626"' in html["han2015learning"]
    missing = [key for key, text in html.items() if 'href="' not in text]
    assert not missing, f"entries with no DOI, arXiv or URL link: {missing}"


def test_repository_button_follows_the_one_url_setting():
    import types

    import site_links

    with_url = types.SimpleNamespace(html_theme_options={"repository_url": "https://example.org/book"})
    site_links._show_repository_buttons(None, with_url)
    assert with_url.html_theme_options["use_repository_button"] is True
    assert with_url.html_theme_options["use_edit_page_button"] is True
    assert with_url.html_theme_options["launch_buttons"]["colab_url"] == site_links.COLAB
    assert with_url.html_theme_options["launch_buttons"]["binderhub_url"] == site_links.BINDER
    without = types.SimpleNamespace(html_theme_options={"repository_url": ""})
    site_links._show_repository_buttons(None, without)
    assert without.html_theme_options == {"repository_url": ""}


def test_the_books_theme_strings_come_before_the_themes():
    """book/_ext/theme_strings.py: the Chinese edition's booktheme.po overrides sphinx-book-theme's zh_CN
    wording (Taiwan usage) for the strings it holds and leaves the theme's for the others."""
    import sphinx_book_theme
    import theme_strings
    import yaml
    from sphinx import locale

    zh = yaml.safe_load((ROOT / "_config_zh.yml").read_text(encoding="utf-8"))
    locale_dirs = zh["sphinx"]["config"]["locale_dirs"]
    saved = dict(locale.translators)
    try:
        locale.translators.pop(("general", "booktheme"), None)
        # what sphinx-book-theme's setup does (app.add_message_catalog)
        locale.init([str(Path(sphinx_book_theme.get_html_theme_path()) / "static" / "locales")], "zh_CN", "booktheme")
        translate = locale.get_translation("booktheme")
        assert translate("Print to PDF") == "列印成 PDF"
        used = theme_strings.put_own_catalogues_first(ROOT, locale_dirs, "zh_CN")
        assert used == [ROOT / "book" / "_locale" / "zh_CN" / "LC_MESSAGES" / "booktheme.po"]  # not sphinx.po
        assert translate("Print to PDF") == "打印为 PDF"
        assert translate("Fullscreen mode") == "全屏模式"  # the theme's catalogue answers the rest
        assert theme_strings.put_own_catalogues_first(ROOT, locale_dirs, None) == []
    finally:
        locale.translators.clear()
        locale.translators.update(saved)
