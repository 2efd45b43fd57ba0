import os

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from companion import data
from companion.quant.affine import dequantize, quantize
from companion.quant.serialize import load_quantized, save_quantized
from companion.quant.static import IntConv2d, IntLinear, quantize_static
from companion.layers import fold_batchnorm
from companion.train import evaluate, pretrained


def _qparams(scale, zero):
    return torch.tensor(scale), torch.tensor(zero, dtype=torch.int32)


def _reference_codes(y, out_scale, out_zero, relu):
    codes = torch.clamp(torch.round(y / out_scale) + out_zero, -128, 127)
    return torch.clamp(codes, min=out_zero) if relu else codes


@pytest.mark.parametrize("relu", [False, True])
def test_int_linear_is_within_one_code_of_float_rescaling(relu):
    torch.manual_seed(1)
    linear = nn.Linear(64, 32)
    in_q, out_q = _qparams(0.02, -10), _qparams(0.05, -20 if not relu else -128)
    module = IntLinear.from_float(linear, in_q, out_q, relu=relu)
    q_x = torch.randint(-128, 128, (50, 64), dtype=torch.int8)
    w_hat = dequantize(module.weight_int8, module.weight_scale, torch.zeros(32, dtype=torch.int32), axis=0)
    y = F.linear(dequantize(q_x, *in_q), w_hat, linear.bias.detach())
    if relu:
        y = F.relu(y)
    expected = _reference_codes(y, 0.05, int(out_q[1]), relu)
    got = module(q_x)
    assert got.dtype == torch.int8
    assert int((got.float() - expected).abs().max()) <= 1


def test_int_conv_is_within_one_code_of_float_conv_with_padding_and_stride():
    torch.manual_seed(2)
    conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
    in_q, out_q = _qparams(0.03, 5), _qparams(0.04, 3)
    module = IntConv2d.from_float(conv, in_q, out_q)
    q_x = torch.randint(-128, 128, (2, 3, 9, 7), dtype=torch.int8)
    w_hat = dequantize(module.weight_int8, module.weight_scale, torch.zeros(8, dtype=torch.int32), axis=0)
    y = F.conv2d(dequantize(q_x, *in_q), w_hat, conv.bias.detach(), stride=2, padding=1)
    expected = _reference_codes(y, 0.04, 3, False)
    got = module(q_x)
    assert got.shape == expected.shape and int((got.float() - expected).abs().max()) <= 1
    assert int(module(q_x.clone()).ne(got).sum()) == 0
    with pytest.raises(TypeError, match="zero padding"):
        IntConv2d.from_float(nn.Conv2d(4, 4, 3, padding=1, padding_mode="reflect"), in_q, out_q)


@pytest.mark.parametrize("in_channels, out_channels, groups", [(8, 8, 8), (8, 16, 8), (6, 4, 2)])
def test_grouped_and_depthwise_int_conv_match_torch_conv(in_channels, out_channels, groups):
    """Oracle: F.conv2d with groups on the dequantized codes and weights, rounded to the output grid."""
    torch.manual_seed(5)
    conv = nn.Conv2d(in_channels, out_channels, 3, stride=(2, 1), padding=1, groups=groups)
    in_q, out_q = _qparams(0.03, -4), _qparams(0.02, 6)
    module = IntConv2d.from_float(conv, in_q, out_q, relu=True)
    q_x = torch.randint(-128, 128, (3, in_channels, 9, 6), dtype=torch.int8)
    w_hat = dequantize(module.weight_int8, module.weight_scale, torch.zeros(out_channels, dtype=torch.int32), axis=0)
    y = F.relu(F.conv2d(dequantize(q_x, *in_q), w_hat, conv.bias.detach(), stride=(2, 1), padding=1, groups=groups))
    expected = _reference_codes(y, 0.02, 6, True)
    got = module(q_x)
    assert got.dtype == torch.int8 and got.shape == expected.shape
    assert int((got.float() - expected).abs().max()) <= 1
    assert float((got.float() != expected).float().mean()) < 0.01
    with pytest.raises(ValueError, match="groups must be a positive divisor"):
        IntConv2d(6, 4, 3, groups=4)


