"""Dynamic post-training quantization: int8 weights stored once, activations quantized per batch on the fly.

For y = x·Wᵀ + b with x of shape (batch, k):

- weights, offline: per output channel j, symmetric int8, S_w[j] = max_k |W[j, k]| / 127.5, Z_w = 0;
- activations, every call: asymmetric int8 from this batch's range, S_x = (max − min) / 255, Z_x;
- int8 × int8 → int32 GEMM: acc[i, j] = Σ_k q_x[i, k]·q_w[j, k]  (:func:`~companion.quant.intmm.int_matmul`);
- back to float: y[i, j] = S_x·S_w[j]·(acc[i, j] − Z_x·Σ_k q_w[j, k]) + b[j].

The column sums Σ_k q_w[j, k] are precomputed (times S_w[j]), so the zero-point of x costs one
multiply per output, and the rescaling is one fused multiply–add per output element. Everything
around the GEMM is written for speed: the range comes from one pass (``aminmax``), S and Z are
computed on Python scalars, and quantizing x takes the fused passes of
:func:`~companion.quant.affine.quantize_unchecked`; the int8 weight is kept in memory as the
contiguous (k, n) operand the GEMM reads.

This is what ``torch.ao.quantization.quantize_dynamic`` does with ``per_channel_dynamic_qconfig``,
except that PyTorch's fbgemm kernel quantizes activations to 7 bits (``reduce_range``) to avoid an
overflow in its AVX2 inner loop, and we use all 8.
"""
from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from .. import validate
from ..layers import set_submodule
from .affine import quantize_unchecked, quantize_weight_int8
from .intmm import int_matmul

__all__ = ["DynamicQuantLinear", "quantize_dynamic", "activation_qparams"]


_EPS = np.float32(torch.finfo(torch.float32).eps)


def activation_qparams(x_min: torch.Tensor | float, x_max: torch.Tensor | float) -> tuple[float, int]:
    """``calc_qparams(x_min, x_max, -128, 127)`` for one range, on Python scalars (per call, in the hot path).

    The same float32 operations in the same order (numpy's float32 arithmetic and round-half-to-even
    are IEEE, like PyTorch's), so S and Z are identical, without a dozen tiny tensor operations.
    Returns S (a float32 value as a Python float) and Z (an int). Raises ``ValueError`` on NaN or
    Inf (a min or max of a tensor holding one is not finite), and on a range too wide for a finite
    float32 scale.
    """
    with np.errstate(over="ignore"):
        return _activation_qparams(x_min, x_max)


def _activation_qparams(x_min: torch.Tensor | float, x_max: torch.Tensor | float) -> tuple[float, int]:
    lo, hi = np.float32(float(x_min)), np.float32(float(x_max))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError("activations contain NaN or Inf; quantization needs finite values")
    min_neg, max_pos = min(lo, np.float32(0)), max(hi, np.float32(0))
    scale = max((max_pos - min_neg) / np.float32(255), _EPS)
    if not np.isfinite(scale):
        raise ValueError(f"activations span [{lo}, {hi}], too wide for float32: the scale (max − min) / 255 "
                         "overflows")
    zero = min(max(np.float32(-128) - np.round(min_neg / scale), -128), 127)
    return float(scale), int(zero)


class DynamicQuantLinear(nn.Module):
    """An ``nn.Linear`` with per-channel symmetric int8 weights and per-batch int8 activations.

    Inputs and errors: ``forward`` takes a real floating-point tensor of shape (…, in_features), as
    ``nn.Linear`` does (computed in float32; the result is float32); another last dimension or a 0-d
    input → ``ValueError``, an integer/complex input → ``TypeError``, NaN or Inf → ``ValueError``. An
    empty batch returns an empty (…, out_features) result, like ``nn.Linear``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        # (out, in) like nn.Linear's weight, laid out in memory as its transpose: the GEMM reads the
        # contiguous (in, out) operand, which torch._int_mm multiplies about 10% faster than a strided one.
        self.register_buffer("weight_int8", torch.zeros(in_features, out_features, dtype=torch.int8).t())
        self.register_buffer("weight_scale", torch.ones(out_features))
        self.register_buffer("bias", torch.zeros(out_features) if bias else None)
        self._refresh()

    def _refresh(self) -> None:
        """Derived, not saved: the (k, n) operand of the GEMM, S_w[j]·Σ_k q_w[j, k] per output, and plain
        references to the buffers the forward pass reads (cheaper than module attribute lookups)."""
        self._weight_t = self.weight_int8.t()
        self._sum_scale = self.weight_int8.to(torch.int32).sum(dim=1).float() * self.weight_scale
        self._scale, self._bias = self.weight_scale, self.bias

    def _load_from_state_dict(self, *args, **kwargs):
        super()._load_from_state_dict(*args, **kwargs)
        self._refresh()

    def _apply(self, fn, recurse=True):
        super()._apply(fn, recurse)  # .to(), .cuda(), .double() replace the buffers: derive again
        self._refresh()
        return self

    @classmethod
    def from_float(cls, linear: nn.Linear) -> "DynamicQuantLinear":
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"DynamicQuantLinear.from_float needs an nn.Linear, got {type(linear).__name__}")
        module = cls(linear.in_features, linear.out_features, bias=linear.bias is not None)
        weight_int8, module.weight_scale = quantize_weight_int8(linear.weight)
        module.weight_int8 = weight_int8.t().contiguous().t()
        if linear.bias is not None:
            module.bias = linear.bias.detach().float().clone()
        module._refresh()
        return module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        validate.float_tensor(x, "x")
        if x.dim() == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"x must have shape (..., {self.in_features}) (in_features), got {tuple(x.shape)}")
        leading = x.shape[:-1]
        if x.numel() == 0:
            return torch.empty(*leading, self.out_features, device=x.device)
        x2d = x.reshape(-1, self.in_features)
        x_scale, x_zero = activation_qparams(*torch.aminmax(x2d))  # one pass: the range, and the NaN check
        inv_scale = torch.tensor(np.float32(1) / np.float32(x_scale))
        q_x = quantize_unchecked(x2d, inv_scale, x_zero, -128, 127)    # = quantize(x2d, x_scale, x_zero)
        acc = int_matmul(q_x, self._weight_t)
        # y = S_x·S_w·acc + (b − Z_x·S_x·S_w·Σ_k q_w): the zero-point term is one vector of out_features,
        # and the rescaling is one fused pass over the int32 accumulator.
        if self._bias is None:
            offset = self._sum_scale * (-x_zero * x_scale)
        else:
            offset = torch.add(self._bias, self._sum_scale, alpha=-x_zero * x_scale)
        y = torch.addcmul(offset, acc, self._scale * x_scale)
        return y.reshape(*leading, self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


def quantize_dynamic(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every ``nn.Linear`` replaced by :class:`DynamicQuantLinear` (model unchanged).

    Inputs and errors: ``model`` must be an ``nn.Module`` (``TypeError``) with at least one ``nn.Linear``
    (``ValueError``); subclasses of ``nn.Linear`` are left float. A Linear with NaN or Inf weights
    raises ``ValueError``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if isinstance(model, nn.Linear):
        return DynamicQuantLinear.from_float(model)
    model = copy.deepcopy(model)
    linears = [name for name, module in model.named_modules() if type(module) is nn.Linear]
    if not linears:
        raise ValueError("model has no nn.Linear layer to quantize")
    for name in linears:
        set_submodule(model, name, DynamicQuantLinear.from_float(model.get_submodule(name)))
    return model.eval()
