"""L1 and L2 regularisation: penalties added to the training loss, and what they do to the weights.

$$L_{reg}(w) = L(w) + \\lambda_1 \\sum_i |w_i| + \\tfrac{\\lambda_2}{2} \\sum_i w_i^2$$

The L2 term's gradient is $\\lambda_2 w$, so for plain SGD it is the same as ``weight_decay=λ₂``.
The L1 term's (sub)gradient is $\\lambda_1 \\operatorname{sign}(w)$: a constant pull toward zero
whatever the weight's size, which drives weights the data does not need to (near) zero, the
weights magnitude pruning (chapter 3.4) then removes.
"""
from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch import nn

from .clipping import weight_tensors

__all__ = ["l1_penalty", "l2_penalty", "RegularizedLoss", "near_zero_fraction"]


def l1_penalty(tensors: Iterable[torch.Tensor]) -> torch.Tensor:
    """$\\sum_i |w_i|$ over all entries of ``tensors``."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("tensors is empty: nothing to regularise")
    return sum(t.abs().sum() for t in tensors)


def l2_penalty(tensors: Iterable[torch.Tensor]) -> torch.Tensor:
    """$\\tfrac12 \\sum_i w_i^2$ over all entries of ``tensors`` (the ½ makes its gradient $w$)."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("tensors is empty: nothing to regularise")
    return sum(t.pow(2).sum() for t in tensors) / 2


class RegularizedLoss:
    """A loss for :func:`companion.train.fit`: ``loss_fn(logits, y) + l1·Σ|w| + l2·½Σw²`` over ``model``'s weights.

    The penalty is part of the training objective, not of any one example, so it is added only to the
    batch mean (``reduction='mean'``, what ``fit`` uses); with ``reduction='sum'`` or ``'none'`` (how
    :func:`companion.train.evaluate` calls it) only the data loss is returned, so validation losses stay
    comparable between regularised and plain models. Weights are the parameters with ≥ 2 dimensions.
    """

    def __init__(self, model: nn.Module, *, l1: float = 0.0, l2: float = 0.0,
                 loss_fn: Callable[..., torch.Tensor] = nn.functional.cross_entropy) -> None:
        for name, value in (("l1", l1), ("l2", l2)):
            if not value >= 0:
                raise ValueError(f"{name} must be ≥ 0, got {value}")
        self.model, self.l1, self.l2, self.loss_fn = model, l1, l2, loss_fn

    def __call__(self, logits: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        loss = self.loss_fn(logits, target, reduction=reduction)
        if reduction != "mean":
            return loss
        weights = weight_tensors(self.model)
        if self.l1:
            loss = loss + self.l1 * l1_penalty(weights)
        if self.l2:
            loss = loss + self.l2 * l2_penalty(weights)
        return loss


def near_zero_fraction(tensors: Iterable[torch.Tensor], threshold: float) -> float:
    """The fraction of entries with $|w| <$ ``threshold`` (in [0, 1])."""
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0, got {threshold}")
    tensors = list(tensors)
    total = sum(t.numel() for t in tensors)
    if total == 0:
        raise ValueError("tensors is empty: no entries to count")
    return sum(int((t.detach().abs() < threshold).sum()) for t in tensors) / total
