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


def _masks_from_pruned(weights, pruned):
    mask = torch.ones(sum(w.numel() for w in weights))
    mask[pruned] = 0
    return [piece.view_as(w) for piece, w in zip(torch.split(mask, [w.numel() for w in weights]), weights)]


def global_masks_topk(weights, amount):  # torch.topk's order among tied values is unspecified
    scores = torch.cat([w.abs().flatten() for w in weights])
    return _masks_from_pruned(weights, torch.topk(scores, round(amount * scores.numel()), largest=False).indices)


def global_masks_unstable_sort(weights, amount):
    scores = torch.cat([w.abs().flatten() for w in weights])
    return _masks_from_pruned(weights, torch.argsort(scores)[: round(amount * scores.numel())])


def global_masks_threshold(weights, amount):  # prunes every weight tied with the threshold: too many
    scores = torch.cat([w.abs().flatten() for w in weights])
    count = round(amount * scores.numel())
    if count == 0:
        return [torch.ones_like(w) for w in weights]
    return _masks_from_pruned(weights, scores <= scores.kthvalue(count).values)


def global_masks_in_place(weights, amount):  # right masks, but also zeroes the caller's weights
    masks = global_masks(weights, amount)
    for w, m in zip(weights, masks):
        w.mul_(m)
    return masks


def global_masks_floor(weights, amount):  # off by one: int() truncates where the exercise rounds
    scores = torch.cat([w.abs().flatten() for w in weights])
    return _masks_from_pruned(weights, torch.sort(scores, stable=True).indices[: int(amount * scores.numel())])


def agp_staircase(step, initial, final, start, n, interval):  # right: holds each value until the next pruning step
    if step >= start:
        step = start + min((step - start) // interval, n) * interval
    return agp_sparsity(step, initial, final, start, n, interval)


def agp_one_step_short(step, initial, final, start, n, interval):  # off by one: reaches final after n − 1 steps
    return agp_sparsity(step, initial, final, start, max(n - 1, 1), interval)


def agp_square(step, initial, final, start, n, interval):
    progress = min(max((step - start) / (n * interval), 0.0), 1.0)
    return final + (initial - final) * (1.0 - progress) ** 2


CASES.append((checks.check_agp, agp_staircase, agp_one_step_short))

ADVERSARIAL = [
    (checks.check_global_masks, global_masks_topk, "tied magnitudes"),
    (checks.check_global_masks, global_masks_unstable_sort, "tied magnitudes"),
    (checks.check_global_masks, global_masks_threshold, "number of pruned"),
    (checks.check_global_masks, global_masks_in_place, r"input 'weights\[0\]' was modified in place"),
    (checks.check_global_masks, global_masks_floor, "number of pruned"),
    (checks.check_global_masks, lambda weights, amount: global_masks(weights, amount)[:-1], "number of masks"),
    (checks.check_agp, agp_one_step_short, r"agp\(5, 0.0, 0.9, 0, 10, 5\)"),
    (checks.check_agp, agp_square, r"agp\(5, 0.0, 0.9, 0, 10, 5\)"),
    (checks.check_agp, lambda step, initial, final, start, n, interval: agp_sparsity(step, initial, final, 0, n, interval),
     r"agp\(9, 0.0, 0.8, 10, 4, 5\): expected 0.0"),
    (checks.check_nm_mask, lambda w, n, m: nm_mask(1 / (w.abs() + 1e-9), n, m), "2:4 mask of a"),  # keeps the smallest
    (checks.check_csr_bytes, lambda rows, cols, nnz: float(8 * nnz + 4 * (rows + 1)), "expected a whole number"),
    (checks.check_csr_bytes, lambda rows, cols, nnz: 8 * nnz + 4 * (rows + 2), r"csr_size\(300, 64"),
]
