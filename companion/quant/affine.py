"""The affine (uniform) quantization mapping, from scratch on plain integer tensors.

A real value r is represented by an integer q with a float scale S > 0 and an integer zero-point Z
(Jacob et al. 2018):

    r ≈ S · (q − Z),        q = clamp(round(r / S + Z), q_min, q_max)

``bits`` bits give 2^bits codes: signed [−2^(b−1), 2^(b−1) − 1] or unsigned [0, 2^b − 1]; a *narrow*
range drops the lowest code (e.g. int8 [−127, 127]) so that the range is symmetric about zero.

Parameters can be per tensor (a scalar S and Z) or per channel (one S and Z per slice along ``axis``).
Integers are stored in the smallest plain dtype that holds the range (int8, uint8, int16 or int32);
scales are float32 tensors. Nothing here uses the deprecated ``torch.qint8`` tensor types.
"""
from __future__ import annotations

import torch

__all__ = ["qrange", "storage_dtype", "calc_qparams", "quantize", "dequantize", "fake_quantize", "quantize_unchecked",
           "minmax_qparams",
           "quantize_weight_int8"]


def qrange(bits: int, signed: bool = True, narrow: bool = False) -> tuple[int, int]:
    """Integer range (q_min, q_max) of a ``bits``-bit code; ``narrow`` drops the lowest code."""
    if not isinstance(bits, int) or not 1 <= bits <= 16:
        raise ValueError(f"bits must be an integer in [1, 16], got {bits!r}")
    qmin, qmax = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2 ** bits - 1)
    if narrow:
        qmin += 1
    if qmin >= qmax:
        raise ValueError(f"a {bits}-bit {'narrow ' if narrow else ''}range has fewer than two codes")
    return qmin, qmax


def storage_dtype(qmin: int, qmax: int) -> torch.dtype:
    """The smallest plain integer dtype that holds every code in [qmin, qmax]."""
    if qmin >= qmax:
        raise ValueError(f"qmin must be below qmax, got qmin={qmin}, qmax={qmax}")
    for dtype in (torch.int8, torch.uint8, torch.int16, torch.int32):
        info = torch.iinfo(dtype)
        if info.min <= qmin and qmax <= info.max:
            return dtype
    raise ValueError(f"no integer dtype holds [{qmin}, {qmax}]")


def _check_finite(name: str, tensor: torch.Tensor) -> None:
    # min and max are both finite exactly when every entry is (aminmax propagates NaN); one pass, cheaper
    # than isfinite().all().
    if tensor.numel() == 0:
        return
    lo, hi = torch.aminmax(tensor.detach().float().reshape(-1))
    if not bool(torch.isfinite(lo) & torch.isfinite(hi)):
        raise ValueError(f"{name} contains NaN or Inf; quantization needs finite values")


