"""Per-layer sensitivity: how much accuracy each layer loses when it alone is magnitude-pruned.

Layers whose accuracy collapses early deserve a lower sparsity; robust ones can take more. Each
trial prunes a deep copy, so the model passed in is never changed.
"""
from __future__ import annotations

from typing import Callable, Sequence

from torch import nn

from ..layers import WEIGHT_LAYERS
from .masks import check_prunable, clone
from .unstructured import l1_unstructured

__all__ = ["sensitivity_scan"]


def sensitivity_scan(model: nn.Module, evaluate: Callable[[nn.Module], float], amounts: Sequence[float],
                     layers: Sequence[str] | None = None, name: str = "weight") -> list[dict]:
    """Prune each layer alone to each sparsity in ``amounts`` and record ``evaluate(pruned copy)``.

    Returns one row per (layer, amount): ``{"layer", "sparsity", "metric"}``, where ``metric`` is what
    ``evaluate`` returns (e.g. validation accuracy). ``layers`` defaults to every Linear and Conv layer.
    """
    modules = dict(model.named_modules())
    if layers is None:
        layers = [n for n, m in modules.items() if isinstance(m, WEIGHT_LAYERS)]
    if not layers:
        raise ValueError("no layer to scan: give layer names or a model with Linear/Conv layers")
    if not amounts:
        raise ValueError("amounts is empty: give at least one sparsity in [0, 1]")
    for layer in layers:
        if layer not in modules:
            raise ValueError(f"model has no layer named {layer!r}")
        check_prunable(modules[layer], name)
    rows = []
    for layer in layers:
        for amount in amounts:
            trial = clone(model)
            l1_unstructured(trial.get_submodule(layer), name, amount=amount)
            rows.append({"layer": layer, "sparsity": float(amount), "metric": float(evaluate(trial))})
    return rows
