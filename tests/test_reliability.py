"""No silent garbage: every class of bad input raises a clear error naming the argument, or gets torch's answer.

Each test is written for a class of inputs (hypothesis draws from it), not for one example, and
compares with PyTorch's documented behaviour where PyTorch defines one.
"""
import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings, strategies as st
from torch import nn

from companion import validate
from companion.optim.clipping import clip_grad_norm_
from companion.optim.sgd import SGD
from companion.prune.sparse import csr_bytes, to_csr
from companion.prune.surgery import mask_units, remove_units
from companion.quant import affine
from companion.quant.lowbit import fake_quantize_uniform
from companion.quant.observers import (HistogramObserver, MinMaxObserver, MovingAverageMinMaxObserver, MSEObserver,
                                       PercentileObserver)
from companion.quant.qat import ActivationFakeQuant

pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated:UserWarning", "ignore::DeprecationWarning",
                                        "ignore::FutureWarning")

FAST = settings(max_examples=60, deadline=None)
QLIMIT = 2 ** 24


# ---------------------------------------------------------------- quantize / dequantize / calc_qparams


@FAST
@given(qmin=st.integers(-2 ** 40, 2 ** 40), width=st.integers(1, 2 ** 40))
def test_code_ranges_beyond_float32_exact_integers_are_rejected(qmin, width):
    qmax = qmin + width
    x = torch.tensor([3e9, -3e9, 0.5])
    if -QLIMIT <= qmin and qmax <= QLIMIT:
        codes = affine.quantize(x, 1.0, min(max(0, qmin), qmax), qmin, qmax)
        assert int(codes.min()) >= qmin and int(codes.max()) <= qmax   # saturates, never wraps around
    else:
        with pytest.raises(ValueError, match="qm(in|ax) must be an integer in \\[-16777216, 16777216\\]"):
            affine.quantize(x, 1.0, 0, qmin, qmax)
        with pytest.raises(ValueError, match="qm(in|ax)"):
            affine.calc_qparams(-1.0, 1.0, qmin, qmax)


@FAST
@given(seed=st.integers(0, 2 ** 16), log_scale=st.floats(-3, 3), zero=st.integers(-1000, 1000))
def test_wide_int_ranges_equal_torch_qint32_inside_the_supported_range(seed, log_scale, zero):
    x = torch.randn(2000, generator=torch.Generator().manual_seed(seed)) * 2e7 * 10 ** log_scale
    scale = 10 ** log_scale
    expected = torch.quantize_per_tensor(x, scale, zero, torch.qint32).int_repr().clamp(-QLIMIT, QLIMIT)
    assert torch.equal(affine.quantize(x, scale, zero, -QLIMIT, QLIMIT).long(), expected.long())
    for qmin, qmax in (affine.qrange(16), affine.qrange(12, signed=False), (-2 ** 20, 2 ** 20)):
        z = min(max(zero, qmin), qmax)
        expected = torch.quantize_per_tensor(x, scale, z, torch.qint32).int_repr().clamp(qmin, qmax)
        assert torch.equal(affine.quantize(x, scale, z, qmin, qmax).long(), expected.long())


def test_the_issue_examples_raise_clear_errors():
    with pytest.raises(ValueError, match="qmin"):
        affine.quantize(torch.tensor([3e9]), 1.0, 0, -2 ** 31, 2 ** 31 - 1)
    with pytest.raises(ValueError, match="axis must be in \\[-2, 1\\]"):
        affine.quantize(torch.zeros(2, 3), torch.ones(3), torch.zeros(3), axis=3)
    with pytest.raises(ValueError, match="0-d"):
        affine.quantize(torch.tensor(1.0), torch.ones(1), torch.zeros(1), axis=0)
    with pytest.raises(ValueError, match="too wide"):
        affine.calc_qparams(-3e38, 3e38)
    with pytest.raises(TypeError, match="integer tensor of codes"):
        affine.dequantize(torch.tensor([1.7]), 1.0, 0)


