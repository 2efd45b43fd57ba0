"""The student edition (`make student`): no solution leaks, every exercise keeps its stub and self-check, it runs."""
import json
import os
import re
import subprocess
import sys

import pytest

from notebook_rules import NOTEBOOKS, ROOT, code_cells, exercises, load, markdown, solutions
from tools.make_student import exercise_cells, strip_solutions, student_notebook, write_student_edition

_DIRECTIVE_LINE = re.compile(r"^(:{3,}|`{3,})\S*$|^:class:")  # fences and options, not content


def solution_only_lines(original: dict) -> set[str]:
    """Lines of the original's solutions (code and prose) that appear nowhere else in the notebook.

    Lines a solution shares with the rest of the chapter (an import, the ``def`` line of the stub, the
    self-check call) are not secrets; every other line of a solution is, and must not reach students.
    """
    outside = set()
    for text in code_cells(original) + [strip_solutions(m) for m in markdown(original)]:
        outside.update(line.strip() for line in text.splitlines())
    secret = set()
    for text in markdown(original):
        for match in re.finditer(r"^(:{3,}|`{3,})\{solution\}[^\n]*\n(.*?)^\1\s*$", text, re.S | re.M):
            secret.update(line.strip() for line in match.group(2).splitlines())
    return {line for line in secret - outside if line and not _DIRECTIVE_LINE.match(line)}


def leaks(original: dict, student: dict) -> list[str]:
    """The solution-only lines of ``original`` that can be found anywhere in ``student``."""
    student_lines = {line.strip() for cell in student["cells"] for line in "".join(cell["source"]).splitlines()}
    return sorted(solution_only_lines(original) & student_lines)


def test_strip_solutions_removes_the_directive_and_keeps_what_surrounds_it():
    text = ("Intro.\n\n::::{solution} ex-a\n:class: dropdown\nThe secret idea.\n```python\nsecret = 1\n```\n::::\n\n"
            ":::{exercise} Next\n:label: ex-b\nDo it.\n:::")
    assert strip_solutions(text) == "Intro.\n\n:::{exercise} Next\n:label: ex-b\nDo it.\n:::"
    assert strip_solutions("````{solution} ex-a\nsecret\n````\nafter") == "after"
    assert strip_solutions("no solution here") == "no solution here"
    with pytest.raises(ValueError, match="unterminated"):
        strip_solutions("::::{solution} ex-a\nsecret, never closed")


def test_a_notebook_without_a_stub_cell_is_refused():
    notebook = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": [":::{exercise} A\n:::"]},
                          {"cell_type": "code", "metadata": {}, "source": ["x = 1"], "outputs": [], "execution_count": None}]}
    with pytest.raises(ValueError, match="NotImplementedError"):
        student_notebook(notebook)


def test_the_leak_detector_finds_the_solutions_in_the_original():
    original = load(NOTEBOOKS[0])
    assert solution_only_lines(original)
    assert leaks(original, original) == sorted(solution_only_lines(original))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_student_notebook_has_no_solutions_and_keeps_every_self_check(path):
    original = load(path)
    student = student_notebook(original)
    assert solutions(student) == [] and not any("{solution}" in text for text in markdown(student))
    assert leaks(original, student) == []
    # Every exercise is still there, each followed by its stub cell that calls the same self-check.
    assert exercises(student) == [strip_solutions(text) for text in exercises(original)]
    pairs = exercise_cells(student)
    assert len(pairs) == len(exercises(original)) > 0
    for _, stub in pairs:
        assert re.search(r"\bcheck_\w+\(", "".join(student["cells"][stub]["source"]))
    # Nothing else changes: the code cells are the original's, in order, so the notebook runs as the book does.
    assert code_cells(student) == code_cells(original)


def test_make_student_writes_every_notebook_without_the_network(tmp_path):
    target = tmp_path / "student"
    env = {key: value for key, value in os.environ.items() if "proxy" not in key.lower()}
    subprocess.run(["make", "-s", "student", f"STUDENT_DIR={target}"], cwd=ROOT, env=env, check=True,
                   capture_output=True, text=True)
    assert sorted(p.name for p in target.glob("*.ipynb")) == [p.name for p in NOTEBOOKS]
    for path in NOTEBOOKS:
        written = json.loads((target / path.name).read_text(encoding="utf-8"))
        assert written == student_notebook(load(path))


@pytest.mark.slow
def test_a_student_chapter_runs_end_to_end_under_nbval(tmp_path):
    # Chapter 2: short, and free of timing assertions, so contention on a shared machine cannot fail it.
    chapter = ROOT / "notebooks" / "ch02_concepts.ipynb"
    write_student_edition(chapter.parent, tmp_path)
    for other in tmp_path.glob("*.ipynb"):
        if other.name != chapter.name:
            other.unlink()
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                             "--nbval-current-env", chapter.name], cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stdout[-3000:]
    assert re.search(r"\d+ passed", result.stdout)
