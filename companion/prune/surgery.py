"""Physical removal of units: a smaller model, not a masked one, and per-group ratios from sensitivity.

Removing the channels ``R`` of a :class:`~companion.prune.dependency.DependencyGroup` keeps the
indices K = {0, …, C−1} ∖ R and, on a copy of the model,

- producers (``Linear``/``Conv``):  W ← W[K, …],  b ← b[K]       (rows of W, whole filters);
- norms (``BatchNorm``):            γ, β, running mean and variance ← [K];
- consumers:                         W ← W[:, K', …] with K' = {k·r + j : k ∈ K, 0 ≤ j < r},
  where r is the consumer's ``repeat`` (r = 1 for the next conv or linear layer, r = H·W for the
  ``Linear`` after a flatten, which reads channel k as the features k·r … k·r + r − 1).

The result is an ordinary ``nn.Module`` with smaller tensors: fewer parameters and bytes and fewer
MACs, so it runs faster with the same dense kernels. :func:`mask_units` zeroes the same units instead
(rows, biases, γ and β); through ReLU-family activations a zeroed channel reads as exactly 0, so the
two models compute the same function, which the tests check.

:func:`group_sensitivity` prunes one group at a time and records the accuracy;
:func:`ratios_from_sensitivity` turns that scan into per-group ratios for a MAC budget: allow every
group the largest fraction whose accuracy drop is at most a threshold t, and choose the smallest t
that meets the budget (as Li et al. 2017 prune sensitive layers less).
"""
from __future__ import annotations

import copy
from typing import Callable, Mapping, Sequence

import torch
from torch import nn

from .. import measure, validate
from .dependency import DependencyGroup, dependency_groups
from .masks import amount_to_count

__all__ = ["shrink_outputs", "shrink_norm", "shrink_inputs", "remove_units", "mask_units", "units_to_remove",
           "prune_channels", "group_sensitivity",
           "ratios_from_sensitivity", "uniform_amount_for_macs"]


def _resolve(groups: list[DependencyGroup], removals: Mapping[str, Sequence[int]]) -> list[tuple[DependencyGroup, list[int]]]:
    """Match each key of ``removals`` (any producer's name) to its group and validate the indices."""
    by_layer = {name: g for g in groups for name in g.producers}
    plan: dict[str, tuple[DependencyGroup, set[int]]] = {}
    for layer, units in removals.items():
        if layer not in by_layer:
            raise ValueError(f"layer {layer!r} is not a prunable layer; prunable groups are named "
                             f"{[g.name for g in groups]}")
        group = by_layer[layer]
        units = validate.indices(units, group.size, f"the units of layer {layer!r}")
        chosen = plan.setdefault(group.name, (group, set()))[1]
        chosen.update(units)
        if len(chosen) == group.size:
            raise ValueError(f"cannot remove every unit of layer {layer!r} ({group.size} of {group.size}): "
                             "the network would be cut in two")
    return [(group, sorted(units)) for group, units in plan.values() if units]


def _take(tensor: torch.Tensor | None, index: torch.Tensor, dim: int):
    if tensor is None:
        return None
    taken = tensor.detach().index_select(dim, index).clone()
    return nn.Parameter(taken, requires_grad=tensor.requires_grad) if isinstance(tensor, nn.Parameter) else taken


def shrink_outputs(module: nn.Module, keep: torch.Tensor) -> None:
    """Keep only the output units ``keep`` of a Linear/Conv in place: W ← W[K], b ← b[K]."""
    module.weight = _take(module.weight, keep, 0)
    if module.bias is not None:
        module.bias = _take(module.bias, keep, 0)
    if isinstance(module, nn.Linear):
        module.out_features = len(keep)
    else:
        module.out_channels = len(keep)


def shrink_norm(norm: nn.Module, keep: torch.Tensor) -> None:
    """Keep only the channels ``keep`` of a BatchNorm in place: γ, β, running mean and variance ← [K]."""
    for name in ("weight", "bias"):
        if getattr(norm, name) is not None:
            setattr(norm, name, _take(getattr(norm, name), keep, 0))
    for name in ("running_mean", "running_var"):
        if getattr(norm, name) is not None:
            setattr(norm, name, _take(getattr(norm, name), keep, 0))
    norm.num_features = len(keep)


def shrink_inputs(module: nn.Module, keep: torch.Tensor, repeat: int) -> None:
    """Keep only the input channels ``keep`` of a Linear/Conv in place: W ← W[:, K'].

    K' = {k·r + j : k ∈ K, 0 ≤ j < r} with r = ``repeat`` features per channel (H·W after a flatten).
    """
    columns = (keep[:, None] * repeat + torch.arange(repeat)).flatten()
    module.weight = _take(module.weight, columns, 1)
    if isinstance(module, nn.Linear):
        module.in_features = len(columns)
    else:
        module.in_channels = len(columns)


