"""The shared execution cache keeps the English build strict and spares the other editions a second run.

A one-notebook book in a temporary folder, built with the book's own `execute:` settings: a clean
cache runs every cell, a second edition reuses the outputs, and a failing cell or a cell writing to
stderr still fails a -W build, as with `execute_notebooks: force`.
"""
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def make_book(folder: Path, cell: str) -> None:
    execute = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))["execute"]
    assert execute["execute_notebooks"] == "cache" and not Path(execute["cache"]).is_absolute()
    config = {"title": "t", "execute": {**execute, "timeout": 120}, "only_build_toc_files": True}
    (folder / "_config.yml").write_text(yaml.safe_dump(config))
    (folder / "_toc.yml").write_text("format: jb-book\nroot: nb\n")
    counter = folder / "runs.txt"
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# A page"),
        nbformat.v4.new_code_cell(f"with open({str(counter)!r}, 'a') as f:\n    f.write('run\\n')\n{cell}")])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, folder / "nb.ipynb")


def build(folder: Path, output: str) -> subprocess.CompletedProcess:
    jb = Path(sys.executable).with_name("jupyter-book")
    return subprocess.run([str(jb), "build", "-W", "--keep-going", "--all", "--path-output", output, "."],
                          cwd=folder, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""})


def runs(folder: Path) -> int:
    path = folder / "runs.txt"
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_a_second_edition_reuses_the_outputs_of_the_first(tmp_path):
    make_book(tmp_path, "print(6 * 7)")
    first = build(tmp_path, ".")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert runs(tmp_path) == 1 and "42" in (tmp_path / "_build/html/nb.html").read_text()
    second = build(tmp_path, "_build/other")  # another output folder, as the zh edition and the PDF use
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert runs(tmp_path) == 1, "the second build ran the notebook again"
    assert "42" in (tmp_path / "_build/other/_build/html/nb.html").read_text()


@pytest.mark.parametrize("cell, message", [("1 / 0", "Executing notebook failed"),
                                           ("import sys; print('careful', file=sys.stderr)", "stderr")])
def test_a_failing_cell_or_stderr_output_fails_the_build(tmp_path, cell, message):
    make_book(tmp_path, cell)
    result = build(tmp_path, ".")
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
