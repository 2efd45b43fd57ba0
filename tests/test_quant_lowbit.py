"""Low-bit weights: uniform per tensor/channel/group, binary (BinaryConnect, BWN), ternary (TWN)."""
import pytest
import torch
from torch import nn

from companion.quant import affine
from companion.quant.lowbit import (binarize, fake_binarize, fake_quantize_uniform, fake_ternarize, quantize_uniform,
                                    quantize_weights, ternarize)


@pytest.mark.parametrize("bits", range(2, 9))
@pytest.mark.parametrize("granularity, group_size", [("tensor", None), ("channel", None), ("group", 8), ("group", 7)])
def test_uniform_codes_range_and_error_bound(bits, granularity, group_size):
    torch.manual_seed(bits)
    weight = torch.randn(6, 5, 3, 3)
    record = quantize_uniform(weight, bits, granularity, group_size)
    assert record.codes.dtype == torch.uint8 and record.codes.shape == weight.shape
    assert int(record.codes.max()) <= 2 ** bits - 1
    # min–max ranges: every weight lies inside its group's range, so the error is at most half a step
    error = (record.dequantize() - weight).abs()
    step = record.scale.max()
    assert float(error.max()) <= float(step) / 2 + 1e-6


def test_uniform_per_channel_matches_affine_per_channel():
    torch.manual_seed(0)
    weight = torch.randn(10, 20)
    record = quantize_uniform(weight, 4, "channel")
    scale, zero = affine.calc_qparams(weight.amin(1), weight.amax(1), 0, 15)
    expected = affine.quantize(weight, scale, zero, 0, 15, axis=0)
    assert torch.equal(record.codes.to(torch.int32), expected.to(torch.int32))
    assert torch.allclose(record.dequantize(), affine.dequantize(expected, scale, zero, axis=0))


def test_group_equals_channel_when_the_group_is_a_whole_row_and_per_group_is_finer():
    torch.manual_seed(1)
    weight = torch.randn(8, 64)
    whole = quantize_uniform(weight, 3, "group", 64)
    channel = quantize_uniform(weight, 3, "channel")
    assert torch.equal(whole.codes, channel.codes)
    errors = {g: float(((quantize_uniform(weight, 3, *g).dequantize() - weight) ** 2).sum())
              for g in [("tensor", None), ("channel", None), ("group", 16)]}
    assert errors[("group", 16)] < errors[("channel", None)] < errors[("tensor", None)]
    assert quantize_uniform(weight, 3, "group", 16).scale.shape == (8, 4)


def test_ragged_last_group_is_its_own_group():
    weight = torch.tensor([[1.0, 2.0, 3.0, 100.0, -50.0]])
    record = quantize_uniform(weight, 8, "group", 3)
    assert record.scale.shape == (1, 2)
    assert torch.allclose(record.dequantize()[0, :3], weight[0, :3], atol=0.02)


def test_symmetric_uniform_puts_zero_on_the_middle_code():
    weight = torch.tensor([[-1.0, 0.0, 0.5]])
    record = quantize_uniform(weight, 4, symmetric=True)
    assert int(record.zero_point) == 7 and int(record.codes[0, 1]) == 7  # torch.ao: (q_min + q_max) // 2


def test_bwn_matches_closed_form():
    torch.manual_seed(2)
    weight = torch.randn(7, 3, 3, 3)
    record = binarize(weight)
    alpha = weight.abs().reshape(7, -1).mean(1)
    expected = alpha.reshape(-1, 1, 1, 1) * torch.where(weight >= 0, 1.0, -1.0)
    assert torch.allclose(record.dequantize(), expected) and record.bits == 1
    # α is the least-squares optimum for fixed signs: d/dα ||W − α·sign W||² = 0
    for shift in (-1e-3, 1e-3):
        worse = (alpha + shift).reshape(-1, 1, 1, 1) * torch.sign(weight)
        assert ((worse - weight) ** 2).sum() > ((expected - weight) ** 2).sum()
    assert torch.equal(binarize(weight, scaled=False).dequantize(), torch.where(weight >= 0, 1.0, -1.0))
    assert torch.equal(binarize(torch.zeros(2, 2), scaled=False).dequantize(), torch.ones(2, 2))