def _groups(model: nn.Module, example_input: torch.Tensor | None,
            groups: Sequence[DependencyGroup] | None) -> Sequence[DependencyGroup]:
    """The dependency groups given, or traced from ``model`` on ``example_input`` when none are."""
    if groups is not None:
        return groups
    if example_input is None:
        raise ValueError("give example_input (to trace the dependency groups) or the groups themselves")
    return dependency_groups(model, example_input)


def remove_units(model: nn.Module, example_input: torch.Tensor | None, removals: Mapping[str, Sequence[int]], *,
                 groups: Sequence[DependencyGroup] | None = None) -> nn.Module:
    """A copy of ``model`` with the given units physically removed, with every layer that depends on them.

    ``removals`` maps a layer name (a producer: ``'fc1'``, ``'conv2'``, ``'stages.1.0.conv1'``) to the
    indices of its output units to remove; the whole dependency group of that layer loses those
    channels (see the module docstring). ``model`` itself is not modified. ``groups`` (from
    :func:`~companion.prune.dependency.dependency_groups`, traced once by a caller that prunes the same
    model many times) replaces the tracing on ``example_input``.

    Inputs and errors: unit indices are integers (Python/NumPy ints or a 1-D integer tensor) in
    [0, units); floats, bools and strings raise ``TypeError`` (``[1.7]`` is not unit 1, ``"01"`` is not
    units 0 and 1). A layer that cannot be pruned, an index out of range, or removing every unit of a
    layer raise ``ValueError``. Repeated indices count once.
    """
    plan = _resolve(_groups(model, example_input, groups), removals)
    pruned = copy.deepcopy(model)
    modules = dict(pruned.named_modules())
    for group, units in plan:
        removed = set(units)
        keep = torch.tensor([i for i in range(group.size) if i not in removed], dtype=torch.long)
        for name in group.producers:
            shrink_outputs(modules[name], keep)
        for name in group.norms:
            shrink_norm(modules[name], keep)
        for consumer in group.consumers:
            shrink_inputs(modules[consumer.name], keep, consumer.repeat)
    return pruned


def mask_units(model: nn.Module, example_input: torch.Tensor | None, removals: Mapping[str, Sequence[int]], *,
               groups: Sequence[DependencyGroup] | None = None) -> nn.Module:
    """A copy of ``model`` with the same units zeroed instead of removed: same shapes, same cost.

    Zeroes the units' weight rows and biases in every producer of the group and their γ and β in every
    BatchNorm, so each channel leaves its group as exactly 0 (for activations f with f(0) = 0). A
    BatchNorm without γ and β (``affine=False``) gets the units' running mean set to 0 instead, so that
    its output (0 − μ)/σ is 0 too (in training mode the batch mean of a zero channel is 0 already).

    Inputs and errors: as :func:`remove_units`.
    """
    groups = _groups(model, example_input, groups)
    masked = copy.deepcopy(model)
    modules = dict(masked.named_modules())
    with torch.no_grad():
        for group, units in _resolve(groups, removals):
            index = torch.tensor(units)
            for name in group.producers + group.norms:
                module = modules[name]
                for tensor in (module.weight, module.bias):
                    if tensor is not None:
                        tensor[index] = 0
                if name in group.norms and module.weight is None and module.running_mean is not None:
                    module.running_mean[index] = 0
    return masked


def units_to_remove(scores: torch.Tensor, amount: float | int, layer: str = "layer") -> list[int]:
    """The ``amount`` lowest-scored of the C units (ties broken by index), sorted.

    ``amount`` follows the rule of unstructured pruning (:func:`~companion.prune.masks.amount_to_count`):
    a fraction in [0, 1] removes ``round(amount · C)`` units, an int is a count in [0, C]. Removing
    every unit raises ``ValueError`` naming ``layer``.
    """
    count = amount_to_count(amount, len(scores), name=f"amount for layer {layer!r}")
    if count >= len(scores):
        raise ValueError(f"amount {amount} would remove every unit of layer {layer!r} ({count} of {len(scores)})")
    order = torch.argsort(scores, stable=True)
    return sorted(order[:count].tolist())


