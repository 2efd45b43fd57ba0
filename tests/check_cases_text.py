"""Right and wrong answers for chapter 5.2's self-checks (run by tests/test_checks.py)."""
import torch

from companion.checks import text as checks


def mean_pool_right(hidden, mask):
    weights = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1)


def mean_pool_with_padding(hidden, mask):  # averages the padding too
    return hidden.mean(dim=1)


def quantize_rows_right(table):
    scales = (table.abs().amax(dim=1) / 127.5).clamp(min=torch.finfo(torch.float32).eps)
    return torch.clamp(torch.round(table / scales[:, None]), -128, 127).to(torch.int8), scales


def quantize_rows_per_tensor(table):  # one scale for the whole table
    scale = (table.abs().amax() / 127.5).clamp(min=torch.finfo(torch.float32).eps)
    scales = scale.expand(table.shape[0])
    return torch.clamp(torch.round(table / scale), -128, 127).to(torch.int8), scales


def lowest_heads_right(scores, count):
    normalized = scores / scores.norm(dim=1, keepdim=True)
    flat = normalized.reshape(-1).tolist()
    chosen = {}
    for i in sorted(range(len(flat)), key=lambda i: (flat[i], i))[:count]:
        layer, head = divmod(i, scores.shape[1])
        chosen.setdefault(layer, []).append(head)
    return {layer: sorted(heads) for layer, heads in sorted(chosen.items())}


def lowest_heads_unnormalized(scores, count):  # ranks raw scores across layers
    flat = scores.reshape(-1).tolist()
    chosen = {}
    for i in sorted(range(len(flat)), key=lambda i: (flat[i], i))[:count]:
        layer, head = divmod(i, scores.shape[1])
        chosen.setdefault(layer, []).append(head)
    return {layer: sorted(heads) for layer, heads in sorted(chosen.items())}


CASES = [
    (checks.check_mean_pool, mean_pool_right, mean_pool_with_padding),
    (checks.check_quantize_rows, quantize_rows_right, quantize_rows_per_tensor),
    (checks.check_lowest_heads, lowest_heads_right, lowest_heads_unnormalized),
]


def mean_pool_in_place(hidden, mask):
    weights = mask.to(hidden.dtype).unsqueeze(-1)
    return hidden.mul_(weights).sum(dim=1) / weights.sum(dim=1)


def quantize_rows_float_codes(table):  # right values, but float codes: 4 bytes each, not 1
    codes, scales = quantize_rows_right(table)
    return codes.float(), scales


def quantize_rows_127(table):  # off by a half step: S = max|E| / 127
    scales = (table.abs().amax(dim=1) / 127).clamp(min=torch.finfo(torch.float32).eps)
    return torch.clamp(torch.round(table / scales[:, None]), -128, 127).to(torch.int8), scales


def quantize_rows_in_place(table):
    codes, scales = quantize_rows_right(table.clone())
    table.zero_()
    return codes, scales


ADVERSARIAL = [
    (checks.check_mean_pool, mean_pool_in_place, "input 'hidden' was modified in place"),
    (checks.check_mean_pool, lambda hidden, mask: mean_pool_right(hidden, mask).double(), "dtype"),
    (checks.check_mean_pool, mean_pool_with_padding, "mean_pool"),
    (checks.check_quantize_rows, quantize_rows_float_codes, "dtype of the codes"),
    (checks.check_quantize_rows, quantize_rows_127, "scales"),
    (checks.check_quantize_rows, quantize_rows_in_place, "input 'table' was modified in place"),
    (checks.check_lowest_heads, lambda scores, count: lowest_heads_right(scores, count + 1), r"count=0"),
    (checks.check_lowest_heads, lambda scores, count: lowest_heads_right(scores.div_(scores.sum()), count),
     "input 'scores' was modified in place"),
    (checks.check_lowest_heads, lowest_heads_unnormalized, "lowest_heads"),
]
