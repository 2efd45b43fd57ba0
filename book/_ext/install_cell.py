"""The chapters' install cell: outside a checkout (Colab, Binder) it installs ``companion`` first.

When ``_config.yml`` names a repository (``repository: url:``), every notebook's first code cell is
the cell below, tagged ``install-companion``; with no repository there is no such cell. The cell
does nothing (and prints nothing) where ``companion`` imports, as in a checkout or the book build.

Two places apply it, from the same function:

* the book build (``source-read``), so the site always shows the cell for the configured URL;
* ``python book/_ext/install_cell.py`` (``make install-cells``), which writes it into
  ``notebooks/*.ipynb``, since Colab and Binder open the committed notebooks. A test checks that
  the committed notebooks agree with ``_config.yml``.
"""
from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

TAG = "install-companion"


def cell_source(repository_url: str) -> str:
    """The install cell's code for ``repository_url`` (pip installs the package from its git URL)."""
    return "\n".join([
        "# Outside a checkout of the book (Colab, Binder): install its companion package first.",
        "try:",
        "    import companion  # noqa: F401",
        "except ImportError:",
        f'    %pip install --quiet "companion @ git+{repository_url}"',
    ])


def with_install_cell(notebook: dict, repository_url: str) -> dict:
    """A copy of ``notebook`` (nbformat 4 JSON) whose install cell matches ``repository_url``.

    Any earlier install cell is removed; when ``repository_url`` is set, a fresh one goes before the
    first code cell (or at the end of a notebook with none). The input is not modified.
    """
    if not isinstance(repository_url, str):
        raise TypeError(f"repository_url must be a str, got {type(repository_url).__name__}")
    url = repository_url.strip()
    if url and not url.startswith("https://"):
        raise ValueError(f"repository_url must be an https:// address, got {url!r}")
    result = copy.deepcopy(notebook)
    cells = [cell for cell in result["cells"] if TAG not in cell.get("metadata", {}).get("tags", [])]
    if url:
        first_code = next((i for i, cell in enumerate(cells) if cell["cell_type"] == "code"), len(cells))
        source = cell_source(url)
        cell = {"cell_type": "code", "execution_count": None, "id": TAG, "metadata": {"tags": [TAG]},
                "outputs": [], "source": source.splitlines(keepends=True)}
        cells.insert(first_code, cell)
    result["cells"] = cells
    return result


def _add_to_page(app, docname: str, source: list[str]) -> None:
    if not str(app.env.doc2path(docname)).endswith(".ipynb"):
        return
    url = (app.config.html_theme_options or {}).get("repository_url", "")
    notebook = json.loads(source[0])
    updated = with_install_cell(notebook, url)
    if updated != notebook:
        source[0] = json.dumps(updated, ensure_ascii=False, indent=1)


def repository_url_of(project: Path) -> str:
    """``repository: url:`` from the project's ``_config.yml`` (``""`` when unset)."""
    import yaml

    config = yaml.safe_load((project / "_config.yml").read_text())
    return ((config.get("repository") or {}).get("url") or "").strip()


def sync_notebooks(project: Path) -> list[Path]:
    """Write the configured install cell into ``notebooks/*.ipynb``; return the files it changed."""
    import nbformat

    url = repository_url_of(project)
    changed = []
    for path in sorted((project / "notebooks").glob("*.ipynb")):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        updated = with_install_cell(notebook, url)
        if updated != notebook:
            nbformat.write(nbformat.from_dict(updated), str(path))
            changed.append(path)
    return changed


def setup(app):
    app.connect("source-read", _add_to_page)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2]
    for changed_path in sync_notebooks(root):
        print(f"updated {changed_path.relative_to(root)}")
