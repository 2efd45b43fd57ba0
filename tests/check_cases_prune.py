"""Right and wrong answers for chapter 3.4's self-checks (run by tests/test_checks.py)."""
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


CASES = [
    (checks.check_global_masks, global_masks, layerwise_masks),
    (checks.check_agp, agp_sparsity, agp_linear),
    (checks.check_nm_mask, nm_mask, nm_mask_along_outputs),
    (checks.check_csr_bytes, lambda rows, cols, nnz: 8 * nnz + 4 * (rows + 1), lambda rows, cols, nnz: 8 * nnz + 4 * rows),
]
