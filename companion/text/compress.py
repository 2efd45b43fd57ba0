"""Quantized building blocks for the text encoder: an int8 embedding table and 4-bit weight-only Linears.

- :class:`Int8Embedding`: each row r of the table (one word's vector) gets its own symmetric int8 scale,
  S_r = max_k |E[r, k]| / 127.5, and is stored as int8 codes q = round(E / S_r); a lookup returns
  S_r · q. Rows are looked up, never multiplied, so per-row scales cost nothing at run time; they cost
  4 bytes per row on disk (0.8% of a 384-wide int8 row).
- :class:`Int4Linear`: weight-only round-to-nearest (RTN) 4-bit quantization with one scale and
  zero-point per group of ``group_size`` consecutive input weights of an output row,
  Ŵ = S_g · (q − Z_g), q ∈ [0, 15] (min–max per group, :func:`companion.quant.lowbit.quantize_uniform`).
  Codes are stored two per byte, the first in the low nibble (the layout of
  :func:`companion.quant.packing.pack`). Activations stay float: every call unpacks and dequantizes the
  weight, then runs a float matrix product. This is the baseline that GPTQ (Frantar et al. 2023) and AWQ
  (Lin et al. 2024) improve by choosing the codes more carefully; it saves bytes, not time, on a CPU
  without a 4-bit kernel.
"""
from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional as F

from ..layers import set_submodule
from ..quant.affine import calc_qparams, quantize
from ..quant.lowbit import quantize_uniform

__all__ = ["Int8Embedding", "Int4Linear", "quantize_embeddings", "quantize_linears_int4"]


class Int8Embedding(nn.Module):
    """An ``nn.Embedding`` stored as int8 codes with one float32 scale per row (symmetric, Z = 0)."""

    def __init__(self, num_embeddings: int, embedding_dim: int):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.register_buffer("weight_int8", torch.zeros(num_embeddings, embedding_dim, dtype=torch.int8))
        self.register_buffer("scale", torch.ones(num_embeddings))

    @classmethod
    def from_float(cls, embedding: nn.Embedding) -> "Int8Embedding":
        if not isinstance(embedding, nn.Embedding):
            raise TypeError(f"Int8Embedding.from_float needs an nn.Embedding, got {type(embedding).__name__}")
        module = cls(embedding.num_embeddings, embedding.embedding_dim)
        table = embedding.weight.detach().float()
        low, high = torch.aminmax(table, dim=1)
        scale, zero = calc_qparams(low, high, -128, 127, symmetric=True)
        module.weight_int8 = quantize(table, scale, zero, -128, 127, axis=0)
        module.scale = scale
        return module

    def dequantized_weight(self) -> torch.Tensor:
        return self.weight_int8.float() * self.scale[:, None]

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return F.embedding(ids, self.weight_int8).float() * self.scale[ids].unsqueeze(-1)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"


def _pack_nibbles(codes: torch.Tensor) -> torch.Tensor:
    """(rows, 2n) codes in [0, 15] → (rows, n) bytes, the even-indexed code in the low nibble."""
    codes = codes.to(torch.uint8)
    return codes[:, 0::2] | (codes[:, 1::2] << 4)


def _unpack_nibbles(packed: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`_pack_nibbles`: (rows, n) bytes → (rows, 2n) codes."""
    return torch.stack([packed & 15, packed >> 4], dim=-1).reshape(packed.shape[0], -1)


class Int4Linear(nn.Module):
    """A Linear with 4-bit group-wise weights (RTN, asymmetric) and float activations and bias."""

    def __init__(self, in_features: int, out_features: int, group_size: int, bias: bool = True):
        super().__init__()
        if not isinstance(group_size, int) or group_size < 2 or group_size % 2:
            raise ValueError(f"group_size must be an even integer ≥ 2, got {group_size!r}")
        self.in_features, self.out_features, self.group_size = in_features, out_features, group_size
        groups = -(-in_features // group_size)
        self.register_buffer("packed", torch.zeros(out_features, groups * group_size // 2, dtype=torch.uint8))
        self.register_buffer("scale", torch.ones(out_features, groups))
        self.register_buffer("zero_point", torch.zeros(out_features, groups, dtype=torch.uint8))
        self.register_buffer("bias", torch.zeros(out_features) if bias else None)

    @classmethod
    def from_float(cls, linear: nn.Linear, group_size: int = 128) -> "Int4Linear":
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"Int4Linear.from_float needs an nn.Linear, got {type(linear).__name__}")
        module = cls(linear.in_features, linear.out_features, group_size, bias=linear.bias is not None)
        record = quantize_uniform(linear.weight.detach().float(), 4, granularity="group", group_size=group_size)
        codes = F.pad(record.codes, (0, module.packed.shape[1] * 2 - linear.in_features))  # pad the last group
        module.packed = _pack_nibbles(codes)
        module.scale, module.zero_point = record.scale.clone(), record.zero_point.clone()
        if linear.bias is not None:
            module.bias = linear.bias.detach().float().clone()
        return module

    def dequantized_weight(self) -> torch.Tensor:
        """Ŵ = S_g · (q − Z_g), (out_features, in_features)."""
        codes = _unpack_nibbles(self.packed).reshape(self.out_features, -1, self.group_size)
        weight = (codes.float() - self.zero_point.unsqueeze(-1).float()) * self.scale.unsqueeze(-1)
        return weight.reshape(self.out_features, -1)[:, :self.in_features]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.dequantized_weight(), self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, group_size={self.group_size}"


def _replace(model: nn.Module, kind: type, convert) -> int:
    """Replace every submodule of exactly type ``kind`` by ``convert(submodule)``, in place; return how many."""
    names = [name for name, module in model.named_modules() if type(module) is kind]
    for name in names:
        set_submodule(model, name, convert(model.get_submodule(name)))
    return len(names)


def quantize_embeddings(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every ``nn.Embedding`` replaced by :class:`Int8Embedding` (model unchanged)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    model = copy.deepcopy(model)
    if _replace(model, nn.Embedding, Int8Embedding.from_float) == 0:
        raise ValueError("model has no nn.Embedding to quantize")
    return model.eval()


def quantize_linears_int4(model: nn.Module, group_size: int = 128) -> nn.Module:
    """A copy of ``model`` with every ``nn.Linear`` replaced by :class:`Int4Linear` (model unchanged)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not isinstance(group_size, int) or group_size < 2 or group_size % 2:
        raise ValueError(f"group_size must be an even integer ≥ 2, got {group_size!r}")
    model = copy.deepcopy(model)
    if _replace(model, nn.Linear, lambda linear: Int4Linear.from_float(linear, group_size)) == 0:
        raise ValueError("model has no nn.Linear to quantize")
    return model.eval()