def test_int_avg_pool_is_the_rounded_mean_code():
    from companion.quant.static import IntAvgPool2d

    torch.manual_seed(6)
    q = torch.randint(-128, 128, (4, 5, 7, 3), dtype=torch.int8)
    got = IntAvgPool2d()(q)
    expected = torch.floor(q.double().mean(dim=(2, 3), keepdim=True) + 0.5)  # round half up
    assert got.dtype == torch.int8 and torch.equal(got.double(), expected)
    # In real numbers: within half a step of the float average pool of the dequantized codes.
    error = dequantize(got, 0.1, 3) - F.adaptive_avg_pool2d(dequantize(q, 0.1, 3), 1)
    assert float(error.abs().max()) <= 0.05 + 1e-6
    with pytest.raises(TypeError, match="global average pooling"):
        quantize_static(nn.Sequential(nn.Conv2d(1, 2, 3), nn.AdaptiveAvgPool2d(2)), [torch.randn(2, 1, 6, 6)])


def test_depthwise_separable_cnn_converts_to_integer_only_and_tracks_float():
    from companion.models import DSCNN

    torch.manual_seed(7)
    model = DSCNN(channels=16, blocks=2)
    with torch.no_grad():  # non-trivial BatchNorm statistics, as after training
        for bn in (m for m in model.modules() if isinstance(m, nn.BatchNorm2d)):
            bn.running_mean.uniform_(-0.2, 0.2)
            bn.running_var.uniform_(0.5, 2.0)
    model.eval()
    x = torch.randn(64, 1, 51, 20)
    quantized = quantize_static(model, [x[:32]])
    assert {type(m).__name__ for m in quantized.layers} == {"IntConv2d", "IntAvgPool2d", "IntFlatten", "IntLinear"}
    assert any(m.groups == 16 for m in quantized.layers if isinstance(m, IntConv2d))
    with torch.no_grad():
        float_out, int_out = model(x), quantized(x)
    relative = float((int_out - float_out).norm() / float_out.norm())
    assert relative < 0.1, relative


@pytest.mark.parametrize("name, image", [("digits-mlp", False), ("digits-cnn", True)])
def test_per_channel_static_ptq_keeps_digits_accuracy(name, image):
    model = pretrained(name)
    splits = data.digits(image=image)
    float_acc = evaluate(model, splits.loader("test", 512)).accuracy
    quantized = quantize_static(model, [splits.x_train[:512]])
    int_acc = evaluate(quantized, splits.loader("test", 512)).accuracy
    assert int_acc >= float_acc - 0.005, (int_acc, float_acc)
    # Integer-only: every hidden tensor between the layers is int8.
    seen = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append(o.dtype)) for m in quantized.layers]
    quantized(splits.x_test[:4])
    for hook in hooks:
        hook.remove()
    assert set(seen) == {torch.int8}


def test_static_model_is_saved_as_int8_and_reloads_exactly(tmp_path):
    model = pretrained("digits-mlp")
    splits = data.digits()
    quantized = quantize_static(model, [splits.x_train[:256]])
    path, float_path = tmp_path / "int8.pt", tmp_path / "fp32.pt"
    save_quantized(quantized, path)
    torch.save(model.state_dict(), float_path)
    ratio = os.path.getsize(path) / os.path.getsize(float_path)
    assert 0.25 < ratio < 0.35, ratio  # int8 weights are a quarter; per-channel scales and int32 biases add a little
    restored = load_quantized(path)
    assert torch.equal(restored(splits.x_test), quantized(splits.x_test))
    assert restored.state_dict()["layers.fc1.weight_int8"].dtype == torch.int8
    with pytest.raises(TypeError, match="IntegerSequential"):
        save_quantized(model, path)


