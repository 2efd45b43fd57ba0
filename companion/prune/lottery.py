"""Lottery tickets (Frankle & Carbin 2019): iterative magnitude pruning with rewinding.

Train a dense network from its initialisation θ₀, prune a fraction p of the smallest-magnitude
weights still left, **rewind** the surviving weights to θ₀ (or to θ_k, their values after k training
steps: Frankle et al. 2020's "late rewinding"), train again, and repeat. After r rounds a fraction
(1 − p)^r of the weights remains. The mask together with θ₀ is a *winning ticket* when, trained alone,
it matches the dense network. The control keeps the masks but draws fresh random weights: if the
ticket only worked because of its structure, that control would match it too.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ..layers import WEIGHT_LAYERS
from .masks import apply_mask, get_mask, weight_sparsity
from .schedules import prune_to

__all__ = ["snapshot", "rewind_", "masks_of", "apply_masks_", "TicketRound", "find_ticket", "train_with_masks"]


def _plain_name(name: str) -> str:
    return name[: -len("_orig")] if name.endswith("_orig") else name


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of every parameter and buffer (masks excluded), keyed by its unpruned name (``fc1.weight``)."""
    state = {_plain_name(k): v.detach().clone() for k, v in model.named_parameters()}
    state.update({k: v.detach().clone() for k, v in model.named_buffers() if not k.endswith("_mask")})
    return state


def rewind_(model: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module:
    """Copy ``state`` (from :func:`snapshot`) back into ``model`` in place; masks are left as they are.

    A pruned weight's values go to ``weight_orig``, so pruned entries stay pruned.
    """
    targets = {_plain_name(k): v for k, v in model.named_parameters()}
    targets.update({k: v for k, v in model.named_buffers() if not k.endswith("_mask")})
    if set(targets) != set(state):
        raise ValueError(f"state does not fit the model: missing {sorted(set(targets) - set(state))}, "
                         f"unexpected {sorted(set(state) - set(targets))}")
    with torch.no_grad():
        for key, tensor in targets.items():
            tensor.copy_(state[key])
    return model


def masks_of(model: nn.Module) -> dict[str, torch.Tensor]:
    """The weight mask of every Linear/Conv layer, keyed by layer name (all ones where unpruned)."""
    return {name: get_mask(module) for name, module in model.named_modules() if isinstance(module, WEIGHT_LAYERS)}


def apply_masks_(model: nn.Module, masks: dict[str, torch.Tensor]) -> nn.Module:
    """Prune ``model`` in place with the layer masks of :func:`masks_of` (of the same architecture)."""
    for name, mask in masks.items():
        apply_mask(model.get_submodule(name), "weight", mask)
    return model


@dataclass(frozen=True)
class TicketRound:
    """One round of iterative magnitude pruning: the weights left, the trained accuracy, the masks."""

    round: int
    weight_fraction: float  # fraction of prunable weights not pruned, (1 − p)^round
    accuracy: float
    masks: dict


def find_ticket(build: Callable[[], nn.Module], train: Callable[[nn.Module, Callable], None],
                evaluate: Callable[[nn.Module], float], rounds: int, rate: float = 0.2,
                rewind_step: int = 0, scope: str = "global") -> list[TicketRound]:
    """Iterative magnitude pruning with rewinding; returns round 0 (dense) to round ``rounds``.

    ``build()`` returns a freshly initialised model (seed it inside for a reproducible θ₀);
    ``train(model, after_step)`` trains it in place and calls ``after_step(model, step)`` after each
    optimizer step (``companion.train.fit`` does); ``evaluate(model)`` returns an accuracy. Each round
    prunes ``rate`` of the remaining weights (``scope`` 'global' or 'layer'), rewinds the survivors to
    their values at step ``rewind_step`` (0: the initialisation) and retrains.
    """
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds must be an int ≥ 1, got {rounds!r}")
    if not 0.0 < rate < 1.0:
        raise ValueError(f"rate must be in (0, 1), got {rate}")
    if isinstance(rewind_step, bool) or not isinstance(rewind_step, int) or rewind_step < 0:
        raise ValueError(f"rewind_step must be an int ≥ 0, got {rewind_step!r}")
    targets = [1.0 - (1.0 - rate) ** r for r in range(1, rounds + 1)]
    model = build()
    saved: dict[str, dict] = {}
    if rewind_step == 0:
        saved["state"] = snapshot(model)

    def remember(net: nn.Module, step: int) -> None:
        if step == rewind_step:
            saved["state"] = snapshot(net)

    train(model, remember)
    if "state" not in saved:
        raise ValueError(f"rewind_step={rewind_step} is past the last training step")
    history = [TicketRound(0, 1.0, float(evaluate(model)), masks_of(model))]
    pairs = [(m, "weight") for m in model.modules() if isinstance(m, WEIGHT_LAYERS)]
    for r, target in enumerate(targets, start=1):
        prune_to(pairs, target, scope)
        rewind_(model, saved["state"])
        train(model, lambda net, step: None)
        history.append(TicketRound(r, 1.0 - weight_sparsity(pairs), float(evaluate(model)), masks_of(model)))
    return history


def train_with_masks(build: Callable[[], nn.Module], masks: dict[str, torch.Tensor],
                     train: Callable[[nn.Module, Callable], None], evaluate: Callable[[nn.Module], float]) -> float:
    """Train a freshly built model under fixed ``masks`` and return its accuracy.

    With ``build`` seeded differently from the ticket's, this is the random re-initialisation control.
    """
    model = apply_masks_(build(), masks)
    train(model, lambda net, step: None)
    return float(evaluate(model))