def calc_qparams(min_val: torch.Tensor | float, max_val: torch.Tensor | float, qmin: int = -128, qmax: int = 127,
                 symmetric: bool = False, eps: float = torch.finfo(torch.float32).eps) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale S (float32) and zero-point Z (int32) that map [min_val, max_val] onto [qmin, qmax].

    The range is first widened to contain 0, so that 0 is represented exactly (padding, ReLU zeros):

    - asymmetric: S = (max − min) / (q_max − q_min),  Z = q_min − round(min / S), clamped into [q_min, q_max];
    - symmetric:  S = max(|min|, |max|) / ((q_max − q_min) / 2),  Z = 0 for a signed range, or the middle
      code (q_min + q_max + 1) // 2 for an unsigned one.

    S is at least ``eps``, so an all-zero or constant tensor still gets a valid scale. Works elementwise,
    so vectors of minima and maxima give per-channel parameters. These are the formulas of PyTorch's
    observers (``torch.ao.quantization.MinMaxObserver``), which the tests compare against.
    """
    if qmin >= qmax:
        raise ValueError(f"qmin must be below qmax, got qmin={qmin}, qmax={qmax}")
    min_val = torch.as_tensor(min_val, dtype=torch.float32)
    max_val = torch.as_tensor(max_val, dtype=torch.float32)
    if not bool(torch.isfinite(min_val).all() & torch.isfinite(max_val).all()):
        raise ValueError("min_val or max_val contains NaN or Inf; quantization needs finite values")
    if not bool((min_val <= max_val).all()):
        raise ValueError("min_val must not exceed max_val")
    min_neg = torch.clamp(min_val, max=0.0)
    max_pos = torch.clamp(max_val, min=0.0)
    if symmetric:
        scale = torch.maximum(-min_neg, max_pos) / ((qmax - qmin) / 2)
        scale = torch.clamp(scale, min=eps)
        zero = 0 if qmin < 0 else (qmin + qmax + 1) // 2
        zero_point = torch.full_like(scale, zero, dtype=torch.int32)
    else:
        scale = torch.clamp((max_pos - min_neg) / float(qmax - qmin), min=eps)
        zero_point = torch.clamp(qmin - torch.round(min_neg / scale), qmin, qmax).to(torch.int32)
    return scale.to(torch.float32), zero_point


def _along(param: torch.Tensor, x: torch.Tensor, axis: int | None) -> torch.Tensor:
    """Reshape a per-channel parameter so it broadcasts along ``axis`` of ``x``."""
    param = torch.as_tensor(param)
    if axis is None:
        if param.numel() != 1:
            raise ValueError(f"per-tensor parameters must be scalars, got shape {tuple(param.shape)}; pass axis for per-channel")
        return param.reshape(())
    axis = axis % x.dim()
    if param.dim() != 1 or param.numel() != x.shape[axis]:
        raise ValueError(f"per-channel parameters need {x.shape[axis]} entries for axis {axis}, got shape {tuple(param.shape)}")
    shape = [1] * x.dim()
    shape[axis] = -1
    return param.reshape(shape)


def quantize(x: torch.Tensor, scale, zero_point, qmin: int = -128, qmax: int = 127, axis: int | None = None) -> torch.Tensor:
    """q = clamp(round(x · (1/S) + Z), q_min, q_max), as a plain integer tensor (see :func:`storage_dtype`).

    ``round`` is round-half-to-even, as in PyTorch's kernels; 1/S is computed in float32. ``axis=None``
    uses scalar S and Z; otherwise S and Z hold one entry per slice of ``x`` along ``axis``.

    The product and the sum are rounded the way PyTorch's own kernels round them, so the integers equal
    ``torch.quantize_per_tensor`` / ``torch.quantize_per_channel`` bit for bit: the per-tensor kernel
    evaluates x·(1/S) + Z as one fused multiply–add (a single rounding, ``torch.addcmul``), the
    per-channel kernel as a product rounded to float32 and then a sum (two roundings). The two differ
    only when x·(1/S) + Z lands within a float32 ulp of a .5 tie (about one value in a million).
    """
    _check_finite("x", x)
    inv_scale = 1.0 / _along(torch.as_tensor(scale, dtype=torch.float32), x, axis)
    zero = _along(torch.as_tensor(zero_point, dtype=torch.float32), x, axis)
    return quantize_unchecked(x, inv_scale, zero, qmin, qmax, fused=axis is None)


def _real_code(x: torch.Tensor, inv_scale: torch.Tensor, zero: torch.Tensor, fused: bool) -> torch.Tensor:
    """x·(1/S) + Z in float32, with one rounding (fused, per tensor) or two (per channel), like PyTorch.

    The fused form fills a tensor with Z and accumulates x·(1/S) into it in place (``addcmul_``), which
    is several times faster than ``torch.addcmul`` with a broadcast 0-d ``Z``, with the same rounding.
    """
    if fused:
        return torch.full_like(x, float(zero), dtype=torch.float32).addcmul_(x.float(), inv_scale)
    return x.float() * inv_scale + zero


def quantize_unchecked(x: torch.Tensor, inv_scale: torch.Tensor, zero: torch.Tensor | float, qmin: int, qmax: int,
                       fused: bool = True) -> torch.Tensor:
    """The arithmetic of :func:`quantize` without its checks, for hot paths that checked ``x`` already.

    ``inv_scale`` is 1/S in float32 (a tensor shaped to broadcast against ``x``), ``zero`` is Z;
    ``fused`` selects the per-tensor rounding (one fused multiply–add) over the per-channel one.
    """
    return _real_code(x, inv_scale, zero, fused).round_().clamp_(qmin, qmax).to(storage_dtype(qmin, qmax))


def dequantize(q: torch.Tensor, scale, zero_point, axis: int | None = None) -> torch.Tensor:
    """r̂ = S · (q − Z), in float32."""
    scale = _along(torch.as_tensor(scale, dtype=torch.float32), q, axis)
    zero = _along(torch.as_tensor(zero_point, dtype=torch.int32), q, axis)
    return (q.to(torch.int32) - zero).float() * scale


def fake_quantize(x: torch.Tensor, scale, zero_point, qmin: int = -128, qmax: int = 127, axis: int | None = None) -> torch.Tensor:
    """Quantize then dequantize in float, with the straight-through estimator (STE) for gradients.

    Forward: x̂ = S · (clamp(round(x/S + Z), q_min, q_max) − Z). Backward: ∂x̂/∂x = 1 where x/S + Z
    rounds inside [q_min, q_max], else 0 (the clipped values get no gradient), as in
    ``torch.fake_quantize_per_tensor_affine``.
    """
    q = quantize(x.detach(), scale, zero_point, qmin, qmax, axis)
    x_hat = dequantize(q, scale, zero_point, axis)
    inv_scale = 1.0 / _along(torch.as_tensor(scale, dtype=torch.float32), x, axis)
    zero = _along(torch.as_tensor(zero_point, dtype=torch.float32), x, axis)
    unclipped = torch.round(_real_code(x.detach(), inv_scale, zero, fused=axis is None))
    inside = ((unclipped >= qmin) & (unclipped <= qmax)).to(x.dtype)
    return x_hat.to(x.dtype) + (x - x.detach()) * inside


def minmax_qparams(x: torch.Tensor, qmin: int = -128, qmax: int = 127, symmetric: bool = False,
                   axis: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(S, Z) of :func:`calc_qparams` for the range [min x, max x]: per tensor, or one per slice along ``axis``."""
    x = x.detach().float()
    if axis is None:
        low, high = torch.aminmax(x)
    else:
        low, high = torch.aminmax(torch.movedim(x, axis, 0).reshape(x.shape[axis], -1), dim=1)
    return calc_qparams(low, high, qmin, qmax, symmetric=symmetric)


