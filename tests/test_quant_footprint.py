"""The footprint counter against a hand count of every stored number of a small DS-CNN."""
import pytest
import torch
from torch import nn

from companion.models import DSCNN
from companion.quant import quantize_static
from companion.quant.footprint import float_model_nbytes, integer_model_nbytes, weight_nbytes


@pytest.fixture(scope="module")
def dscnn():
    torch.manual_seed(0)
    model = DSCNN(channels=16, blocks=2, num_classes=10).eval()
    return model, [torch.randn(16, 1, 51, 20)]


# DSCNN(16 channels, 2 blocks, 10 classes), by hand: conv0 16·1·10·4 = 640 weights, two depthwise
# 16·9 = 144, two pointwise 16·16 = 256, fc 10·16 = 160: W = 1,600 weights. One bias per output
# channel after folding: 5 convolutions × 16 + 10 = 90 = B. Six Conv/Linear layers.
W, B, LAYERS, DEPTHWISE_CHANNELS = 1600, 90, 6, 32


def test_float_footprint_is_four_bytes_per_folded_weight_and_bias(dscnn):
    model, _ = dscnn
    assert float_model_nbytes(model) == {"weights": 4 * W, "biases": 4 * B}
    assert any(isinstance(m, nn.BatchNorm2d) for m in model)  # not modified


def test_per_channel_int8_footprint_matches_the_hand_count(dscnn):
    model, calibration = dscnn
    counts = integer_model_nbytes(quantize_static(model, calibration))
    assert counts == {"weights": W, "biases": 4 * B, "multipliers": 4 * B, "shifts": B,
                      "zero points": LAYERS + 1, "scales": 8}
    assert sum(counts.values()) == 1600 + 360 + 360 + 90 + 7 + 8 == 2425


def test_per_tensor_depthwise_stores_one_multiplier_per_depthwise_layer(dscnn):
    model, calibration = dscnn
    counts = integer_model_nbytes(quantize_static(model, calibration, depthwise_per_channel=False))
    per_channel_scales = B - DEPTHWISE_CHANNELS + 2  # 58 channels keep theirs; 2 layers keep one each
    assert counts == {"weights": W, "biases": 4 * B, "multipliers": 4 * per_channel_scales,
                      "shifts": per_channel_scales, "zero points": LAYERS + 1, "scales": 8}
    assert sum(counts.values()) == 2425 - 5 * 30


def test_four_bit_and_sparse_weights_are_counted_packed(dscnn):
    model, calibration = dscnn
    w4 = integer_model_nbytes(quantize_static(model, calibration, weight_bits=4))
    assert w4["weights"] == W // 2  # every layer has an even number of weights
    pruned = quantize_static(model, calibration)
    with torch.no_grad():
        pruned.layers.fc.weight_int8[:, :8] = 0  # 80 of the 160 classifier weights
    sparse = integer_model_nbytes(pruned, sparse=True)["weights"]
    nonzero = sum(int(torch.count_nonzero(m.weight_int8)) for m in pruned.layers if hasattr(m, "weight_int8"))
    assert sparse == nonzero + (640 + 144 + 144 + 256 + 256 + 160) // 8


def test_int8_with_int32_biases_can_never_reach_a_quarter(dscnn):
    """The floor W + 4B of any int8-weight, int32-bias model exceeds a quarter of 4W + 4B."""
    model, calibration = dscnn
    fp32 = sum(float_model_nbytes(model).values())
    for per_channel in (True, False):
        int8 = sum(integer_model_nbytes(quantize_static(model, calibration, per_channel=per_channel)).values())
        assert int8 >= W + 4 * B > fp32 / 4


def test_weight_nbytes_and_bad_input():
    w = torch.tensor([[0.0, 1.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, 3.0]])
    assert weight_nbytes(w, 32) == 36 and weight_nbytes(w, 8) == 9 and weight_nbytes(w, 4) == 5
    assert weight_nbytes(w, 8, sparse=True) == 3 + 2 and weight_nbytes(w, 32, sparse=True) == 12 + 2
    for bad in (1, 9, 16, 8.0, True):
        with pytest.raises(ValueError, match="bits"):
            weight_nbytes(w, bad)
    with pytest.raises(TypeError, match="IntegerSequential"):
        integer_model_nbytes(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="nn.Module"):
        float_model_nbytes("model")
    with pytest.raises(ValueError, match="no Conv2d or Linear"):
        float_model_nbytes(nn.Sequential(nn.ReLU()))