@FAST
@given(shape=st.lists(st.integers(1, 4), min_size=0, max_size=4), axis=st.integers(-8, 8))
def test_per_channel_axis_is_checked_against_the_tensor(shape, axis):
    x = torch.randn(shape)
    ndim = len(shape)
    if ndim and -ndim <= axis < ndim:
        channels = shape[axis]
        scale, zero = torch.rand(channels) + 0.01, torch.randint(-5, 5, (channels,))
        got = affine.quantize(x, scale, zero, axis=axis)
        expected = torch.quantize_per_channel(x, scale.double(), zero, axis % ndim, torch.qint8).int_repr()
        assert torch.equal(got, expected)
        assert torch.equal(affine.dequantize(got, scale, zero, axis=axis),
                           affine.dequantize(got, scale, zero, axis=axis % ndim))
    else:
        for fn in (lambda: affine.quantize(x, torch.ones(1), torch.zeros(1), axis=axis),
                   lambda: affine.dequantize(torch.zeros(shape, dtype=torch.int8), torch.ones(1), torch.zeros(1),
                                             axis=axis),
                   lambda: affine.fake_quantize(x, torch.ones(1), torch.zeros(1), axis=axis)):
            with pytest.raises(ValueError, match="axis|0-d"):
                fn()
    with pytest.raises(TypeError, match="axis must be an integer"):
        affine.quantize(torch.zeros(2, 2), torch.ones(2), torch.zeros(2), axis=0.0)


BAD_SCALES = st.sampled_from([0.0, -0.0, -1.0, -1e-3, float("nan"), float("inf"), float("-inf"), 1e-40, 1e-45])


@FAST
@given(bad=BAD_SCALES, channels=st.integers(1, 5), where=st.integers(0, 4))
def test_non_positive_or_non_finite_scales_are_rejected_everywhere(bad, channels, where):
    x = torch.randn(channels, 3)
    scale = torch.full((channels,), 0.1)
    scale[where % channels] = bad
    zero = torch.zeros(channels, dtype=torch.int32)
    calls = [lambda: affine.quantize(x, bad, 0), lambda: affine.quantize(x, scale, zero, axis=0),
             lambda: affine.fake_quantize(x, bad, 0), lambda: affine.fake_quantize(x, scale, zero, axis=0),
             lambda: affine.dequantize(torch.zeros(channels, 3, dtype=torch.int8), scale, zero, axis=0)]
    for call in calls:
        with pytest.raises(ValueError, match="scale must be finite and > 0"):
            call()


@FAST
@given(bits=st.integers(2, 16), signed=st.booleans(),
       zero=st.one_of(st.integers(-2 ** 20, 2 ** 20), st.floats(-300, 300),
                           st.sampled_from([float("nan"), float("inf"), -float("inf"), 0.5])))
def test_zero_points_must_be_whole_codes_of_the_range(bits, signed, zero):
    qmin, qmax = affine.qrange(bits, signed)
    x = torch.randn(10)
    valid = math.isfinite(zero) and zero == round(zero) and qmin <= zero <= qmax
    as_tensor = torch.tensor(zero, dtype=torch.float64 if isinstance(zero, float) else torch.int64)
    for form in (zero, as_tensor):
        if valid:
            expected = torch.clamp(torch.round(x / 0.1 + zero), qmin, qmax)
            assert torch.allclose(affine.quantize(x, 0.1, form, qmin, qmax).double(), expected.double())
        else:
            with pytest.raises(ValueError, match="zero_point must"):
                affine.quantize(x, 0.1, form, qmin, qmax)
            with pytest.raises(ValueError, match="zero_point must"):
                affine.fake_quantize(x, 0.1, form, qmin, qmax)


@pytest.mark.parametrize("dtype", [torch.int8, torch.uint8, torch.int16, torch.int32, torch.int64])
def test_dequantize_accepts_integer_codes_exactly(dtype):
    info = torch.iinfo(dtype)
    low, high = max(info.min, -QLIMIT + 5), min(info.max, QLIMIT + 5)  # |q − Z| ≤ 2²⁴
    q = torch.linspace(low, high, 1001).round().to(dtype)
    got = affine.dequantize(q, 0.37, 5)
    expected = ((q.double() - 5) * np.float32(0.37)).float()  # one rounding of the exact product
    assert got.dtype == torch.float32 and torch.equal(got, expected)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.complex64,
                                   torch.bool])