def quantize_weight_int8(weight: torch.Tensor, per_channel: bool = True,
                         bits: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 codes of a Linear/Conv weight and one scale per output channel, with Z = 0.

    S_w[j] = max_k |W[j, k]| / ((q_max − q_min) / 2) for output channel j (``per_channel``), or one S_w
    for the whole tensor repeated for every channel; q_w = clamp(round(W / S_w), q_min, q_max) with
    [q_min, q_max] = [−2^(b−1), 2^(b−1) − 1] = [−128, 127] for the default ``bits`` = 8. These are the
    weights of int8 post-training quantization, dynamic and static alike, and of PyTorch's
    ``per_channel_dynamic_qconfig``; ``bits`` < 8 keeps the codes on the narrower grid, still stored
    in int8 tensors (2 ≤ ``bits`` ≤ 8, else ``ValueError``). Returns (q_w as int8 in the weight's
    shape, S_w as float32 of shape (out_channels,)).
    """
    if isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= 8:
        raise ValueError(f"bits must be an integer in [2, 8], got {bits!r}")
    qmin, qmax = -2 ** (bits - 1), 2 ** (bits - 1) - 1
    scale, zero = minmax_qparams(weight, qmin, qmax, symmetric=True, axis=0 if per_channel else None)
    channels = weight.shape[0]
    scale, zero = scale.expand(channels).contiguous(), zero.expand(channels).contiguous()
    return quantize(weight.detach().float(), scale, zero, qmin, qmax, axis=0).to(torch.int8), scale
