"""Weights below 8 bits: uniform (per tensor, per output channel, per group), binary and ternary.

Every quantizer here turns a float weight ``W`` (a Linear's ``out × in`` or a Conv's
``out × in × kh × kw``) into a :class:`QuantizedWeight`: unsigned integer **codes** in
[0, 2^bits − 1], one per weight and stored as ``uint8`` (ready for :mod:`companion.quant.packing`), plus
the few float numbers that turn codes back into weights (scales, zero-points, a codebook).

- Uniform (affine) at ``bits`` ∈ [2, 8]: Ŵ = S · (q − Z) with S, Z per tensor, per output channel, or per
  group of ``group_size`` consecutive input weights of one output channel (the layout of GPTQ/AWQ-style
  weight-only formats). Built on :mod:`companion.quant.affine`.
- Binary (BinaryConnect, Courbariaux et al. 2015): Ŵ = sign(W), with sign(0) = +1; BWN / XNOR-Net
  (Rastegari et al. 2016) add one scale per output channel, α_i = mean_j |W_ij|, the least-squares optimum.
- Ternary (TWN, Li & Liu 2016): Δ = 0.7 · E|W|, Ŵ = α · sign(W) · [|W| > Δ] with α = mean of |W| over the
  weights above Δ.

The ``fake_*`` functions return the float Ŵ with a straight-through gradient (∂Ŵ/∂W = 1 inside the
representable range), for quantization-aware training (:mod:`companion.quant.qat`).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable, Iterable

import torch
from torch import nn

from ..layers import weight_layers
from . import affine

__all__ = ["UNIFORM_BITS", "check_weight", "QuantizedWeight", "UniformWeight", "BinaryWeight", "TernaryWeight", "quantize_uniform",
           "fake_quantize_uniform", "binarize", "ternarize", "fake_binarize", "fake_ternarize",
           "quantize_weights"]

UNIFORM_BITS = range(2, 9)
GRANULARITIES = ("tensor", "channel", "group")
TWN_THRESHOLD = 0.7


@dataclass(frozen=True)
class QuantizedWeight:
    """Codes (``uint8``, the weight's shape, each in [0, 2^bits − 1]) and what turns them back into floats."""

    codes: torch.Tensor
    bits: int

    def dequantize(self) -> torch.Tensor:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError

    def side_tensors(self) -> dict[str, torch.Tensor]:
        """The float (or int32) tensors stored next to the codes: scales, zero-points, codebooks."""
        raise NotImplementedError  # pragma: no cover

    def side_bytes(self) -> int:
        """Bytes of :meth:`side_tensors` (the overhead on top of the packed codes)."""
        return sum(t.numel() * t.element_size() for t in self.side_tensors().values())


@dataclass(frozen=True)
class UniformWeight(QuantizedWeight):
    """Ŵ = S · (q − Z); ``scale`` (float32) and ``zero_point`` (uint8) have shape (out, groups), ``(1, 1)`` per tensor."""

    scale: torch.Tensor
    zero_point: torch.Tensor
    group_size: int

    def dequantize(self) -> torch.Tensor:
        grouped = _group(self.codes.to(torch.int32), self.group_size, pad_value=0)
        out, groups, size = grouped.shape
        flat = affine.dequantize(grouped.reshape(out * groups, size), self.scale.expand(out, groups).reshape(-1),
                                 self.zero_point.expand(out, groups).reshape(-1), axis=0)
        return _ungroup(flat.reshape(out, groups, size), self.codes.shape)

    def side_tensors(self) -> dict[str, torch.Tensor]:
        return {"scale": self.scale, "zero_point": self.zero_point}


@dataclass(frozen=True)
class BinaryWeight(QuantizedWeight):
    """Ŵ_i = α_i · (2q − 1) with q ∈ {0, 1}; ``alpha`` has one entry per output channel (all ones for BinaryConnect)."""

    alpha: torch.Tensor

    def dequantize(self) -> torch.Tensor:
        return _per_row(self.alpha, self.codes) * (2.0 * self.codes.float() - 1.0)

    def side_tensors(self) -> dict[str, torch.Tensor]:
        return {"alpha": self.alpha}


@dataclass(frozen=True)
class TernaryWeight(QuantizedWeight):
    """Ŵ_i = α_i · (q − 1) with q ∈ {0, 1, 2} (that is −α, 0, +α); ``alpha`` per output channel or a scalar."""

    alpha: torch.Tensor

    def dequantize(self) -> torch.Tensor:
        return _per_row(self.alpha, self.codes) * (self.codes.float() - 1.0)

    def side_tensors(self) -> dict[str, torch.Tensor]:
        return {"alpha": self.alpha}


def check_weight(weight: torch.Tensor) -> None:
    """Raise a clear error unless ``weight`` is a finite floating-point tensor with at least one entry."""
    if not isinstance(weight, torch.Tensor) or not weight.is_floating_point():
        raise TypeError(f"weight must be a floating-point tensor, got {type(weight).__name__}")
    if weight.dim() < 1 or weight.numel() == 0:
        raise ValueError(f"weight must have at least one entry, got shape {tuple(weight.shape)}")
    if not torch.isfinite(weight).all():
        raise ValueError("weight contains NaN or Inf")


def _per_row(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape one value per output channel (or a scalar) to broadcast against a weight of shape ``like``."""
    return values.reshape(-1, *([1] * (like.dim() - 1))) if values.numel() > 1 else values.reshape(())


def _group(weight: torch.Tensor, group_size: int, pad_value: float) -> torch.Tensor:
    """(out, in…) → (out, groups, group_size): rows cut into groups, the last one padded with ``pad_value``."""
    rows = weight.reshape(weight.shape[0], -1)
    padding = -rows.shape[1] % group_size
    if padding:
        rows = torch.nn.functional.pad(rows, (0, padding), value=pad_value)
    return rows.reshape(rows.shape[0], -1, group_size)


def _ungroup(grouped: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    rows = grouped.reshape(shape[0], -1)
    return rows[:, : int(torch.Size(shape[1:]).numel())].reshape(shape)


def _group_size(weight: torch.Tensor, granularity: str, group_size: int | None) -> int:
    """The group length the granularity implies (a whole row for 'channel')."""
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    row = weight[0].numel()
    if granularity != "group":
        if group_size is not None:
            raise ValueError(f"group_size is only used with granularity='group', got group_size={group_size}")
        return row
    if not isinstance(group_size, int) or group_size < 1:
        raise ValueError(f"group_size must be a positive integer (a group cannot be empty), got {group_size!r}")
    return group_size


def _uniform_params(weight: torch.Tensor, bits: int, granularity: str, group_size: int | None, symmetric: bool):
    if not isinstance(bits, int) or bits not in UNIFORM_BITS:
        raise ValueError(f"bits must be an integer in [{UNIFORM_BITS.start}, {UNIFORM_BITS.stop - 1}] for uniform "
                         f"quantization, got {bits!r} (use binarize for 1 bit)")
    check_weight(weight)
    size = _group_size(weight, granularity, group_size)
    qmin, qmax = affine.qrange(bits, signed=False)
    grouped = _group(weight.detach().float(), size, pad_value=0.0)  # zero padding: the range contains 0 anyway
    if granularity == "tensor":
        scale, zero_point = (p.reshape(1, 1) for p in affine.minmax_qparams(grouped, qmin, qmax, symmetric))
    else:
        out, groups, _ = grouped.shape
        rows = affine.minmax_qparams(grouped.reshape(out * groups, size), qmin, qmax, symmetric, axis=0)
        scale, zero_point = (p.reshape(out, groups) for p in rows)
    return grouped, size, qmin, qmax, scale, zero_point


def quantize_uniform(weight: torch.Tensor, bits: int, granularity: str = "channel", group_size: int | None = None,
                     symmetric: bool = False) -> UniformWeight:
    """Uniform ``bits``-bit codes of ``weight`` with min–max scales per tensor, channel or group.

    Codes are unsigned, q ∈ [0, 2^b − 1]. Asymmetric: S = (max − min)/(2^b − 1), Z = −round(min/S);
    symmetric: S = max|W| / ((2^b − 1)/2), Z = 2^(b−1) − 1, except Z = 128 at 8 bits (PyTorch's choices,
    see :func:`affine.calc_qparams`). Per group, each output channel's row of ``in × kh × kw`` weights is
    cut into groups of ``group_size`` (a shorter last group is allowed) and each group gets its own S and Z.

    Inputs and errors: ``weight`` is a finite floating-point tensor with at least one entry (``TypeError``
    for other dtypes, ``ValueError`` for NaN/Inf or no entries); ``bits`` an integer in [2, 8];
    ``granularity`` one of 'tensor', 'channel', 'group'; ``group_size`` a positive integer, only with
    'group' (``ValueError`` otherwise).
    """
    grouped, size, qmin, qmax, scale, zero_point = _uniform_params(weight, bits, granularity, group_size, symmetric)
    out, groups, _ = grouped.shape
    flat_scale = scale.expand(out, groups).reshape(-1)
    flat_zero = zero_point.expand(out, groups).reshape(-1)
    codes = affine.quantize(grouped.reshape(out * groups, size), flat_scale, flat_zero, qmin, qmax, axis=0)
    codes = _ungroup(codes.reshape(out, groups, size), weight.shape).to(torch.uint8)
    return UniformWeight(codes=codes, bits=bits, scale=scale, zero_point=zero_point.to(torch.uint8), group_size=size)


def fake_quantize_uniform(weight: torch.Tensor, bits: int, granularity: str = "channel", group_size: int | None = None,
                          symmetric: bool = False) -> torch.Tensor:
    """Ŵ of :func:`quantize_uniform` in float, differentiable with the straight-through estimator.

    Scales come from the detached weight (min–max, recomputed at every call), so every weight lies
    inside its group's range and the gradient with respect to ``weight`` is 1 everywhere. (With
    ``symmetric=True`` at 8 bits the largest positive weight sits half a code above q_max, as in
    PyTorch's unsigned symmetric grid, and is rounded down to q_max: that is rounding, not clipping of
    an outlier, so its gradient is 1 too, unlike a plain ``affine.fake_quantize`` mask.)

    Inputs and errors: as :func:`quantize_uniform` (a finite floating-point weight with at least one
    entry; ``bits`` in [2, 8]; a known ``granularity``).
    """
    grouped_detached, size, qmin, qmax, scale, zero_point = _uniform_params(weight, bits, granularity, group_size,
                                                                            symmetric)
    out, groups, _ = grouped_detached.shape
    fake = affine.fake_quantize(grouped_detached.reshape(out * groups, size), scale.expand(out, groups).reshape(-1),
                                zero_point.expand(out, groups).reshape(-1), qmin, qmax, axis=0)
    quantized = _ungroup(fake.reshape(out, groups, size), weight.shape).to(weight.dtype)
    return quantized + (weight - weight.detach())


def _row_mean(values: torch.Tensor, per_channel: bool) -> torch.Tensor:
    rows = values.reshape(values.shape[0], -1)
    return rows.mean(dim=1) if per_channel else rows.mean().reshape(1)


def binarize(weight: torch.Tensor, scaled: bool = True) -> BinaryWeight:
    """1-bit weights: BinaryConnect's sign(W) (``scaled=False``) or BWN's α_i · sign(W_i), α_i = mean_j |W_ij|.

    sign(0) is taken as +1, so every weight gets one of two values. Code q = 1 for +, 0 for −.
    """
    check_weight(weight)
    weight = weight.detach().float()
    codes = (weight >= 0).to(torch.uint8)
    alpha = _row_mean(weight.abs(), per_channel=True) if scaled else torch.ones(weight.shape[0])
    return BinaryWeight(codes=codes, bits=1, alpha=alpha)


def ternarize(weight: torch.Tensor, threshold_factor: float = TWN_THRESHOLD, per_channel: bool = True) -> TernaryWeight:
    """2-bit ternary weights of TWN: Δ = t · E|W|, Ŵ = α · sign(W) · [|W| > Δ], α = E(|W| : |W| > Δ).

    ``t`` = 0.7 is Li & Liu's approximation of the optimal threshold for Gaussian-like weights. With
    ``per_channel`` (the default here) Δ and α are computed per output channel; ``False`` gives the
    paper's one Δ and α per layer. A row whose weights are all zero gets α = 0.
    """
    check_weight(weight)
    if not (isinstance(threshold_factor, (int, float)) and 0.0 <= threshold_factor < float("inf")):
        raise ValueError(f"threshold_factor must be a finite number ≥ 0, got {threshold_factor!r}")
    weight = weight.detach().float()
    magnitude = weight.abs()
    delta = _per_row(_row_mean(magnitude, per_channel) * threshold_factor, weight)
    kept = magnitude > delta
    kept_rows = kept.reshape(weight.shape[0], -1) if per_channel else kept.reshape(1, -1)
    kept_sum = (magnitude * kept).reshape(kept_rows.shape).sum(dim=1)
    alpha = kept_sum / kept_rows.sum(dim=1).clamp(min=1)
    codes = (torch.sign(weight) * kept + 1).to(torch.uint8)
    return TernaryWeight(codes=codes, bits=2, alpha=alpha)


def _straight_through(weight: torch.Tensor, quantized: torch.Tensor, clip: float | None) -> torch.Tensor:
    """Forward: ``quantized``; backward: gradient 1 to ``weight`` (0 where |weight| > clip, if given)."""
    passthrough = weight if clip is None else weight * (weight.detach().abs() <= clip)
    return quantized.to(weight.dtype) + (passthrough - passthrough.detach())


def fake_binarize(weight: torch.Tensor, scaled: bool = True, clip: float | None = None) -> torch.Tensor:
    """:func:`binarize` in float with the STE; ``clip`` zeroes the gradient where |W| > clip (BinaryConnect's 1)."""
    return _straight_through(weight, binarize(weight, scaled).dequantize(), clip)


def fake_ternarize(weight: torch.Tensor, threshold_factor: float = TWN_THRESHOLD, per_channel: bool = True) -> torch.Tensor:
    """:func:`ternarize` in float with the straight-through estimator."""
    return _straight_through(weight, ternarize(weight, threshold_factor, per_channel).dequantize(), None)


def quantize_weights(model: nn.Module, quantizer: Callable[[torch.Tensor], QuantizedWeight] | dict,
                     layers: Iterable[str] | None = None) -> tuple[nn.Module, dict[str, QuantizedWeight]]:
    """Post-training weight quantization of a copy of ``model``; the original is left untouched.

    ``quantizer`` maps a weight to a :class:`QuantizedWeight` (e.g. ``lambda w: quantize_uniform(w, 4)``),
    or is a dict giving one quantizer per layer name (mixed precision). Each chosen layer's weight in
    the copy is replaced by its dequantized Ŵ (biases and activations stay float: *weight-only*
    quantization). Returns the copy and the quantized weights by layer name.
    """
    if isinstance(quantizer, dict):
        layers = list(quantizer) if layers is None else layers
    elif not callable(quantizer):
        raise TypeError(f"quantizer must be callable or a dict of callables, got {type(quantizer).__name__}")
    quantized_model = copy.deepcopy(model)
    records = {}
    for name, layer in weight_layers(quantized_model, layers).items():
        fn = quantizer[name] if isinstance(quantizer, dict) else quantizer
        records[name] = fn(layer.weight.detach())
        with torch.no_grad():
            layer.weight.copy_(records[name].dequantize().to(layer.weight.dtype))
    return quantized_model, records
