"""Quantization-aware training (QAT): train with the rounding in the loop, then convert to integer form.

:func:`prepare_qat` wraps each Linear/Conv layer of a copy of a model in a :class:`QATLayer`, whose
forward pass is

    y = layer(Q_a(x); Ŵ = Q_w(W)),

with Q_w a weight fake-quantizer (uniform min–max, LSQ, binary or ternary) and Q_a an activation
fake-quantizer (per-tensor, asymmetric, range from an exponential moving average of the batch min
and max: a :class:`~companion.quant.observers.MovingAverageMinMaxObserver`). Both round in the
forward pass and use the **straight-through estimator** (STE) backward:
∂Q(x)/∂x = 1 inside the representable range and 0 outside (Bengio et al. 2013), so the float
"latent" weights W keep receiving gradients and drift until their rounded versions work well.

**LSQ** (learned step size, Esser et al. 2020) makes the weight scale s a trainable parameter:

    Ŵ = s · round(clamp(W/s, −Q_N, Q_P)),
    ∂Ŵ/∂s = round(W/s) − W/s inside the range, −Q_N or Q_P outside,

with s's gradient multiplied by g = 1/√(N · Q_P) (N weights per scale) and s initialised to
2·E|W|/√Q_P.

:func:`convert` replaces every QATLayer by a :class:`QuantizedLayer` that holds integer codes
(``uint8``) and scales instead of float weights, and fixed activation quantization parameters; its
output equals the QAT model's output in eval mode.
"""
from __future__ import annotations

import copy
import dataclasses
from typing import Iterable

import torch
from torch import nn
from torch.nn import functional as F

from .. import validate
from ..layers import WEIGHT_LAYERS, set_submodule, weight_layers
from . import affine
from .lowbit import (QuantizedWeight, UniformWeight, binarize, fake_binarize, fake_quantize_uniform, fake_ternarize,
                     quantize_uniform, ternarize)
from .observers import MovingAverageMinMaxObserver

__all__ = ["UniformFakeQuant", "LSQFakeQuant", "BinaryFakeQuant", "TernaryFakeQuant", "ActivationFakeQuant",
           "QATLayer", "QuantizedLayer", "prepare_qat", "calibrate", "convert", "quantized_weights"]


class UniformFakeQuant(nn.Module):
    """Q_w: uniform ``bits``-bit fake quantization with min–max scales (see :func:`lowbit.fake_quantize_uniform`)."""

    def __init__(self, bits: int, granularity: str = "channel", group_size: int | None = None, symmetric: bool = False):
        super().__init__()
        self.bits, self.granularity, self.group_size, self.symmetric = bits, granularity, group_size, symmetric

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return fake_quantize_uniform(weight, self.bits, self.granularity, self.group_size, self.symmetric)

    def quantize(self, weight: torch.Tensor) -> QuantizedWeight:
        return quantize_uniform(weight, self.bits, self.granularity, self.group_size, self.symmetric)


def _round_ste(x: torch.Tensor) -> torch.Tensor:
    return torch.round(x.detach()) + (x - x.detach())


