import warnings

import pytest
import torch
from hypothesis import given, settings, strategies as st

from companion.quant import affine

pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated:UserWarning", "ignore::DeprecationWarning")


def test_qrange():
    assert affine.qrange(8) == (-128, 127)
    assert affine.qrange(8, signed=False) == (0, 255)
    assert affine.qrange(8, narrow=True) == (-127, 127)
    assert affine.qrange(4) == (-8, 7) and affine.qrange(2) == (-2, 1)
    for bad in (0, 17, 8.0):
        with pytest.raises(ValueError, match="bits"):
            affine.qrange(bad)
    with pytest.raises(ValueError, match="two codes"):
        affine.qrange(1, narrow=True)


def test_storage_dtype():
    assert affine.storage_dtype(-128, 127) == torch.int8
    assert affine.storage_dtype(0, 255) == torch.uint8
    assert affine.storage_dtype(-2000, 2000) == torch.int16
    with pytest.raises(ValueError, match="qmin"):
        affine.storage_dtype(5, 5)


@pytest.mark.parametrize("dtype, qmin, qmax", [(torch.qint8, -128, 127), (torch.quint8, 0, 255)])
def test_quantize_per_channel_equals_torch_exactly(dtype, qmin, qmax):
    torch.manual_seed(0)
    x = torch.randn(64, 257) * 3
    scale = torch.rand(64, dtype=torch.float64) * 0.05 + 0.005
    zero = torch.randint(qmin + 10, qmax - 10, (64,))
    expected = torch.quantize_per_channel(x, scale, zero, 0, dtype).int_repr()
    got = affine.quantize(x, scale.float(), zero, qmin, qmax, axis=0)
    assert got.dtype == expected.dtype and torch.equal(got, expected)


def test_dequantize_inverts_on_codes():
    q = torch.arange(-128, 128, dtype=torch.int8)
    r = affine.dequantize(q, 0.5, 3)
    assert torch.equal(affine.quantize(r, 0.5, 3), q)


def test_degenerate_ranges_get_a_valid_scale():
    for lo, hi in ((0.0, 0.0), (2.5, 2.5), (-1.0, -1.0)):
        scale, zero = affine.calc_qparams(lo, hi)
        assert float(scale) > 0 and -128 <= int(zero) <= 127
        x = torch.full((5,), lo)
        assert torch.allclose(affine.dequantize(affine.quantize(x, scale, zero), scale, zero), x, atol=float(scale) / 2 + 1e-6)


def test_non_finite_input_is_rejected():
    with pytest.raises(ValueError, match="NaN or Inf"):
        affine.quantize(torch.tensor([1.0, float("nan")]), 0.1, 0)
    with pytest.raises(ValueError, match="NaN or Inf"):
        affine.calc_qparams(float("-inf"), 1.0)
    with pytest.raises(ValueError, match="min_val must not exceed"):
        affine.calc_qparams(1.0, -1.0)


def test_parameter_shapes_are_checked():
    with pytest.raises(ValueError, match="per-channel parameters need 3"):
        affine.quantize(torch.zeros(3, 4), torch.ones(4), torch.zeros(4), axis=0)
    with pytest.raises(ValueError, match="scalars"):
        affine.quantize(torch.zeros(3, 4), torch.ones(3), torch.zeros(3))


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.floats(-1e3, 1e3, allow_nan=False, width=32), min_size=1, max_size=50),
       bits=st.integers(2, 16), symmetric=st.booleans())
def test_round_trip_error_is_at_most_half_a_step_inside_the_range(values, bits, symmetric):
    x = torch.tensor(values, dtype=torch.float32)
    qmin, qmax = affine.qrange(bits)
    scale, zero = affine.calc_qparams(x.min(), x.max(), qmin, qmax, symmetric=symmetric)
    x_hat = affine.dequantize(affine.quantize(x, scale, zero, qmin, qmax), scale, zero)
    # Inside the range every value is within S/2 of a code (plus float32 rounding of the arithmetic).
    assert (x_hat - x).abs().max() <= float(scale) / 2 * (1 + 1e-4) + 1e-6 * x.abs().max()


def test_fake_quantize_matches_torch_forward_and_backward():
    torch.manual_seed(0)
    x = (torch.randn(1000) * 4).requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    y = affine.fake_quantize(x, 0.05, 10)
    y_ref = torch.fake_quantize_per_tensor_affine(x_ref, 0.05, 10, -128, 127)
    assert torch.allclose(y, y_ref, atol=1e-6)
    y.sum().backward()
    y_ref.sum().backward()
    assert torch.equal(x.grad, x_ref.grad)
    assert set(x.grad.unique().tolist()) == {0.0, 1.0}  # 1 inside the range, 0 where clipped
