"""Integer-only residual networks: integer addition and pooling against float oracles, whole networks."""
import pytest
import torch
from torch import nn

from companion import models
from companion.quant import calc_qparams, dequantize, quantize
from companion.quant.residual import IntAdd, IntGlobalAvgPool, quantize_static_resnet


def _qparams(lo, hi):
    scale, zero = calc_qparams(torch.tensor(lo), torch.tensor(hi), -128, 127)
    return scale, zero


@pytest.mark.parametrize("relu", [False, True])
def test_int_add_matches_float_rescaling_within_one_code(relu):
    generator = torch.Generator().manual_seed(0)
    for a_range, b_range, y_range in [((-1, 3), (-0.5, 0.5), (-1.5, 3.5)), ((0, 6), (-4, 2), (-3, 7)), ((-2, 2), (-2, 2), (0, 4))]:
        a_qp, b_qp, y_qp = _qparams(*a_range), _qparams(*b_range), _qparams(*y_range)
        q_a = torch.randint(-128, 128, (4, 3, 5, 5), generator=generator).to(torch.int8)
        q_b = torch.randint(-128, 128, (4, 3, 5, 5), generator=generator).to(torch.int8)
        real = dequantize(q_a, *a_qp) + dequantize(q_b, *b_qp)
        if relu:
            real = torch.relu(real)
        expected = quantize(real, *y_qp, -128, 127).to(torch.int32)
        got = IntAdd(a_qp, b_qp, y_qp, relu=relu)(q_a, q_b)
        assert got.dtype == torch.int8
        assert (got.to(torch.int32) - expected).abs().max() <= 1


def test_int_global_avg_pool_is_the_rounded_mean_code():
    generator = torch.Generator().manual_seed(1)
    q = torch.randint(-128, 128, (2, 4, 7, 7), generator=generator).to(torch.int8)
    zero = torch.tensor(-5)
    got = IntGlobalAvgPool(zero)(q)
    expected = torch.round((q.double() - zero).mean(dim=(2, 3))) + zero
    assert got.shape == (2, 4) and (got.double() - expected).abs().max() <= 1


def _trained_like(model):
    """Give BatchNorm non-trivial statistics, as training would."""
    torch.manual_seed(0)
    model.train()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
        for _ in range(3):
            model(torch.rand(32, *model.example_shape))
    return model.eval()


@pytest.mark.parametrize("per_channel", [True, False])
def test_integer_resnet_tracks_the_float_network(per_channel):
    model = models.fashion_resnet()
    model.example_shape = (1, 28, 28)
    model = _trained_like(model)
    x = torch.rand(64, 1, 28, 28)
    integer = quantize_static_resnet(model, [x[:32], x[32:]], per_channel=per_channel)
    with torch.no_grad():
        reference, got = model(x), integer(x)
    spread = float(reference.max() - reference.min())
    assert float((got - reference).abs().max()) < 0.05 * spread
    assert float((got.argmax(1) == reference.argmax(1)).float().mean()) >= 0.9
    # Every layer holds integers only: int8 weights, int32 biases and multipliers.
    for module in integer.modules():
        if hasattr(module, "weight_int8"):
            assert module.weight_int8.dtype == torch.int8 and module.bias_int32.dtype == torch.int32
    assert not any(p.is_floating_point() for p in integer.parameters())


def test_imagenet_stem_with_max_pool_converts():
    model = models.ResNet((1, 1), (8, 16), in_channels=3, num_classes=5, stem="imagenet")
    model.example_shape = (3, 32, 32)
    model = _trained_like(model)
    x = torch.rand(16, 3, 32, 32)
    integer = quantize_static_resnet(model, [x])
    with torch.no_grad():
        assert float((integer(x) - model(x)).abs().max()) < 0.1 * float(model(x).abs().max() + 1e-6) + 0.05


def test_quantize_static_resnet_rejects_bad_input():
    with pytest.raises(TypeError, match="ResNet"):
        quantize_static_resnet(models.SmallCNN(), [torch.rand(2, 1, 8, 8)])
    with pytest.raises(ValueError, match="no batches"):
        quantize_static_resnet(models.fashion_resnet().eval(), [])
