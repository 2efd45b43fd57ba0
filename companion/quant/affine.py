"""The affine (uniform) quantization mapping, from scratch on plain integer tensors.

A real value r is represented by an integer q with a float scale S > 0 and an integer zero-point Z
(Jacob et al. 2018):

    r ≈ S · (q − Z),        q = clamp(round(r / S + Z), q_min, q_max)

``bits`` bits give 2^bits codes: signed [−2^(b−1), 2^(b−1) − 1] or unsigned [0, 2^b − 1]; a *narrow*
range drops the lowest code (e.g. int8 [−127, 127]) so that the range is symmetric about zero.

Parameters can be per tensor (a scalar S and Z) or per channel (one S and Z per slice along ``axis``).
Integers are stored in the smallest plain dtype that holds the range (int8, uint8, int16 or int32);
scales are float32 tensors. Nothing here uses the deprecated ``torch.qint8`` tensor types.

The arithmetic is float32, like PyTorch's kernels, so code ranges are limited to [−2²⁴, 2²⁴], where
float32 holds every integer exactly (16-bit codes and beyond, but not the full int32 range); wider
ranges raise ``ValueError`` instead of returning codes that are off by a float32 step or wrap around.
Every public function checks its arguments and says in its docstring ("Inputs and errors") what it
accepts, what it converts and what it rejects.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .. import validate

__all__ = ["qrange", "storage_dtype", "calc_qparams", "quantize", "dequantize", "fake_quantize", "quantize_unchecked",
           "minmax_qparams",
           "quantize_weight_int8"]


def qrange(bits: int, signed: bool = True, narrow: bool = False) -> tuple[int, int]:
    """Integer range (q_min, q_max) of a ``bits``-bit code; ``narrow`` drops the lowest code.

    Inputs and errors: ``bits`` is an int in [1, 16] (a bool, a float such as 8.0, or anything outside
    raises ``ValueError``); a narrow 1-bit range has a single code and raises ``ValueError``.
    """
    if not isinstance(bits, int) or isinstance(bits, bool) or not 1 <= bits <= 16:
        raise ValueError(f"bits must be an integer in [1, 16], got {bits!r}")
    qmin, qmax = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2 ** bits - 1)
    if narrow:
        qmin += 1
    if qmin >= qmax:
        raise ValueError(f"a {bits}-bit {'narrow ' if narrow else ''}range has fewer than two codes")
    return qmin, qmax


def storage_dtype(qmin: int, qmax: int) -> torch.dtype:
    """The smallest plain integer dtype that holds every code in [qmin, qmax].

    Inputs and errors: integers with qmin < qmax (``ValueError``), held by int8, uint8, int16 or int32
    (``ValueError`` beyond int32).
    """
    if qmin >= qmax:
        raise ValueError(f"qmin must be below qmax, got qmin={qmin}, qmax={qmax}")
    for dtype in (torch.int8, torch.uint8, torch.int16, torch.int32):
        info = torch.iinfo(dtype)
        if info.min <= qmin and qmax <= info.max:
            return dtype
    raise ValueError(f"no integer dtype holds [{qmin}, {qmax}]")


_QLIMIT = 2 ** 24  # float32 holds every integer in [−2²⁴, 2²⁴] exactly, so rounding and clamping there are exact
_MIN_SCALE = torch.finfo(torch.float32).tiny  # the smallest normal float32: 1/S stays finite


def _check_qrange(qmin, qmax) -> tuple[int, int]:
    """(q_min, q_max) as ints, with q_min < q_max inside [−2²⁴, 2²⁴]."""
    qmin = validate.integer(qmin, "qmin", -_QLIMIT, _QLIMIT)
    qmax = validate.integer(qmax, "qmax", -_QLIMIT, _QLIMIT)
    if qmin >= qmax:
        raise ValueError(f"qmin must be below qmax, got qmin={qmin}, qmax={qmax}")
    return qmin, qmax


def _check_scale(scale) -> torch.Tensor:
    """S as float32, every entry finite and at least the smallest normal float32 (so 1/S is finite)."""
    if isinstance(scale, torch.Tensor) and (scale.is_complex() or scale.dtype == torch.bool):
        raise TypeError(f"scale must be real, got dtype {scale.dtype}")
    scale = torch.as_tensor(scale, dtype=torch.float32)
    if scale.numel() and not bool(((scale >= _MIN_SCALE) & torch.isfinite(scale)).all()):
        raise ValueError(f"scale must be finite and > 0 (at least {_MIN_SCALE:.3g}, the smallest normal float32), "
                         f"got {scale.flatten()[:5].tolist()}")
    return scale


def _check_zero_point(zero_point, qmin: int = -_QLIMIT, qmax: int = _QLIMIT) -> torch.Tensor:
    """Z as int32; integer dtypes, or floats holding whole numbers, inside [q_min, q_max]."""
    if isinstance(zero_point, torch.Tensor) and (zero_point.is_complex() or zero_point.dtype == torch.bool):
        raise TypeError(f"zero_point must hold integers, got dtype {zero_point.dtype}")
    # Python numbers via NumPy, so floats stay float64 (torch would round 1e-300 to a whole 0.0 in float32).
    zero = zero_point if isinstance(zero_point, torch.Tensor) else torch.as_tensor(np.asarray(zero_point))
    if zero.is_floating_point() and not bool((torch.isfinite(zero) & (zero == torch.round(zero))).all()):
        raise ValueError(f"zero_point must hold whole numbers, got {zero.flatten()[:5].tolist()}")
    zero = zero.to(torch.float64 if zero.is_floating_point() else torch.int64)  # compare without wrapping around
    if zero.numel() and not bool(((zero >= qmin) & (zero <= qmax)).all()):
        raise ValueError(f"zero_point must lie in [qmin, qmax] = [{qmin}, {qmax}], got {zero.flatten()[:5].tolist()}")
    return zero.to(torch.int32)


def calc_qparams(min_val: torch.Tensor | float, max_val: torch.Tensor | float, qmin: int = -128, qmax: int = 127,
                 symmetric: bool = False, eps: float = torch.finfo(torch.float32).eps) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale S (float32) and zero-point Z (int32) that map [min_val, max_val] onto [qmin, qmax].

    The range is first widened to contain 0, so that 0 is represented exactly (padding, ReLU zeros):

    - asymmetric: S = (max − min) / (q_max − q_min),  Z = q_min − round(min / S), clamped into [q_min, q_max];
    - symmetric:  S = max(|min|, |max|) / ((q_max − q_min) / 2),  Z = 0 for a range with q_min < 0; for an
      unsigned range Z = 128 on [0, 255] and the middle code ⌊(q_min + q_max) / 2⌋ on any other range
      (7 at 4 bits).

    S is at least ``eps``, so an all-zero or constant tensor still gets a valid scale. Works elementwise,
    so vectors of minima and maxima give per-channel parameters. These are the formulas, and the float32
    arithmetic, of PyTorch's observers (``torch.ao.quantization.MinMaxObserver`` and its
    ``_calculate_qparams``), which the tests compare against.

    Inputs and errors: ``min_val``/``max_val`` are numbers or float tensors of one shape (converted to
    float32); NaN or Inf, ``min_val > max_val``, or a range so wide that S overflows float32 (beyond
    about ±1.7e38 at 8 bits) raise ``ValueError``. ``qmin``/``qmax`` must be integers with
    −2²⁴ ≤ qmin < qmax ≤ 2²⁴ (``TypeError`` for non-integers, ``ValueError`` otherwise); ``eps`` a
    finite number > 0 (``ValueError``).
    """
    qmin, qmax = _check_qrange(qmin, qmax)
    if not (isinstance(eps, (int, float)) and 0 < eps < math.inf):
        raise ValueError(f"eps (the smallest scale) must be a finite number > 0, got {eps!r}")
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
        if qmin < 0:
            zero = 0
        else:
            zero = 128 if (qmin, qmax) == (0, 255) else (qmin + qmax) // 2
        zero_point = torch.full_like(scale, zero, dtype=torch.int32)
    else:
        scale = torch.clamp((max_pos - min_neg) / float(qmax - qmin), min=eps)
        zero_point = torch.clamp(qmin - torch.round(min_neg / scale), qmin, qmax).to(torch.int32)
    if not bool(torch.isfinite(scale).all()):
        raise ValueError(f"the range [min_val, max_val] is too wide for float32: its scale overflows (max − min "
                         f"must stay below {torch.finfo(torch.float32).max:.3g}, and max(|min|, |max|) below "
                         f"{torch.finfo(torch.float32).max * (qmax - qmin) / 2:.3g} when symmetric)")
    return scale.to(torch.float32), zero_point


