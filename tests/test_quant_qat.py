"""QAT: the STE passes gradient 1 inside the range and 0 outside, LSQ's step gradient, conversion is exact."""
import pytest
import torch
from torch import nn

from companion.quant import affine
from companion.quant.qat import (ActivationFakeQuant, LSQFakeQuant, QATLayer, QuantizedLayer, calibrate, convert, prepare_qat,
                                 quantized_weights)


def test_ste_gradient_is_one_inside_the_range_and_zero_outside():
    quant = ActivationFakeQuant(bits=4)
    quant(torch.tensor([0.0, 1.5]))  # calibrates the range to [0, 1.5]
    quant.eval()
    x = torch.tensor([-1.0, 0.0, 0.3, 0.77, 1.5, 1.6, 5.0], requires_grad=True)
    y = quant(x)
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0]
    scale, zero = quant.qparams()
    assert torch.equal(y.detach(), affine.dequantize(affine.quantize(x.detach(), scale, zero, 0, 15), scale, zero))


def test_activation_range_is_a_moving_average():
    quant = ActivationFakeQuant(bits=8, momentum=0.5)
    quant(torch.tensor([0.0, 2.0]))
    quant(torch.tensor([-2.0, 4.0]))
    assert quant.running_min.item() == -1.0 and quant.running_max.item() == 3.0
    quant.eval()
    quant(torch.tensor([-100.0, 100.0]))
    assert quant.running_max.item() == 3.0
    with pytest.raises(RuntimeError, match="seen no data"):
        ActivationFakeQuant().eval()(torch.zeros(2))


def test_lsq_gradients_follow_the_paper():
    weight = torch.tensor([[0.26, -0.7, 3.0, -5.0]], requires_grad=True)
    quant = LSQFakeQuant(weight, bits=3)  # codes in [-4, 3]
    with torch.no_grad():
        quant.step.fill_(0.5)
    out = quant(weight)
    assert out.tolist() == [[0.5, -0.5, 1.5, -2.0]]
    out.sum().backward()
    assert weight.grad.tolist() == [[1.0, 1.0, 0.0, 0.0]]
    ratio = weight.detach() / 0.5
    expected = (torch.round(ratio) - ratio)[0, :2].sum() + 3 - 4
    assert torch.isclose(quant.step.grad[0], expected * quant.grad_factor)
    assert quant.grad_factor == pytest.approx(1 / (4 * 3) ** 0.5)


@pytest.mark.parametrize("weight_bits, lsq", [(4, False), (2, False), (3, True), ("binary", False), ("ternary", False)])
def test_prepare_train_convert_keeps_outputs(weight_bits, lsq):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
    qat = prepare_qat(model, weight_bits, act_bits=8, lsq=lsq)
    assert isinstance(qat[0], QATLayer) and isinstance(model[0], nn.Conv2d)
    optimizer = torch.optim.SGD(qat.parameters(), lr=0.01)
    for _ in range(3):
        optimizer.zero_grad()
        qat(torch.rand(8, 1, 6, 6)).pow(2).sum().backward()
        optimizer.step()
    qat.eval()
    x = torch.rand(5, 1, 6, 6)
    integer = convert(qat)
    assert isinstance(integer[0], QuantizedLayer)
    assert torch.allclose(integer(x), qat(x), atol=1e-5)
    state = integer.state_dict()
    assert "0.layer.weight" not in state and state["0.codes"].dtype == torch.uint8
    records = quantized_weights(integer)
    bits = {"binary": 1, "ternary": 2}.get(weight_bits, weight_bits)
    assert set(records) == {"0", "3"} and all(r.bits == bits for r in records.values())


def test_calibrate_sets_ranges_without_touching_batchnorm():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    qat = prepare_qat(model, 4, act_bits=8)
    loader = [(torch.tensor([[-2.0, 0.0, 1.0]]), None), (torch.tensor([[0.0, 6.0, 3.0]]), None)]
    calibrate(qat, loader)
    assert not qat.training and qat[0].act_quant.running_min.item() == pytest.approx(0.9 * -2.0 + 0.1 * 0.0)
    assert qat[0].act_quant.running_max.item() == pytest.approx(0.9 * 1.0 + 0.1 * 6.0)  # EMA from the first batch
    assert torch.equal(qat[1].running_mean, torch.zeros(4))
    with pytest.raises(ValueError, match="empty"):
        calibrate(prepare_qat(model, 4), [])
    with pytest.raises(ValueError, match="ActivationFakeQuant"):
        calibrate(prepare_qat(model, 4, act_bits=None), loader)


def test_weight_only_and_per_layer_bits():
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    qat = prepare_qat(model, {"0": 2, "2": 8}, act_bits=None)
    assert qat[0].act_quant is None and isinstance(qat[2], QATLayer)
    assert qat[0].weight_quant.bits == 2 and qat[2].weight_quant.bits == 8
    x = torch.randn(3, 4)
    assert torch.allclose(convert(qat)(x), qat.eval()(x))


def test_bad_input():
    model = nn.Sequential(nn.Linear(4, 4))
    with pytest.raises(ValueError, match="bits"):
        prepare_qat(model, 1)
    with pytest.raises(ValueError, match="weight_bits"):
        prepare_qat(model, "quaternary")
    with pytest.raises(ValueError, match="LSQ"):
        prepare_qat(model, 4, lsq=True, granularity="group", group_size=2)
    with pytest.raises(ValueError, match="bits must be an integer in \\[2, 8\\] for LSQ"):
        prepare_qat(model, 1, lsq=True)
    with pytest.raises(ValueError, match="group_size"):
        prepare_qat(model, 4, granularity="group", group_size=0)
    with pytest.raises(ValueError, match="QATLayer"):
        convert(model)
    with pytest.raises(TypeError, match="QATLayer wraps"):
        QATLayer(nn.ReLU(), nn.Identity())


@pytest.mark.parametrize("lsq", [False, True])
def test_a_qat_model_saved_and_loaded_converts_like_the_original(lsq, tmp_path):
    """The activation ranges live in state_dict: a reloaded QAT model (e.g. from a cache) converts the same."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
    qat = prepare_qat(model, 4, act_bits=8, lsq=lsq)
    for _ in range(3):
        qat(torch.rand(8, 1, 6, 6))
    torch.save(qat.state_dict(), tmp_path / "qat.pt")
    again = prepare_qat(model, 4, act_bits=8, lsq=lsq)
    again.load_state_dict(torch.load(tmp_path / "qat.pt", weights_only=True))
    x = torch.rand(5, 1, 6, 6)
    assert torch.equal(convert(again.eval())(x), convert(qat.eval())(x))
