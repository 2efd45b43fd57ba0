"""Static PTQ with integer-only inference for residual networks (:class:`companion.models.ResNet`).

:mod:`companion.quant.static` converts a flat chain of layers. A residual network adds two more
integer operations (Jacob et al. 2018, §2.4; the TensorFlow Lite kernels do the same):

**Addition of two int8 tensors** with different scales, y = a + b, r_a = S_a(q_a − Z_a),
r_b = S_b(q_b − Z_b), output (S_y, Z_y):

    q_y = Z_y + round( (S_a/S_y)(q_a − Z_a) + (S_b/S_y)(q_b − Z_b) ).

With integers only, both inputs are first shifted left by L = 20 bits (so that rounding them to a
common scale loses nothing that matters), rescaled to the common scale 2·max(S_a, S_b) by fixed-point
multipliers M_a = S_a / (2·max), M_b = S_b / (2·max) (both ≤ 1/2, so the sum fits in int32), summed,
and requantized by M_y = 2·max / (2^L · S_y). Each multiplier is a (M₀, n) pair of
:mod:`~companion.quant.fixed_point`. A ReLU after the addition is again a raised lower bound Z_y.

**Global average pooling** keeps the input's (S, Z): q_y = Z + round(Σ_hw (q − Z) / HW), with
1/HW as a fixed-point multiplier (the mean of values lies in their range, so it needs no new scale).

Convolutions and the classifier are :class:`~companion.quant.static.IntConv2d` /
:class:`~companion.quant.static.IntLinear` with BatchNorm folded in. Only the input is quantized from
floats and only the logits are dequantized.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from .affine import dequantize, quantize
from .fixed_point import quantize_multiplier, requantize
from .observers import MinMaxObserver, Observer
from ..layers import fold_batchnorm
from .static import QMAX, QMIN, IntConv2d, IntLinear, IntMaxPool2d, float_stage, conversion_plan

__all__ = ["ADD_SHIFT", "IntAdd", "IntGlobalAvgPool", "IntBasicBlock", "IntegerResNet", "quantize_static_resnet"]

ADD_SHIFT = 20  # L: bits of headroom for the rescaled addends; |q − Z| ≤ 255 → |(q − Z)·2^L| < 2^28
_I32 = (-(2 ** 31), 2 ** 31 - 1)


def _rescale(x: torch.Tensor, m0: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """round(M·x) for int32 ``x`` and a fixed-point M, kept in int32 (no zero point, no clamp)."""
    return requantize(x, m0, shift, 0, *_I32)


class IntAdd(nn.Module):
    """Integer-only q_y = Z_y + round((S_a/S_y)(q_a − Z_a) + (S_b/S_y)(q_b − Z_b)), optional fused ReLU."""

    def __init__(self, a_qparams, b_qparams, out_qparams, relu: bool = False):
        super().__init__()
        (s_a, z_a), (s_b, z_b), (s_y, z_y) = a_qparams, b_qparams, out_qparams
        s_a, s_b, s_y = (torch.as_tensor(s).double() for s in (s_a, s_b, s_y))
        twice_max = 2 * torch.maximum(s_a, s_b)
        self.relu = relu
        for name, value in (("a", s_a / twice_max), ("b", s_b / twice_max), ("out", twice_max / (2 ** ADD_SHIFT * s_y))):
            m0, shift = quantize_multiplier(value)
            self.register_buffer(f"m0_{name}", m0)
            self.register_buffer(f"shift_{name}", shift)
        for name, value in (("a_zero", z_a), ("b_zero", z_b), ("out_zero", z_y)):
            self.register_buffer(name, torch.as_tensor(value).to(torch.int32))

    def forward(self, q_a: torch.Tensor, q_b: torch.Tensor) -> torch.Tensor:
        a = torch.bitwise_left_shift(q_a.to(torch.int32) - self.a_zero, ADD_SHIFT)
        b = torch.bitwise_left_shift(q_b.to(torch.int32) - self.b_zero, ADD_SHIFT)
        total = _rescale(a, self.m0_a, self.shift_a) + _rescale(b, self.m0_b, self.shift_b)
        lower = max(QMIN, int(self.out_zero)) if self.relu else QMIN
        return requantize(total, self.m0_out, self.shift_out, self.out_zero, lower, QMAX)


class IntGlobalAvgPool(nn.Module):
    """Integer-only global average pooling and flattening: (N, C, H, W) codes → (N, C) codes, same (S, Z)."""

    def __init__(self, zero_point):
        super().__init__()
        self.register_buffer("zero_point", torch.as_tensor(zero_point).to(torch.int32))

    def forward(self, q_x: torch.Tensor) -> torch.Tensor:
        area = q_x.shape[-1] * q_x.shape[-2]
        total = (q_x.to(torch.int32) - self.zero_point).sum(dim=(-2, -1), dtype=torch.int32)
        m0, shift = quantize_multiplier(1.0 / area)
        return requantize(total, m0, shift, self.zero_point, QMIN, QMAX)


class IntBasicBlock(nn.Module):
    """Integer-only :class:`~companion.models.BasicBlock`: ReLU(conv2(ReLU(conv1(x))) + shortcut(x))."""

    def __init__(self, conv1: IntConv2d, conv2: IntConv2d, shortcut: IntConv2d | None, add: IntAdd):
        super().__init__()
        self.conv1, self.conv2, self.shortcut, self.add = conv1, conv2, shortcut, add

    def forward(self, q_x: torch.Tensor) -> torch.Tensor:
        residual = q_x if self.shortcut is None else self.shortcut(q_x)
        return self.add(self.conv2(self.conv1(q_x)), residual)


class IntegerResNet(nn.Module):
    """float x → int8 codes → stem → integer basic blocks → average pool → classifier → float logits."""

    def __init__(self, stem: nn.Sequential, blocks: nn.Sequential, pool: IntGlobalAvgPool, fc: IntLinear,
                 in_qparams, out_qparams):
        super().__init__()
        self.stem, self.blocks, self.pool, self.fc = stem, blocks, pool, fc
        self.register_buffer("in_scale", torch.as_tensor(in_qparams[0]).float())
        self.register_buffer("in_zero", torch.as_tensor(in_qparams[1]).to(torch.int32))
        self.register_buffer("out_scale", torch.as_tensor(out_qparams[0]).float())
        self.register_buffer("out_zero", torch.as_tensor(out_qparams[1]).to(torch.int32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = quantize(x, self.in_scale, self.in_zero, QMIN, QMAX)
        q = self.fc(self.pool(self.blocks(self.stem(q))))
        return dequantize(q, self.out_scale, self.out_zero)


def _block_convs(block: nn.Module) -> dict[str, nn.Conv2d | None]:
    """The (already BatchNorm-folded) convolutions of a basic block; ``shortcut`` is None for the identity."""
    return {"conv1": block.conv1, "conv2": block.conv2,
            "shortcut": block.shortcut[0] if len(block.shortcut) > 0 else None}


def _check_resnet(model: nn.Module) -> None:
    from ..models import BasicBlock, ResNet

    if not isinstance(model, ResNet):
        raise TypeError(f"quantize_static_resnet needs a companion.models.ResNet, got {type(model).__name__}")
    for stage in model.stages:
        for block in stage:
            if not isinstance(block, BasicBlock):
                raise TypeError(f"every block must be a BasicBlock, got {type(block).__name__}")
    if not isinstance(model.pool, nn.AdaptiveAvgPool2d) or model.pool.output_size not in (1, (1, 1)):
        raise TypeError("the pool of the ResNet must be a global AdaptiveAvgPool2d(1)")


@torch.no_grad()
def quantize_static_resnet(model: nn.Module, calibration: Iterable, observer: Callable[[], Observer] | None = None,
                           per_channel: bool = True) -> IntegerResNet:
    """Fold BatchNorm, calibrate every activation range on ``calibration``, convert to integer-only.

    Observers (default: asymmetric int8 min-max) watch the input, every convolution's output (after
    its fused ReLU), every block's output (after the addition and ReLU) and the logits. ``per_channel``
    chooses per-channel (default) or per-tensor symmetric int8 weights. ``model`` is not modified.
    """
    _check_resnet(model)
    observer = observer or (lambda: MinMaxObserver(bits=8, signed=True))
    model = fold_batchnorm(model)  # a copy; every BatchNorm becomes nn.Identity
    stem_plan = conversion_plan(model.stem)
    blocks = [_block_convs(b) for stage in model.stages for b in stage]
    obs: dict[str, Observer] = {"input": observer()}
    for name, module, _ in stem_plan:
        if isinstance(module, nn.Conv2d):
            obs[f"stem.{name}"] = observer()
    for i, block in enumerate(blocks):
        for part in ("conv1", "conv2", "shortcut", "out"):
            if part != "shortcut" or block["shortcut"] is not None:
                obs[f"block{i}.{part}"] = observer()
    obs["fc"] = observer()
    for bad in obs.values():
        if (bad.qmin, bad.qmax) != (QMIN, QMAX):
            raise ValueError(f"activation observers must use the int8 grid [{QMIN}, {QMAX}], got [{bad.qmin}, {bad.qmax}]")
    seen = 0
    for batch in calibration:
        x = obs["input"]((batch[0] if isinstance(batch, (tuple, list)) else batch).float())
        for name, module, relu in stem_plan:
            x = float_stage(module, relu)(x)
            if f"stem.{name}" in obs:
                obs[f"stem.{name}"](x)
        for i, block in enumerate(blocks):
            h = obs[f"block{i}.conv2"](block["conv2"](obs[f"block{i}.conv1"](F.relu(block["conv1"](x)))))
            residual = x if block["shortcut"] is None else obs[f"block{i}.shortcut"](block["shortcut"](x))
            x = obs[f"block{i}.out"](F.relu(h + residual))
        obs["fc"](model.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)))
        seen += 1
    if seen == 0:
        raise ValueError("calibration yielded no batches: static quantization needs calibration data")
    qp = {name: o.calculate_qparams() for name, o in obs.items()}

    current = qp["input"]
    stem_layers = []
    for name, module, relu in stem_plan:
        if isinstance(module, nn.Conv2d):
            stem_layers.append((name, IntConv2d.from_float(module, current, qp[f"stem.{name}"], relu, per_channel)))
            current = qp[f"stem.{name}"]
        elif isinstance(module, nn.MaxPool2d):
            stem_layers.append((name, IntMaxPool2d(module.kernel_size, module.stride, module.padding)))
        else:
            raise TypeError(f"the stem may hold Conv2d (+BatchNorm2d) (+ReLU) and MaxPool2d, got {type(module).__name__}")
    int_blocks = []
    for i, block in enumerate(blocks):
        block_in = current
        conv1 = IntConv2d.from_float(block["conv1"], block_in, qp[f"block{i}.conv1"], True, per_channel)
        conv2 = IntConv2d.from_float(block["conv2"], qp[f"block{i}.conv1"], qp[f"block{i}.conv2"], False, per_channel)
        shortcut, residual_qp = None, block_in
        if block["shortcut"] is not None:
            shortcut = IntConv2d.from_float(block["shortcut"], block_in, qp[f"block{i}.shortcut"], False, per_channel)
            residual_qp = qp[f"block{i}.shortcut"]
        add = IntAdd(qp[f"block{i}.conv2"], residual_qp, qp[f"block{i}.out"], relu=True)
        int_blocks.append(IntBasicBlock(conv1, conv2, shortcut, add))
        current = qp[f"block{i}.out"]
    fc = IntLinear.from_float(model.fc, current, qp["fc"], False, per_channel)
    return IntegerResNet(nn.Sequential(OrderedDict(stem_layers)), nn.Sequential(*int_blocks), IntGlobalAvgPool(current[1]),
                         fc, qp["input"], qp["fc"]).eval()
