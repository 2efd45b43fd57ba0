"""The chapter 3.3 self-checks accept right answers and reject wrong ones."""
import pytest
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


CASES = [(checks.check_ternarize, twn_right, [twn_per_tensor, twn_in_place]),
         (checks.check_pack_4bit, pack_right, [pack_high_first, pack_drops_odd_tail]),
         (checks.check_centroid_gradients, centroid_right, [centroid_mean])]


@pytest.mark.parametrize("check, right, wrongs", CASES, ids=[c.__name__ for c, _, _ in CASES])
def test_checks_accept_right_and_reject_wrong(check, right, wrongs, capsys):
    check(right)
    assert "correct" in capsys.readouterr().out
    for wrong in wrongs:
        with pytest.raises(AssertionError):
            check(wrong)


def test_unattempted_is_not_an_error(capsys):
    def stub(*args):
        raise NotImplementedError

    checks.check_pack_4bit(stub)
    assert "not attempted" in capsys.readouterr().out
