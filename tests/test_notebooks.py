"""Rules every chapter notebook follows; nbval (``pytest --nbval-lax notebooks``) runs their cells."""
import copy

import pytest

from notebook_rules import NOTEBOOKS, cells_with_outputs, exercises, load, markdown, solutions

IDS = [p.stem for p in NOTEBOOKS]


def test_there_are_chapters():
    assert len(NOTEBOOKS) >= 2


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_saved_without_outputs(path):
    assert cells_with_outputs(load(path)) == [], f"{path.name} holds outputs: clear them before saving"


def test_the_output_rule_catches_a_dirty_notebook():
    notebook = copy.deepcopy(load(NOTEBOOKS[0]))
    code = next(i for i, c in enumerate(notebook["cells"]) if c["cell_type"] == "code")
    notebook["cells"][code]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["hi\n"]}]
    assert cells_with_outputs(notebook) == [code]
    notebook["cells"][code]["outputs"] = []
    notebook["cells"][code]["execution_count"] = 3
    assert cells_with_outputs(notebook) == [code]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_chapter_shape(path):
    text = "\n".join(markdown(load(path)))
    assert text.lstrip().startswith("# "), "a chapter opens with its title"
    for heading in ("Learning goals", "Summary", "Exercises"):
        assert heading in text, f"{path.name} has no '{heading}' section"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_exercises_have_solutions_that_pass_their_self_checks(path, capsys):
    notebook = load(path)
    assert len(exercises(notebook)) >= 3, "each chapter has at least 3 exercises"
    codes = solutions(notebook)
    assert len(codes) == len(exercises(notebook)), "every exercise has one hidden solution"
    for code in codes:
        assert "check_" in code, "a solution ends by calling its self-check"
        exec(compile(code, f"<solution in {path.name}>", "exec"), {})  # an AssertionError fails the test
        assert "correct" in capsys.readouterr().out
