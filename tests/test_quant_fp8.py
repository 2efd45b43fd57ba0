"""FP8 fake quantization against a brute-force oracle: the nearest of all representable FP8 values."""
import pytest
import torch

from companion.quant import FP8_DTYPES, fp8_fake_quantize, fp8_scale


def representable(dtype: torch.dtype) -> torch.Tensor:
    """Every finite value of an FP8 format, from its 256 bit patterns."""
    values = torch.arange(256, dtype=torch.int32).to(torch.uint8).view(dtype).float()
    return values[torch.isfinite(values)].unique()


@pytest.mark.parametrize("dtype", FP8_DTYPES)
@pytest.mark.parametrize("axis", [None, 0])
def test_matches_the_nearest_representable_value(dtype, axis):
    torch.manual_seed(0)
    x = torch.randn(16, 40) * torch.logspace(-3, 1, 16)[:, None]
    got = fp8_fake_quantize(x, dtype, axis=axis)
    scale = fp8_scale(x, dtype, axis=axis)
    grid = representable(dtype)
    scaled = (x / scale).reshape(-1, 1)
    best = (scaled - grid).abs().min(dim=1).values.reshape(x.shape) * scale
    # Round to nearest: no representable value is closer than the one chosen (ties either way).
    assert torch.all((got - x).abs() <= best + 1e-6 * x.abs().max())
    assert torch.allclose(got.abs().amax(dim=None if axis is None else 1),
                          x.abs().amax(dim=None if axis is None else 1), rtol=1e-6)


def test_scale_maps_the_largest_value_onto_the_format_maximum():
    x = torch.tensor([[1.0, -896.0], [0.0, 0.0]])
    assert fp8_scale(x).item() == 2.0
    per_row = fp8_scale(x, axis=0)
    assert per_row.shape == (2, 1) and per_row[0, 0].item() == 2.0 and per_row[1, 0].item() == 1.0
    assert torch.equal(fp8_fake_quantize(x, axis=0), x)  # powers of two and zero are exact


def test_relative_error_is_bounded_by_half_an_ulp_of_the_mantissa():
    torch.manual_seed(1)
    x = torch.randn(1000).abs() + 1e-2  # normal numbers after scaling
    for dtype, mantissa in [(torch.float8_e4m3fn, 3), (torch.float8_e5m2, 2)]:
        rel = ((fp8_fake_quantize(x, dtype) - x).abs() / x).max().item()
        assert rel <= 2.0 ** -(mantissa + 1) + 1e-6


def test_input_is_not_modified_and_bad_input_is_refused():
    x = torch.randn(4, 4)
    before = x.clone()
    fp8_fake_quantize(x, torch.float8_e5m2, axis=0)
    assert torch.equal(x, before)
    with pytest.raises(TypeError, match="x must be a floating-point tensor"):
        fp8_fake_quantize(torch.ones(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="finite"):
        fp8_fake_quantize(torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match="at least one entry"):
        fp8_fake_quantize(torch.empty(0))
    with pytest.raises(ValueError, match="dtype must be one of"):
        fp8_fake_quantize(x, torch.int8)
    with pytest.raises(ValueError, match="axis must be"):
        fp8_fake_quantize(x, axis=2)