def test_static_bad_input():
    with pytest.raises(TypeError, match="cannot convert layer '1' of type Sigmoid"):
        quantize_static(nn.Sequential(nn.Linear(4, 4), nn.Sigmoid()), [torch.randn(2, 4)])
    with pytest.raises(ValueError, match="no batches"):
        quantize_static(nn.Sequential(nn.Linear(4, 4)), [])
    with pytest.raises(TypeError, match="flat nn.Sequential"):
        quantize_static(nn.Linear(4, 4), [torch.randn(2, 4)])
    with pytest.raises(ValueError, match="int8 grid"):
        from companion.quant.observers import MinMaxObserver
        quantize_static(nn.Sequential(nn.Linear(4, 4)), [torch.randn(2, 4)], observer=lambda: MinMaxObserver(bits=4))


def test_quantize_input_matches_the_affine_map():
    model = quantize_static(nn.Sequential(nn.Linear(4, 3)), [torch.randn(16, 4)])
    x = torch.randn(5, 4)
    assert torch.equal(model.quantize_input(x), quantize(x, model.in_scale, model.in_zero))


def test_int_max_pool_commutes_with_dequantization():
    from companion.quant.static import IntMaxPool2d

    torch.manual_seed(4)
    q = torch.randint(-128, 128, (2, 3, 8, 8), dtype=torch.int8)
    for pool in (IntMaxPool2d(2), IntMaxPool2d(3, 2, 1)):
        got = dequantize(pool(q), 0.1, -7)
        expected = F.max_pool2d(dequantize(q, 0.1, -7), pool.kernel_size, pool.stride, pool.padding)
        assert torch.equal(got, expected)
    with pytest.raises(TypeError, match="ceil_mode"):
        quantize_static(nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2, ceil_mode=True)), [torch.randn(2, 1, 6, 6)])


def test_four_bit_weights_stay_on_their_grid_and_match_the_float_oracle():
    torch.manual_seed(8)
    conv = nn.Conv2d(4, 6, 3, padding=1)
    in_q, out_q = _qparams(0.03, 2), _qparams(0.05, -1)
    module = IntConv2d.from_float(conv, in_q, out_q, weight_bits=4)
    assert int(module.weight_int8.min()) >= -8 and int(module.weight_int8.max()) <= 7
    # The per-channel scale is max|w| / 7.5: the largest weight of each channel lands on code ±7 or −8.
    expected_scale = conv.weight.detach().abs().flatten(1).amax(dim=1) / 7.5
    assert torch.allclose(module.weight_scale, expected_scale)
    q_x = torch.randint(-128, 128, (2, 4, 5, 5), dtype=torch.int8)
    w_hat = dequantize(module.weight_int8, module.weight_scale, torch.zeros(6, dtype=torch.int32), axis=0)
    y = F.conv2d(dequantize(q_x, *in_q), w_hat, conv.bias.detach(), padding=1)
    assert int((module(q_x).float() - _reference_codes(y, 0.05, -1, False)).abs().max()) <= 1
    for bad in (1, 9, 4.0):
        with pytest.raises(ValueError, match="weight_bits"):
            IntLinear.from_float(nn.Linear(3, 2), in_q, out_q, weight_bits=bad)


def _float_simulation(module, q_x):
    """The same integer arithmetic in float64: a float conv of the centred codes (exact, every partial sum
    is an integer below 2⁵³), the bias, then round half up of acc·M with M = M₀·2^(−31−n) (exact in
    float64) and the clamp."""
    from companion.quant.fixed_point import multiplier_value

    weight = module.weight_int8.double()
    centred = q_x.double() - float(module.in_zero)
    if isinstance(module, IntConv2d):
        acc = F.conv2d(F.pad(centred, (module.padding[1],) * 2 + (module.padding[0],) * 2), weight,
                       stride=module.stride, dilation=module.dilation, groups=module.groups)
        bias = module.bias_int32.double().reshape(1, -1, 1, 1)
        m = multiplier_value(module.multiplier, module.shift).reshape(1, -1, 1, 1)
    else:
        acc, bias = centred @ weight.t(), module.bias_int32.double()
        m = multiplier_value(module.multiplier, module.shift)
    # Σ (q_x − Z_x)·q_w + q_b, with the stored constant q_b − Z_x·Σq_w giving q_b back.
    sums = weight.flatten(1).sum(dim=1).reshape(bias.shape)
    acc = acc + float(module.in_zero) * sums + bias
    lower = max(-128, int(module.out_zero)) if module.relu else -128
    return acc, torch.clamp(torch.floor(acc * m + 0.5) + float(module.out_zero), lower, 127)


