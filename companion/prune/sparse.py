"""Sparse storage and sparse matrix products: what a pruned weight really costs and buys.

A mask alone saves nothing: the pruned weight is still a dense tensor full of zeros, as big and as slow
as before. Savings need a format that skips the zeros. Compressed sparse row (CSR) stores a matrix
with R rows and nnz non-zeros as three arrays:

- ``values``: the nnz non-zero values (4 bytes each in float32),
- ``col_indices``: the column of each (4 bytes each as int32),
- ``crow_indices``: R + 1 offsets, row i's entries being ``values[crow[i]:crow[i+1]]`` (4 bytes each),

so CSR takes 4·nnz + 4·nnz + 4·(R + 1) bytes against 4·R·C dense: it only saves memory once more than
half of the entries are zero.
"""
from __future__ import annotations

import contextlib
import math
import warnings

import torch
from torch import nn

from .. import measure
from ..layers import WEIGHT_LAYERS

__all__ = ["quiet_sparse_beta", "to_csr", "csr_bytes", "csr_state_dict", "csr_model_bytes", "save_csr", "load_csr", "SparseLinear",
           "matmul_latency"]


@contextlib.contextmanager
def quiet_sparse_beta():
    """Silence PyTorch's "sparse CSR support is in beta" notices (they say nothing about correctness), in a block."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta", category=UserWarning)
        warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled", category=UserWarning)
        yield


def to_csr(weight: torch.Tensor, index_dtype: torch.dtype = torch.int32) -> torch.Tensor:
    """A 2-D tensor (a Conv weight is read as out × rest) in ``torch.sparse_csr`` layout with int32 (or int64) indices.

    Inputs and errors: ``weight`` is a tensor with at least 2 dimensions (``TypeError``/``ValueError``
    otherwise); empty matrices (0 rows or 0 columns) give an empty CSR tensor of the same shape.
    ``index_dtype`` must be ``torch.int32`` or ``torch.int64`` (``ValueError``).
    """
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f"weight must be a tensor, got {type(weight).__name__}")
    if weight.dim() < 2:
        raise ValueError(f"CSR needs a matrix (≥ 2 dims), got shape {tuple(weight.shape)}")
    if index_dtype not in (torch.int32, torch.int64):
        raise ValueError(f"index_dtype must be torch.int32 or torch.int64, got {index_dtype}")
    with quiet_sparse_beta():
        csr = weight.detach().reshape(weight.shape[0], math.prod(weight.shape[1:])).to_sparse_csr()
        return torch.sparse_csr_tensor(csr.crow_indices().to(index_dtype), csr.col_indices().to(index_dtype),
                                       csr.values(), csr.shape)


def csr_bytes(csr: torch.Tensor) -> int:
    """Bytes of a CSR tensor's three arrays: values + column indices + row offsets."""
    if csr.layout != torch.sparse_csr:
        raise ValueError(f"csr must have layout torch.sparse_csr, got {csr.layout}")
    return sum(t.numel() * t.element_size() for t in (csr.values(), csr.col_indices(), csr.crow_indices()))


def csr_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's ``state_dict`` with every Linear/Conv weight as its CSR arrays, the rest dense.

    Weight ``fc1.weight`` becomes ``fc1.weight.values``, ``fc1.weight.col_indices``,
    ``fc1.weight.crow_indices`` and ``fc1.weight.shape``: plain dense tensors, so the file loads
    anywhere. The model must have no pruning masks left (see :func:`companion.prune.masks.make_permanent`).
    """
    state = model.state_dict()
    if any(k.endswith(("_orig", "_mask")) for k in state):
        raise ValueError("model still carries pruning masks: call make_permanent(model) first")
    weights = {f"{name}.weight" for name, m in model.named_modules() if isinstance(m, WEIGHT_LAYERS)}
    out: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        if key in weights:
            csr = to_csr(tensor)
            out[f"{key}.values"] = csr.values().clone()
            out[f"{key}.col_indices"] = csr.col_indices().clone()
            out[f"{key}.crow_indices"] = csr.crow_indices().clone()
            out[f"{key}.shape"] = torch.tensor(tensor.shape, dtype=torch.int64)
        else:
            out[key] = tensor
    return out


def csr_model_bytes(model: nn.Module) -> int:
    """Bytes of every tensor in :func:`csr_state_dict` (CSR weights, dense rest), without file overhead."""
    return sum(t.numel() * t.element_size() for t in csr_state_dict(model).values())


def save_csr(model: nn.Module, file) -> None:
    """``torch.save`` the model's :func:`csr_state_dict` to ``file`` (a path or a binary file object)."""
    torch.save(csr_state_dict(model), file)


