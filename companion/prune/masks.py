"""Pruning masks and the ``weight_orig`` / ``weight_mask`` reparametrisation of ``torch.nn.utils.prune``.

A pruned parameter ``w`` is stored as two tensors: the trainable ``w_orig`` (a parameter) and a binary
``w_mask`` (a buffer). Before each forward pass a hook recomputes ``w = w_orig ⊙ w_mask``, so pruned
entries are exactly zero in the forward pass and receive zero gradient. This module attaches our masks
through that very mechanism (:func:`torch.nn.utils.prune.custom_from_mask`), so ``prune.is_pruned``,
``prune.remove`` and PyTorch's own pruning functions all work on a model pruned with ``companion.prune``.

Counting convention. An ``amount`` is either a fraction in [0, 1] of a tensor's entries, rounded to a
count with ``round(amount × numel)`` exactly as PyTorch does (Python's ``round``: halves go to the even
integer), or an integer count in [0, numel]. Ties between equal scores are broken by position: of
two entries with the same score, the one with the lower flat (row-major) index is pruned first.
"""
from __future__ import annotations

import copy
import numbers

import torch
from torch import nn
from torch.nn.utils import prune

from ..layers import WEIGHT_LAYERS

__all__ = ["PRUNABLE_TYPES", "amount_to_count", "smallest_mask", "check_prunable", "prunable_weights",
           "get_mask", "effective_weight", "apply_mask", "is_pruned", "clone", "make_permanent", "weight_sparsity",
           "layer_sparsities"]

PRUNABLE_TYPES = WEIGHT_LAYERS  # pruning acts on the layers every technique acts on


def amount_to_count(amount: float | int, numel: int, name: str = "amount") -> int:
    """How many of ``numel`` entries an ``amount`` names: ``round(amount × numel)`` for a fraction, else the integer."""
    if isinstance(amount, bool) or not isinstance(amount, numbers.Real):
        raise TypeError(f"{name} must be a float in [0, 1] or an int count, got {type(amount).__name__} {amount!r}")
    if isinstance(amount, numbers.Integral):
        if not 0 <= amount <= numel:
            raise ValueError(f"{name}={amount} is a count of entries and must be in [0, {numel}] (the number of prunable entries)")
        return int(amount)
    if not 0.0 <= float(amount) <= 1.0:
        raise ValueError(f"{name}={amount} is a fraction and must be in [0, 1]")
    return round(float(amount) * numel)


def smallest_mask(scores: torch.Tensor, count: int) -> torch.Tensor:
    """A 0/1 mask shaped like ``scores`` that zeroes the ``count`` entries with the smallest scores.

    Ties are broken by flat index (a stable sort), so the result is deterministic.
    """
    if not 0 <= count <= scores.numel():
        raise ValueError(f"count must be in [0, {scores.numel()}], got {count}")
    mask = torch.ones(scores.numel(), dtype=scores.dtype if scores.is_floating_point() else torch.float32,
                      device=scores.device)
    order = torch.sort(scores.detach().flatten(), stable=True).indices
    mask[order[:count]] = 0
    return mask.view_as(scores)


