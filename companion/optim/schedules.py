"""Learning-rate schedules as plain functions of the step, and a scheduler that applies any of them.

Every schedule is a function ``schedule(step, base_lr, **settings) -> lr`` of the step count
``step = 0, 1, 2, …`` (batches or epochs, whichever the scheduler is stepped on) and the optimizer's
initial learning rate ``base_lr``. Each equals the ``torch.optim.lr_scheduler`` class named in its
docstring (the tests check every step). :class:`FunctionLR` turns one into a scheduler for
``companion.train.fit(scheduler=..., scheduler_interval=...)``::

    scheduler = FunctionLR(optimizer, functools.partial(cosine_lr, total_steps=100))
"""
from __future__ import annotations

import bisect
import math
from typing import Callable, Sequence

import torch
from torch.optim.lr_scheduler import LRScheduler

__all__ = ["constant_lr", "step_lr", "multistep_lr", "exponential_lr", "cosine_lr", "warmup_cosine_lr",
           "one_cycle_lr", "one_cycle_momentum", "FunctionLR"]


def _check_step(step: int) -> None:
    if step < 0:
        raise ValueError(f"step must be ≥ 0, got {step}")


def _check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}")


def constant_lr(step: int, base_lr: float) -> float:
    """$\\eta_t = \\eta_0$: no schedule (the baseline the others are compared with)."""
    _check_step(step)
    return base_lr


