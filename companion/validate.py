"""Argument checks shared by the package: each raises a ``TypeError``/``ValueError`` naming the argument.

A teaching library is copied into other projects, so it must never turn a bad input into a silent
wrong answer. These helpers hold the rules that several public functions share:

- :func:`integer`: a Python or NumPy integer, or a one-element integer tensor (never a bool, a float
  or a string), optionally inside a closed range;
- :func:`axis`: a dimension index of a tensor with ``ndim`` dimensions, normalised to [0, ndim);
- :func:`indices`: a sequence (or 1-D integer tensor) of integer indices in [0, size);
- :func:`float_tensor`: a real floating-point tensor (float16, bfloat16, float32 or float64);
- :func:`finite`: a tensor without NaN or Inf.
"""
from __future__ import annotations

import numbers
from typing import Iterable

import torch

__all__ = ["integer", "axis", "indices", "float_tensor", "finite"]

_FLOATING = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _is_integer(value) -> bool:
    if isinstance(value, torch.Tensor):
        return value.numel() == 1 and not value.is_floating_point() and not value.is_complex() \
            and value.dtype != torch.bool
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def integer(value, name: str, low: int | None = None, high: int | None = None) -> int:
    """``value`` as a Python int; ``TypeError`` unless it is an integer, ``ValueError`` outside [low, high]."""
    if not _is_integer(value):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be an integer in [{'-inf' if low is None else low}, "
                         f"{'inf' if high is None else high}], got {value}")
    return value


def axis(value, ndim: int, name: str = "axis") -> int:
    """A dimension index in [−ndim, ndim) of a tensor with ``ndim`` dimensions, as a value in [0, ndim)."""
    if ndim == 0:
        raise ValueError(f"{name}={value!r} names a dimension, but the tensor is 0-d (a scalar has no axis)")
    value = integer(value, name)
    if not -ndim <= value < ndim:
        raise ValueError(f"{name} must be in [{-ndim}, {ndim - 1}] for a {ndim}-d tensor, got {value}")
    return value % ndim


def indices(values: Iterable, size: int, name: str) -> list[int]:
    """A list of integer indices, each in [0, size); floats, bools and strings are rejected, not truncated."""
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must be a sequence of integer indices, got the string {values!r}")
    if isinstance(values, torch.Tensor):
        if values.dim() > 1 or values.is_floating_point() or values.is_complex() or values.dtype == torch.bool:
            raise TypeError(f"{name} must be a 1-D integer tensor of indices, got dtype {values.dtype} "
                            f"and shape {tuple(values.shape)}")
        values = values.reshape(-1).tolist()
    try:
        values = list(values)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of integer indices, got {type(values).__name__}") from None
    bad_type = [v for v in values if not _is_integer(v)]
    if bad_type:
        raise TypeError(f"{name} must hold integer indices, got {bad_type[:5]!r}")
    values = [int(v) for v in values]
    out_of_range = [v for v in values if not 0 <= v < size]
    if out_of_range:
        raise ValueError(f"{name} must be indices in [0, {size - 1}] ({size} units), got {out_of_range[:5]}")
    return values


def float_tensor(value, name: str) -> torch.Tensor:
    """``value`` itself if it is a real floating-point tensor; ``TypeError`` otherwise (ints, bools, complex)."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if value.dtype not in _FLOATING:
        raise TypeError(f"{name} must be a real floating-point tensor (float16, bfloat16, float32 or float64), "
                        f"got {value.dtype}")
    return value


def finite(value: torch.Tensor, name: str) -> None:
    """``ValueError`` if ``value`` (converted to float32, the package's working precision) holds NaN or Inf."""
    if value.numel() == 0:
        return
    # min and max are both finite exactly when every entry is (aminmax propagates NaN): one pass.
    lo, hi = torch.aminmax(value.detach().float().reshape(-1))
    if not bool(torch.isfinite(lo) & torch.isfinite(hi)):
        raise ValueError(f"{name} contains NaN or Inf (in float32); quantization needs finite values")
