"""Non-uniform quantization by k-means weight sharing (Deep Compression, Han, Mao & Dally 2016).

A layer's weights are clustered into k = 2^bits values (the **codebook** c_0 … c_{k−1}); each weight
stores only the index of its cluster (a ``bits``-bit code), Ŵ_ij = c[q_ij]. The codebook minimises the
squared error

    J(c, q) = Σ_ij (W_ij − c[q_ij])²

by Lloyd's algorithm: assign each weight to its nearest centroid, move each centroid to the mean of its
members, repeat. Neither step can increase J, so J never increases across iterations. Centroids start
**linearly** spaced between min W and max W, which Han et al. found keeps the rare large weights
represented (density-based starts crowd the centroids near zero).

Fine-tuning keeps the codes and trains the codebook: since Ŵ_ij = c[q_ij], the chain rule gives

    ∂L/∂c_k = Σ_{ij : q_ij = k} ∂L/∂Ŵ_ij,

the sum of the gradients of the cluster's members (:func:`centroid_gradients`). :class:`SharedWeight`
computes Ŵ by indexing the codebook, so autograd produces exactly this sum.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Iterable

import torch
from torch import nn

from ..layers import set_submodule, weight_layers
from .lowbit import QuantizedWeight, check_weight

__all__ = ["KMEANS_BITS", "KMeansWeight", "kmeans_quantize", "centroid_gradients", "SharedWeight",
           "share_weights", "shared_weights"]

KMEANS_BITS = range(1, 9)


@dataclass(frozen=True)
class KMeansWeight(QuantizedWeight):
    """Ŵ = codebook[codes]; ``objective`` holds J after the initial assignment and after each Lloyd iteration."""

    codebook: torch.Tensor
    objective: list[float] = field(default_factory=list, compare=False)

    def dequantize(self) -> torch.Tensor:
        return self.codebook[self.codes.long()]

    def side_tensors(self) -> dict[str, torch.Tensor]:
        return {"codebook": self.codebook}


def _assign(values: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Index of the nearest centroid for each value (1-D: compare against the midpoints of sorted centroids)."""
    order = torch.argsort(codebook)
    ordered = codebook[order]
    midpoints = (ordered[1:] + ordered[:-1]) / 2
    return order[torch.bucketize(values, midpoints)]


def kmeans_quantize(weight: torch.Tensor, bits: int, iterations: int = 30, tol: float = 0.0) -> KMeansWeight:
    """Cluster ``weight`` into 2^bits shared values with linearly initialised Lloyd iterations.

    Stops after ``iterations`` updates, or earlier when J decreases by at most ``tol`` (relative). An
    empty cluster keeps its centroid. The objective J (sum of squared errors, in squared weight units)
    is recorded after the first assignment and after every update.
    """
    if not isinstance(bits, int) or bits not in KMEANS_BITS:
        raise ValueError(f"bits must be an integer in [1, 8] for k-means, got {bits!r}")
    if not isinstance(iterations, int) or iterations < 0:
        raise ValueError(f"iterations must be an integer ≥ 0, got {iterations!r}")
    check_weight(weight)
    values = weight.detach().reshape(-1).to(torch.float64)
    clusters = 2 ** bits
    if clusters > values.numel():
        raise ValueError(f"{clusters} centroids (bits={bits}) but only {values.numel()} weights: "
                         "use fewer bits than log2 of the number of weights")
    codebook = torch.linspace(float(values.min()), float(values.max()), clusters, dtype=torch.float64)
    codes = _assign(values, codebook)
    objective = [float(((values - codebook[codes]) ** 2).sum())]
    for _ in range(iterations):
        sums = torch.zeros(clusters, dtype=torch.float64).index_add_(0, codes, values)
        counts = torch.bincount(codes, minlength=clusters)
        codebook = torch.where(counts > 0, sums / counts.clamp(min=1), codebook)
        codes = _assign(values, codebook)
        objective.append(float(((values - codebook[codes]) ** 2).sum()))
        if objective[-2] - objective[-1] <= tol * objective[-2]:
            break
    return KMeansWeight(codes=codes.to(torch.uint8).reshape(weight.shape), bits=bits,
                        codebook=codebook.to(torch.float32), objective=objective)


def centroid_gradients(weight_grad: torch.Tensor, codes: torch.Tensor, clusters: int) -> torch.Tensor:
    """∂L/∂c_k = Σ over weights with code k of ∂L/∂Ŵ: the per-cluster sums of ``weight_grad``."""
    if weight_grad.shape != codes.shape:
        raise ValueError(f"weight_grad and codes must have one shape, got {tuple(weight_grad.shape)} and {tuple(codes.shape)}")
    return torch.zeros(clusters, dtype=weight_grad.dtype).index_add_(0, codes.reshape(-1).long(), weight_grad.reshape(-1))


class SharedWeight(nn.Module):
    """A Linear/Conv layer whose weight is ``codebook[codes]``: only the codebook (and bias) can train.

    The wrapped layer's own weight is frozen and unused; the forward pass substitutes Ŵ for it with
    :func:`torch.func.functional_call`, so any layer type with a ``weight`` works.
    """

    def __init__(self, layer: nn.Module, quantized: KMeansWeight):
        super().__init__()
        if tuple(quantized.codes.shape) != tuple(layer.weight.shape):
            raise ValueError(f"codes of shape {tuple(quantized.codes.shape)} do not fit weight {tuple(layer.weight.shape)}")
        self.layer = layer
        self.layer.weight.requires_grad_(False)
        self.bits = quantized.bits
        self.register_buffer("codes", quantized.codes.clone())
        self.codebook = nn.Parameter(quantized.codebook.clone())

    def weight(self) -> torch.Tensor:
        """Ŵ = codebook[codes], with the layer's weight shape."""
        return self.codebook[self.codes.long()]

    def quantized(self) -> KMeansWeight:
        """The current codes and codebook as a :class:`KMeansWeight` (for packing and saving)."""
        return KMeansWeight(codes=self.codes, bits=self.bits, codebook=self.codebook.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(self.layer, {"weight": self.weight()}, (x,))


def share_weights(model: nn.Module, bits: int | dict[str, int], layers: Iterable[str] | None = None,
                  iterations: int = 30) -> nn.Module:
    """A copy of ``model`` whose Linear/Conv layers are wrapped in :class:`SharedWeight` after k-means.

    ``bits`` is one width for all chosen layers or a dict ``{layer name: bits}``. Fine-tune the copy with
    any optimizer over its trainable parameters (codebooks, biases, BatchNorm); the codes stay fixed.
    """
    if isinstance(bits, dict):
        layers = list(bits) if layers is None else layers
    shared = copy.deepcopy(model)
    for name, layer in weight_layers(shared, layers).items():
        width = bits[name] if isinstance(bits, dict) else bits
        set_submodule(shared, name, SharedWeight(layer, kmeans_quantize(layer.weight, width, iterations)))
    return shared


def shared_weights(model: nn.Module) -> dict[str, KMeansWeight]:
    """The current :class:`KMeansWeight` of every :class:`SharedWeight` in ``model``, by layer name."""
    return {name: module.quantized() for name, module in model.named_modules() if isinstance(module, SharedWeight)}
