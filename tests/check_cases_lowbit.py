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


def twn_float64(weight):
    return twn_right(weight).double()


def twn_threshold_from_max(weight):  # Δ = 0.7 · max |W| per row instead of 0.7 · mean
    rows = weight.reshape(weight.shape[0], -1)
    kept = rows.abs() > 0.7 * rows.abs().amax(1, keepdim=True)
    alpha = (rows.abs() * kept).sum(1, keepdim=True) / kept.sum(1, keepdim=True).clamp(min=1)
    return (alpha * torch.sign(rows) * kept).reshape(weight.shape)


def pack_int64(codes):
    return pack_right(codes).to(torch.int64)


def pack_pads_with_fifteen(codes):  # pads an odd tail with 15 instead of 0
    if codes.numel() % 2:
        codes = torch.cat([codes, torch.tensor([15], dtype=codes.dtype)])
    return pack_right(codes)


def pack_in_place(codes):
    result = pack_right(codes)
    codes.zero_()
    return result


def centroid_zeroes_grad(grad, codes, k):  # edits the caller's gradient: must not fool the check
    result = centroid_right(grad, codes, k)
    grad.zero_()
    return result * 0


ADVERSARIAL = [
    (checks.check_ternarize, twn_in_place, "input 'weight' was modified in place"),
    (checks.check_ternarize, twn_float64, "dtype"),
    (checks.check_ternarize, twn_threshold_from_max, r"twn\(a 4×10 Gaussian weight\)"),
    (checks.check_ternarize, twn_per_tensor, r"twn\(a 4×10 Gaussian weight\)"),
    (checks.check_pack_4bit, pack_int64, r"dtype of pack_4bit"),
    (checks.check_pack_4bit, pack_pads_with_fifteen, r"pack_4bit\(an odd length"),
    (checks.check_pack_4bit, pack_in_place, "input 'codes' was modified in place"),
    (checks.check_pack_4bit, pack_high_first, r"pack_4bit\(\[1, 2\]\)"),
    (checks.check_centroid_gradients, centroid_zeroes_grad, "input 'weight_grad' was modified in place"),
    (checks.check_centroid_gradients, lambda grad, codes, k: centroid_right(grad, codes, k - 1), "expected shape"),
    (checks.check_centroid_gradients, centroid_mean, "grads_per_centroid for codes"),
]
