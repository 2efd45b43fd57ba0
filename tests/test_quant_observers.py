import pytest
import torch

from companion.quant import observers as obs

pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated:UserWarning", "ignore::DeprecationWarning", "ignore::FutureWarning")


@pytest.mark.parametrize("dtype, signed, symmetric, qscheme", [
    (torch.qint8, True, False, torch.per_tensor_affine), (torch.quint8, False, False, torch.per_tensor_affine),
    (torch.qint8, True, True, torch.per_tensor_symmetric), (torch.quint8, False, True, torch.per_tensor_symmetric)])
def test_min_max_observer_matches_torch(dtype, signed, symmetric, qscheme):
    from torch.ao.quantization import MinMaxObserver

    torch.manual_seed(0)
    ours = obs.MinMaxObserver(bits=8, signed=signed, symmetric=symmetric)
    theirs = MinMaxObserver(dtype=dtype, qscheme=qscheme)
    for shift in (0.0, 1.5, -2.0):
        x = torch.randn(32, 100) + shift
        ours(x)
        theirs(x)
    scale, zero = ours.calculate_qparams()
    ref_scale, ref_zero = theirs.calculate_qparams()
    assert torch.allclose(scale, ref_scale.reshape(()), rtol=1e-6) and int(zero) == int(ref_zero)


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("dtype, signed, symmetric, qscheme", [
    (torch.qint8, True, True, torch.per_channel_symmetric), (torch.quint8, False, False, torch.per_channel_affine)])
def test_per_channel_min_max_observer_matches_torch(axis, dtype, signed, symmetric, qscheme):
    from torch.ao.quantization import PerChannelMinMaxObserver

    torch.manual_seed(1)
    ours = obs.MinMaxObserver(bits=8, signed=signed, symmetric=symmetric, axis=axis)
    theirs = PerChannelMinMaxObserver(ch_axis=axis, dtype=dtype, qscheme=qscheme)
    for _ in range(3):
        x = torch.randn(16, 24) * torch.rand(16, 1) * 3
        ours(x)
        theirs(x)
    scale, zero = ours.calculate_qparams()
    ref_scale, ref_zero = theirs.calculate_qparams()
    assert torch.allclose(scale, ref_scale.float(), rtol=1e-6) and torch.equal(zero.long(), ref_zero.long())


def test_moving_average_matches_torch():
    from torch.ao.quantization import MovingAverageMinMaxObserver

    torch.manual_seed(2)
    ours = obs.MovingAverageMinMaxObserver(averaging_constant=0.1)
    theirs = MovingAverageMinMaxObserver(averaging_constant=0.1, dtype=torch.qint8)
    for i in range(5):
        x = torch.randn(200) * (1 + i)
        ours(x)
        theirs(x)
    lo, hi = ours.min_max()
    assert torch.allclose(lo, theirs.min_val) and torch.allclose(hi, theirs.max_val)


def test_percentile_clips_outliers_and_equals_quantile():
    torch.manual_seed(3)
    x = torch.randn(10_000)
    x[:5] = 100.0
    ours = obs.PercentileObserver(percentile=99.0)
    ours(x[:5000])
    ours(x[5000:])
    lo, hi = ours.min_max()
    assert float(hi) < 5 and float(lo) > -5
    assert abs(float(hi) - float(torch.quantile(x, 0.99))) < 0.02
    per_channel = obs.PercentileObserver(percentile=100.0, axis=0)
    per_channel(x.reshape(10, -1))
    assert torch.equal(per_channel.min_max()[1], x.reshape(10, -1).amax(dim=1))


@pytest.mark.parametrize("make", [lambda: obs.MSEObserver(bits=4), lambda: obs.HistogramObserver(bits=4)], ids=["mse", "histogram"])
def test_error_minimising_observers_beat_min_max_on_outliers(make):
    torch.manual_seed(4)
    x = torch.randn(20_000)
    x[:3] = torch.tensor([40.0, -30.0, 35.0])
    from companion.quant.affine import dequantize, quantize

    def mse(observer):
        observer(x)
        scale, zero = observer.calculate_qparams()
        return float(((dequantize(quantize(x, scale, zero, -8, 7), scale, zero) - x) ** 2).mean())

    # At 4 bits the min-max step (70/15) is far too coarse for the bulk of the values: clipping wins.
    assert mse(make()) < 0.5 * mse(obs.MinMaxObserver(bits=4))


