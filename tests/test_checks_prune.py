"""The chapter 3.4 self-checks accept right answers and reject wrong ones."""
import pytest
import torch

from companion.checks import prune as checks
from companion.prune import agp_sparsity, nm_mask, smallest_mask


def global_masks(weights, amount):
    scores = torch.cat([w.abs().flatten() for w in weights])
    mask = smallest_mask(scores, round(amount * scores.numel()))
    return [piece.view_as(w) for piece, w in zip(torch.split(mask, [w.numel() for w in weights]), weights)]


def layerwise_masks(weights, amount):  # wrong: one threshold per tensor
    return [smallest_mask(w.abs(), round(amount * w.numel())) for w in weights]


def agp_linear(step, initial, final, start, n, interval):  # wrong: linear instead of cubic
    progress = min(max((step - start) / (n * interval), 0.0), 1.0)
    return initial + (final - initial) * progress


def nm_mask_along_outputs(weight, n, m):  # wrong: groups along the output dimension
    return nm_mask(weight.t().contiguous(), n, m).t() if weight.shape[0] % m == 0 else torch.ones_like(weight)


RIGHT_AND_WRONG = [
    (checks.check_global_masks, global_masks, layerwise_masks),
    (checks.check_agp, agp_sparsity, agp_linear),
    (checks.check_nm_mask, nm_mask, nm_mask_along_outputs),
    (checks.check_csr_bytes, lambda rows, cols, nnz: 8 * nnz + 4 * (rows + 1), lambda rows, cols, nnz: 8 * nnz + 4 * rows),
]


@pytest.mark.parametrize("check, right, wrong", RIGHT_AND_WRONG, ids=[c.__name__ for c, _, _ in RIGHT_AND_WRONG])
def test_checks_accept_right_and_reject_wrong_answers(check, right, wrong, capsys):
    check(right)
    assert "correct" in capsys.readouterr().out
    with pytest.raises(AssertionError):
        check(wrong)


def test_unattempted_exercise_is_not_an_error(capsys):
    def stub(*args):
        raise NotImplementedError

    checks.check_agp(stub)
    assert "not attempted" in capsys.readouterr().out