def prune_channels(model: nn.Module, example_input: torch.Tensor | None, amount: float | int | Mapping[str, float | int],
                   scores: Mapping[str, torch.Tensor], *, groups: Sequence[DependencyGroup] | None = None) -> nn.Module:
    """A physically smaller copy of ``model``: each group loses its lowest-scored channels.

    ``amount`` is one amount for every group (a fraction of its channels, or a count: see
    :func:`units_to_remove`), or a mapping group name → amount (groups not in it are kept whole);
    ``scores`` maps each group name to its per-channel importance (from
    :func:`~companion.prune.importance.group_scores`). ``groups`` replaces tracing, as in :func:`remove_units`.
    """
    groups = _groups(model, example_input, groups)
    names = [g.name for g in groups]
    amounts = {name: amount for name in names} if not isinstance(amount, Mapping) else dict(amount)
    unknown = sorted(set(amounts) - set(names))
    if unknown:
        raise ValueError(f"amount names layers {unknown} that head no prunable group; groups are {names}")
    removals = {}
    for group in groups:
        if group.name not in amounts:
            continue
        if group.name not in scores:
            raise ValueError(f"scores has no entry for layer {group.name!r}")
        removals[group.name] = units_to_remove(scores[group.name], amounts[group.name], group.name)
    return remove_units(model, None, removals, groups=groups)


def group_sensitivity(model: nn.Module, example_input: torch.Tensor, scores: Mapping[str, torch.Tensor],
                      evaluate: Callable[[nn.Module], float],
                      amounts: Sequence[float] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)) -> dict[str, dict[float, float]]:
    """Accuracy after pruning one group at a time: ``{group: {amount: evaluate(pruned model)}}``.

    Each entry removes ``amount`` of that group's channels (lowest ``scores`` first) and nothing else,
    without fine-tuning, so it shows how much each group can lose on its own.
    """
    groups = dependency_groups(model, example_input)
    return {g.name: {a: evaluate(prune_channels(model, None, {g.name: a}, scores, groups=groups)) for a in amounts}
            for g in groups}


def _mac_fraction_removed(model: nn.Module, groups: list[DependencyGroup], example_input: torch.Tensor,
                          dense_macs: int, amounts: float | Mapping[str, float], scores: Mapping[str, torch.Tensor]) -> float:
    pruned = prune_channels(model, None, amounts, scores, groups=groups)
    return 1 - measure.count_macs(pruned, example_input) / dense_macs


def ratios_from_sensitivity(model: nn.Module, example_input: torch.Tensor, scores: Mapping[str, torch.Tensor],
                            scan: Mapping[str, Mapping[float, float]], baseline: float,
                            macs_removed: float) -> dict[str, float]:
    """Per-group fractions that remove at least ``macs_removed`` of the MACs, guided by a sensitivity scan.

    For a threshold t, group g gets r_g(t) = the largest scanned amount a with baseline − acc_g(a) ≤ t
    (0 if none). r_g(t) grows with t, so the MACs removed do too; the smallest t among the scanned
    drops that reaches the budget is chosen. Raises ``ValueError`` if even the largest ratios fall short.
    """
    if not 0 < macs_removed < 1:
        raise ValueError(f"macs_removed must be a fraction in (0, 1), got {macs_removed}")
    dense_macs = measure.count_macs(model, example_input)
    groups = dependency_groups(model, example_input)
    thresholds = sorted({max(baseline - acc, 0.0) for accs in scan.values() for acc in accs.values()})
    best = 0.0
    for t in thresholds:
        ratios = {g: max([a for a, acc in accs.items() if baseline - acc <= t], default=0.0) for g, accs in scan.items()}
        removed = _mac_fraction_removed(model, groups, example_input, dense_macs, ratios, scores)
        if removed >= macs_removed:
            return ratios
        best = max(best, removed)
    raise ValueError(f"macs_removed={macs_removed} is out of reach: the scanned ratios remove at most {best:.3f} of the MACs")


def uniform_amount_for_macs(model: nn.Module, example_input: torch.Tensor, scores: Mapping[str, torch.Tensor],
                            macs_removed: float, resolution: float = 1e-3) -> float:
    """The smallest uniform fraction (to ``resolution``) whose pruning removes at least ``macs_removed`` of the MACs.

    Bisection on the fraction: the MACs removed grow with it (in steps, as channel counts are integers).
    """
    if not 0 < macs_removed < 1:
        raise ValueError(f"macs_removed must be a fraction in (0, 1), got {macs_removed}")
    dense_macs = measure.count_macs(model, example_input)
    groups = dependency_groups(model, example_input)
    smallest = min(g.size for g in groups)
    low, high = 0.0, 1 - 1 / smallest  # high: keep at least one unit of the narrowest group (rounding down)
    if _mac_fraction_removed(model, groups, example_input, dense_macs, high, scores) < macs_removed:
        raise ValueError(f"macs_removed={macs_removed} is out of reach with a uniform fraction")
    while high - low > resolution:
        middle = (low + high) / 2
        if _mac_fraction_removed(model, groups, example_input, dense_macs, middle, scores) >= macs_removed:
            high = middle
        else:
            low = middle
    return high
