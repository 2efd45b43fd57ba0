"""Render the companion's docstrings, written as plain text, correctly in the API reference.

The package's docstrings use the book's own notation rather than reStructuredText: ``code`` in double
backquotes, mathematics in dollars (``$S/2$``, and ``$$ … $$`` on lines of their own), and ``|w|``
for an absolute value. Read as reStructuredText, the dollars would print literally and ``|w|`` would be
a substitution reference (an error). Before autodoc parses a docstring (``autodoc-process-docstring``),
this turns ``$$`` blocks into ``.. math::`` directives and ``$x$`` into ``:math:`x```, escapes every
``|`` outside code and mathematics, and separates markup from a letter that touches it (``\\ ``), so
the docstrings stay readable as plain text in ``help()`` and the reference builds with ``-W``.
"""
from __future__ import annotations

import inspect
import os
import re
import sys
from pathlib import Path

from sphinx.ext.autodoc import DataDocumenter, ModuleDocumenter

# The checkout's own companion is the one documented, whichever copy the environment has installed.
ROOT = Path(__file__).resolve().parents[2]

# ``literal``, or $inline math$ (no $ inside, not empty, not starting or ending with a space).
_MARKUP = re.compile(r"``.+?``|\$(?!\s)[^$]+?(?<!\s)\$")


def _convert_line(line: str) -> str:
    """One line's inline markup as reStructuredText (see the module's docstring)."""
    out, position = [], 0
    for match in _MARKUP.finditer(line):
        out.append(match.string[position:match.start()].replace("|", r"\|"))
        token = match.group()
        rst = token if token.startswith("``") else f":math:`{token[1:-1]}`"
        if out[-1] and (out[-1][-1].isalnum() or out[-1][-1] in ")]"):
            rst = "\\ " + rst
        following = line[match.end():match.end() + 1]
        if following and (following.isalnum() or following in "×([·"):
            rst += "\\ "
        out.append(rst)
        position = match.end()
    out.append(line[position:].replace("|", r"\|"))
    return "".join(out)


def convert(lines: list[str]) -> list[str]:
    """The docstring ``lines`` with its mathematics and bars in reStructuredText form."""
    result: list[str] = []
    display: list[str] | None = None  # the lines of an open $$ block
    indent = ""
    for line in lines:
        stripped = line.strip()
        if display is not None:
            if stripped.endswith("$$"):
                display.append(stripped[:-2])
                result += ["", f"{indent}.. math::", ""]
                result += [f"{indent}   {part.strip()}" for part in display if part.strip()]
                result.append("")
                display = None
            else:
                display.append(line)
            continue
        if stripped.startswith("$$"):
            indent = line[:len(line) - len(line.lstrip())]
            body = stripped[2:]
            if body.endswith("$$"):
                result += ["", f"{indent}.. math::", "", f"{indent}   {body[:-2].strip()}", ""]
            else:
                display = [body]
            continue
        result.append(_convert_line(line))
    if display is not None:
        raise ValueError("a docstring opens a $$ block that it never closes")
    return result


class ConstantDocumenter(DataDocumenter):
    """Autodoc's data documenter, also for a module constant that has no ``#:`` comment.

    Autodoc documents a module-level value only when the source gives it a doc comment, so a constant
    listed in ``__all__`` (``MAX_CODE_LENGTH = 255  # …``) would be left out of the reference; here
    every non-callable member that ``__all__`` lists is shown with its value.
    """

    @classmethod
    def can_document_member(cls, member, membername, isattr, parent) -> bool:
        if not isinstance(parent, ModuleDocumenter):
            return False
        return isattr or not (callable(member) or inspect.ismodule(member))

    def should_suppress_value_header(self) -> bool:
        """Hide a path's value: it names the folder of the machine that built the book."""
        return isinstance(self.object, os.PathLike) or super().should_suppress_value_header()

    def get_doc(self) -> list[list[str]]:
        """The constant's ``#:`` comment or docstring, never the docstring of its type (``dict``'s)."""
        comment = self.get_module_comment(self.objpath[-1])
        return [comment] if comment else []


def _process(app, what, name, obj, options, lines):
    lines[:] = convert(lines)


def setup(app):
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    app.setup_extension("sphinx.ext.autodoc")
    app.add_autodocumenter(ConstantDocumenter, override=True)
    app.connect("autodoc-process-docstring", _process)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
