"""How much each neuron, filter or channel matters: importance criteria and dead units.

A score is one number per unit; a **higher score means more important**, so pruning removes the
lowest-scored units. Per layer (``W`` has one row or filter per output unit ``i``):

- weight norm (Li et al. 2017 use p = 1):  s_i = ‖W_i‖_p = (Σ_j |W_ij|^p)^(1/p), in weight units;
- BatchNorm scale (network slimming, Liu et al. 2017):  s_i = |γ_i|;

and from activations ``a`` (N examples × C channels × spatial positions) that the next layers read,
gathered on calibration data:

- mean activation:  s_c = mean over examples and positions of a_c;
- APoZ, the average percentage of zeros (Hu et al. 2016):  APoZ_c = fraction of the a_c that are 0;
  the score is 1 − APoZ_c;
- first-order Taylor (Molchanov et al. 2017): the loss change when a channel is zeroed, to first order,
  s_c = mean over examples n of |mean over positions of a_c · ∂L/∂a_c| (L the summed loss);
- dead units: channels whose activations are exactly 0 for every calibration example, so removing them
  changes no output on that data.

:func:`group_scores` turns any criterion into one score per channel of each
:class:`~companion.prune.dependency.DependencyGroup`: weight criteria add the scores of the group's
producers (or norms); activation criteria read what the group's consumers read.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import torch
from torch import nn

from .. import measure
from .dependency import DependencyGroup, dependency_groups

__all__ = ["weight_norm", "bn_scale", "ChannelStats", "channel_stats", "mean_activation", "apoz", "taylor",
           "CRITERIA", "group_scores", "dead_units"]


def weight_norm(weight: torch.Tensor, p: float = 1) -> torch.Tensor:
    """‖W_i‖_p of each output unit ``i``: the norm over every dimension but the first (rows, filters)."""
    if not isinstance(weight, torch.Tensor) or weight.dim() < 2:
        raise TypeError("weight must be a Linear or Conv weight tensor with at least 2 dimensions")
    if p <= 0:
        raise ValueError(f"p must be positive, got {p}")
    return torch.linalg.vector_norm(weight.detach().flatten(1), ord=p, dim=1)


def bn_scale(norm: nn.Module) -> torch.Tensor:
    """|γ| of each channel of a BatchNorm layer (the network-slimming criterion)."""
    if not isinstance(norm, nn.modules.batchnorm._BatchNorm) or norm.weight is None:
        raise TypeError(f"norm must be an affine BatchNorm layer, got {type(norm).__name__}")
    return norm.weight.detach().abs()


@dataclass
class ChannelStats:
    """Running per-channel sums over the activations one group's consumers read.

    ``total`` = Σ a, ``zeros`` = #(a = 0), ``count`` = # activations per channel, ``peak`` = max |a|,
    ``taylor`` = Σ over examples of |mean over positions of a · ∂L/∂a|, ``examples`` = # examples
    (counted once per distinct tensor the group's consumers read: a residual group spans several).
    """

    total: torch.Tensor
    zeros: torch.Tensor
    peak: torch.Tensor
    taylor: torch.Tensor
    count: int = 0
    examples: int = 0

    @classmethod
    def empty(cls, size: int) -> "ChannelStats":
        return cls(*(torch.zeros(size, dtype=torch.float64) for _ in range(4)))


def _per_channel(x: torch.Tensor, channels: int) -> torch.Tensor:
    """View a consumer's input as (N, channels, positions): channel c is dim 1, or the c-th block of features."""
    return x.reshape(x.shape[0], channels, -1)


def _batches(batches: Iterable) -> Iterable[tuple[torch.Tensor, torch.Tensor | None]]:
    for batch in batches:
        if isinstance(batch, torch.Tensor):
            yield batch, None
        else:
            yield batch[0], batch[1]


def channel_stats(model: nn.Module, example_input: torch.Tensor | None, batches: Iterable, *,
                  with_gradients: bool = False, loss_fn: Callable | None = None,
                  groups: list[DependencyGroup] | None = None) -> dict[str, ChannelStats]:
    """Per-channel activation statistics of every dependency group on calibration ``batches``.

    ``batches`` yields input tensors or ``(input, target)`` pairs (targets are needed when
    ``with_gradients=True``, which also back-propagates ``loss_fn`` (summed cross-entropy by default)
    to collect the Taylor sums). The model runs in eval mode and is not modified; its parameter
    gradients are restored to what they were. ``groups`` (traced once by the caller) replaces tracing
    the model on ``example_input``.
    """
    groups = dependency_groups(model, example_input) if groups is None else groups
    if not groups:
        raise ValueError("model has no prunable channel groups")
    loss_fn = loss_fn or (lambda logits, y: nn.functional.cross_entropy(logits, y, reduction="sum"))
    stats = {g.name: ChannelStats.empty(g.size) for g in groups}
    modules = dict(model.named_modules())

    # (group, tensor id) → tensor already counted in this forward pass (kept alive so ids stay unique)
    read: dict[tuple[str, int], torch.Tensor] = {}

    def make_hook(group: DependencyGroup):
        def hook(module, inputs):
            if (group.name, id(inputs[0])) in read:  # a tensor read by two consumers counts once
                return
            read[(group.name, id(inputs[0]))] = inputs[0]
            x = _per_channel(inputs[0].detach().double(), group.size)
            s = stats[group.name]
            s.total += x.sum(dim=(0, 2))
            s.zeros += (x == 0).sum(dim=(0, 2))
            s.peak = torch.maximum(s.peak, x.abs().amax(dim=(0, 2)))
            s.count += x.shape[0] * x.shape[2]
            s.examples += x.shape[0]
            if with_gradients and inputs[0].requires_grad:
                def grad_hook(grad, x=x):
                    g = _per_channel(grad.detach().double(), group.size)
                    s.taylor += (x * g).mean(dim=2).abs().sum(dim=0)
                inputs[0].register_hook(grad_hook)
        return hook

    hooks = [(modules[consumer.name], make_hook(group)) for group in groups for consumer in group.consumers]
    saved_grads = [p.grad for p in model.parameters()]
    seen = 0
    try:
        with measure.hooked(model, hooks, pre=True):
            for x, y in _batches(batches):
                read.clear()
                seen += len(x)
                if with_gradients:
                    if y is None:
                        raise ValueError("batches must yield (input, target) pairs for gradient-based criteria")
                    with torch.enable_grad():
                        loss_fn(model(x), y).backward()
                else:
                    with torch.no_grad():
                        model(x)
    finally:
        for p, grad in zip(model.parameters(), saved_grads):
            p.grad = grad
    if seen == 0:
        raise ValueError("batches is empty: calibration needs at least one example")
    return stats


def mean_activation(stats: ChannelStats) -> torch.Tensor:
    """Mean of each channel's activations: s_c = Σ a_c / count."""
    return (stats.total / stats.count).float()


def apoz(stats: ChannelStats) -> torch.Tensor:
    """Average percentage of zeros of each channel, a fraction in [0, 1] (high means rarely active)."""
    return (stats.zeros / stats.count).float()


def taylor(stats: ChannelStats) -> torch.Tensor:
    """First-order Taylor score of each channel: mean over examples of |mean over positions of a·∂L/∂a|."""
    return (stats.taylor / stats.examples).float()


def _weight_criterion(p: float):
    def score(model: nn.Module, groups: list[DependencyGroup], batches, seed: int) -> dict[str, torch.Tensor]:
        modules = dict(model.named_modules())
        return {g.name: sum(weight_norm(modules[name].weight, p) for name in g.producers) for g in groups}
    return score


def _bn_criterion(model: nn.Module, groups: list[DependencyGroup], batches, seed: int) -> dict[str, torch.Tensor]:
    modules = dict(model.named_modules())
    scores = {}
    for group in groups:
        if not group.norms:
            raise ValueError(f"layer {group.name!r} is followed by no BatchNorm: the 'bn_scale' criterion needs one")
        scores[group.name] = sum(bn_scale(modules[name]) for name in group.norms)
    return scores


def _activation_criterion(name: str, statistic: Callable[[ChannelStats], torch.Tensor], with_gradients: bool = False):
    def score(model: nn.Module, groups: list[DependencyGroup], batches, seed: int) -> dict[str, torch.Tensor]:
        if batches is None:
            raise ValueError(f"criterion {name!r} needs calibration batches")
        stats = channel_stats(model, None, batches, with_gradients=with_gradients, groups=groups)
        return {name: statistic(s) for name, s in stats.items()}
    return score


def _random_criterion(model: nn.Module, groups: list[DependencyGroup], batches, seed: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {g.name: torch.rand(g.size, generator=generator) for g in groups}


#: The importance criteria by name, like :data:`companion.quant.observers.OBSERVERS`: each maps
#: (model, dependency groups, calibration batches or None, seed) to one score per channel of each group.
#: 'l1', 'l2', 'bn_scale' and 'random' need only the model; 'mean_activation', 'apoz' and 'taylor'
#: need calibration batches ((input, target) pairs for 'taylor').
CRITERIA: dict[str, Callable] = {
    "l1": _weight_criterion(1),
    "l2": _weight_criterion(2),
    "bn_scale": _bn_criterion,
    "mean_activation": _activation_criterion("mean_activation", mean_activation),
    "apoz": _activation_criterion("apoz", lambda stats: 1 - apoz(stats)),
    "taylor": _activation_criterion("taylor", taylor, with_gradients=True),
    "random": _random_criterion,
}


def group_scores(model: nn.Module, example_input: torch.Tensor | None, criterion: str, batches: Iterable | None = None, *,
                 seed: int = 0, groups: list[DependencyGroup] | None = None) -> dict[str, torch.Tensor]:
    """One importance score per channel of each dependency group (higher = keep), by ``criterion``.

    ``criterion`` is a name in :data:`CRITERIA`; ``'random'`` is the baseline every criterion should
    beat (uniform scores from a generator seeded by ``seed``). Activation criteria need ``batches``
    of calibration data (``(input, target)`` pairs for ``'taylor'``). ``groups`` (traced once by the
    caller) replaces tracing the model on ``example_input``.
    """
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {list(CRITERIA)}, got {criterion!r}")
    groups = dependency_groups(model, example_input) if groups is None else groups
    return CRITERIA[criterion](model, groups, batches, seed)


def dead_units(model: nn.Module, example_input: torch.Tensor, batches: Iterable) -> dict[str, list[int]]:
    """Channels of each group that every consumer reads as exactly 0 on every calibration example.

    Removing them changes no output on that data (the weights that read them multiply zeros).
    Groups with no dead channel are left out.
    """
    stats = channel_stats(model, example_input, batches)
    dead = {name: torch.nonzero(s.peak == 0).flatten().tolist() for name, s in stats.items()}
    return {name: units for name, units in dead.items() if units}