def _along(param: torch.Tensor, x: torch.Tensor, axis: int | None) -> torch.Tensor:
    """Reshape a per-channel parameter so it broadcasts along ``axis`` of ``x``."""
    param = torch.as_tensor(param)
    if axis is None:
        if param.numel() != 1:
            raise ValueError(f"per-tensor parameters must be scalars, got shape {tuple(param.shape)}; pass axis for per-channel")
        return param.reshape(())
    axis = validate.axis(axis, x.dim())
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
    only when x·(1/S) + Z lands within a float32 ulp of a .5 tie (about one value in a million). Codes
    wider than 8 bits follow ``torch.quantize_per_tensor(..., torch.qint32)``, which rounds twice too
    (there the difference matters: above 2²² a float32 sum has no room for the fraction).

    Inputs and errors:

    - ``x``: a real floating-point tensor; float16, bfloat16 and float64 are converted to float32 first
      (float64 values beyond float32's range become ±Inf and are rejected). NaN or Inf → ``ValueError``;
      integer, bool or complex tensors → ``TypeError``.
    - ``scale``: finite and ≥ 1.18e-38 (the smallest normal float32, so 1/S is finite), else
      ``ValueError`` (``torch.quantize_per_tensor`` accepts 0 or negative scales and returns garbage).
    - ``zero_point``: whole numbers (an integer dtype, or floats with integral values) in [q_min, q_max],
      else ``ValueError``.
    - ``qmin``/``qmax``: integers with −2²⁴ ≤ q_min < q_max ≤ 2²⁴, the range where float32 holds every
      code exactly (wider ranges, such as full int32, are not supported: ``ValueError``).
    - ``axis``: ``None`` or an integer in [−x.dim(), x.dim()); out of range or on a 0-d ``x`` →
      ``ValueError``; per-channel S and Z need exactly ``x.shape[axis]`` entries.
    """
    qmin, qmax = _check_qrange(qmin, qmax)
    validate.float_tensor(x, "x")
    validate.finite(x, "x")
    inv_scale = 1.0 / _along(_check_scale(scale), x, axis)
    zero = _along(_check_zero_point(zero_point, qmin, qmax).float(), x, axis)
    return quantize_unchecked(x, inv_scale, zero, qmin, qmax, fused=_fused(axis, qmin, qmax))


def _fused(axis: int | None, qmin: int, qmax: int) -> bool:
    """Whether PyTorch's kernel for this case rounds x·(1/S) + Z once: per tensor with 8-bit codes only.

    Per channel, and per tensor for wider codes (``torch.qint32``), it rounds the product and the sum.
    """
    return axis is None and storage_dtype(qmin, qmax) in (torch.int8, torch.uint8)


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


_CODE_DTYPES = (torch.int8, torch.uint8, torch.int16, torch.int32, torch.int64)


def dequantize(q: torch.Tensor, scale, zero_point, axis: int | None = None) -> torch.Tensor:
    """r̂ = S · (q − Z), in float32.

    Inputs and errors: ``q`` must be an integer tensor of codes (int8, uint8, int16, int32 or int64; the
    result is S·(q − Z) rounded once to float32 when |q − Z| ≤ 2²⁴); float, bool or complex ``q`` →
    ``TypeError`` (float "codes" are not truncated silently: round them first). ``scale`` as in
    :func:`quantize`; ``zero_point`` whole numbers in [−2²⁴, 2²⁴]; ``axis`` as in :func:`quantize`.
    """
    if not isinstance(q, torch.Tensor) or q.dtype not in _CODE_DTYPES:
        raise TypeError(f"q must be an integer tensor of codes ({', '.join(str(d) for d in _CODE_DTYPES)}), got "
                        f"{q.dtype if isinstance(q, torch.Tensor) else type(q).__name__}")
    scale = _along(_check_scale(scale), q, axis)
    zero = _along(_check_zero_point(zero_point), q, axis)
    wide = torch.int64 if q.dtype == torch.int64 else torch.int32
    return (q.to(wide) - zero).float() * scale


def fake_quantize(x: torch.Tensor, scale, zero_point, qmin: int = -128, qmax: int = 127, axis: int | None = None) -> torch.Tensor:
    """Quantize then dequantize in float, with the straight-through estimator (STE) for gradients.

    Forward: x̂ = S · (clamp(round(x/S + Z), q_min, q_max) − Z). Backward: ∂x̂/∂x = 1 where x/S + Z
    rounds inside [q_min, q_max], else 0 (the clipped values get no gradient), as in
    ``torch.fake_quantize_per_tensor_affine``.

    Inputs and errors: as :func:`quantize`. The result has ``x``'s dtype (computed in float32).
    """
    q = quantize(x.detach() if isinstance(x, torch.Tensor) else x, scale, zero_point, qmin, qmax, axis)
    x_hat = dequantize(q, scale, zero_point, axis)
    inv_scale = 1.0 / _along(torch.as_tensor(scale, dtype=torch.float32), x, axis)
    zero = _along(torch.as_tensor(zero_point, dtype=torch.float32), x, axis)
    unclipped = torch.round(_real_code(x.detach(), inv_scale, zero, fused=_fused(axis, qmin, qmax)))
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
