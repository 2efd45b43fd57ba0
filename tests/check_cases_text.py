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
