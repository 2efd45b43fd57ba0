"""The exercise self-checks accept the right answer, reject wrong ones, and tolerate unattempted ones."""
import math

import pytest
import torch

from companion import measure
from companion.checks import assert_close, assert_equal, exercise
from companion.checks import measure as checks


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


RIGHT_AND_WRONG = [
    (checks.check_linear_macs, lambda b, i, o: b * i * o, lambda b, i, o: i * o),
    (checks.check_conv2d_macs,
     lambda conv, h, w: (((h + 2 * conv.padding[0] - conv.kernel_size[0]) // conv.stride[0] + 1)
                         * ((w + 2 * conv.padding[1] - conv.kernel_size[1]) // conv.stride[1] + 1)
                         * conv.out_channels * conv.in_channels // conv.groups * conv.kernel_size[0] * conv.kernel_size[1]),
     lambda conv, h, w: h * w * conv.out_channels * conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]),
    (checks.check_model_bytes, lambda n, bits: math.ceil(n * bits / 8), lambda n, bits: n * bits // 8),
    (checks.check_sparsity, measure.sparsity, lambda model: measure.count_nonzero(model) / measure.count_parameters(model)),
    (checks.check_pareto_front, measure.pareto_front, lambda costs, accs: list(range(len(costs)))),
    (checks.check_torch_csr_bytes, lambda w: int((w != 0).sum()) * 12 + (w.shape[0] + 1) * 8, lambda w: int((w != 0).sum()) * 8),
]


@pytest.mark.parametrize("check, right, wrong", RIGHT_AND_WRONG, ids=[c.__name__ for c, _, _ in RIGHT_AND_WRONG])
def test_checks_accept_right_and_reject_wrong_answers(check, right, wrong, capsys):
    check(right)
    assert "correct" in capsys.readouterr().out
    with pytest.raises(AssertionError):
        check(wrong)
