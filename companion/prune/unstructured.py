"""Unstructured pruning: zero individual weights chosen by magnitude, by chance, by any score, or N:M.

Every function here prunes **in place** through :func:`companion.prune.masks.apply_mask` (PyTorch's
``weight_orig`` / ``weight_mask`` reparametrisation) and returns the module.

Amounts are **targets**: ``amount`` is the fraction (or count) of the tensor's entries that are pruned
*after* the call, counting the ones pruned before. Entries once pruned stay pruned, so a target below
the current sparsity is an error. On an unpruned tensor this is exactly PyTorch's ``amount``; on an
already pruned one PyTorch's layer-wise functions instead read ``amount`` as a fraction of the entries
still left (our target ``k₂`` after ``k₁`` pruned equals PyTorch's integer ``amount = k₂ − k₁``).
Ties between equal scores are broken by position: the lower flat index is pruned first.
"""
from __future__ import annotations

import numbers

import torch
from torch import nn

from .masks import amount_to_count, apply_mask, check_prunable, effective_weight, get_mask, smallest_mask

__all__ = ["prune_by_scores", "l1_unstructured", "random_unstructured", "global_magnitude", "nm_mask",
           "is_nm_sparse", "nm_prune", "nm_bits_per_weight"]


def _masked_scores(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Scores as float64 with already pruned entries at −∞, so they are always among the smallest."""
    return scores.detach().to(torch.float64).masked_fill(mask == 0, float("-inf"))


def _check_target(count: int, already: int, what: str) -> None:
    if count < already:
        raise ValueError(f"amount asks for {count} pruned entries of {what}, but {already} are pruned already; "
                         "masks never shrink, so the target must be at least the current sparsity")


def prune_by_scores(module: nn.Module, name: str, amount: float | int, scores: torch.Tensor) -> nn.Module:
    """Prune in place the ``amount`` of ``module.name`` with the smallest importance ``scores``.

    ``scores`` is any tensor shaped like the parameter (|w|, |w·∂L/∂w|, a random draw...): the
    ``round(amount × numel)`` entries with the lowest scores get mask 0, the rest mask 1.
    """
    check_prunable(module, name)
    mask = get_mask(module, name)
    if not isinstance(scores, torch.Tensor) or scores.shape != mask.shape:
        raise ValueError(f"scores must be a tensor of shape {tuple(mask.shape)}, got "
                         f"{tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__}")
    count = amount_to_count(amount, mask.numel())
    _check_target(count, int((mask == 0).sum()), f"{type(module).__name__}.{name}")
    return apply_mask(module, name, smallest_mask(_masked_scores(scores, mask), count))


def l1_unstructured(module: nn.Module, name: str = "weight", *, amount: float | int) -> nn.Module:
    """Magnitude pruning of one tensor, in place: zero the ``amount`` of entries with the smallest |w|."""
    check_prunable(module, name)
    return prune_by_scores(module, name, amount, effective_weight(module, name).abs())


def random_unstructured(module: nn.Module, name: str = "weight", *, amount: float | int,
                        generator: torch.Generator | None = None) -> nn.Module:
    """Random pruning of one tensor, in place: the baseline a pruning criterion has to beat.

    Scores are i.i.d. uniform draws (from ``generator`` when given), so every set of the same size
    is equally likely to be pruned among the entries not yet pruned.
    """
    check_prunable(module, name)
    shape = get_mask(module, name).shape
    return prune_by_scores(module, name, amount, torch.rand(shape, generator=generator))


def global_magnitude(parameters, amount: float | int, importance_scores: dict | None = None) -> None:
    """Global pruning, in place: one threshold over all ``(module, name)`` pairs in ``parameters``.

    The scores (|w| by default, or ``importance_scores[(module, name)]``) of every tensor are pooled,
    and the ``round(amount × Σ numel)`` smallest are pruned wherever they sit, so layers end up with
    different sparsities. Equal to ``prune.global_unstructured(parameters, prune.L1Unstructured, amount=…)``
    on unpruned tensors.
    """
    pairs = list(parameters)
    if not pairs:
        raise ValueError("parameters is empty: give at least one (module, name) pair")
    for pair in pairs:
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise TypeError(f"parameters must hold (module, name) pairs, got {pair!r}")
        check_prunable(*pair)
    if len({(id(m), n) for m, n in pairs}) != len(pairs):
        raise ValueError("parameters lists the same (module, name) pair twice")
    importance_scores = importance_scores or {}
    masks = [get_mask(m, n) for m, n in pairs]
    scores = []
    for (module, name), mask in zip(pairs, masks):
        score = importance_scores.get((module, name))
        score = effective_weight(module, name).abs() if score is None else score
        if score.shape != mask.shape:
            raise ValueError(f"importance score of {type(module).__name__}.{name} has shape {tuple(score.shape)}, "
                             f"expected {tuple(mask.shape)}")
        scores.append(_masked_scores(score, mask).flatten())
    pooled = torch.cat(scores)
    count = amount_to_count(amount, pooled.numel())
    _check_target(count, sum(int((mask == 0).sum()) for mask in masks), "the pooled parameters")
    pooled_mask = smallest_mask(pooled, count)
    for (module, name), mask, piece in zip(pairs, masks, torch.split(pooled_mask, [m.numel() for m in masks])):
        apply_mask(module, name, piece.view_as(mask))


def _check_nm(n: int, m: int) -> None:
    for label, value in (("n", n), ("m", m)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{label} must be an int, got {type(value).__name__}")
    if m < 1 or not 1 <= n <= m:
        raise ValueError(f"N:M sparsity keeps n of every m weights and needs 1 ≤ n ≤ m, got n={n}, m={m}")


def _groups(weight: torch.Tensor, m: int) -> torch.Tensor:
    """``weight`` as (out, in/m, m): consecutive groups of ``m`` along the input dimension."""
    if weight.dim() < 2:
        raise ValueError(f"N:M sparsity needs a weight with an input dimension (≥ 2 dims), got shape {tuple(weight.shape)}")
    flat = weight.reshape(weight.shape[0], -1)
    if flat.shape[1] % m:
        raise ValueError(f"the input dimension ({flat.shape[1]}) must be a multiple of m={m}")
    return flat.reshape(flat.shape[0], -1, m)


def nm_mask(weight: torch.Tensor, n: int = 2, m: int = 4) -> torch.Tensor:
    """Mask keeping the ``n`` largest |w| in every group of ``m`` consecutive weights along the input dimension.

    For a Linear weight (out, in) the groups are ``w[o, j·m : (j+1)·m]``; a Conv weight is read as
    (out, in·kh·kw). 2:4 is the pattern NVIDIA's sparse tensor cores execute at up to twice the dense
    throughput. Ties: the lower index in a group is pruned first.
    """
    _check_nm(n, m)
    groups = _groups(weight.detach(), m).abs()
    order = torch.sort(groups, dim=-1, stable=True).indices
    mask = torch.ones_like(groups, dtype=torch.float32)
    mask.scatter_(-1, order[..., : m - n], 0.0)
    return mask.reshape(weight.shape)


def is_nm_sparse(weight: torch.Tensor, n: int = 2, m: int = 4) -> bool:
    """Whether every group of ``m`` consecutive weights along the input dimension has at most ``n`` non-zeros."""
    _check_nm(n, m)
    return bool(((_groups(weight.detach(), m) != 0).sum(dim=-1) <= n).all())


def nm_prune(module: nn.Module, name: str = "weight", n: int = 2, m: int = 4) -> nn.Module:
    """N:M pruning of ``module.name`` in place (see :func:`nm_mask`); an earlier mask stays in force."""
    check_prunable(module, name)
    return apply_mask(module, name, nm_mask(effective_weight(module, name), n, m))


def nm_bits_per_weight(value_bits: int, n: int = 2, m: int = 4) -> float:
    """Stored bits per original weight of an N:M compressed matrix: (n/m) · (value_bits + ⌈log₂ m⌉).

    The hardware format keeps the ``n`` surviving values of every group of ``m`` and, for each, its
    position in the group as a ⌈log₂ m⌉-bit index: for 2:4 with 16-bit values, 9 bits per weight against
    16 dense (NVIDIA's sparse tensor cores store fp16/bf16 this way, 8-bit values likewise). ``value_bits``
    is a positive integer; ``n`` and ``m`` as for :func:`nm_mask`.
    """
    _check_nm(n, m)
    if isinstance(value_bits, bool) or not isinstance(value_bits, int) or value_bits < 1:
        raise ValueError(f"value_bits must be a positive integer, got {value_bits!r}")
    return n / m * (value_bits + (m - 1).bit_length())
