"""Weight clipping (clamp, per-neuron max-norm) and gradient clipping (by norm, by value).

- Weight clamping (the source's 权重裁剪): after each optimizer step, $w \\leftarrow \\min(\\max(w, a), b)$
  for every weight, so every weight lies in $[a, b]$ (as in the WGAN critic, Arjovsky et al. 2017).
- Max-norm: after each step, each neuron's incoming weight vector $w_j$ (row $j$ of a ``Linear``
  weight, filter $j$ of a ``Conv`` weight) is rescaled to $w_j \\min(1, c / \\lVert w_j \\rVert_2)$, so
  $\\lVert w_j \\rVert_2 \\le c$ (Srivastava et al. 2014).
- Gradient clipping by norm: $g \\leftarrow g \\min(1, c / (\\lVert g \\rVert + 10^{-6}))$ with the norm
  taken over all parameters together; by value: $g \\leftarrow \\min(\\max(g, -c), c)$ element-wise
  (Pascanu et al. 2013). Same results as ``torch.nn.utils.clip_grad_norm_`` / ``clip_grad_value_``.

Functions ending in ``_`` modify their tensors in place, as in PyTorch. :class:`ClampWeights` and
:class:`MaxNorm` are ``after_step`` hooks for :func:`companion.train.fit`.
"""
from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

__all__ = ["clamp_weights_", "max_norm_", "clip_grad_norm_", "clip_grad_value_", "weight_tensors",
           "ClampWeights", "MaxNorm"]


def _as_list(tensors: torch.Tensor | Iterable[torch.Tensor]) -> list[torch.Tensor]:
    return [tensors] if isinstance(tensors, torch.Tensor) else list(tensors)


def weight_tensors(model: nn.Module) -> list[torch.Tensor]:
    """The weight matrices and filters of ``model`` (parameters with ≥ 2 dimensions; biases and norms excluded)."""
    return [p for p in model.parameters() if p.dim() >= 2]


@torch.no_grad()
def clamp_weights_(tensors: torch.Tensor | Iterable[torch.Tensor], low: float, high: float) -> None:
    """Clamp every element of ``tensors`` into ``[low, high]`` in place.

    Inputs and errors: ``low ≤ high`` (``ValueError`` otherwise, NaN included); ``tensors`` is one tensor
    or an iterable of them, modified in place.
    """
    if not low <= high:
        raise ValueError(f"low must be ≤ high, got low={low}, high={high}")
    for tensor in _as_list(tensors):
        tensor.clamp_(low, high)


@torch.no_grad()
def max_norm_(tensors: torch.Tensor | Iterable[torch.Tensor], max_norm: float) -> None:
    """Rescale in place each row ``w[j]`` (one output neuron's weights) whose L2 norm exceeds ``max_norm``.

    Rows already inside the ball are left as they are; the others are scaled onto its surface.

    Inputs and errors: ``max_norm`` > 0 (``ValueError``, NaN included); every tensor needs ≥ 2
    dimensions (``ValueError``); all-zero rows stay zero.
    """
    if not max_norm > 0:
        raise ValueError(f"max_norm must be > 0, got {max_norm}")
    for tensor in _as_list(tensors):
        if tensor.dim() < 2:
            raise ValueError(f"max_norm_ needs weights with ≥ 2 dimensions (rows = neurons), got shape "
                             f"{tuple(tensor.shape)}")
        norms = tensor.flatten(1).norm(dim=1)
        scale = (max_norm / norms.clamp_min(torch.finfo(tensor.dtype).tiny)).clamp(max=1.0)
        tensor.mul_(scale.view(-1, *([1] * (tensor.dim() - 1))))


@torch.no_grad()
def clip_grad_norm_(parameters: torch.Tensor | Iterable[torch.Tensor], max_norm: float,
                    norm_type: float | str = 2.0, error_if_nonfinite: bool = False) -> torch.Tensor:
    """Scale all gradients together so their joint ``norm_type``-norm is at most ``max_norm``; return the norm before.

    The joint norm is $\\lVert (\\lVert g_1 \\rVert_p, \\lVert g_2 \\rVert_p, \\dots) \\rVert_p$ (``p = inf``:
    the largest absolute entry). Gradients are multiplied by $\\min(1, c / (\\lVert g \\rVert_p + 10^{-6}))$.

    Inputs and errors (as ``torch.nn.utils.clip_grad_norm_``): ``norm_type`` is a number > 0 or
    anything ``float()`` reads as one, such as ``'inf'`` (``ValueError`` otherwise); ``max_norm`` must be
    > 0. Parameters without a gradient are skipped; with none, the norm is 0. If the total norm is NaN or
    Inf, ``error_if_nonfinite=True`` raises ``RuntimeError`` and leaves the gradients as they were; with
    the default ``False`` the gradients are scaled anyway, exactly as PyTorch does (Inf entries become
    NaN), so check the returned norm.
    """
    if not max_norm > 0:
        raise ValueError(f"max_norm must be > 0, got {max_norm}")
    try:
        norm_type = float(norm_type)
    except (TypeError, ValueError):
        raise ValueError(f"norm_type must be a number > 0 or 'inf', got {norm_type!r}") from None
    if not norm_type > 0:
        raise ValueError(f"norm_type must be > 0 or inf, got {norm_type}")
    grads = [p.grad for p in _as_list(parameters) if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    norms = torch.stack([torch.linalg.vector_norm(g, norm_type) for g in grads])
    total = torch.linalg.vector_norm(norms, norm_type)
    if error_if_nonfinite and not bool(torch.isfinite(total)):
        raise RuntimeError(f"the total norm of order {norm_type} of the gradients is non-finite ({float(total)}), "
                           "so it cannot be clipped; pass error_if_nonfinite=False to scale them anyway")
    coefficient = (max_norm / (total + 1e-6)).clamp(max=1.0)
    for grad in grads:
        grad.mul_(coefficient)
    return total


@torch.no_grad()
def clip_grad_value_(parameters: torch.Tensor | Iterable[torch.Tensor], clip_value: float) -> None:
    """Clamp every gradient entry into ``[-clip_value, clip_value]`` in place.

    Inputs and errors: ``clip_value`` > 0 (``ValueError``, NaN included); parameters without a gradient
    are skipped. NaN entries stay NaN, as in ``torch.nn.utils.clip_grad_value_``.
    """
    if not clip_value > 0:
        raise ValueError(f"clip_value must be > 0, got {clip_value}")
    for param in _as_list(parameters):
        if param.grad is not None:
            param.grad.clamp_(-clip_value, clip_value)


class ClampWeights:
    """``after_step`` hook for :func:`companion.train.fit`: clamp every weight tensor into ``[low, high]``."""

    def __init__(self, low: float, high: float) -> None:
        if not low <= high:
            raise ValueError(f"low must be ≤ high, got low={low}, high={high}")
        self.low, self.high = low, high

    def __call__(self, model: nn.Module, step: int) -> None:
        clamp_weights_(weight_tensors(model), self.low, self.high)


class MaxNorm:
    """``after_step`` hook for :func:`companion.train.fit`: cap each neuron's incoming weight norm at ``max_norm``."""

    def __init__(self, max_norm: float) -> None:
        if not max_norm > 0:
            raise ValueError(f"max_norm must be > 0, got {max_norm}")
        self.max_norm = max_norm

    def __call__(self, model: nn.Module, step: int) -> None:
        max_norm_(weight_tensors(model), self.max_norm)
