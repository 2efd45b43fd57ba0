"""What every chapter notebook must satisfy, as small functions the tests apply (and test)."""
from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

_PYTHON_FENCE = re.compile(r"```python\n(.*?)```", re.S)


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def cells_with_outputs(notebook: dict) -> list[int]:
    """Indices of code cells saved with outputs or an execution count (they must be saved clean)."""
    return [i for i, cell in enumerate(notebook["cells"])
            if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)]


def markdown(notebook: dict) -> list[str]:
    return ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "markdown"]


def code_cells(notebook: dict) -> list[str]:
    return ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]


CODE_WIDTH = 90  # characters: wider code scrolls sideways on the page and on a phone


def long_code_lines(notebook: dict, width: int = CODE_WIDTH) -> list[tuple[str, int, int, str]]:
    """Lines longer than ``width`` characters in code cells and in the Python of hidden solutions.

    Each item is ``(where, cell index, line number from 1, line)``; ``where`` is ``"code"`` for a
    code cell and ``"solution"`` for a fenced ``python`` block inside a markdown cell.
    """
    found = []
    for index, cell in enumerate(notebook["cells"]):
        source = "".join(cell["source"])
        if cell["cell_type"] == "code":
            blocks = [("code", source)]
        else:
            blocks = [("solution", block) for block in _PYTHON_FENCE.findall(source)]
        for where, block in blocks:
            found += [(where, index, number, line)
                      for number, line in enumerate(block.split("\n"), start=1) if len(line) > width]
    return found


def exercises(notebook: dict) -> list[str]:
    return [text for text in markdown(notebook) if "{exercise}" in text]


_EXERCISE_TITLE = re.compile(r"^(?:`{3,}|~{3,}|:{3,})\{exercise(?:-start)?\}[ \t]*(\S.*?)[ \t]*$", re.M)


def exercise_titles(notebook: dict) -> list[str]:
    """The title (directive argument) of each ``{exercise}`` that has one, as written in the markdown."""
    return [title for text in markdown(notebook) for title in _EXERCISE_TITLE.findall(text)]


def solutions(notebook: dict) -> list[str]:
    """The Python code of each hidden solution (the fenced blocks inside a ``{solution}`` directive)."""
    return ["\n".join(_PYTHON_FENCE.findall(text)) for text in markdown(notebook) if "{solution}" in text]