@pytest.mark.parametrize("per_channel", [True, False])
def test_twn_matches_closed_form(per_channel):
    torch.manual_seed(3)
    weight = torch.randn(5, 40)
    record = ternarize(weight, per_channel=per_channel)
    expected = torch.empty_like(weight)
    rows = weight if per_channel else weight.reshape(1, -1)
    out = expected if per_channel else expected.reshape(1, -1)
    for i, row in enumerate(rows):
        delta = 0.7 * row.abs().mean()
        kept = row.abs() > delta
        alpha = row.abs()[kept].mean()
        out[i] = alpha * torch.sign(row) * kept
    assert torch.allclose(record.dequantize(), expected)
    assert set(record.codes.unique().tolist()) <= {0, 1, 2} and record.bits == 2


def test_twn_all_zero_row_gets_alpha_zero():
    record = ternarize(torch.zeros(2, 4))
    assert torch.equal(record.dequantize(), torch.zeros(2, 4))


def test_straight_through_gradients():
    weight = torch.randn(4, 6, requires_grad=True)
    fake_quantize_uniform(weight, 3).sum().backward()
    assert torch.equal(weight.grad, torch.ones_like(weight))  # min–max ranges: nothing clipped
    for fake in (fake_ternarize, lambda w: fake_binarize(w, clip=None)):
        weight.grad = None
        fake(weight).sum().backward()
        assert torch.equal(weight.grad, torch.ones_like(weight))
    big = torch.tensor([[0.5, -2.0, 1.5]], requires_grad=True)
    fake_binarize(big, clip=1.0).sum().backward()
    assert big.grad.tolist() == [[1.0, 0.0, 0.0]]
    assert torch.equal(fake_quantize_uniform(weight, 3, "group", 4), quantize_uniform(weight, 3, "group", 4).dequantize())


def test_bad_input_raises_clear_errors():
    weight = torch.randn(4, 8)
    for bits in (1, 9, 2.0):
        with pytest.raises(ValueError, match="bits"):
            quantize_uniform(weight, bits)
    with pytest.raises(ValueError, match="granularity"):
        quantize_uniform(weight, 4, "row")
    for size in (0, -2, None):
        with pytest.raises(ValueError, match="group_size"):
            quantize_uniform(weight, 4, "group", size)
    with pytest.raises(ValueError, match="group_size"):
        quantize_uniform(weight, 4, "channel", 4)
    with pytest.raises(ValueError, match="at least one entry"):
        binarize(torch.empty(0, 3))
    with pytest.raises(TypeError, match="floating-point"):
        ternarize(torch.ones(2, 2, dtype=torch.int64))
    with pytest.raises(ValueError, match="threshold_factor"):
        ternarize(weight, threshold_factor=-0.1)
    with pytest.raises(ValueError, match="NaN"):
        quantize_uniform(torch.tensor([[float("nan"), 1.0]]), 4)


def test_quantize_weights_copies_and_leaves_the_model_alone():
    torch.manual_seed(4)
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Conv1d(1, 2, 3))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    quantized, records = quantize_weights(model, lambda w: quantize_uniform(w, 2))
    assert set(records) == {"0", "2"}
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(quantized[0].weight, records["0"].dequantize())
    assert torch.equal(quantized[0].bias, model[0].bias)
    mixed, records = quantize_weights(model, {"0": binarize})
    assert set(records) == {"0"} and torch.equal(mixed[2].weight, model[2].weight)
    with pytest.raises(TypeError, match="quantizer"):
        quantize_weights(model, 4)
