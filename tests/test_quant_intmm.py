"""The int8 GEMM and the layers built on it, swept over shape and layout edges against exact int64 sums.

``torch._int_mm`` on CPU misreads some operands with a size-1 dimension (a column-major operand with
one row or one inner element gives wrong results that change between calls); these tests sweep
every such edge, with views in every layout, and call each product three times to catch
nondeterminism.
"""
import itertools

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from companion.quant.affine import quantize
from companion.quant.dynamic import DynamicQuantLinear, activation_qparams
from companion.quant.intmm import int_matmul
from companion.quant.static import IntConv2d, IntLinear

ROWS = [1, 2, 3, 15, 16, 17, 33, 64, 65]   # m: 1 row, and around the GEMM kernels' 16/32/64-row blocks
INNER = [1, 2, 3, 7, 8, 9, 16, 17]         # k: 1 inner element, and around multiples of 8
COLS = [1, 2, 3, 8, 17]                     # n: 1 column, and around multiples of 8


def _layouts(t: torch.Tensor) -> dict[str, torch.Tensor]:
    """The same matrix as row-major, column-major, degenerate-stride and strided (sliced) views."""
    r, c = t.shape
    views = {"row": torch.empty(r, c, dtype=t.dtype).copy_(t),
             "column": torch.empty(c, r, dtype=t.dtype).copy_(t.t()).t(),
             "sliced": torch.empty(r, 2 * c + 1, dtype=t.dtype)[:, 1::2].copy_(t)}
    if r == 1 or c == 1:  # strides (1, 1): both row- and column-major at once
        views["degenerate"] = t.contiguous().reshape(-1).clone().as_strided((r, c), (1, 1))
    for view in views.values():
        assert torch.equal(view, t)
    return views


def _exact(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a.long() @ b.long()).int()


def _same_three_times(fn, *args) -> torch.Tensor:
    first = fn(*args)
    for _ in range(2):
        assert torch.equal(fn(*args), first), "two calls on the same operands disagree"
    return first


@pytest.mark.parametrize("m", ROWS)
def test_int_matmul_is_exact_for_every_shape_edge_and_layout(m):
    generator = torch.Generator().manual_seed(m)
    for k, n in itertools.product(INNER, COLS):
        a = torch.randint(-128, 128, (m, k), dtype=torch.int8, generator=generator)
        b = torch.randint(-128, 128, (k, n), dtype=torch.int8, generator=generator)
        expected = _exact(a, b)
        for (a_name, a_view), (b_name, b_view) in itertools.product(_layouts(a).items(), _layouts(b).items()):
            got = _same_three_times(int_matmul, a_view, b_view)
            assert got.dtype == torch.int32 and torch.equal(got, expected), (m, k, n, a_name, b_name)


def test_int_matmul_extreme_codes_and_empty_operands():
    for m, k, n in [(1, 1, 1), (1, 1, 5), (3, 1, 4), (1, 300, 1), (17, 1000, 9)]:
        for value_a, value_b in [(-128, -128), (-128, 127), (127, 127)]:
            a = torch.full((m, k), value_a, dtype=torch.int8)
            b = torch.full((n, k), value_b, dtype=torch.int8).t()
            assert torch.equal(_same_three_times(int_matmul, a, b), torch.full((m, n), k * value_a * value_b,
                                                                                dtype=torch.int32))
    for m, k, n in [(0, 3, 4), (3, 0, 4), (3, 4, 0), (0, 0, 0)]:
        got = int_matmul(torch.zeros(m, k, dtype=torch.int8), torch.zeros(k, n, dtype=torch.int8))
        assert torch.equal(got, torch.mm(torch.zeros(m, k), torch.zeros(k, n)).int())


def _dynamic_reference(module: DynamicQuantLinear, x: torch.Tensor) -> torch.Tensor:
    """The layer's own float epilogue, y = (S_x·S_w)·acc + (b − Z_x·S_x·S_w·Σ_k q_w), in the same order
    of float operations, with the int32 accumulator computed exactly in int64."""
    x2d = x.reshape(-1, module.in_features)
    x_scale, x_zero = activation_qparams(*torch.aminmax(x2d))
    q_x = quantize(x2d, x_scale, x_zero)
    acc = (q_x.long() @ module.weight_int8.long().t()).int()
    sum_scale = module.weight_int8.int().sum(dim=1).float() * module.weight_scale
    if module.bias is None:
        offset = sum_scale * (-x_zero * x_scale)
    else:
        offset = torch.add(module.bias, sum_scale, alpha=-x_zero * x_scale)
    y = torch.addcmul(offset, acc, module.weight_scale * x_scale)
    return y.reshape(*x.shape[:-1], module.out_features)


