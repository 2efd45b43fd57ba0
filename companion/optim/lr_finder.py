"""The learning-rate range test (Smith 2017): raise the rate every batch, record the loss, pick a rate.

Starting from ``start_lr``, the rate grows geometrically to ``end_lr`` over ``num_steps`` batches,
$\\eta_k = \\eta_{start} (\\eta_{end} / \\eta_{start})^{k / (n - 1)}$. The loss first barely moves (rate
too small), then falls fast, then blows up (rate too large). The loss curve is smoothed with an
exponential moving average (bias-corrected, as in Adam), and the suggested rate is the one where
the smoothed loss falls fastest per decade of rate: the steepest negative slope of loss against
$\\log_{10} \\eta$. The test stops early once the smoothed loss exceeds ``diverge_factor`` times its best.
"""
from __future__ import annotations

import copy
import itertools
import math
from typing import Callable, NamedTuple

import torch
from torch import nn
from torch.utils.data import DataLoader

from .sgd import SGD

__all__ = ["RangeTestResult", "lr_range_test"]


class RangeTestResult(NamedTuple):
    """Rates tried, raw and smoothed batch losses (nats), and the suggested rate."""

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    suggested_lr: float


def lr_range_test(model: nn.Module, loader: DataLoader, *, start_lr: float = 1e-4, end_lr: float = 10.0,
                  num_steps: int = 100, momentum: float = 0.9, smoothing: float = 0.05,
                  diverge_factor: float = 4.0, loss_fn: Callable | None = None) -> RangeTestResult:
    """Run the range test with :class:`~companion.optim.sgd.SGD` on a copy of ``model`` (``model`` is untouched).

    Batches are drawn from ``loader`` in order, cycling when it runs out. ``smoothing`` is the weight
    of the newest loss in the moving average.
    """
    if not 0 < start_lr < end_lr:
        raise ValueError(f"need 0 < start_lr < end_lr, got start_lr={start_lr}, end_lr={end_lr}")
    if num_steps < 3:
        raise ValueError(f"num_steps must be ≥ 3, got {num_steps}")
    if not 0 < smoothing <= 1:
        raise ValueError(f"smoothing must be in (0, 1], got {smoothing}")
    if not diverge_factor > 1:
        raise ValueError(f"diverge_factor must be > 1, got {diverge_factor}")
    loss_fn = loss_fn or nn.functional.cross_entropy
    trial = copy.deepcopy(model).train()
    device = next(trial.parameters()).device
    optimizer = SGD(trial.parameters(), lr=start_lr, momentum=momentum)
    ratio = end_lr / start_lr
    lrs, losses, smoothed = [], [], []
    average, best = 0.0, math.inf
    batches = itertools.cycle(loader)
    for k in range(num_steps):
        lr = start_lr * ratio ** (k / (num_steps - 1))
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = next(batches)
        optimizer.zero_grad()
        loss = loss_fn(trial(x.to(device)), y.to(device))
        loss.backward()
        optimizer.step()
        value = loss.item()
        average = (1 - smoothing) * average + smoothing * value
        debiased = average / (1 - (1 - smoothing) ** (k + 1))
        lrs.append(lr)
        losses.append(value)
        smoothed.append(debiased)
        best = min(best, debiased)
        if not math.isfinite(value) or debiased > diverge_factor * best:
            break
    if len(lrs) < 3:
        raise ValueError("the loss diverged within 3 steps: lower start_lr")
    log_lrs = torch.tensor(lrs).log10()
    slopes = torch.tensor(smoothed).diff() / log_lrs.diff()
    steepest = int(torch.argmin(slopes))
    return RangeTestResult(lrs, losses, smoothed, lrs[steepest])
