import pytest
import torch
from torch import nn

from companion.quant.affine import calc_qparams, dequantize
from companion.quant.dynamic import DynamicQuantLinear, quantize_dynamic

pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated:UserWarning", "ignore::DeprecationWarning", "ignore::FutureWarning")


def _torch_ao_dynamic(model):
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic as ao_quantize_dynamic

    return ao_quantize_dynamic(model, {nn.Linear: per_channel_dynamic_qconfig})


@pytest.mark.parametrize("batch", [1, 5, 64])
def test_dynamic_linear_matches_torch_ao_within_the_activation_rounding_bound(batch):
    """Same int8 weights as torch.ao; outputs differ only through the activation rounding.

    Both quantize x to within half a step of itself (ours: 8-bit step S = range/255; fbgemm: 7-bit
    step S' = range/127, its ``reduce_range``) and use the same dequantized weights ŵ, so for every
    output |y − y'| = |Σ_k (x̂_k − x̂'_k)·ŵ_jk| ≤ (S + S')/2 · Σ_k |ŵ_jk|. That is the tolerance.
    """
    torch.manual_seed(batch)
    linear = nn.Linear(300, 100).eval()
    ours = DynamicQuantLinear.from_float(linear)
    theirs = _torch_ao_dynamic(nn.Sequential(linear))[0]
    assert torch.equal(ours.weight_int8, theirs.weight().int_repr())
    assert torch.allclose(ours.weight_scale.double(), theirs.weight().q_per_channel_scales(), rtol=1e-6)
    x = torch.randn(batch, 300) * 2 + 0.5
    y, y_ref = ours(x), theirs(x)
    lo, hi = torch.aminmax(x)
    step, _ = calc_qparams(lo, hi, -128, 127)
    step_ref, _ = calc_qparams(lo, hi, 0, 127)
    w_hat = dequantize(ours.weight_int8, ours.weight_scale, torch.zeros(100, dtype=torch.int32), axis=0)
    bound = (step + step_ref) / 2 * w_hat.abs().sum(dim=1) * 1.01 + 1e-5
    assert bool(((y - y_ref).abs() <= bound).all()), float(((y - y_ref).abs() / bound).max())
    # and both stay close to float: typical error far below the bound
    assert float((y - linear(x)).detach().abs().mean()) < float(bound.mean()) / 4


def test_quantize_dynamic_replaces_every_linear_and_keeps_the_model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Sequential(nn.Linear(32, 10))).eval()
    quantized = quantize_dynamic(model)
    assert isinstance(quantized[1], DynamicQuantLinear) and isinstance(quantized[3][0], DynamicQuantLinear)
    assert type(model[1]) is nn.Linear  # the input model is untouched
    x = torch.rand(8, 8, 8)
    assert torch.allclose(quantized(x), model(x), atol=0.05)
    theirs = _torch_ao_dynamic(model)
    assert torch.allclose(quantized(x), theirs(x), atol=0.05)


def test_dynamic_state_dict_round_trip_and_leading_dims():
    torch.manual_seed(1)
    module = DynamicQuantLinear.from_float(nn.Linear(16, 8))
    fresh = DynamicQuantLinear(16, 8)
    fresh.load_state_dict(module.state_dict())
    x = torch.randn(2, 3, 16)
    assert torch.equal(fresh(x), module(x)) and module(x).shape == (2, 3, 8)
    assert module.state_dict()["weight_int8"].dtype == torch.int8


def test_dynamic_bad_input():
    with pytest.raises(TypeError, match="nn.Linear"):
        DynamicQuantLinear.from_float(nn.Conv2d(1, 1, 1))
    with pytest.raises(ValueError, match="no nn.Linear"):
        quantize_dynamic(nn.Sequential(nn.ReLU()))
    with pytest.raises(ValueError, match="NaN or Inf"):
        DynamicQuantLinear.from_float(nn.Linear(4, 2))(torch.tensor([[1.0, float("nan"), 0.0, 0.0]]))


def test_activation_qparams_equal_calc_qparams_exactly():
    from companion.quant.dynamic import activation_qparams

    torch.manual_seed(3)
    ranges = torch.randn(2000, 2) * torch.logspace(-8, 6, 2000)[:, None]
    ranges = torch.cat([ranges, torch.tensor([[0.0, 0.0], [1.0, 1.0], [-2.0, -2.0], [-1e-30, 1e-30]])])
    for lo, hi in ranges.sort(dim=1).values:
        scale, zero = activation_qparams(lo, hi)
        ref_scale, ref_zero = calc_qparams(lo, hi, -128, 127)
        assert scale == float(ref_scale) and zero == int(ref_zero), (lo, hi)


def test_dynamic_forward_equals_the_affine_formulas_step_by_step():
    """The fast forward pass computes exactly the documented steps: quantize, int8 GEMM, rescale."""
    from companion.quant.affine import quantize

    torch.manual_seed(4)
    linear = nn.Linear(48, 24).eval()
    module = DynamicQuantLinear.from_float(linear)
    x = torch.randn(40, 48) * 3 - 1
    scale, zero = calc_qparams(*torch.aminmax(x), -128, 127)
    q_x = quantize(x, scale, zero)
    acc = q_x.long() @ module.weight_int8.long().t()                       # exact integer GEMM
    expected = scale * module.weight_scale * (acc - zero * module.weight_int8.long().sum(dim=1)).float() + linear.bias
    torch.testing.assert_close(module(x), expected.detach(), rtol=1e-5, atol=1e-5)
