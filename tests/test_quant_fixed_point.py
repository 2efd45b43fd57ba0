import pytest
import torch

from companion.quant import fixed_point as fp
from companion.quant.intmm import int_matmul, int_mm_supported


def test_quantize_multiplier_normalises_the_mantissa():
    torch.manual_seed(0)
    m = torch.rand(1000, dtype=torch.float64) * 10 ** torch.empty(1000, dtype=torch.float64).uniform_(-6, 1)
    m0, shift = fp.quantize_multiplier(m)
    assert m0.dtype == torch.int32 and shift.dtype == torch.int32
    assert bool(((m0.long() >= 2 ** 30) & (m0.long() < 2 ** 31)).all())  # M₀ ∈ [0.5, 1) in Q31
    assert torch.allclose(fp.multiplier_value(m0, shift), m, rtol=2 ** -31)
    assert fp.quantize_multiplier(0.5) == (torch.tensor(2 ** 30, dtype=torch.int32), torch.tensor(0, dtype=torch.int32))


def test_quantize_multiplier_rejects_bad_values():
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="finite and positive"):
            fp.quantize_multiplier(bad)


def test_requantize_agrees_with_float_rescaling_within_one_code():
    torch.manual_seed(1)
    acc = torch.randint(-2 ** 24, 2 ** 24, (64, 32), dtype=torch.int32)
    m = torch.rand(32, dtype=torch.float64) * 1e-3 + 1e-6
    m0, shift = fp.quantize_multiplier(m)
    zero = torch.tensor(-5)
    ours = fp.requantize(acc, m0, shift, zero, -128, 127)
    ref = fp.requantize_float(acc, m, zero, -128, 127)
    diff = (ours.long() - ref).abs()
    assert int(diff.max()) <= 1
    assert float((diff == 0).float().mean()) > 0.99  # off by one only at (near) ties


def test_requantize_rounds_half_up_exactly():
    acc = torch.tensor([1, 2, 3, -1, -2, -3, 5], dtype=torch.int32)
    m0, shift = fp.quantize_multiplier(0.5)  # exact: M = 0.5
    got = fp.requantize(acc, m0, shift, 0, -128, 127)
    assert got.tolist() == [1, 1, 2, 0, -1, -1, 3]  # round(x / 2) with halves toward +∞
    with pytest.raises(TypeError, match="int32"):
        fp.requantize(acc.long(), m0, shift, 0, -128, 127)


@pytest.mark.parametrize("m, k, n", [(1, 7, 5), (17, 64, 300), (64, 1024, 33)])
def test_int_matmul_is_exact_on_both_paths(m, k, n):
    torch.manual_seed(2)
    a = torch.randint(-128, 128, (m, k), dtype=torch.int8)
    b = torch.randint(-128, 128, (n, k), dtype=torch.int8).t()
    expected = (a.long() @ b.long()).int()
    assert int_mm_supported(a, b)
    assert torch.equal(int_matmul(a, b), expected)
    assert torch.equal(int_matmul(a, b, use_int_mm=False), expected)


def test_int_matmul_rejects_bad_operands():
    with pytest.raises(TypeError, match="int8"):
        int_matmul(torch.zeros(2, 2), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="shapes"):
        int_matmul(torch.zeros(2, 3, dtype=torch.int8), torch.zeros(2, 3, dtype=torch.int8))