def test_dequantize_rejects_codes_that_are_not_integers(dtype):
    with pytest.raises(TypeError, match="q must be an integer tensor of codes"):
        affine.dequantize(torch.tensor([1.7, 2.0]).to(dtype), 0.5, 0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_quantize_converts_other_float_dtypes_to_float32_as_documented(dtype):
    x = (torch.randn(500) * 4).to(dtype)
    assert torch.equal(affine.quantize(x, 0.05, 3), affine.quantize(x.float(), 0.05, 3))
    fake = affine.fake_quantize(x, 0.05, 3)
    assert fake.dtype == dtype
    with pytest.raises(ValueError, match="NaN or Inf"):  # float64 values beyond float32's range
        affine.quantize(torch.tensor([1e300], dtype=torch.float64), 0.05, 3)


@pytest.mark.parametrize("dtype", [torch.int8, torch.int32, torch.int64, torch.bool, torch.complex64])
def test_quantize_rejects_integer_bool_and_complex_input(dtype):
    with pytest.raises(TypeError, match="x must be a real floating-point tensor"):
        affine.quantize(torch.ones(3).to(dtype), 0.1, 0)


@FAST
@given(lo=st.floats(-3.4e38, 0, allow_nan=False), hi=st.floats(0, 3.4e38, allow_nan=False),
       bits=st.integers(2, 16), signed=st.booleans(), symmetric=st.booleans())
def test_calc_qparams_never_returns_an_infinite_scale(lo, hi, bits, signed, symmetric):
    qmin, qmax = affine.qrange(bits, signed)
    try:
        scale, zero = affine.calc_qparams(lo, hi, qmin, qmax, symmetric=symmetric)
    except ValueError as error:
        assert "too wide" in str(error)
        assert (hi - lo) / (qmax - qmin) > 3.4e38 / (qmax - qmin) * 0.99 or symmetric
        return
    assert math.isfinite(float(scale)) and float(scale) > 0 and qmin <= int(zero) <= qmax
    codes = torch.tensor([qmin, qmax], dtype=torch.int64)
    assert not torch.isnan(affine.dequantize(codes, scale, zero)).any()


@pytest.mark.parametrize("bits", range(2, 9))
def test_unsigned_symmetric_zero_point_is_torch_aos(bits):
    from torch.ao.quantization import MinMaxObserver as AOMinMax

    custom = bits != 8  # torch.ao: 128 for its default [0, 255], (q_min + q_max) // 2 for a custom range
    observer = AOMinMax(dtype=torch.quint8, qscheme=torch.per_tensor_symmetric,
                        **({"quant_min": 0, "quant_max": 2 ** bits - 1} if custom else {}))
    x = torch.randn(100, generator=torch.Generator().manual_seed(bits))
    observer(x)
    expected_scale, expected_zero = observer.calculate_qparams()
    scale, zero = affine.calc_qparams(x.min(), x.max(), 0, 2 ** bits - 1, symmetric=True)
    assert torch.equal(scale.reshape(1), expected_scale) and int(zero) == int(expected_zero)


@FAST
@given(seed=st.integers(0, 2 ** 16), bits=st.integers(2, 8), granularity=st.sampled_from(["tensor", "channel", "group"]),
       symmetric=st.booleans(), rows=st.integers(1, 4), cols=st.integers(1, 9))
def test_fake_quantize_uniform_passes_gradient_one_to_every_weight(seed, bits, granularity, symmetric, rows, cols):
    weight = torch.randn(rows, cols, generator=torch.Generator().manual_seed(seed), requires_grad=True)
    fake = fake_quantize_uniform(weight, bits, granularity, 3 if granularity == "group" else None, symmetric)
    fake.backward(torch.ones_like(fake))
    assert torch.equal(weight.grad, torch.ones_like(weight))


# ---------------------------------------------------------------- observers and QAT state


@FAST
@given(value=st.floats(-1e30, 1e30, allow_nan=False), size=st.integers(1, 5000))
def test_histogram_observer_handles_constant_tensors_of_any_magnitude(value, size):
    observer = HistogramObserver(bits=8)
    observer(torch.full((size,), value))
    scale, zero = observer.calculate_qparams()
    assert math.isfinite(float(scale)) and float(scale) > 0
    back = affine.dequantize(affine.quantize(torch.tensor([value]), scale, zero), scale, zero)
    assert abs(float(back) - np.float32(value)) <= float(scale) * 0.5 * (1 + 1e-5) + abs(value) * 1e-6


PER_CHANNEL = [MinMaxObserver, MovingAverageMinMaxObserver, PercentileObserver, MSEObserver]


def _state(observer):
    return {k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in vars(observer).items()
            if not k.startswith("_") or k in ("_values", "_channel_count")}


def _same_state(before, after):
    assert before.keys() == after.keys()
    for key in before:
        if isinstance(before[key], torch.Tensor):
            assert torch.equal(before[key], after[key]), key
        else:
            assert before[key] == after[key], key


@pytest.mark.parametrize("kind", PER_CHANNEL)
@settings(max_examples=25, deadline=None)
@given(channels=st.integers(1, 4), other=st.integers(1, 5), axis=st.integers(-3, 2))
def test_per_channel_observers_reject_bad_batches_and_keep_their_state(kind, channels, other, axis):
    shape = [3, 3, 3]
    shape[axis] = channels
    observer = kind(axis=axis)
    observer(torch.randn(shape))
    before = _state(observer)
    bad_shape = list(shape)
    bad_shape[axis] = other
    if other != channels:
        with pytest.raises(ValueError, match=f"observed {channels} channels"):
            observer(torch.randn(bad_shape))
    bad_batches = [torch.tensor(1.0), torch.randn(3), torch.full(shape, float("nan")), torch.zeros(0)]
    for bad in bad_batches:
        if bad.dim() == 1 and axis in (0, -1) and bad.shape[0] == channels:
            continue  # a valid batch for this axis
        with pytest.raises(ValueError):
            observer(bad)
    _same_state(before, _state(observer))
    assert observer.calculate_qparams()[0].shape == (channels,)


@pytest.mark.parametrize("kind", PER_CHANNEL + [HistogramObserver])
def test_every_observer_rejects_non_finite_batches_without_changing_state(kind):
    observer = kind()
    observer(torch.randn(50))
    before = _state(observer)
    for bad in (float("nan"), float("inf"), float("-inf")):
        x = torch.randn(50)
        x[7] = bad
        with pytest.raises(ValueError, match="NaN or Inf"):
            observer(x)
    _same_state(before, _state(observer))


@settings(max_examples=30, deadline=None)
@given(bad=st.sampled_from([float("nan"), float("inf"), float("-inf")]), where=st.integers(0, 19),
       momentum=st.floats(0.01, 1.0))
def test_one_bad_batch_does_not_poison_activation_fake_quant(bad, where, momentum):
    quantizer = ActivationFakeQuant(8, momentum).train()
    quantizer(torch.randn(4, 5))
    before = (quantizer.running_min.clone(), quantizer.running_max.clone())
    x = torch.randn(4, 5)
    x.view(-1)[where] = bad
    with pytest.raises(ValueError, match="NaN or Inf"):
        quantizer(x)
    with pytest.raises(ValueError, match="empty batch"):
        quantizer(torch.zeros(0, 5))
    assert torch.equal(quantizer.running_min, before[0]) and torch.equal(quantizer.running_max, before[1])
    good = torch.randn(4, 5)
    out = quantizer(good)
    assert torch.isfinite(out).all() and torch.isfinite(quantizer.running_min) and torch.isfinite(quantizer.running_max)


# ---------------------------------------------------------------- pruning and sparse storage


def _cnn(affine_norm: bool) -> nn.Sequential:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 6, 3, padding=1), nn.BatchNorm2d(6, affine=affine_norm), nn.ReLU(),
                          nn.Flatten(), nn.Linear(6 * 4 * 4, 3))
    model.train()
    model(torch.randn(16, 2, 4, 4))  # non-trivial running statistics
    return model.eval()


