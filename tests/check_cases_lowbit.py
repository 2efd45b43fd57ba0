"""Right and wrong answers for chapter 3.3's self-checks (run by tests/test_checks.py)."""
import torch

from companion.checks import lowbit as checks


def twn_right(weight):
    rows = weight.reshape(weight.shape[0], -1)
    delta = 0.7 * rows.abs().mean(1, keepdim=True)
    kept = rows.abs() > delta
    alpha = (rows.abs() * kept).sum(1, keepdim=True) / kept.sum(1, keepdim=True).clamp(min=1)
    return (alpha * torch.sign(rows) * kept).reshape(weight.shape)


def twn_per_tensor(weight):  # the paper's per-layer Δ and α, not the per-row ones asked for
    delta = 0.7 * weight.abs().mean()
    kept = weight.abs() > delta
    return weight.abs()[kept].mean() * torch.sign(weight) * kept


def twn_in_place(weight):
    result = twn_right(weight)
    weight.zero_()
    return result


def pack_right(codes):
    codes = codes.to(torch.int32)
    if codes.numel() % 2:
        codes = torch.cat([codes, torch.zeros(1, dtype=torch.int32)])
    return (codes[0::2] | (codes[1::2] << 4)).to(torch.uint8)


def pack_high_first(codes):
    codes = codes.to(torch.int32)
    if codes.numel() % 2:
        codes = torch.cat([codes, torch.zeros(1, dtype=torch.int32)])
    return ((codes[0::2] << 4) | codes[1::2]).to(torch.uint8)


def pack_drops_odd_tail(codes):
    codes = codes.to(torch.int32)[: codes.numel() // 2 * 2]
    return (codes[0::2] | (codes[1::2] << 4)).to(torch.uint8)


def centroid_right(grad, codes, k):
    return torch.stack([grad[codes == c].sum() for c in range(k)])


def centroid_mean(grad, codes, k):
    return torch.stack([grad[codes == c].mean() if (codes == c).any() else torch.tensor(0.0) for c in range(k)])


CASES = [(checks.check_ternarize, twn_right, twn_per_tensor), (checks.check_ternarize, twn_right, twn_in_place),
         (checks.check_pack_4bit, pack_right, pack_high_first), (checks.check_pack_4bit, pack_right, pack_drops_odd_tail),
         (checks.check_centroid_gradients, centroid_right, centroid_mean)]
