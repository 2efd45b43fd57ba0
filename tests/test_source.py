"""companion.show: the source of a function on the page, highlighted, with no machine paths."""
import inspect

import pytest

import companion
from companion.quant import affine
from companion.quant.static import IntLinear
from companion.source import Source, source_of


def test_show_returns_the_exact_source_with_its_place_in_the_package():
    shown = companion.show(affine.quantize)
    lines, first = inspect.getsourcelines(affine.quantize)
    assert isinstance(shown, Source)
    assert shown.code == "".join(lines).rstrip("\n")
    assert (shown.path, shown.first_line, shown.last_line) == ("companion/quant/affine.py", first, first + len(lines) - 1)
    assert shown.name == "companion.quant.affine.quantize"


def test_markdown_is_a_python_fence_without_machine_paths():
    markdown = companion.show(IntLinear.forward)._repr_markdown_()
    assert "```python\ndef forward(self" in markdown  # a method is dedented
    assert markdown.rstrip().endswith("```")
    assert str(companion.__file__).rsplit("companion", 1)[0] not in markdown
    assert "companion/quant/static.py" in markdown
    assert repr(companion.show(IntLinear.forward)).startswith("# companion.quant.static.IntLinear.forward")


def test_show_rejects_what_has_no_source():
    with pytest.raises(TypeError, match="show needs a function"):
        source_of(len)
    with pytest.raises(TypeError, match="show needs a function"):
        source_of(3)