NOT_INDICES = st.one_of(
    st.lists(st.floats(0.1, 5.9).filter(lambda v: v != int(v)), min_size=1, max_size=3),
    st.lists(st.booleans(), min_size=1, max_size=3),
    st.text("012345", min_size=1, max_size=3),
    st.lists(st.text("012345", min_size=1, max_size=2), min_size=1, max_size=3),
    st.just(torch.tensor([1.0, 2.0])), st.just(torch.tensor([True])), st.just([1.0]), st.just(np.array([0.5])))


@settings(max_examples=40, deadline=None)
@given(bad=NOT_INDICES)
def test_unit_indices_must_be_integers(bad):
    model, x = _cnn(True), torch.zeros(1, 2, 4, 4)
    for fn in (remove_units, mask_units):
        with pytest.raises(TypeError, match="integer"):
            fn(model, x, {"0": bad})


@settings(max_examples=20, deadline=None)
@given(units=st.lists(st.integers(0, 5), min_size=1, max_size=5, unique=True).filter(lambda u: len(u) < 6),
       affine_norm=st.booleans())
def test_mask_units_computes_what_remove_units_computes(units, affine_norm):
    model, x = _cnn(affine_norm), torch.randn(5, 2, 4, 4)
    forms = [units, np.array(units, dtype=np.int64), torch.tensor(units), tuple(units)]
    removed = remove_units(model, x[:1], {"0": forms[0]})
    for form in forms:
        assert torch.equal(remove_units(model, x[:1], {"0": form})(x), removed(x))
        assert torch.allclose(mask_units(model, x[:1], {"0": form})(x), removed(x), atol=1e-6)


