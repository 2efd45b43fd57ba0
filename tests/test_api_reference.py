"""The API reference (book/api) documents every module of companion and every name in every __all__.

The fast tests read the pages' ``automodule`` directives and compare them with the package; the slow
one builds the pages with Sphinx and ``-W`` (as the book does) and finds each name in the HTML.
"""
import importlib
import pkgutil
import re
import subprocess
import sys

import pytest
import yaml

import companion
from notebook_rules import ROOT

sys.path.insert(0, str(ROOT / "book" / "_ext"))
from api_docstrings import convert  # noqa: E402

API = ROOT / "book" / "api"
PAGES = sorted(API.glob("*.md"))
DIRECTIVE = re.compile(r"\.\. automodule:: (\S+)\n((?:   :[\w-]+:.*\n)*)")


def all_modules() -> list[str]:
    names = ["companion"]
    for info in pkgutil.walk_packages(companion.__path__, "companion."):
        names.append(info.name)
    return names


def documented() -> dict[str, set[str]]:
    """Module → its options (``members``, ``undoc-members``), for every automodule of the pages."""
    found = {}
    for page in PAGES:
        for module, options in DIRECTIVE.findall(page.read_text(encoding="utf-8")):
            assert module not in found, f"{module} is documented twice"
            found[module] = set(re.findall(r":([\w-]+):", options))
    return found


def test_every_module_is_documented_with_its_members():
    pages = documented()
    assert set(all_modules()) <= set(pages), f"modules missing from book/api: {set(all_modules()) - set(pages)}"
    for module in all_modules():
        if not hasattr(importlib.import_module(module), "__path__"):  # a module, not a package
            assert {"members", "undoc-members"} <= pages[module], f"{module}: automodule needs :members: :undoc-members:"


def test_every_exported_name_is_in_the_reference():
    """A name counts when a documented module lists it in __all__ (autodoc then documents it), when it
    is the same object as such a name (a re-export), or when the index page names it (an alias)."""
    pages = documented()
    shown = {}
    for module in pages:
        if "members" in pages[module]:
            mod = importlib.import_module(module)
            for name in mod.__all__:
                shown[(module, name)] = getattr(mod, name)
    index = (API / "index.md").read_text(encoding="utf-8")
    missing = []
    for module in all_modules():
        mod = importlib.import_module(module)
        for name in mod.__all__:
            obj = getattr(mod, name)
            if (module, name) in shown or f"`{module}.{name}`" in index:
                continue
            if any(other is obj and other_name == name for (_, other_name), other in shown.items()):
                continue
            missing.append(f"{module}.{name}")
    assert not missing, f"exported but not in book/api: {missing}"


def test_the_reference_is_in_the_table_of_contents():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [chapter["file"] for part in toc["parts"] for chapter in part["chapters"]]
    sections = [s["file"] for part in toc["parts"] for c in part["chapters"] for s in c.get("sections", [])]
    assert "book/api/index" in files
    assert {f"book/api/{page.stem}" for page in PAGES} - {"book/api/index"} == set(sections)


@pytest.mark.parametrize("docstring, rst", [
    (["the error is at most $S/2$."], ["the error is at most :math:`S/2`."]),
    (["keeps |w| above ``tau`` where ``|w| > 0``"], [r"keeps \|w\| above ``tau`` where ``|w| > 0``"]),
    (["a ``C``×H image, $k$th"], [r"a ``C``\ ×H image, :math:`k`\ th"]),
    (["costs $5"], ["costs $5"]),
    (["", "  $$", "  x = 1", "  $$", "after"], ["", "", "  .. math::", "", "     x = 1", "", "after"]),
    (["$$ y = 2 $$"], ["", ".. math::", "", "   y = 2", ""]),
])
def test_docstrings_become_restructuredtext(docstring, rst):
    assert convert(docstring) == rst


def test_an_unclosed_display_is_an_error():
    with pytest.raises(ValueError, match="never closes"):
        convert(["$$", "x = 1"])


@pytest.mark.slow
def test_the_reference_builds_with_W_and_shows_every_name(tmp_path):
    (tmp_path / "api").mkdir()
    for page in PAGES:
        (tmp_path / "api" / page.name).write_text(page.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "index.md").write_text("# Index\n\n```{toctree}\n" + "\n".join(f"api/{p.stem}" for p in PAGES)
                                       + "\n```\n", encoding="utf-8")
    (tmp_path / "conf.py").write_text(
        f"import sys\nsys.path.insert(0, {str(ROOT / 'book' / '_ext')!r})\n"
        "extensions = ['myst_parser', 'sphinx.ext.autodoc', 'api_docstrings']\n"
        "myst_enable_extensions = ['dollarmath', 'colon_fence']\nautodoc_member_order = 'bysource'\n"
        "suppress_warnings = ['ref.doc', 'ref.python']\n", encoding="utf-8")
    build = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                            str(tmp_path), str(tmp_path / "_build")], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-3000:]
    html = "".join(path.read_text(encoding="utf-8") for path in (tmp_path / "_build" / "api").glob("*.html"))
    assert str(ROOT) not in html, "a value in the reference names the build machine's folder"
    # Each documented object's id is its home module and name: find it, or the alias on the index page.
    ids = {tuple(found.rsplit(".", 1)) for found in re.findall(r'<dt class="sig sig-object py" id="([\w.]+)"', html)}
    modules = set(all_modules())
    objects = [getattr(importlib.import_module(home), name) for home, name in ids if home in modules]
    for module in all_modules():
        mod = importlib.import_module(module)
        for name in mod.__all__:
            obj = getattr(mod, name)
            assert (module, name) in ids or any(other is obj for other in objects) or f"{module}.{name}" in html, \
                f"{module}.{name} is not in the built reference"
