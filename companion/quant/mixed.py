"""Mixed precision: measure how much each layer suffers at each bit width, then give bits where they matter.

1. **Sensitivity scan** (:func:`sensitivity_scan`): quantize one layer at a time to ``b`` bits, all others
   float, and record the loss on held-out data. The increase over the float loss, ΔL_l(b), is the
   layer's sensitivity at ``b`` bits.
2. **Allocation** (:func:`allocate_bits`): choose one width b_l per layer to

       minimise Σ_l ΔL_l(b_l)   subject to   Σ_l bytes_l(b_l) ≤ budget,

   assuming the damage of different layers adds up (a first-order approximation, as in HAWQ, Dong et
   al. 2019). This is a multiple-choice knapsack; it is solved exactly by dynamic programming over
   the layers, keeping only the Pareto-optimal (bytes, damage) partial assignments.

bytes_l(b) counts what a file stores (:func:`layer_bytes`): the packed codes, ⌈n·b/8⌉, plus the side
tensors (scales, zero-points, codebooks).
"""
from __future__ import annotations

from typing import Callable, Iterable, Mapping

import torch
from torch import nn
from torch.utils.data import DataLoader

from ..train import evaluate
from ..layers import weight_layers
from .lowbit import QuantizedWeight, quantize_uniform, quantize_weights
from .packing import packed_nbytes

__all__ = ["default_quantizer", "layer_bytes", "sensitivity_scan", "allocate_bits"]


def default_quantizer(weight: torch.Tensor, bits: int) -> QuantizedWeight:
    """Uniform asymmetric quantization with one scale and zero-point per output channel."""
    return quantize_uniform(weight, bits, granularity="channel")


def layer_bytes(record: QuantizedWeight) -> int:
    """Bytes a quantized weight takes in a file: packed codes plus its side tensors."""
    return packed_nbytes(record.codes.numel(), record.bits) + record.side_bytes()


def sensitivity_scan(model: nn.Module, loader: DataLoader, bits_options: Iterable[int] = (2, 3, 4, 8),
                     quantizer: Callable[[torch.Tensor, int], QuantizedWeight] = default_quantizer,
                     layers: Iterable[str] | None = None) -> list[dict]:
    """One row per (layer, bits): ``loss``, ``accuracy``, ``loss_increase`` over float, and ``bytes``.

    Only the named layer is quantized (weight-only, with ``quantizer(weight, bits)``); the model itself
    is not modified. Use a validation loader, not the test set, so that the allocation is not tuned on
    the data it is judged on.
    """
    bits_options = list(bits_options)
    if not bits_options:
        raise ValueError("bits_options is empty: give at least one bit width to scan")
    base = evaluate(model, loader)
    rows = []
    for name in weight_layers(model, layers):
        for bits in bits_options:
            quantized, records = quantize_weights(model, lambda w, b=bits: quantizer(w, b), layers=[name])
            metrics = evaluate(quantized, loader)
            rows.append({"layer": name, "bits": bits, "loss": metrics.loss, "accuracy": metrics.accuracy,
                         "loss_increase": metrics.loss - base.loss, "bytes": layer_bytes(records[name])})
    return rows


def allocate_bits(cost: Mapping[str, Mapping[int, int]], damage: Mapping[str, Mapping[int, float]],
                  budget: int) -> dict[str, int]:
    """The bit width per layer that minimises Σ damage[l][b_l] with Σ cost[l][b_l] ≤ ``budget`` (exact).

    ``cost[l][b]`` is layer l's bytes at b bits, ``damage[l][b]`` its sensitivity (e.g. loss increase).
    Raises ``ValueError`` if even the cheapest choice for every layer exceeds the budget.
    """
    if set(cost) != set(damage) or not cost:
        raise ValueError("cost and damage must name the same, non-empty set of layers")
    for layer in cost:
        if not cost[layer] or set(cost[layer]) != set(damage[layer]):
            raise ValueError(f"cost and damage of layer {layer!r} must give the same, non-empty bit widths")
    cheapest = sum(min(options.values()) for options in cost.values())
    if budget < cheapest:
        raise ValueError(f"budget of {budget} bytes is below the smallest possible size, {cheapest} bytes")
    # Partial plans as {bytes: (damage, assignment)}, pruned to the Pareto front after each layer.
    front: list[tuple[int, float, dict[str, int]]] = [(0, 0.0, {})]
    for layer in cost:
        candidates = [(size + cost[layer][bits], harm + damage[layer][bits], {**plan, layer: bits})
                      for size, harm, plan in front for bits in cost[layer]]
        candidates = [c for c in candidates if c[0] <= budget]
        candidates.sort(key=lambda c: (c[0], c[1]))
        front, best = [], float("inf")
        for candidate in candidates:
            if candidate[1] < best:
                front.append(candidate)
                best = candidate[1]
    return min(front, key=lambda c: (c[1], c[0]))[2]
