"""When to prune how much: one-shot, iterative (a constant fraction per round) and gradual (AGP).

A schedule gives the target sparsity s (fraction of the prunable weights that are zero) at each
round or training step; the pruning functions of :mod:`companion.prune.unstructured` then move the
model to that target, never un-pruning what is pruned.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from .masks import prunable_weights
from .unstructured import global_magnitude, l1_unstructured

__all__ = ["one_shot", "iterative", "agp_sparsity", "AGP", "GradualPruner", "prune_to"]


def _check_sparsity(value: float, name: str, upper_open: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a float, got {type(value).__name__}")
    if not (0.0 <= value < 1.0 if upper_open else 0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be in [0, {'1)' if upper_open else '1]'}, got {value}")


def _check_count(value: int, name: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int ≥ {minimum}, got {value!r}")


def one_shot(final: float) -> list[float]:
    """Prune straight to ``final`` in one round: ``[final]``."""
    _check_sparsity(final, "final")
    return [final]


def iterative(final: float, rounds: int) -> list[float]:
    """Targets of ``rounds`` rounds that each prune the same fraction p of the weights still left.

    After round r the remaining fraction is (1 − p)^r, so s_r = 1 − (1 − p)^r, and p = 1 − (1 − s)^(1/R)
    makes the last round land on ``final`` (Han et al. 2015; Frankle & Carbin 2019 use p = 0.2).
    """
    _check_sparsity(final, "final")
    _check_count(rounds, "rounds", 1)
    if final == 1.0:
        return [1.0] * rounds
    keep_per_round = (1.0 - final) ** (1.0 / rounds)
    return [1.0 - keep_per_round ** r for r in range(1, rounds + 1)]


def agp_sparsity(step: int, initial: float, final: float, start: int, n: int, interval: int) -> float:
    """Automated gradual pruning (Zhu & Gupta 2017): the target sparsity at training step ``step``.

    s_t = s_f + (s_i − s_f) · (1 − (t − t₀)/(n·Δt))³ for t₀ ≤ t ≤ t₀ + n·Δt, with s_t = s_i before t₀
    and s_f after: fast pruning while many redundant weights remain, slowing to zero at the end.
    Steps are optimizer steps; ``n`` is the number of pruning events, ``interval`` (Δt) the steps between them.
    """
    _check_sparsity(initial, "initial")
    _check_sparsity(final, "final")
    _check_count(start, "start", 0)
    _check_count(n, "n", 1)
    _check_count(interval, "interval", 1)
    progress = min(max((step - start) / (n * interval), 0.0), 1.0)
    return final + (initial - final) * (1.0 - progress) ** 3


@dataclass(frozen=True)
class AGP:
    """An AGP schedule: prune at steps t₀, t₀ + Δt, …, t₀ + nΔt towards ``final`` (see :func:`agp_sparsity`)."""

    final: float
    start: int
    n: int
    interval: int
    initial: float = 0.0

    def __post_init__(self):
        agp_sparsity(self.start, self.initial, self.final, self.start, self.n, self.interval)  # validates

    def sparsity(self, step: int) -> float:
        """Target sparsity at step ``step``."""
        return agp_sparsity(step, self.initial, self.final, self.start, self.n, self.interval)

    def is_pruning_step(self, step: int) -> bool:
        """Whether ``step`` is one of the n + 1 pruning events t₀ + kΔt, k = 0 … n."""
        offset = step - self.start
        return 0 <= offset <= self.n * self.interval and offset % self.interval == 0

    @property
    def end(self) -> int:
        """The last pruning step, t₀ + nΔt."""
        return self.start + self.n * self.interval


def prune_to(parameters, sparsity, scope: str = "global") -> None:
    """Magnitude-prune ``(module, name)`` pairs in place to a target ``sparsity``.

    ``scope='global'`` uses one threshold over all of them; ``'layer'`` gives each tensor the sparsity
    ``sparsity``, or ``sparsity[i]`` to the i-th pair when a sequence of per-layer targets is given.
    """
    if scope not in ("global", "layer"):
        raise ValueError(f"scope must be 'global' or 'layer', got {scope!r}")
    pairs = list(parameters)
    per_layer = isinstance(sparsity, (list, tuple))
    if per_layer and (scope != "layer" or len(sparsity) != len(pairs)):
        raise ValueError(f"per-layer sparsities need scope='layer' and one value per pair ({len(pairs)}), "
                         f"got scope={scope!r} and {len(sparsity)} values")
    if scope == "global":
        global_magnitude(pairs, sparsity)
    else:
        for i, (module, name) in enumerate(pairs):
            l1_unstructured(module, name, amount=sparsity[i] if per_layer else sparsity)


class GradualPruner:
    """A ``fit(after_step=...)`` hook that prunes a model along an :class:`AGP` schedule while it trains.

    At every pruning step it magnitude-prunes the model's Linear/Conv weights (or the given pairs) to
    ``schedule.sparsity(step)``; masked weights then stay zero through the remaining optimizer steps.
    ``schedule`` may also be a sequence of AGP schedules with the same steps, one per pair (each layer
    its own final sparsity, ``scope='layer'``).
    """

    def __init__(self, schedule: AGP | list[AGP], parameters=None, scope: str = "global"):
        schedules = list(schedule) if isinstance(schedule, (list, tuple)) else [schedule]
        if not schedules or not all(isinstance(s, AGP) for s in schedules):
            raise TypeError(f"schedule must be an AGP or a list of AGP schedules, got {schedule!r}")
        if scope not in ("global", "layer"):
            raise ValueError(f"scope must be 'global' or 'layer', got {scope!r}")
        if len(schedules) > 1:
            if scope != "layer" or parameters is None or len(list(parameters)) != len(schedules):
                raise ValueError("one AGP schedule per layer needs scope='layer' and one (module, name) pair per schedule")
            if len({(s.start, s.n, s.interval) for s in schedules}) != 1:
                raise ValueError("per-layer AGP schedules must share start, n and interval")
        self.schedules, self.scope = schedules, scope
        self.parameters = None if parameters is None else list(parameters)
        self.history: list[tuple[int, list[float]]] = []  # (step, target sparsities) of each pruning event

    def __call__(self, model: nn.Module, step: int) -> None:
        if self.schedules[0].is_pruning_step(step):
            targets = [s.sparsity(step) for s in self.schedules]
            pairs = self.parameters if self.parameters is not None else prunable_weights(model)
            prune_to(pairs, targets if len(targets) > 1 else targets[0], self.scope)
            self.history.append((step, targets))
