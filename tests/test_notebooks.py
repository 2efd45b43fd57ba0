"""Rules every chapter notebook follows; nbval (``pytest --nbval-lax notebooks``) runs their cells."""
import copy
import re

import pytest

from notebook_rules import (CODE_WIDTH, NOTEBOOKS, cells_with_outputs, code_cells, exercises, load,
                            long_code_lines, markdown, solutions)

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
def test_code_fits_the_page(path):
    too_long = long_code_lines(load(path))
    assert not too_long, f"{path.name}: {len(too_long)} code lines over {CODE_WIDTH} characters:\n" + "\n".join(
        f"  {where} cell {cell}, line {line}: {len(text)} chars: {text.strip()[:60]}..."
        for where, cell, line, text in too_long)


def test_the_width_rule_catches_a_long_line():
    notebook = {"cells": [
        {"cell_type": "markdown", "source": ["# Title\n", "x" * 200]},
        {"cell_type": "code", "source": ["ok = 1\n", "y = " + "1 + " * 30 + "1"]},
        {"cell_type": "markdown", "source": ["```{solution} e\n", "```python\n", "z" * 91 + "\n", "```\n"]},
    ]}
    assert [(where, cell, line) for where, cell, line, _ in long_code_lines(notebook)] == [
        ("code", 1, 2), ("solution", 2, 1)]
    notebook["cells"][1]["source"][1] = "y = 1"
    notebook["cells"][2]["source"][2] = "z" * 90 + "\n"
    assert long_code_lines(notebook) == []


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


# Chapters 3.2–3.5 put the code of every technique they derive on the page with companion.show.
SHOWN = {
    "ch03_2_quantization_int8": ["calc_qparams", "quantize", "quantize_unchecked", "MinMaxObserver",
                                 "quantize_weight_int8", "DynamicQuantLinear.forward", "fold_conv_bn",
                                 "quantize_multiplier", "requantize", "IntLinear.quantize_from",
                                 "IntLinear.requantize_accumulator", "IntConv2d.forward"],
    "ch03_3_quantization_low_bit": ["quantize_uniform", "binarize", "ternarize", "fake_quantize", "LSQFakeQuant",
                                    "kmeans_quantize", "centroid_gradients", "SharedWeight", "pack", "allocate_bits"],
    "ch03_4_pruning_weights": ["cp.smallest_mask", "cp.prune_by_scores", "cp.apply_mask", "cp.global_magnitude",
                               "cp.agp_sparsity", "cp.GradualPruner.__call__", "cp.to_csr", "cp.nm_mask",
                               "cp.find_ticket"],
    "ch03_5_pruning_neurons": ["dead_units", "weight_norm", "taylor", "group_scores", "dependency_groups",
                               "shrink_outputs", "shrink_norm", "shrink_inputs", "remove_units",
                               "ratios_from_sensitivity"],
}


@pytest.mark.parametrize("chapter", sorted(SHOWN))
def test_chapter_shows_the_code_it_derives(chapter):
    path = next(p for p in NOTEBOOKS if p.stem == chapter)
    shown = set(re.findall(r"^show\(([\w.]+)\)$", "\n".join(code_cells(load(path))), re.M))
    missing = [name for name in SHOWN[chapter] if name not in shown]
    assert not missing, f"{path.name} does not show the source of {missing}"
    assert len(shown) >= 9