def step_lr(step: int, base_lr: float, *, step_size: int, gamma: float = 0.1) -> float:
    """$\\eta_t = \\eta_0 \\gamma^{\\lfloor t / s \\rfloor}$: multiply by ``gamma`` every ``step_size`` steps (``StepLR``)."""
    _check_step(step)
    _check_positive("step_size", step_size)
    _check_positive("gamma", gamma)
    return base_lr * gamma ** (step // step_size)


def multistep_lr(step: int, base_lr: float, *, milestones: Sequence[int], gamma: float = 0.1) -> float:
    """$\\eta_t = \\eta_0 \\gamma^{\\#\\{m \\in M : m \\le t\\}}$: multiply by ``gamma`` at each milestone (``MultiStepLR``)."""
    _check_step(step)
    _check_positive("gamma", gamma)
    milestones = sorted(milestones)
    if any(m <= 0 for m in milestones):
        raise ValueError(f"milestones must be positive step counts, got {milestones}")
    return base_lr * gamma ** bisect.bisect_right(milestones, step)


def exponential_lr(step: int, base_lr: float, *, gamma: float) -> float:
    """$\\eta_t = \\eta_0 \\gamma^t$: multiply by ``gamma`` every step (``ExponentialLR``)."""
    _check_step(step)
    _check_positive("gamma", gamma)
    return base_lr * gamma ** step


def cosine_lr(step: int, base_lr: float, *, total_steps: int, eta_min: float = 0.0) -> float:
    """$\\eta_t = \\eta_{min} + \\tfrac12(\\eta_0 - \\eta_{min})(1 + \\cos(\\pi t / T))$ (``CosineAnnealingLR``, $T$ = ``T_max``).

    Falls from ``base_lr`` at $t = 0$ to ``eta_min`` at $t = T$ along half a cosine (Loshchilov &
    Hutter 2017, without restarts); past $T$ the cosine continues and the rate rises again, as in PyTorch.
    """
    _check_step(step)
    _check_positive("total_steps", total_steps)
    if eta_min < 0:
        raise ValueError(f"eta_min must be ≥ 0, got {eta_min}")
    return eta_min + (base_lr - eta_min) * (1 + math.cos(math.pi * step / total_steps)) / 2


def warmup_cosine_lr(step: int, base_lr: float, *, warmup_steps: int, total_steps: int,
                     start_factor: float = 0.01, eta_min: float = 0.0) -> float:
    """Linear warm-up from ``start_factor·base_lr`` to ``base_lr`` over ``warmup_steps``, then cosine to ``eta_min``.

    $$\\eta_t = \\begin{cases} \\eta_0\\,(f + (1 - f)\\,t / W) & t < W \\\\
      \\eta_{min} + \\tfrac12(\\eta_0 - \\eta_{min})(1 + \\cos(\\pi (t - W) / (T - W))) & t \\ge W \\end{cases}$$

    (``SequentialLR`` of ``LinearLR`` and ``CosineAnnealingLR`` with ``milestones=[W]``.) Warm-up keeps
    the first steps small while the randomly initialised network's gradients are large and erratic
    (Goyal et al. 2017).
    """
    _check_step(step)
    _check_positive("total_steps", total_steps)
    if not 0 <= warmup_steps < total_steps:
        raise ValueError(f"warmup_steps must be in [0, total_steps={total_steps}), got {warmup_steps}")
    if not 0 < start_factor <= 1:
        raise ValueError(f"start_factor must be in (0, 1], got {start_factor}")
    if step < warmup_steps:
        return base_lr * (start_factor + (1 - start_factor) * step / warmup_steps)
    return cosine_lr(step - warmup_steps, base_lr, total_steps=total_steps - warmup_steps, eta_min=eta_min)


def _check_one_cycle(step: int, total_steps: int, pct_start: float) -> None:
    _check_step(step)
    _check_positive("total_steps", total_steps)
    if not 0 < pct_start < 1:
        raise ValueError(f"pct_start must be in (0, 1), got {pct_start}")
    if pct_start * total_steps <= 1:
        raise ValueError(f"pct_start * total_steps must be > 1 (a warm-up of at least one step), "
                         f"got {pct_start} * {total_steps}")
    if step > total_steps:
        raise ValueError(f"step must be ≤ total_steps={total_steps}, got {step}")


def _one_cycle(step: int, total_steps: int, pct_start: float, start: float, middle: float, end: float) -> float:
    """Half a cosine from ``start`` to ``middle`` over steps 0…pT−1, then from ``middle`` to ``end`` at step T−1."""
    turn = pct_start * total_steps - 1
    if step <= turn:
        first, last, fraction = start, middle, step / turn
    else:
        first, last, fraction = middle, end, (step - turn) / (total_steps - 1 - turn)
    return last + (first - last) / 2 * (math.cos(math.pi * fraction) + 1)


def one_cycle_lr(step: int, base_lr: float, *, total_steps: int, pct_start: float = 0.3,
                 div_factor: float = 25.0, final_div_factor: float = 1e4) -> float:
    """Smith's one-cycle policy with peak ``base_lr`` (``OneCycleLR(max_lr=base_lr, anneal_strategy='cos')``).

    The rate rises along half a cosine from $\\eta_0/d$ to the peak $\\eta_0$ over the first
    ``pct_start`` of the ``total_steps``, then falls to $\\eta_0 / (d\\,d_f)$, with $d$ = ``div_factor``
    and $d_f$ = ``final_div_factor`` (Smith & Topin 2019). PyTorch's class also cycles the momentum
    the other way by default; :func:`one_cycle_momentum` is that half.
    """
    _check_one_cycle(step, total_steps, pct_start)
    _check_positive("div_factor", div_factor)
    _check_positive("final_div_factor", final_div_factor)
    initial_lr = base_lr / div_factor
    return _one_cycle(step, total_steps, pct_start, initial_lr, base_lr, initial_lr / final_div_factor)


def one_cycle_momentum(step: int, *, total_steps: int, pct_start: float = 0.3, base_momentum: float = 0.85,
                       max_momentum: float = 0.95) -> float:
    """The momentum of the one-cycle policy: down from ``max_momentum`` to ``base_momentum`` while the rate
    rises, back up while it falls (``OneCycleLR(cycle_momentum=True)``). Use it as
    ``FunctionLR(optimizer, partial(one_cycle_lr, ...), momentum_schedule=partial(one_cycle_momentum, ...))``.
    """
    _check_one_cycle(step, total_steps, pct_start)
    if not 0 <= base_momentum <= max_momentum < 1:
        raise ValueError(f"need 0 ≤ base_momentum ≤ max_momentum < 1, got base_momentum={base_momentum}, "
                         f"max_momentum={max_momentum}")
    return _one_cycle(step, total_steps, pct_start, max_momentum, base_momentum, max_momentum)


class FunctionLR(LRScheduler):
    """A scheduler that sets each parameter group's rate to ``schedule(step, base_lr)``.

    ``base_lr`` is the group's learning rate when the scheduler is created; ``step`` counts the
    scheduler's ``step()`` calls. Usable wherever a ``torch.optim.lr_scheduler`` scheduler is, e.g.
    ``fit(..., scheduler=FunctionLR(opt, partial(cosine_lr, total_steps=n)), scheduler_interval='batch')``.
    With ``momentum_schedule`` (a function of the step) it also sets each group's ``momentum``, as
    the one-cycle policy does.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, schedule: Callable[[int, float], float],
                 last_epoch: int = -1, momentum_schedule: Callable[[int], float] | None = None) -> None:
        if not callable(schedule):
            raise TypeError(f"schedule must be a callable schedule(step, base_lr), got {type(schedule).__name__}")
        if momentum_schedule is not None:
            if not callable(momentum_schedule):
                raise TypeError(f"momentum_schedule must be a callable momentum_schedule(step) or None, "
                                f"got {type(momentum_schedule).__name__}")
            if any("momentum" not in group for group in optimizer.param_groups):
                raise ValueError("momentum_schedule needs an optimizer with a 'momentum' setting (e.g. SGD)")
        self.schedule, self.momentum_schedule = schedule, momentum_schedule
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.momentum_schedule is not None:  # like OneCycleLR, move the momentum along with the rate
            momentum = self.momentum_schedule(self.last_epoch)
            for group in self.optimizer.param_groups:
                group["momentum"] = momentum
        return [self.schedule(self.last_epoch, base_lr) for base_lr in self.base_lrs]