def check_prunable(module: nn.Module, name: str) -> None:
    """Raise a clear error unless ``module`` has a floating-point parameter ``name`` (pruned or not)."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be an nn.Module, got {type(module).__name__}")
    if not isinstance(name, str):
        raise TypeError(f"name must be a parameter name (str), got {type(name).__name__}")
    params = dict(module.named_parameters(recurse=False))
    if name not in params and name + "_orig" not in params:
        raise ValueError(f"{type(module).__name__} has no parameter named {name!r}; "
                         f"its parameters are {sorted(params) or 'none'}")
    tensor = params.get(name, params.get(name + "_orig"))
    if not tensor.is_floating_point():
        raise TypeError(f"parameter {name!r} of {type(module).__name__} must be floating point, got {tensor.dtype}")


def prunable_weights(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """``(module, "weight")`` for every Linear and Conv layer of ``model``, in definition order.

    This is the set the book means by "the weights" when it quotes a sparsity: biases, BatchNorm and
    other parameters are not pruned and not counted.
    """
    pairs = [(module, "weight") for module in model.modules() if isinstance(module, WEIGHT_LAYERS)]
    if not pairs:
        raise ValueError(f"{type(model).__name__} has no Linear or Conv layer to prune")
    return pairs


def get_mask(module: nn.Module, name: str = "weight") -> torch.Tensor:
    """The current 0/1 mask of ``module.name``: its ``name_mask`` buffer, or all ones when unpruned."""
    check_prunable(module, name)
    mask = getattr(module, name + "_mask", None)
    return mask.detach().clone() if mask is not None else torch.ones_like(getattr(module, name).detach())


def effective_weight(module: nn.Module, name: str = "weight") -> torch.Tensor:
    """The weight the forward pass uses, ``w_orig ⊙ w_mask`` (the plain weight when unpruned), detached."""
    check_prunable(module, name)
    if hasattr(module, name + "_orig"):
        return (getattr(module, name + "_orig") * getattr(module, name + "_mask")).detach()
    return getattr(module, name).detach().clone()


def apply_mask(module: nn.Module, name: str, mask: torch.Tensor) -> nn.Module:
    """Prune ``module.name`` in place with a 0/1 ``mask``, through PyTorch's reparametrisation.

    If the parameter is already pruned the masks multiply (an entry once pruned stays pruned), exactly
    as with repeated calls of ``torch.nn.utils.prune`` functions. Returns ``module``.
    """
    check_prunable(module, name)
    current = get_mask(module, name)
    if not isinstance(mask, torch.Tensor) or mask.shape != current.shape:
        raise ValueError(f"mask must be a tensor of shape {tuple(current.shape)}, got "
                         f"{tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__}")
    if not bool(((mask == 0) | (mask == 1)).all()):
        raise ValueError("mask must hold only zeros and ones")
    prune.custom_from_mask(module, name, mask.to(device=current.device, dtype=current.dtype))
    return module


def is_pruned(module: nn.Module, name: str = "weight") -> bool:
    """Whether ``module.name`` currently carries a pruning mask."""
    check_prunable(module, name)
    return hasattr(module, name + "_mask")


def clone(model: nn.Module) -> nn.Module:
    """A deep copy of a model that may carry pruning masks.

    ``copy.deepcopy`` fails on a pruned module whose cached ``weight = weight_orig ⊙ weight_mask`` was
    computed with autograd on (it is not a leaf tensor). This recomputes that cache without autograd
    (same values, so ``model`` is unchanged in effect), then deep-copies.
    """
    with torch.no_grad():
        for module in model.modules():
            for hook in module._forward_pre_hooks.values():
                if isinstance(hook, prune.BasePruningMethod):
                    setattr(module, hook._tensor_name, hook.apply_mask(module))
    return copy.deepcopy(model)


def make_permanent(model: nn.Module) -> nn.Module:
    """Fold every mask into its weight in place (``w ← w_orig ⊙ w_mask``) and drop the reparametrisation.

    Afterwards the ``state_dict`` holds plain ``weight`` tensors with exact zeros, and no ``*_orig`` or
    ``*_mask`` entries. Returns ``model``.
    """
    for module in model.modules():
        names = [hook._tensor_name for hook in module._forward_pre_hooks.values()
                 if isinstance(hook, prune.BasePruningMethod)]
        for name in names:
            prune.remove(module, name)
    return model


def _pairs(model_or_pairs) -> list[tuple[nn.Module, str]]:
    return prunable_weights(model_or_pairs) if isinstance(model_or_pairs, nn.Module) else list(model_or_pairs)


def weight_sparsity(model_or_pairs: nn.Module | list[tuple[nn.Module, str]]) -> float:
    """Fraction of the prunable weights that are exactly zero: Σ zeros / Σ entries over the weight matrices.

    Takes a model (its Linear and Conv weights, see :func:`prunable_weights`) or ``(module, name)`` pairs.
    """
    pairs = _pairs(model_or_pairs)
    weights = [effective_weight(module, name) for module, name in pairs]
    total = sum(w.numel() for w in weights)
    if total == 0:
        raise ValueError("the parameters have no entries: their sparsity is undefined")
    return sum(int((w == 0).sum()) for w in weights) / total


def layer_sparsities(model: nn.Module) -> dict[str, float]:
    """Sparsity of each Linear/Conv weight of ``model``, keyed by the layer's name."""
    return {name: float((effective_weight(module) == 0).float().mean())
            for name, module in model.named_modules() if isinstance(module, WEIGHT_LAYERS)}