@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (0, 0), (2, 0, 3), (0, 2, 3), (4, 5)])
def test_to_csr_handles_empty_matrices(shape):
    weight = torch.randn(shape) * (torch.rand(shape) > 0.5)
    csr = to_csr(weight)
    rows = shape[0]
    cols = math.prod(shape[1:])
    assert csr.shape == (rows, cols)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert torch.equal(csr.to_dense(), weight.reshape(rows, cols))
    nnz = int((weight != 0).sum())
    assert csr_bytes(csr) == 4 * nnz + 4 * nnz + 4 * (rows + 1)


# ---------------------------------------------------------------- gradient clipping and SGD


GRADS = st.lists(st.lists(st.floats(-1e3, 1e3, allow_nan=False, width=32), min_size=1, max_size=6),
                 min_size=1, max_size=3)


def _params(grads, poison=None):
    params = []
    for i, values in enumerate(grads):
        p = nn.Parameter(torch.zeros(len(values)))
        p.grad = torch.tensor(values)
        if poison is not None and i == 0:
            p.grad[0] = poison
        params.append(p)
    return params


@settings(max_examples=80, deadline=None)
@given(grads=GRADS, norm_type=st.sampled_from([1, 2, 3.5, math.inf, "inf", "2", 0.5]),
       max_norm=st.floats(1e-3, 1e3), poison=st.sampled_from([None, None, float("nan"), float("inf")]))
def test_clip_grad_norm_equals_torch_including_inf_and_non_finite(grads, norm_type, max_norm, poison):
    ours, theirs = _params(grads, poison), _params(grads, poison)
    total = clip_grad_norm_(ours, max_norm, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert torch.allclose(total, expected, rtol=1e-5, equal_nan=True)
    for a, b in zip(ours, theirs):
        assert torch.allclose(a.grad, b.grad, rtol=1e-5, atol=1e-7, equal_nan=True)
    if poison is not None:
        ours, theirs = _params(grads, poison), _params(grads, poison)
        with pytest.raises(RuntimeError, match="non-finite"):
            torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type, error_if_nonfinite=True)
        with pytest.raises(RuntimeError, match="non-finite"):
            clip_grad_norm_(ours, max_norm, norm_type, error_if_nonfinite=True)
        for a, b in zip(ours, _params(grads, poison)):
            assert torch.equal(a.grad, b.grad) or torch.allclose(a.grad, b.grad, equal_nan=True)  # untouched


