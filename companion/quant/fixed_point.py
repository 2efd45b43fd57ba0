"""Fixed-point requantization: rescale int32 accumulators with integers only (Jacob et al. 2018, §2.2).

An int8 layer accumulates acc = Σ (q_x − Z_x)·q_w + q_b in int32. Its real output is
r_y = S_x·S_w·acc, and the output code is

    q_y = Z_y + round(M · acc),        M = S_x·S_w / S_y   (a real number, usually in (0, 1)).

To avoid floating point at inference, M is written once, offline, as M = M₀ · 2⁻ⁿ with M₀ ∈ [0.5, 1)
stored as the int32 M₀·2³¹ (a Q31 number) and an integer shift n. Then

    round(M · acc) = (acc · M₀·2³¹ + 2^(30+n)) >> (31 + n),

an int64 product, an add and an arithmetic right shift, which rounds half up. (gemmlowp splits this
into a rounding doubling high multiply and a rounding right shift, two roundings; the single rounding
here is at least as accurate.) The result differs from float rescaling round(M · acc) by at most one
code: at exact .5 ties (half up versus half to even) and from the 2⁻³¹ relative error in M₀.
"""
from __future__ import annotations

import torch

from .affine import storage_dtype

__all__ = ["quantize_multiplier", "multiplier_value", "requantize", "requantize_float"]

_Q31 = 1 << 31


def quantize_multiplier(multiplier: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
    """Split M > 0 into (M₀·2³¹ as int32, n as int32) with M = M₀·2⁻ⁿ and M₀ ∈ [0.5, 1).

    Works elementwise, so a vector of per-channel multipliers gives per-channel (M₀, n).
    """
    m = torch.as_tensor(multiplier, dtype=torch.float64)
    if not torch.isfinite(m).all() or (m <= 0).any():
        raise ValueError("multiplier must be finite and positive")
    mantissa, exponent = torch.frexp(m)  # m = mantissa · 2^exponent, mantissa ∈ [0.5, 1)
    m0 = torch.round(mantissa * _Q31).to(torch.int64)
    shift = (-exponent).to(torch.int64)
    carry = m0 == _Q31  # the mantissa rounded up to 1.0: use 0.5 and one shift less
    m0 = torch.where(carry, m0 // 2, m0)
    shift = torch.where(carry, shift - 1, shift)
    if (shift < -31).any() or (shift > 31).any():
        raise ValueError(f"multiplier out of the representable range 2^-31 … 2^31, got {m}")
    return m0.to(torch.int32), shift.to(torch.int32)


def multiplier_value(m0: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """The real number M₀·2⁻ⁿ that the integer pair (M₀·2³¹, n) stands for, in float64."""
    return m0.to(torch.float64) / _Q31 * torch.pow(2.0, -shift.to(torch.float64))


def requantize(acc: torch.Tensor, m0: torch.Tensor, shift: torch.Tensor, zero_point: torch.Tensor | int,
               qmin: int, qmax: int, axis: int = -1) -> torch.Tensor:
    """q_y = clamp(Z_y + ((acc · M₀ + 2^(30+n)) >> (31 + n)), q_min, q_max), in integers only.

    ``acc`` is an int32 tensor; ``m0`` and ``shift`` are scalars or hold one entry per slice of ``acc``
    along ``axis`` (per-channel weights). The result has the smallest dtype holding [q_min, q_max].
    A fused ReLU is a raised lower bound: pass q_min = max(q_min, Z_y).
    """
    if acc.dtype != torch.int32:
        raise TypeError(f"acc must be an int32 accumulator, got {acc.dtype}")
    m0, shift = torch.as_tensor(m0), torch.as_tensor(shift)
    if m0.dim() == 1 and acc.dim() > 1:
        view = [1] * acc.dim()
        view[axis] = -1
        m0, shift = m0.reshape(view), shift.reshape(view)
    total_shift = shift.to(torch.int64) + 31
    half = torch.bitwise_left_shift(torch.ones_like(total_shift), total_shift - 1)
    scaled = torch.bitwise_right_shift(acc.to(torch.int64) * m0.to(torch.int64) + half, total_shift)
    q = torch.clamp(scaled + torch.as_tensor(zero_point, dtype=torch.int64), qmin, qmax)
    return q.to(storage_dtype(qmin, qmax))


def requantize_float(acc: torch.Tensor, multiplier: torch.Tensor | float, zero_point: torch.Tensor | int,
                     qmin: int, qmax: int, axis: int = -1) -> torch.Tensor:
    """The float reference: clamp(Z_y + round(M · acc), q_min, q_max) computed in float64."""
    m = torch.as_tensor(multiplier, dtype=torch.float64)
    if m.dim() == 1 and acc.dim() > 1:
        view = [1] * acc.dim()
        view[axis] = -1
        m = m.reshape(view)
    q = torch.clamp(torch.round(acc.to(torch.float64) * m) + torch.as_tensor(zero_point, dtype=torch.float64), qmin, qmax)
    return q.to(torch.int64)
