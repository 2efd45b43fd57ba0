"""Show the code on the page: the source of a companion function, class or method, highlighted.

Each chapter derives a technique and then calls ``show(function)`` to put the code that implements
it under the equations. The result is a display object with a Markdown representation, a fenced
``python`` block headed by the object's qualified name and its file and lines inside the package,
which JupyterLab renders highlighted and which the Jupyter Book build renders with the same
Pygments highlighting as every other code block. The plain-text representation (a terminal, a
doctest) is the source itself. Paths are given relative to the repository, never as the absolute
path of the machine that built the page.
"""
from __future__ import annotations

import inspect
import textwrap
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Source", "source_of", "show"]

_ROOT = Path(__file__).resolve().parent.parent  # the directory that holds the companion package


@dataclass(frozen=True)
class Source:
    """Source code of one object: its qualified name, file (relative to the repository), first and last line."""

    name: str
    path: str
    first_line: int
    last_line: int
    code: str

    def _repr_markdown_(self) -> str:
        fence = "````" if "```" in self.code else "```"
        header = f"**`{self.name}`** (`{self.path}`, lines {self.first_line}–{self.last_line})"
        return f"{header}\n\n{fence}python\n{self.code}\n{fence}\n"

    def __repr__(self) -> str:
        return f"# {self.name} ({self.path}, lines {self.first_line}-{self.last_line})\n{self.code}"


def source_of(obj) -> Source:
    """The :class:`Source` of a function, class or method (a ``TypeError`` for anything without one)."""
    target = inspect.unwrap(getattr(obj, "__func__", obj))
    try:
        lines, first = inspect.getsourcelines(target)
        file = Path(inspect.getsourcefile(target)).resolve()
    except (TypeError, OSError) as error:
        raise TypeError(f"show needs a function, class or method defined in Python source, got {obj!r}") from error
    try:
        path = file.relative_to(_ROOT).as_posix()
    except ValueError:
        path = file.name  # outside the repository (a library): the file name alone, no machine path
    name = f"{target.__module__}.{target.__qualname__}"
    code = textwrap.dedent("".join(lines)).rstrip("\n")
    return Source(name=name, path=path, first_line=first, last_line=first + len(lines) - 1, code=code)


def show(obj) -> Source:
    """Display the highlighted source of ``obj`` (a function, class or method) in a notebook cell.

    Returns the :class:`Source`; as the last expression of a cell it renders as a highlighted block.
    """
    return source_of(obj)
