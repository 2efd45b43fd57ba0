"""FP8 weights and activations: scaled casts to PyTorch's ``float8_e4m3fn`` and ``float8_e5m2`` (chapter 7).

An FP8 number has a sign, ``e`` exponent bits and ``m`` mantissa bits: E4M3 (largest finite value
448, 3 mantissa bits) for weights and activations, E5M2 (largest 57344, 2 mantissa bits) for gradients
{Micikevicius et al., 2022, "FP8 formats for deep learning"}. Like int8 it needs a scale, chosen here
so that the largest magnitude maps onto the format's largest finite value:

    S = max|x| / F_max,   x̂ = S · fp8(x / S),

where ``fp8`` rounds to the nearest representable value (PyTorch's cast). Unlike int8's uniform grid,
the spacing of FP8 values grows with their magnitude, so the *relative* error is roughly constant,
at most 2^-(m+1) for normal numbers: small values keep their precision, large ones lose more than
int8 would.
"""
from __future__ import annotations

import torch

__all__ = ["FP8_DTYPES", "fp8_scale", "fp8_fake_quantize"]

#: The FP8 formats PyTorch can cast to on any device.
FP8_DTYPES = (torch.float8_e4m3fn, torch.float8_e5m2)


def _check(x: torch.Tensor, dtype: torch.dtype, axis: int | None) -> None:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got {type(x).__name__}"
                        + (f" of {x.dtype}" if isinstance(x, torch.Tensor) else ""))
    if x.numel() == 0 or not torch.isfinite(x).all():
        raise ValueError("x must hold at least one entry, all finite (no NaN or Inf)")
    if dtype not in FP8_DTYPES:
        raise ValueError(f"dtype must be one of {FP8_DTYPES}, got {dtype!r}")
    if axis is not None and (isinstance(axis, bool) or not isinstance(axis, int) or not -x.dim() <= axis < x.dim()):
        raise ValueError(f"axis must be None or an integer in [{-x.dim()}, {x.dim() - 1}], got {axis!r}")


def fp8_scale(x: torch.Tensor, dtype: torch.dtype = torch.float8_e4m3fn, axis: int | None = None) -> torch.Tensor:
    """S = max|x| / F_max per tensor (``axis=None``, a 0-d tensor) or per slice along ``axis`` (shaped to broadcast).

    An all-zero tensor or slice gets S = 1 (any scale represents zero exactly).
    """
    _check(x, dtype, axis)
    x = x.detach().float()
    if axis is None:
        amax = x.abs().max()
    else:
        dims = [d for d in range(x.dim()) if d != axis % x.dim()]
        amax = x.abs().amax(dim=dims, keepdim=True) if dims else x.abs()
    scale = amax / torch.finfo(dtype).max
    return torch.where(scale > 0, scale, torch.ones_like(scale))


def fp8_fake_quantize(x: torch.Tensor, dtype: torch.dtype = torch.float8_e4m3fn, axis: int | None = None) -> torch.Tensor:
    """x̂ = S · fp8(x / S) in float32: ``x`` stored in FP8 ``dtype`` with :func:`fp8_scale`, and read back.

    Inputs and errors: ``x`` a finite floating-point tensor with at least one entry (``TypeError`` for
    other dtypes, ``ValueError`` for NaN/Inf or no entries); ``dtype`` one of :data:`FP8_DTYPES`;
    ``axis`` None (one scale) or the dimension that gets one scale per slice (0 for a weight's output
    channels). ``x`` is not modified.
    """
    scale = fp8_scale(x, dtype, axis)
    return (x.detach().float() / scale).to(dtype).float() * scale
