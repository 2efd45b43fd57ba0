"""Write the student edition of the chapter notebooks: every hidden solution removed, every self-check kept.

In the book each exercise is a ``{exercise}`` directive in a markdown cell, followed by a code cell that
holds a stub (``raise NotImplementedError``) and the call to its self-check from ``companion.checks``,
followed by a ``{solution}`` directive (a dropdown) with the worked answer. The student edition drops
the ``{solution}`` directives from the markdown, and nothing else: the stub cells stay, so each self-check
reports "not attempted yet" until the student fills the stub in, and the notebook still runs top to bottom.

The tool uses only the standard library, so ``make student`` needs neither the network nor the
virtual environment::

    python3 tools/make_student.py notebooks _build/student
"""
from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from pathlib import Path

# The opening line of a MyST solution directive: a fence of 3+ colons or backticks, then {solution}.
_SOLUTION_OPEN = re.compile(r"^(?P<fence>:{3,}|`{3,})\{solution\}")
_STUB = re.compile(r"raise\s+NotImplementedError")
_CHECK_CALL = re.compile(r"\bcheck_\w+\(")

STUDENT_NOTE = ("> **Student edition.** The worked solutions are removed. Fill in each exercise cell that says "
                "`# Your code here.` and run it: its self-check says whether your answer is right, and says "
                "\"not attempted yet\" until you replace `raise NotImplementedError`.")


def strip_solutions(text: str) -> str:
    """``text`` (one markdown cell) without its ``{solution}`` directives, surrounding blank lines tidied.

    A directive runs from its opening fence to the first line that is exactly that fence. An
    unterminated directive is an error rather than a silent leak.
    """
    lines, kept, i = text.split("\n"), [], 0
    while i < len(lines):
        opening = _SOLUTION_OPEN.match(lines[i])
        if not opening:
            kept.append(lines[i])
            i += 1
            continue
        close = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == opening["fence"]), None)
        if close is None:
            raise ValueError(f"unterminated {{solution}} directive starting at line {i + 1}: {lines[i]!r}")
        i = close + 1
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip("\n")


def exercise_cells(notebook: dict) -> list[tuple[int, int]]:
    """(exercise markdown cell, its stub code cell) index pairs; each exercise needs one stub cell after it.

    The stub cell is the first code cell after the exercise; it must raise ``NotImplementedError`` and call
    a ``check_…`` self-check, or the notebook cannot be handed to students and this raises ``ValueError``.
    """
    cells, pairs = notebook["cells"], []
    for i, cell in enumerate(cells):
        if cell["cell_type"] != "markdown" or "{exercise}" not in "".join(cell["source"]):
            continue
        stub = next((j for j in range(i + 1, len(cells)) if cells[j]["cell_type"] == "code"), None)
        code = "" if stub is None else "".join(cells[stub]["source"])
        if stub is None or not _STUB.search(code) or not _CHECK_CALL.search(code):
            raise ValueError(f"the exercise in cell {i} has no stub cell after it that raises "
                             "NotImplementedError and calls its check_… self-check")
        pairs.append((i, stub))
    return pairs


def student_notebook(notebook: dict) -> dict:
    """A copy of ``notebook`` with every solution removed and a note saying so after the title cell."""
    exercise_cells(notebook)  # refuses a notebook whose exercises lack their stub and self-check
    student = copy.deepcopy(notebook)
    cells = []
    for cell in student["cells"]:
        if cell["cell_type"] == "markdown":
            text = strip_solutions("".join(cell["source"]))
            if not text.strip():
                continue
            cell["source"] = text.splitlines(keepends=True)
        elif cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
        cells.append(cell)
    note = {"cell_type": "markdown", "id": "student-edition-note", "metadata": {},
            "source": STUDENT_NOTE.splitlines(keepends=True)}
    student["cells"] = cells[:1] + [note] + cells[1:]
    return student


def write_student_edition(source: Path, target: Path) -> list[Path]:
    """Write the student copy of every ``*.ipynb`` in ``source`` into ``target``; returns the written paths."""
    paths = sorted(Path(source).glob("*.ipynb"))
    if not paths:
        raise ValueError(f"source must be a folder of notebooks; found no *.ipynb in {source}")
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        notebook = json.loads(path.read_text(encoding="utf-8"))
        out = target / path.name
        out.write_text(json.dumps(student_notebook(notebook), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(out)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="folder of the book's notebooks")
    parser.add_argument("target", type=Path, help="folder to write the student notebooks into")
    args = parser.parse_args(argv)
    for path in write_student_edition(args.source, args.target):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