def test_clip_grad_norm_rejects_unreadable_norm_types():
    for bad in ("two", None, 0, -1, "-inf", float("nan")):
        with pytest.raises(ValueError, match="norm_type"):
            clip_grad_norm_(_params([[1.0]]), 1.0, bad)


@settings(max_examples=40, deadline=None)
@given(momentum=st.sampled_from([0.0, 0.5, 0.9]), dampening=st.sampled_from([0.0, 0.3]),
       weight_decay=st.sampled_from([0.0, 1e-2]), nesterov=st.booleans(), maximize=st.booleans(),
       seed=st.integers(0, 1000))
def test_sgd_maximize_follows_torch_optim_sgd(momentum, dampening, weight_decay, nesterov, maximize, seed):
    assume(not nesterov or (momentum > 0 and dampening == 0))
    start = torch.randn(4, 3, generator=torch.Generator().manual_seed(seed))
    target = torch.randn(4, 3, generator=torch.Generator().manual_seed(seed + 1))
    options = dict(lr=0.05, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov,
                   maximize=maximize)
    paths = []
    for optimizer_class in (SGD, torch.optim.SGD):
        weight = nn.Parameter(start.clone())
        optimizer = optimizer_class([weight], **options)
        for _ in range(6):
            optimizer.zero_grad()
            (-((weight - target) ** 2).sum() if maximize else ((weight - target) ** 2).sum()).backward()
            optimizer.step()
        paths.append(weight.detach())
    assert torch.allclose(paths[0], paths[1], rtol=1e-6, atol=1e-6)


def test_sgd_flags_must_be_bools():
    for name in ("maximize", "nesterov"):
        with pytest.raises(TypeError, match=name):
            SGD([nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9, **{name: "yes"})


# ---------------------------------------------------------------- the validation helpers themselves


@FAST
@given(value=st.one_of(st.integers(), st.floats(), st.booleans(), st.text(max_size=3), st.none()))
def test_validate_integer_accepts_exactly_the_integers(value):
    if isinstance(value, int) and not isinstance(value, bool):
        assert validate.integer(value, "n") == value
        assert validate.integer(np.int64(value), "n") == value if abs(value) < 2 ** 63 else True
    else:
        with pytest.raises(TypeError, match="n must be an integer"):
            validate.integer(value, "n")


@pytest.mark.parametrize("call, error, message", [
    (lambda: affine.qrange(True), ValueError, "bits"),
    (lambda: affine.calc_qparams(-1.0, 1.0, eps=0.0), ValueError, "eps"),
    (lambda: affine.calc_qparams(-1.0, 1.0, eps=float("nan")), ValueError, "eps"),
    (lambda: affine.calc_qparams(-1.0, 1.0, 0.0, 255), TypeError, "qmin must be an integer"),
    (lambda: affine.quantize([1.0, 2.0], 0.1, 0), TypeError, "x must be a torch.Tensor"),
    (lambda: affine.quantize(torch.ones(2), torch.tensor(0.1j), 0), TypeError, "scale must be real"),
    (lambda: affine.quantize(torch.ones(2), 0.1, torch.tensor(True)), TypeError, "zero_point must hold integers"),
    (lambda: MinMaxObserver(axis=1.0), TypeError, "axis must be an integer"),
    (lambda: MinMaxObserver()(torch.ones(3, dtype=torch.complex64)), TypeError, "real tensors"),
])
def test_other_argument_types_are_named_in_the_error(call, error, message):
    with pytest.raises(error, match=message):
        call()
