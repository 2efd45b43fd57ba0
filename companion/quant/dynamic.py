"""Dynamic post-training quantization: int8 weights stored once, activations quantized per batch on the fly.

For y = x·Wᵀ + b with x of shape (batch, k):

- weights, offline: per output channel j, symmetric int8, S_w[j] = max_k |W[j, k]| / 127.5, Z_w = 0;
- activations, every call: asymmetric int8 from this batch's range, S_x = (max − min) / 255, Z_x;
- int8 × int8 → int32 GEMM: acc[i, j] = Σ_k q_x[i, k]·q_w[j, k]  (:func:`~companion.quant.intmm.int_matmul`);
- back to float: y[i, j] = S_x·S_w[j]·(acc[i, j] − Z_x·Σ_k q_w[j, k]) + b[j].

The column sums Σ_k q_w[j, k] are precomputed, so the zero-point of x costs one multiply per output.
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
from .affine import _codes, calc_qparams, quantize
from .intmm import int_matmul

__all__ = ["DynamicQuantLinear", "quantize_dynamic", "activation_qparams"]


_EPS = np.float32(torch.finfo(torch.float32).eps)


def activation_qparams(x_min: torch.Tensor, x_max: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``calc_qparams(x_min, x_max, -128, 127)`` for one range, computed on scalars (per call, in the hot path).

    The same float32 operations in the same order (numpy's float32 arithmetic and round-half-to-even
    are IEEE, like PyTorch's), so the result is identical, without a dozen tiny tensor operations.
    Raises ``ValueError`` on NaN or Inf (a min or max of a tensor holding one is not finite), and on a
    range too wide for a finite float32 scale.
    """
    with np.errstate(over="ignore"):
        return _activation_qparams(x_min, x_max)


def _activation_qparams(x_min: torch.Tensor, x_max: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    lo, hi = (np.float32(v) for v in torch.stack([x_min, x_max]).tolist())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError("activations contain NaN or Inf; quantization needs finite values")
    min_neg, max_pos = min(lo, np.float32(0)), max(hi, np.float32(0))
    scale = max((max_pos - min_neg) / np.float32(255), _EPS)
    if not np.isfinite(scale):
        raise ValueError(f"activations span [{lo}, {hi}], too wide for float32: the scale (max − min) / 255 "
                         "overflows")
    zero = min(max(np.float32(-128) - np.round(min_neg / scale), -128), 127)
    return torch.tensor(scale, dtype=torch.float32), torch.tensor(int(zero), dtype=torch.int32)


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
        self.register_buffer("weight_int8", torch.zeros(out_features, in_features, dtype=torch.int8))
        self.register_buffer("weight_scale", torch.ones(out_features))
        self.register_buffer("bias", torch.zeros(out_features) if bias else None)
        self._refresh()

    def _refresh(self) -> None:
        """Derived, not saved: the (k, n) operand of the GEMM and the weight column sums."""
        self._weight_t = self.weight_int8.t()
        self._weight_sums = self.weight_int8.to(torch.int32).sum(dim=1)

    def _load_from_state_dict(self, *args, **kwargs):
        super()._load_from_state_dict(*args, **kwargs)
        self._refresh()

    @classmethod
    def from_float(cls, linear: nn.Linear) -> "DynamicQuantLinear":
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"DynamicQuantLinear.from_float needs an nn.Linear, got {type(linear).__name__}")
        module = cls(linear.in_features, linear.out_features, bias=linear.bias is not None)
        weight = linear.weight.detach().float()
        w_min, w_max = torch.aminmax(weight, dim=1)
        scale, zero = calc_qparams(w_min, w_max, -128, 127, symmetric=True)
        module.weight_int8 = quantize(weight, scale, zero, -128, 127, axis=0)
        module.weight_scale = scale
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
        x_scale, x_zero = activation_qparams(*torch.aminmax(x2d))
        q_x = _codes(x2d, 1.0 / x_scale, x_zero.float(), -128, 127, fused=True)  # = quantize(x2d, x_scale, x_zero)
        acc = int_matmul(q_x, self._weight_t)
        # y = S_x·S_w·acc + (b − Z_x·S_x·S_w·Σ_k q_w): the zero-point term is one vector of out_features.
        out_scale = x_scale * self.weight_scale
        offset = -x_zero * self._weight_sums * out_scale
        if self.bias is not None:
            offset = offset + self.bias
        y = acc.float().mul_(out_scale).add_(offset)   # in place on the fresh float copy: two passes, no temporaries
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
    replaced = _replace_linears(model)
    if replaced == 0:
        raise ValueError("model has no nn.Linear layer to quantize")
    return model.eval()


def _replace_linears(module: nn.Module) -> int:
    count = 0
    for name, child in module.named_children():
        if type(child) is nn.Linear:
            setattr(module, name, DynamicQuantLinear.from_float(child))
            count += 1
        else:
            count += _replace_linears(child)
    return count