@pytest.mark.parametrize("in_features", INNER)
def test_dynamic_quant_linear_is_exact_and_deterministic_on_shape_edges(in_features):
    torch.manual_seed(in_features)
    for out_features, batch in itertools.product(COLS, ROWS):
        module = DynamicQuantLinear.from_float(nn.Linear(in_features, out_features))
        x = torch.randn(batch, in_features)
        for view in (x, torch.empty(in_features, batch).copy_(x.t()).t()):  # row- and column-major input
            got = _same_three_times(module, view)
            assert torch.equal(got, _dynamic_reference(module, x)), (in_features, out_features, batch)


def test_dynamic_quant_linear_empty_batch_is_like_nn_linear():
    linear = nn.Linear(5, 3)
    module = DynamicQuantLinear.from_float(linear)
    for shape in [(0, 5), (2, 0, 5), (0, 4, 5)]:
        x = torch.randn(shape)
        assert module(x).shape == linear(x).shape
    with pytest.raises(ValueError, match=r"\(\.\.\., 5\) \(in_features\)"):
        module(torch.randn(2, 4))
    with pytest.raises(ValueError, match="in_features"):
        module(torch.tensor(1.0))
    with pytest.raises(TypeError, match="floating-point"):
        module(torch.ones(2, 5, dtype=torch.int64))


def _qparams(scale: float, zero: int):
    return torch.tensor(scale), torch.tensor(zero, dtype=torch.int32)


@pytest.mark.parametrize("in_features", INNER)
def test_int_linear_accumulator_is_exact_on_shape_edges(in_features):
    torch.manual_seed(in_features)
    for out_features, batch in itertools.product(COLS, ROWS):
        module = IntLinear.from_float(nn.Linear(in_features, out_features), _qparams(0.02, 3), _qparams(0.05, -7))
        q_x = torch.randint(-128, 128, (batch, in_features), dtype=torch.int8)
        expected = module.requantize_accumulator((q_x.long() @ module.weight_int8.long().t()).int())
        for view in _layouts(q_x).values():
            assert torch.equal(_same_three_times(module, view), expected), (in_features, out_features, batch)


@pytest.mark.parametrize("in_channels, kernel", [(1, 1), (1, 3), (2, 1), (3, 2)])
def test_int_conv_accumulator_is_exact_on_shape_edges(in_channels, kernel):
    torch.manual_seed(in_channels * 10 + kernel)
    for out_channels, batch, (height, width), padding in itertools.product(
            [1, 2, 8], [1, 2, 5], [(1, 1), (1, 5), (4, 1), (6, 7)], [0, 1]):
        if height + 2 * padding < kernel or width + 2 * padding < kernel:
            continue
        in_q = _qparams(0.03, -5)
        module = IntConv2d.from_float(nn.Conv2d(in_channels, out_channels, kernel, padding=padding), in_q,
                                      _qparams(0.04, 2))
        q_x = torch.randint(-128, 128, (batch, in_channels, height, width), dtype=torch.int8)
        padded = F.pad(q_x.double(), (padding,) * 4, value=float(in_q[1]))
        acc = F.conv2d(padded, module.weight_int8.double())  # exact: every partial sum is an integer < 2⁵³
        rows = acc.permute(0, 2, 3, 1).reshape(-1, out_channels).to(torch.int32)
        expected = module.requantize_accumulator(rows).reshape(batch, *acc.shape[2:], out_channels).permute(0, 3, 1, 2)
        got = _same_three_times(module, q_x)
        assert torch.equal(got, expected), (in_channels, kernel, out_channels, batch, height, width, padding)
        assert module(q_x[:0]).shape == (0, *got.shape[1:])


def test_integer_layers_reject_float_input_and_wrong_channels():
    linear = IntLinear.from_float(nn.Linear(4, 2), _qparams(0.1, 0), _qparams(0.1, 0))
    conv = IntConv2d.from_float(nn.Conv2d(2, 3, 1), _qparams(0.1, 0), _qparams(0.1, 0))
    with pytest.raises(TypeError, match="int8"):
        linear(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="4 channels"):
        linear(torch.zeros(3, 5, dtype=torch.int8))
    with pytest.raises(ValueError, match="2 channels"):
        conv(torch.zeros(1, 3, 4, 4, dtype=torch.int8))
