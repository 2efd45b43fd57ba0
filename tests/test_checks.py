"""The exercise self-checks accept the right answer, reject wrong ones, and tolerate unattempted ones."""
import pytest
import torch

import check_cases_compress
import check_cases_image
import check_cases_lowbit
import check_cases_measure
import check_cases_optim
import check_cases_prune
import check_cases_quant
import check_cases_speech
import check_cases_structured
import check_cases_summary
import check_cases_text
import check_cases_tools
from companion.checks import assert_close, assert_equal, exercise


def test_exercise_wrapper_reports_unattempted_and_correct(capsys):
    @exercise
    def check_answer(fn):
        assert_equal("answer", fn(), 42)

    def unattempted():
        raise NotImplementedError

    assert check_answer(unattempted) is None
    assert "not attempted yet" in capsys.readouterr().out
    assert check_answer(lambda: 42) is None
    assert "correct" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="answer: expected 42, got 41"):
        check_answer(lambda: 41)


def test_assert_helpers():
    assert_close("x", [1.0, 2.0], [1.0, 2.0 + 1e-9])
    with pytest.raises(AssertionError, match="shape"):
        assert_close("x", [1.0], [1.0, 2.0])
    with pytest.raises(AssertionError, match="x: expected"):
        assert_close("x", 1.0, 1.1)
    assert_equal("t", torch.tensor([1, 2]), torch.tensor([1, 2]))
    with pytest.raises(AssertionError):
        assert_equal("t", torch.tensor([1, 2]), torch.tensor([1, 3]))


# Each chapter's module lists (check, right answer, wrong answer) triples; every check appears at least once.
CASES = [case for topic in (check_cases_measure, check_cases_optim, check_cases_quant, check_cases_lowbit,
                            check_cases_prune, check_cases_structured, check_cases_compress, check_cases_text,
                            check_cases_speech, check_cases_summary, check_cases_tools, check_cases_image)
         for case in topic.CASES]
CHECKS = list(dict.fromkeys(check for check, _, _ in CASES))


@pytest.mark.parametrize("check, right, wrong", CASES, ids=[f"{c.__name__}-{getattr(w, '__name__', 'wrong')}" for c, _, w in CASES])
def test_checks_accept_right_and_reject_wrong_answers(check, right, wrong, capsys):
    check(right)
    assert "correct" in capsys.readouterr().out
    with pytest.raises(AssertionError):
        check(wrong)


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__ for c in CHECKS])
def test_unattempted_exercises_are_reported_not_failed(check, capsys):
    def unattempted(*args):
        raise NotImplementedError

    check(unattempted)
    assert "not attempted yet" in capsys.readouterr().out


def test_every_self_check_in_the_package_is_tested():
    import importlib
    import pkgutil

    import companion.checks

    defined = {f"{info.name}.{name}" for info in pkgutil.iter_modules(companion.checks.__path__)
               for name in dir(importlib.import_module(f"companion.checks.{info.name}")) if name.startswith("check_")}
    tested = {f"{c.__module__.rsplit('.', 1)[1]}.{c.__name__}" for c in CHECKS}
    assert defined == tested


# Adversarial wrong answers a student might try (ties, duplicates, in-place edits, wrong dtypes,
# off-by-one): each must be rejected, and the message must say what is wrong.
TOPICS = (check_cases_measure, check_cases_optim, check_cases_quant, check_cases_lowbit, check_cases_prune,
          check_cases_structured, check_cases_compress, check_cases_text, check_cases_speech, check_cases_summary,
          check_cases_tools, check_cases_image)
ADVERSARIAL = [case for topic in TOPICS for case in topic.ADVERSARIAL]


@pytest.mark.parametrize("check, wrong, message", ADVERSARIAL,
                         ids=[f"{c.__name__}-{getattr(w, '__name__', 'wrong')}-{i}" for i, (c, w, _) in enumerate(ADVERSARIAL)])
def test_checks_reject_adversarial_answers_saying_why(check, wrong, message, capsys):
    with pytest.raises(AssertionError, match=message):
        check(wrong)
    assert "correct" not in capsys.readouterr().out


def test_every_self_check_faces_adversarial_answers():
    assert {c.__name__ for c in CHECKS} == {c.__name__ for c, _, _ in ADVERSARIAL}