@pytest.mark.parametrize("per_channel", [True, False])
@pytest.mark.parametrize("groups, relu", [(8, True), (1, False), (2, True)])
def test_integer_conv_equals_a_float_simulation_of_its_arithmetic(per_channel, groups, relu):
    """Exact (not within one code): int32 accumulators (products + the stored constant) and output codes,
    with per-channel and per-tensor weights."""
    torch.manual_seed(9)
    conv = nn.Conv2d(8, 8, 3, stride=(1, 2), padding=1, groups=groups)
    module = IntConv2d.from_float(conv, _qparams(0.03, -128), _qparams(0.02, -128 if relu else 7), relu=relu,
                                  per_channel=per_channel)
    assert module.multiplier.numel() == module.shift.numel() == (8 if per_channel else 1)
    q_x = torch.randint(-128, 128, (3, 8, 9, 6), dtype=torch.int8)
    acc, codes = _float_simulation(module, q_x)
    products = module.accumulate(q_x)
    assert products.dtype == torch.int32
    assert torch.equal(products.double() + module.bias_int32.double().reshape(-1, 1, 1), acc)
    assert torch.equal(module(q_x).double(), codes)


@pytest.mark.parametrize("per_channel", [True, False])
def test_integer_linear_equals_a_float_simulation_of_its_arithmetic(per_channel):
    torch.manual_seed(10)
    module = IntLinear.from_float(nn.Linear(40, 12), _qparams(0.05, 3), _qparams(0.04, -2), per_channel=per_channel)
    q_x = torch.randint(-128, 128, (30, 40), dtype=torch.int8)
    acc, codes = _float_simulation(module, q_x)
    assert torch.equal(module.accumulate(q_x).double() + module.bias_int32.double(), acc)
    assert torch.equal(module(q_x).double(), codes)


def test_per_tensor_depthwise_weights_share_one_scale_and_multiplier_and_reload(tmp_path):
    """depthwise_per_channel=False: depthwise layers get one S_w and one (M₀, n), other layers keep theirs;
    the model matches torch's float conv within one code and survives a save/load round trip."""
    from companion.models import DSCNN

    torch.manual_seed(11)
    model = DSCNN(channels=8, blocks=1).eval()
    x = torch.randn(32, 1, 51, 20)
    quantized = quantize_static(model, [x], depthwise_per_channel=False)
    layers = dict(quantized.layers.named_children())
    assert layers["dw1"].multiplier.shape == layers["dw1"].weight_scale.shape == (1,)
    assert not layers["dw1"].per_channel and layers["pw1"].per_channel and layers["pw1"].multiplier.shape == (8,)
    dw = fold_batchnorm(model).dw1
    w_hat = layers["dw1"].weight_int8.float() * layers["dw1"].weight_scale
    assert float((w_hat - dw.weight.detach()).abs().max()) <= float(layers["dw1"].weight_scale) / 2 + 1e-7
    q_in = torch.randint(-128, 128, (2, 8, 13, 5), dtype=torch.int8)
    real = F.relu(F.conv2d(dequantize(q_in, layers["dw1"].in_scale, layers["dw1"].in_zero), w_hat, dw.bias.detach(),
                           padding=1, groups=8))
    expected = _reference_codes(real, layers["dw1"].out_scale, int(layers["dw1"].out_zero), True)
    assert int((layers["dw1"](q_in).float() - expected).abs().max()) <= 1
    save_quantized(quantized, tmp_path / "dscnn.pt")
    reloaded = load_quantized(tmp_path / "dscnn.pt")
    assert torch.equal(reloaded(x), quantized(x))