def test_histogram_keeps_counts_when_the_range_grows():
    observer = obs.HistogramObserver(bins=64)
    observer(torch.linspace(0, 1, 1000))
    observer(torch.linspace(-3, 2, 1000))
    assert observer.counts.sum() == 2000
    assert observer.lo == -3 and observer.hi == 2


def test_mse_observer_per_channel_is_per_channel():
    torch.manual_seed(5)
    x = torch.randn(4, 1000) * torch.tensor([[0.1], [1.0], [10.0], [100.0]])
    observer = obs.MSEObserver(axis=0)
    observer(x)
    scale, _ = observer.calculate_qparams()
    assert scale.shape == (4,) and bool((scale[1:] > 5 * scale[:-1]).all())


def test_bad_use_raises_clear_errors():
    with pytest.raises(obs.NotCalibratedError, match="observed no data"):
        obs.MinMaxObserver().calculate_qparams()
    with pytest.raises(ValueError, match="bits"):
        obs.MinMaxObserver(bits=17)
    with pytest.raises(ValueError, match="NaN or Inf"):
        obs.MinMaxObserver()(torch.tensor([1.0, float("inf")]))
    with pytest.raises(ValueError, match="empty"):
        obs.MinMaxObserver()(torch.zeros(0))
    with pytest.raises(ValueError, match="percentile"):
        obs.PercentileObserver(percentile=30)
    with pytest.raises(ValueError, match="axis"):
        obs.HistogramObserver(axis=0)
    with pytest.raises(ValueError, match="averaging_constant"):
        obs.MovingAverageMinMaxObserver(averaging_constant=0)


def test_observer_is_a_pass_through_module():
    x = torch.randn(3, 4)
    assert obs.MinMaxObserver()(x) is x


@pytest.mark.parametrize("name", sorted(obs.OBSERVERS))
@pytest.mark.parametrize("axis", [None, 1])
def test_a_saved_observer_reloads_calibrated_and_goes_on_as_if_never_saved(name, axis, tmp_path):
    """What an observer learned travels in state_dict (saved with torch.save, loaded weights_only)."""
    if name == "histogram" and axis is not None:
        pytest.skip("the histogram observer is per tensor only")
    kwargs = {"max_values": 50} if name in ("percentile", "mse") else {}
    torch.manual_seed(2)
    batches = [torch.randn(8, 6) * (i + 1) for i in range(4)]
    original = obs.OBSERVERS[name](axis=axis, **kwargs)
    for x in batches[:2]:
        original(x)
    torch.save(original.state_dict(), tmp_path / "observer.pt")
    reloaded = obs.OBSERVERS[name](axis=axis, **kwargs)
    with pytest.raises(obs.NotCalibratedError):
        reloaded.calculate_qparams()
    reloaded.load_state_dict(torch.load(tmp_path / "observer.pt", weights_only=True))
    for a, b in zip(reloaded.calculate_qparams(), original.calculate_qparams()):
        assert torch.equal(a, b)
    for x in batches[2:]:  # the subsampling generator and running statistics carry on identically
        original(x)
        reloaded(x)
    for a, b in zip(reloaded.calculate_qparams(), original.calculate_qparams()):
        assert torch.equal(a, b)
    assert reloaded.batches == original.batches == 4


def test_a_saved_state_from_another_kind_of_state_is_refused():
    observer = obs.MinMaxObserver()
    with pytest.raises(ValueError, match="batches"):
        observer.set_extra_state({"lo": torch.zeros(())})
    with pytest.raises(ValueError, match="keys among"):
        observer.set_extra_state({"batches": 1, "weights": torch.zeros(())})
