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


@pytest.mark.parametrize("dtype, qmin, qmax", [(torch.qint8, -128, 127), (torch.quint8, 0, 255)])
def test_quantize_per_tensor_equals_torch_exactly(dtype, qmin, qmax):
    torch.manual_seed(1)
    for trial in range(20):
        x = torch.randn(4096) * 3
        scale = float(torch.rand(()) * 0.05 + 0.001)
        zero = int(torch.randint(qmin + 10, qmax - 10, ()))
        expected = torch.quantize_per_tensor(x, scale, zero, dtype).int_repr()
        got = affine.quantize(x, scale, zero, qmin, qmax)
        assert got.dtype == expected.dtype and torch.equal(got, expected), trial


def test_per_tensor_rounding_at_ties_is_the_fused_multiply_add():
    """Values whose x·(1/S) + Z is a .5 tie only after exact (fused) arithmetic: both torch kernels agree with us."""
    torch.manual_seed(2)
    x = torch.randn(1_000_000) * 3
    scale, zero = 0.0123, 7
    exact = x.double() * (1 / torch.tensor(scale, dtype=torch.float32)).double() + zero
    near_tie = ((exact - exact.floor()) - 0.5).abs() < 1e-6
    assert near_tie.any()  # the trial contains values at or next to ties
    ours = affine.quantize(x, scale, zero)
    per_tensor = torch.quantize_per_tensor(x, scale, zero, torch.qint8).int_repr()
    per_channel = torch.quantize_per_channel(x[None], torch.tensor([scale], dtype=torch.float64),
                                             torch.tensor([zero]), 0, torch.qint8).int_repr()[0]
    ours_per_channel = affine.quantize(x[None], torch.tensor([scale]), torch.tensor([zero]), axis=0)[0]
    assert torch.equal(ours, per_tensor)
    assert torch.equal(ours_per_channel, per_channel)
    # The two PyTorch kernels themselves may disagree by one code at such ties; never by more.
    assert (per_tensor.int() - per_channel.int()).abs().max() <= 1


def test_quantize_per_channel_on_any_axis():
    torch.manual_seed(3)
    x = torch.randn(4, 5, 6)
    for axis in (0, 1, 2, -1):
        n = x.shape[axis]
        scale = torch.rand(n, dtype=torch.float64) * 0.05 + 0.01
        zero = torch.randint(-20, 20, (n,))
        expected = torch.quantize_per_channel(x, scale, zero, axis % 3, torch.qint8).int_repr()
        assert torch.equal(affine.quantize(x, scale.float(), zero, axis=axis), expected)
        back = affine.dequantize(expected, scale.float(), zero, axis=axis)
        ref = torch.quantize_per_channel(x, scale, zero, axis % 3, torch.qint8).dequantize()
        assert torch.allclose(back, ref, atol=1e-6)


def test_empty_integer_ranges_are_rejected():
    with pytest.raises(ValueError, match="qmin must be below qmax"):
        affine.calc_qparams(-1.0, 1.0, qmin=5, qmax=5)
    with pytest.raises(ValueError, match="qmin must be below qmax"):
        affine.quantize(torch.zeros(3), 0.1, 0, qmin=10, qmax=-10)


def test_quantize_weight_int8_matches_torch_per_channel_symmetric_observer():
    import warnings

    from torch.ao.quantization import PerChannelMinMaxObserver

    torch.manual_seed(0)
    weight = torch.randn(6, 3, 2, 2) * torch.logspace(-2, 1, 6).reshape(-1, 1, 1, 1)
    q_w, scale = affine.quantize_weight_int8(weight)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        observer = PerChannelMinMaxObserver(ch_axis=0, dtype=torch.qint8, qscheme=torch.per_channel_symmetric)
        observer(weight)
        torch_scale, torch_zero = observer.calculate_qparams()
        torch_codes = torch.quantize_per_channel(weight, torch_scale, torch_zero, 0, torch.qint8).int_repr()
    assert torch.equal(scale, torch_scale.float()) and not torch_zero.any()
    assert q_w.dtype == torch.int8 and torch.equal(q_w, torch_codes)
    shared, shared_scale = affine.quantize_weight_int8(weight, per_channel=False)
    assert shared_scale.shape == (6,) and bool((shared_scale == shared_scale[0]).all())
    assert float(shared_scale[0]) == pytest.approx(float(weight.abs().max()) / 127.5)


def test_minmax_qparams_per_tensor_and_along_an_axis():
    x = torch.tensor([[-1.0, 2.0, 0.5], [0.0, 4.0, 3.0]])
    scale, zero = affine.minmax_qparams(x, 0, 255)
    assert torch.equal(scale, affine.calc_qparams(-1.0, 4.0, 0, 255)[0])
    scale, zero = affine.minmax_qparams(x, 0, 255, axis=1)
    expected = affine.calc_qparams(torch.tensor([-1.0, 2.0, 0.5]), torch.tensor([0.0, 4.0, 3.0]), 0, 255)
    assert torch.equal(scale, expected[0]) and torch.equal(zero, expected[1])
