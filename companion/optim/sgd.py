"""Gradient descent from scratch: plain, momentum, Nesterov, dampening and L2 weight decay.

One step of :class:`SGD` on a parameter $w$ with gradient $g = \\nabla_w L$ (learning rate $\\eta$,
weight decay $\\lambda$, momentum $\\mu$, dampening $\\tau$):

$$
\\begin{aligned}
g &\\leftarrow g + \\lambda w                          && \\text{(L2 weight decay)} \\\\
b &\\leftarrow \\begin{cases} g & \\text{first step} \\\\ \\mu b + (1 - \\tau) g & \\text{after} \\end{cases}
                                                        && \\text{(momentum buffer)} \\\\
d &= \\begin{cases} g + \\mu b & \\text{Nesterov} \\\\ b & \\text{otherwise} \\end{cases} \\\\
w &\\leftarrow w - \\eta d
\\end{aligned}
$$

With $\\mu = 0$ the buffer is skipped and the step is plain gradient descent $w \\leftarrow w - \\eta g$.
The units of $\\eta$ are (parameter units)² per (loss unit): it converts a gradient into a step.
This is the update rule of ``torch.optim.SGD`` (Sutskever et al. 2013's formulation of momentum);
the tests prove the two trajectories agree.
"""
from __future__ import annotations

from typing import Callable, Iterable

import torch

__all__ = ["SGD", "descend"]


def _check_hyperparameters(lr: float, momentum: float, dampening: float, weight_decay: float,
                           nesterov: bool, maximize: bool) -> None:
    if not lr >= 0:
        raise ValueError(f"lr must be ≥ 0, got {lr}")
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum must be in [0, 1), got {momentum}")
    if not 0 <= dampening <= 1:
        raise ValueError(f"dampening must be in [0, 1], got {dampening}")
    if not weight_decay >= 0:
        raise ValueError(f"weight_decay must be ≥ 0, got {weight_decay}")
    if nesterov and (momentum == 0 or dampening != 0):
        raise ValueError(f"nesterov=True needs momentum > 0 and dampening = 0, got momentum={momentum}, "
                         f"dampening={dampening}")
    for name, flag in (("nesterov", nesterov), ("maximize", maximize)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be True or False, got {flag!r}")


class SGD(torch.optim.Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov momentum, dampening and weight decay.

    Written from the update rule in this module's docstring (it never calls ``torch.optim.SGD``).
    Each parameter's momentum buffer lives in ``self.state[p]["momentum_buffer"]``, the same key
    ``torch.optim.SGD`` uses. Works with any ``torch.optim.lr_scheduler`` scheduler, which changes
    ``param_groups[i]["lr"]`` between steps. ``maximize=True`` ascends instead: g is replaced by −g
    before the rule above, as in ``torch.optim.SGD``.

    Inputs and errors: ``lr`` ≥ 0, ``momentum`` in [0, 1), ``dampening`` in [0, 1], ``weight_decay`` ≥ 0
    and ``nesterov`` only with momentum > 0 and dampening 0, in the defaults and in every parameter
    group (``ValueError`` naming the argument); ``nesterov`` and ``maximize`` must be bools
    (``TypeError``). Sparse gradients and complex parameters are not supported (``TypeError`` at
    ``step``).
    """

    def __init__(self, params: Iterable[torch.Tensor] | Iterable[dict], lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False,
                 maximize: bool = False) -> None:
        _check_hyperparameters(lr, momentum, dampening, weight_decay, nesterov, maximize)
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)
        for group in self.param_groups:  # groups may override the defaults: check them too
            _check_hyperparameters(group["lr"], group["momentum"], group["dampening"], group["weight_decay"],
                                   group["nesterov"], group["maximize"])

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        """Update every parameter that has a gradient; return ``closure()``'s loss if a closure is given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
            weight_decay, nesterov = group["weight_decay"], group["nesterov"]
            maximize = group.get("maximize", False)  # absent from states saved before it existed
            for param in group["params"]:
                if param.grad is None:
                    continue
                if param.grad.is_sparse or param.is_complex():
                    raise TypeError("SGD here supports dense, real gradients only (got a sparse gradient or a "
                                    "complex parameter)")
                direction = -param.grad if maximize else param.grad
                if weight_decay != 0:
                    direction = direction.add(param, alpha=weight_decay)
                if momentum != 0:
                    state = self.state[param]
                    buffer = state.get("momentum_buffer")
                    if buffer is None:
                        buffer = direction.clone()
                        state["momentum_buffer"] = buffer
                    else:
                        buffer.mul_(momentum).add_(direction, alpha=1 - dampening)
                    direction = direction.add(buffer, alpha=momentum) if nesterov else buffer
                param.add_(direction, alpha=-lr)
        return loss


def descend(loss_fn: Callable[[torch.Tensor], torch.Tensor], start, steps: int,
            **sgd_options) -> torch.Tensor:
    """The path of :class:`SGD` minimising ``loss_fn(w)`` from ``start``: a ``(steps + 1, *start.shape)`` tensor.

    ``sgd_options`` are :class:`SGD`'s arguments (``lr``, ``momentum``, …). Row 0 is ``start``; the
    input is not modified. Used to draw trajectories on contour plots.
    """
    if steps < 0:
        raise ValueError(f"steps must be ≥ 0, got {steps}")
    weight = torch.tensor(start, dtype=torch.float64) if not isinstance(start, torch.Tensor) \
        else start.detach().clone().to(torch.float64)
    weight.requires_grad_(True)
    optimizer = SGD([weight], **sgd_options)
    path = [weight.detach().clone()]
    for _ in range(steps):
        optimizer.zero_grad()
        loss_fn(weight).backward()
        optimizer.step()
        path.append(weight.detach().clone())
    return torch.stack(path)
