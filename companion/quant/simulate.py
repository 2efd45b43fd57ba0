"""Simulated (fake-quantized) static int8 PTQ of any network, to measure what int8 does to its outputs.

Integer-only conversion (:mod:`~companion.quant.static`, :mod:`~companion.quant.residual`) needs one
integer module per operation type. To ask *how much* int8 changes a large pretrained network, the
standard tool is simulation (Krishnamoorthi 2018, §3; Jacob et al. 2018): every value that would be
int8 is rounded to its grid and mapped back to float, Q(x) = S·(clamp(round(x/S) + Z) − Z), and the
float kernels run on those values. The outputs equal what an integer kernel with the same (S, Z)
computes, up to the int32 requantization rounding (at most one code per layer).

:func:`simulate_int8_ptq` does, on a copy of the model:

1. fold every BatchNorm into the convolution before it (BatchNorm folding is part of int8 deployment:
   the folded weight W·γ/σ is what gets quantized; :func:`companion.layers.fold_batchnorm`);
2. wrap every Conv/Linear so that its **weight** is quantized to int8 (8-bit uniform, per output
   channel or per tensor) and its **input activation** to int8 with a range observed on calibration
   data (:func:`companion.quant.qat.prepare_qat` and :func:`~companion.quant.qat.calibrate`).
"""
from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch import nn

from ..layers import fold_batchnorm
from .qat import calibrate, prepare_qat

__all__ = ["is_depthwise", "simulate_int8_ptq"]

GRANULARITIES = ("channel", "tensor")


def is_depthwise(module: nn.Module) -> bool:
    """A depthwise convolution: one filter per input channel (groups = in_channels = out_channels > 1)."""
    return (isinstance(module, nn.Conv2d) and module.groups > 1
            and module.groups == module.in_channels == module.out_channels)


@torch.no_grad()
def simulate_int8_ptq(model: nn.Module, calibration: Iterable,
                      granularity: str | Callable[[str, nn.Module], str] = "channel") -> nn.Module:
    """A BatchNorm-folded, int8 fake-quantized copy of ``model`` (weights and layer inputs), calibrated.

    ``granularity`` is ``'channel'`` or ``'tensor'`` for every weight, or a function
    ``(layer name, layer) → 'channel' | 'tensor'`` (e.g. per-tensor only for depthwise convolutions).
    ``calibration`` yields input batches (or ``(input, target)`` pairs) that set the activation
    ranges (moving-average min/max). ``model`` is not modified.
    """
    choose = granularity if callable(granularity) else (lambda name, module: granularity)
    if not callable(granularity) and granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES} or a function, got {granularity!r}")
    folded = fold_batchnorm(model)
    layers = {name: m for name, m in folded.named_modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))}
    chosen = {name: choose(name, m) for name, m in layers.items()}
    bad = {name: g for name, g in chosen.items() if g not in GRANULARITIES}
    if bad:
        raise ValueError(f"granularity must return one of {GRANULARITIES}, got {bad}")
    prepared = folded
    for kind in GRANULARITIES:
        names = [name for name, g in chosen.items() if g == kind]
        if names:
            prepared = prepare_qat(prepared, weight_bits=8, act_bits=8, granularity=kind, layers=names)
    batches = ((b if isinstance(b, (tuple, list)) else (b,)) for b in calibration)
    return calibrate(prepared, batches)
