"""Publishing the site: the deploy paths, the site's address, link previews, robots.txt, the install cell."""
import json
import re
import shlex
import sys
from pathlib import Path

import pytest
import yaml
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))

import install_cell  # noqa: E402
import publishing  # noqa: E402


def readme_build_command() -> str:
    """The README's command that builds the website (its quick start: ``make book  # build ...``)."""
    for line in (ROOT / "README.md").read_text().splitlines():
        command, _, comment = line.partition("#")
        if "build the website" in comment:
            return command.strip()
    raise AssertionError("README.md names no command that builds the website")


def test_deploy_workflow_is_valid_yaml_and_runs_the_readme_build():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "deploy-book.yml").read_text())
    assert workflow[True]["push"]["branches"] == ["main"]  # YAML 1.1 reads the key `on` as True
    build_steps = workflow["jobs"]["build"]["steps"]
    runs = [step["run"].strip() for step in build_steps if "run" in step]
    assert readme_build_command() == "make book"
    # the English site, then the Chinese edition, which `make book-zh` copies into _build/html/zh
    assert runs == [readme_build_command(), "make book-zh"]
    upload = [step for step in build_steps if step.get("uses", "").startswith("actions/upload-pages-artifact")]
    assert upload and upload[0]["with"]["path"] == "_build/html"
    assert workflow["jobs"]["deploy"]["needs"] == "build"
    assert workflow["jobs"]["deploy"]["steps"][0]["uses"].startswith("actions/deploy-pages")


def test_make_publish_pushes_the_built_site_with_the_pinned_ghp_import():
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^publish: book\n((?:\t.*\n)+)", makefile, re.M)
    assert recipe, "Makefile has no `publish: book` target"
    words = shlex.split(recipe.group(1).replace("\\\n", " "))
    assert words[0].endswith("ghp-import") and "--push" in words and "--no-jekyll" in words
    assert words[words.index("--branch") + 1] == "gh-pages" and words[-1] == "_build/html"
    pins = (ROOT / "requirements.txt").read_text().splitlines()
    for package in ("ghp-import", "sphinxext-opengraph", "sphinx-sitemap", "sphinx-notfound-page"):
        assert any(re.fullmatch(rf"{package}==[\w.]+", line) for line in pins), package


@pytest.mark.parametrize("baseurl, repository, address", [
    ("", "", ""),
    ("", "https://github.com/Some-Org/pruning-book", "https://some-org.github.io/pruning-book/"),
    ("", "https://github.com/some-org/pruning-book.git/", "https://some-org.github.io/pruning-book/"),
    ("", "https://github.com/some-org/some-org.github.io", "https://some-org.github.io/"),
    ("https://book.example.org/pruning", "https://github.com/a/b", "https://book.example.org/pruning/"),
    ("", "https://gitlab.com/a/b", ""),
    ("", "https://github.com/only-owner", ""),
])
def test_site_address_from_baseurl_or_github_repository(baseurl, repository, address):
    assert publishing.site_address(baseurl, repository) == address


def test_robots_names_the_sitemap_only_with_an_address():
    assert publishing.robots_txt("", "sitemap.xml") == "User-agent: *\nAllow: /\n"
    with_address = publishing.robots_txt("https://a.github.io/b/", "sitemap.xml")
    assert with_address.splitlines()[-1] == "Sitemap: https://a.github.io/b/sitemap.xml"


def test_version_comes_from_pyproject_like_the_wheel():
    import downloads

    version = publishing.project_version(ROOT)
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    assert downloads.wheel_name(ROOT) == f"companion-{version}-py3-none-any.whl"


def test_site_image_is_a_link_preview_sized_png(tmp_path):
    target = publishing.draw_site_image("A Title in Two Lines", "a subtitle", tmp_path / "card.png")
    with Image.open(target) as image:
        assert image.format == "PNG"
        assert image.size == publishing.SITE_IMAGE_SIZE
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 24)) > 2  # drawn, not a blank fill


NOTEBOOK = {"cells": [{"cell_type": "markdown", "id": "a", "metadata": {}, "source": ["# Title"]},
                      {"cell_type": "code", "id": "b", "metadata": {}, "source": ["x = 1"],
                       "execution_count": None, "outputs": []}],
            "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
URL = "https://github.com/some-org/pruning-book"


def test_install_cell_goes_before_the_first_code_cell_and_follows_the_url():
    original = json.loads(json.dumps(NOTEBOOK))
    with_cell = install_cell.with_install_cell(NOTEBOOK, URL)
    assert NOTEBOOK == original  # not modified in place
    assert [cell["id"] for cell in with_cell["cells"]] == ["a", install_cell.TAG, "b"]
    assert f'"companion @ git+{URL}"' in "".join(with_cell["cells"][1]["source"])
    assert install_cell.with_install_cell(with_cell, URL) == with_cell  # idempotent
    moved = install_cell.with_install_cell(with_cell, "https://github.com/other/repo")
    assert [cell["id"] for cell in moved["cells"]] == ["a", install_cell.TAG, "b"]
    assert "git+https://github.com/other/repo" in "".join(moved["cells"][1]["source"])
    assert install_cell.with_install_cell(with_cell, "") == NOTEBOOK  # unset: the cell goes


def test_install_cell_rejects_bad_urls():
    with pytest.raises(ValueError, match="repository_url"):
        install_cell.with_install_cell(NOTEBOOK, "git@github.com:a/b")
    with pytest.raises(TypeError, match="repository_url"):
        install_cell.with_install_cell(NOTEBOOK, None)


class FakeIPython:
    """Records the line magics a cell runs instead of running them."""

    def __init__(self):
        self.magics = []

    def run_line_magic(self, name, line, _stack_depth=1):
        self.magics.append((name, line))


def run_install_cell(url, monkeypatch, importable: bool) -> list:
    from IPython.core.inputtransformer2 import TransformerManager

    code = TransformerManager().transform_cell(install_cell.cell_source(url))
    if not importable:
        monkeypatch.setitem(sys.modules, "companion", None)  # `import companion` raises ImportError
    shell = FakeIPython()
    exec(compile(code, "install-cell", "exec"), {"get_ipython": lambda: shell})
    return shell.magics


def test_install_cell_is_a_no_op_where_companion_imports(monkeypatch, capsys):
    assert run_install_cell(URL, monkeypatch, importable=True) == []
    assert capsys.readouterr() == ("", "")


def test_install_cell_pip_installs_from_the_repository_where_companion_is_missing(monkeypatch):
    magics = run_install_cell(URL, monkeypatch, importable=False)
    assert magics == [("pip", f'install --quiet "companion @ git+{URL}"')]


def test_committed_notebooks_agree_with_the_configured_repository():
    url = install_cell.repository_url_of(ROOT)
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        assert install_cell.with_install_cell(notebook, url) == notebook, (
            f"{path.name}: run `make install-cells` after changing _config.yml's repository URL")


def test_install_cell_runs_silently_in_a_real_kernel_where_companion_imports():
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.reads(json.dumps(install_cell.with_install_cell(NOTEBOOK, URL)), as_version=4)
    NotebookClient(notebook, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT)}}).execute()
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code[0].metadata["tags"] == [install_cell.TAG]
    assert [cell.outputs for cell in code] == [[], []]