def load_csr(model: nn.Module, file) -> nn.Module:
    """Load a file written by :func:`save_csr` into ``model`` (same architecture), densifying the weights."""
    packed = torch.load(file, map_location="cpu", weights_only=True)
    state = {}
    for key in packed:
        if key.endswith(".crow_indices"):
            base = key[: -len(".crow_indices")]
            shape = tuple(packed[f"{base}.shape"].tolist())
            with quiet_sparse_beta():
                csr = torch.sparse_csr_tensor(packed[key].long(), packed[f"{base}.col_indices"].long(),
                                              packed[f"{base}.values"], (shape[0], math.prod(shape[1:])))
                state[base] = csr.to_dense().reshape(shape)
        elif not key.endswith((".values", ".col_indices", ".shape")):
            state[key] = packed[key]
    model.load_state_dict(state)
    return model


class SparseLinear(nn.Module):
    """A Linear layer whose weight is stored in CSR: y = x Wᵀ + b computed as (W xᵀ)ᵀ + b with a sparse W.

    Built from a dense (pruned) ``nn.Linear`` with :meth:`from_linear`; inference only.
    """

    def __init__(self, weight_csr: torch.Tensor, bias: torch.Tensor | None):
        super().__init__()
        if weight_csr.layout != torch.sparse_csr or weight_csr.dim() != 2:
            raise ValueError("weight_csr must be a 2-D torch.sparse_csr tensor")
        self.weight_csr, self.bias = weight_csr, bias
        self.in_features, self.out_features = weight_csr.shape[1], weight_csr.shape[0]

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> "SparseLinear":
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"linear must be an nn.Linear, got {type(linear).__name__}")
        bias = None if linear.bias is None else linear.bias.detach().clone()
        return cls(to_csr(linear.weight), bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with quiet_sparse_beta():
            y = torch.sparse.mm(self.weight_csr, x.reshape(-1, self.in_features).t()).t()
        y = y if self.bias is None else y + self.bias
        return y.reshape(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        nnz = self.weight_csr.values().numel()
        return f"in_features={self.in_features}, out_features={self.out_features}, nnz={nnz}"


def matmul_latency(weight: torch.Tensor, x: torch.Tensor, min_run_time: float = 0.2,
                   threads: int | None = None, rounds: int = 1) -> dict[str, float]:
    """Median milliseconds of y = x Wᵀ with W dense (``F.linear``) and with W in CSR (``torch.sparse.mm``).

    Both are timed side by side in one call by :func:`companion.measure.interleaved_latency`.
    """
    if weight.dim() != 2 or x.dim() != 2 or x.shape[1] != weight.shape[1]:
        raise ValueError(f"need weight (out, in) and x (batch, in), got {tuple(weight.shape)} and {tuple(x.shape)}")
    csr = to_csr(weight)
    products = {"dense_ms": lambda inputs: torch.nn.functional.linear(inputs, weight),
                "csr_ms": lambda inputs: torch.sparse.mm(csr, inputs.t())}
    with quiet_sparse_beta():
        return measure.interleaved_latency(products, x, threads=threads, rounds=rounds, min_run_time=min_run_time)