def _scale_grad(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Identity forward; multiplies the gradient by ``factor`` backward."""
    return x.detach() + (x * factor - (x * factor).detach())


class LSQFakeQuant(nn.Module):
    """Q_w with a learned step size per output channel (LSQ); signed codes in [−2^(b−1), 2^(b−1) − 1]."""

    def __init__(self, weight: torch.Tensor, bits: int):
        super().__init__()
        if not isinstance(bits, int) or not 2 <= bits <= 8:
            raise ValueError(f"bits must be an integer in [2, 8] for LSQ, got {bits!r}")
        self.bits = bits
        self.qmin, self.qmax = affine.qrange(bits, signed=True)
        rows = weight.detach().reshape(weight.shape[0], -1)
        self.grad_factor = 1.0 / (rows.shape[1] * self.qmax) ** 0.5
        self.step = nn.Parameter((2 * rows.abs().mean(dim=1) / self.qmax ** 0.5).clamp(min=1e-8))

    def _step(self, weight: torch.Tensor) -> torch.Tensor:
        return _scale_grad(self.step, self.grad_factor).reshape(-1, *([1] * (weight.dim() - 1)))

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        step = self._step(weight)
        return _round_ste(torch.clamp(weight / step, self.qmin, self.qmax)) * step

    def quantize(self, weight: torch.Tensor) -> QuantizedWeight:
        """Unsigned codes q = round(clamp(W/s)) − q_min with zero-point Z = −q_min, so Ŵ = s · (q − Z)."""
        step = self.step.detach().clamp(min=torch.finfo(torch.float32).eps)
        signed = torch.clamp(torch.round(weight.detach() / step.reshape(-1, *([1] * (weight.dim() - 1)))),
                             self.qmin, self.qmax)
        codes = (signed - self.qmin).to(torch.uint8)
        zero = torch.full((weight.shape[0], 1), -self.qmin, dtype=torch.uint8)
        return UniformWeight(codes=codes, bits=self.bits, scale=step.reshape(-1, 1).clone(), zero_point=zero,
                             group_size=weight[0].numel())


class BinaryFakeQuant(nn.Module):
    """Q_w: BinaryConnect (``scaled=False``) or BWN (``scaled=True``) with the STE, gradient cut where |W| > 1."""

    def __init__(self, scaled: bool = True, clip: float | None = 1.0):
        super().__init__()
        self.scaled, self.clip = scaled, clip

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return fake_binarize(weight, self.scaled, self.clip)

    def quantize(self, weight: torch.Tensor) -> QuantizedWeight:
        return binarize(weight, self.scaled)


class TernaryFakeQuant(nn.Module):
    """Q_w: TWN ternary weights with the STE."""

    def __init__(self, threshold_factor: float = 0.7, per_channel: bool = True):
        super().__init__()
        self.threshold_factor, self.per_channel = threshold_factor, per_channel

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return fake_ternarize(weight, self.threshold_factor, self.per_channel)

    def quantize(self, weight: torch.Tensor) -> QuantizedWeight:
        return ternarize(weight, self.threshold_factor, self.per_channel)


class ActivationFakeQuant(nn.Module):
    """Q_a: per-tensor asymmetric ``bits``-bit fake quantization of a layer's input.

    The range is a :class:`~companion.quant.observers.MovingAverageMinMaxObserver` with averaging
    constant ``momentum``: in training mode each batch moves it, m ← m + momentum·(m_batch − m) (the
    first batch sets it); in eval mode it is frozen.

    Inputs and errors: ``x`` is a real floating-point tensor. In training mode an empty batch or one
    holding NaN or Inf raises ``ValueError`` *before* the running range is touched, so one bad batch
    cannot poison every later call; in eval mode NaN or Inf raises too (see :func:`affine.quantize`).
    """

    def __init__(self, bits: int = 8, momentum: float = 0.1):
        super().__init__()
        if not 0.0 < momentum <= 1.0:
            raise ValueError(f"momentum must be in (0, 1], got {momentum}")
        self.bits, self.momentum = bits, momentum
        self.observer = MovingAverageMinMaxObserver(averaging_constant=momentum, bits=bits, signed=False)
        self.qmin, self.qmax = self.observer.qmin, self.observer.qmax

    @property
    def running_min(self) -> torch.Tensor:
        return self.observer.min_max()[0]

    @property
    def running_max(self) -> torch.Tensor:
        return self.observer.min_max()[1]

    def qparams(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.observer.batches == 0:
            raise RuntimeError("ActivationFakeQuant has seen no data: run the model in training mode first")
        return self.observer.calculate_qparams()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            validate.float_tensor(x, "x")
            if x.numel() == 0:
                raise ValueError("ActivationFakeQuant cannot update its range from an empty batch")
            validate.finite(x, "x")
            self.observer(x)
        scale, zero_point = self.qparams()
        return affine.fake_quantize(x, scale, zero_point, self.qmin, self.qmax)


def _layer_forward(layer: nn.Module, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    if isinstance(layer, nn.Linear):
        return F.linear(x, weight, layer.bias)
    return layer._conv_forward(x, weight, layer.bias)


class QATLayer(nn.Module):
    """A Linear/Conv layer computing ``layer(Q_a(x))`` with its weight replaced by ``Q_w(W)``."""

    def __init__(self, layer: nn.Module, weight_quant: nn.Module, act_quant: nn.Module | None = None):
        super().__init__()
        if not isinstance(layer, WEIGHT_LAYERS):
            raise TypeError(f"QATLayer wraps nn.Linear or nn.Conv layers, got {type(layer).__name__}")
        self.layer, self.weight_quant, self.act_quant = layer, weight_quant, act_quant

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.act_quant is not None:
            x = self.act_quant(x)
        return _layer_forward(self.layer, x, self.weight_quant(self.layer.weight))


def _weight_quantizer(weight: torch.Tensor, bits, granularity: str, group_size: int | None, lsq: bool) -> nn.Module:
    if bits == "binary":
        return BinaryFakeQuant()
    if bits == "ternary":
        return TernaryFakeQuant()
    if lsq:
        if granularity != "channel" or group_size is not None:
            raise ValueError("LSQ here learns one step per output channel: use granularity='channel', no group_size")
        return LSQFakeQuant(weight, bits)
    quantizer = UniformFakeQuant(bits, granularity, group_size)
    quantizer(weight.detach())  # validate bits/granularity now, not at the first forward pass
    return quantizer


def prepare_qat(model: nn.Module, weight_bits: int | str | dict, act_bits: int | None = 8,
                granularity: str = "channel", group_size: int | None = None, lsq: bool = False,
                layers: Iterable[str] | None = None) -> nn.Module:
    """A copy of ``model`` with its Linear/Conv layers wrapped in :class:`QATLayer` (the original is untouched).

    ``weight_bits``: an integer in [2, 8] (uniform, or LSQ with ``lsq=True``), ``'binary'`` (BWN),
    ``'ternary'`` (TWN), or a dict of these per layer name. ``act_bits``: the input activations' bits,
    or ``None`` to keep activations float (weight-only QAT). Train the copy with any optimizer over
    its parameters, in training mode (which also calibrates the activation ranges).
    """
    if isinstance(weight_bits, dict):
        layers = list(weight_bits) if layers is None else layers
    prepared = copy.deepcopy(model)
    for name, layer in weight_layers(prepared, layers).items():
        bits = weight_bits[name] if isinstance(weight_bits, dict) else weight_bits
        if not (bits in ("binary", "ternary") or isinstance(bits, int)):
            raise ValueError(f"weight_bits must be an integer, 'binary' or 'ternary', got {bits!r}")
        act_quant = ActivationFakeQuant(act_bits) if act_bits is not None else None
        set_submodule(prepared, name, QATLayer(layer, _weight_quantizer(layer.weight, bits, granularity, group_size, lsq),
                                                act_quant))
    return prepared


@torch.no_grad()
def calibrate(model: nn.Module, loader) -> nn.Module:
    """Set the activation ranges of a prepared model from ``loader``'s inputs, without training (PTQ).

    Only the :class:`ActivationFakeQuant` modules switch to training mode for the pass, so BatchNorm
    statistics and weights stay as they are. Returns ``model`` (modified in place), in eval mode.
    """
    quantizers = [m for m in model.modules() if isinstance(m, ActivationFakeQuant)]
    if not quantizers:
        raise ValueError("model has no ActivationFakeQuant: prepare it with prepare_qat(..., act_bits=...)")
    model.eval()
    for quantizer in quantizers:
        quantizer.train()
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    batches = 0
    for x, *_ in loader:
        model(x.to(device))
        batches += 1
    if batches == 0:
        raise ValueError("loader is empty: calibration needs at least one batch")
    return model.eval()


class QuantizedLayer(nn.Module):
    """The integer form of a :class:`QATLayer`: ``uint8`` weight codes and scales, fixed activation qparams.

    Buffers: ``codes`` and the weight's side tensors (``scale``/``zero_point``, ``alpha``…), plus
    ``act_scale``/``act_zero_point`` when activations are quantized. The forward pass quantizes the
    input to integers, dequantizes it and the weight codes, and runs the float kernel: this saves
    memory (weights at ``bits`` bits once packed), not time, since PyTorch has no sub-8-bit CPU kernel.
    """

    def __init__(self, layer: nn.Module, weight: QuantizedWeight, act_quant: ActivationFakeQuant | None):
        super().__init__()
        self.layer = copy.deepcopy(layer)
        del self.layer.weight  # the float weight is gone; Ŵ is rebuilt from the codes at each call
        self._record = dataclasses.replace(weight, codes=torch.empty(0), **{k: torch.empty(0) for k in weight.side_tensors()})
        self.register_buffer("codes", weight.codes.clone())
        self._sides = list(weight.side_tensors())
        for side, tensor in weight.side_tensors().items():
            self.register_buffer(side, tensor.clone())
        self.act_bits = None
        if act_quant is not None:
            self.act_bits, self.act_qmin, self.act_qmax = act_quant.bits, act_quant.qmin, act_quant.qmax
            scale, zero_point = act_quant.qparams()
            self.register_buffer("act_scale", scale.clone())
            self.register_buffer("act_zero_point", zero_point.clone())

    def quantized_weight(self) -> QuantizedWeight:
        """The weight as a :class:`QuantizedWeight` built from this layer's buffers."""
        return dataclasses.replace(self._record, codes=self.codes, **{side: getattr(self, side) for side in self._sides})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.act_bits is not None:
            q = affine.quantize(x, self.act_scale, self.act_zero_point, self.act_qmin, self.act_qmax)
            x = affine.dequantize(q, self.act_scale, self.act_zero_point)
        return _layer_forward(self.layer, x, self.quantized_weight().dequantize())


def convert(model: nn.Module) -> nn.Module:
    """A copy of a QAT model with every :class:`QATLayer` replaced by its :class:`QuantizedLayer`, in eval mode."""
    converted = copy.deepcopy(model).eval()
    found = [(name, module) for name, module in converted.named_modules() if isinstance(module, QATLayer)]
    if not found:
        raise ValueError("model has no QATLayer: prepare it with prepare_qat and train it first")
    for name, module in found:
        weight = module.weight_quant.quantize(module.layer.weight.detach())
        set_submodule(converted, name, QuantizedLayer(module.layer, weight, module.act_quant))
    return converted


def quantized_weights(model: nn.Module) -> dict[str, QuantizedWeight]:
    """The :class:`QuantizedWeight` of every :class:`QuantizedLayer` of a converted model, by layer name."""
    return {name: module.quantized_weight() for name, module in model.named_modules()
            if isinstance(module, QuantizedLayer)}
