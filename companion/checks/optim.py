"""Self-checks for chapter 3.1 (Weight optimization): a momentum step, a cosine schedule, gradient clipping."""
from __future__ import annotations

import torch

from .. import optim
from . import assert_close, assert_equal, assert_unchanged, exercise, snapshot

__all__ = ["check_momentum_step", "check_cosine_lr", "check_clip_grad_norm"]


def _reference_momentum_step(weight, grad, buffer, lr, momentum):
    param = weight.clone().requires_grad_(True)
    param.grad = grad.clone()
    sgd = optim.SGD([param], lr=lr, momentum=momentum)
    if buffer is not None:
        sgd.state[param]["momentum_buffer"] = buffer.clone()
    sgd.step()
    return param.detach(), sgd.state[param]["momentum_buffer"]


@exercise
def check_momentum_step(momentum_step) -> None:
    """``momentum_step(weight, grad, buffer, lr, momentum)`` → ``(new_weight, new_buffer)``; ``buffer`` is None at first."""
    torch.manual_seed(0)
    weight, grad, buffer = torch.randn(5), torch.randn(5), torch.randn(5)
    cases = [(weight, grad, None, 0.1, 0.9), (weight, grad, buffer, 0.1, 0.9), (weight, grad, buffer, 0.5, 0.99),
             (weight, -grad, buffer, 0.01, 0.5)]
    for w, g, b, lr, m in cases:
        inputs = (w.clone(), g.clone(), None if b is None else b.clone())
        copies = snapshot(inputs)
        got_weight, got_buffer = momentum_step(*inputs, lr, m)
        expected_weight, expected_buffer = _reference_momentum_step(w, g, b, lr, m)
        label = f"momentum_step(lr={lr}, momentum={m}, buffer={'None' if b is None else 'given'})"
        assert_unchanged(label, ("weight", "grad", "buffer"), inputs, copies)
        for name, got in (("new weight", got_weight), ("new buffer", got_buffer)):
            if not isinstance(got, torch.Tensor):
                raise AssertionError(f"{label}: {name} must be a tensor, got {type(got).__name__}")
            assert_equal(f"{label}: dtype of the {name}", got.dtype, w.dtype)
        assert_close(f"{label}: new buffer", got_buffer, expected_buffer)
        assert_close(f"{label}: new weight", got_weight, expected_weight)


@exercise
def check_cosine_lr(cosine_lr) -> None:
    """``cosine_lr(step, base_lr, total_steps, eta_min)`` → the cosine-annealed learning rate at ``step``."""
    for step, base_lr, total, eta_min in [(0, 0.1, 10, 0.0), (5, 0.1, 10, 0.0), (10, 0.1, 10, 0.0),
                                          (3, 1.0, 7, 0.05), (20, 0.5, 40, 0.001), (40, 0.5, 40, 0.001)]:
        expected = optim.cosine_lr(step, base_lr, total_steps=total, eta_min=eta_min)
        assert_close(f"cosine_lr({step}, {base_lr}, {total}, {eta_min})", cosine_lr(step, base_lr, total, eta_min),
                     expected, atol=1e-9)


@exercise
def check_clip_grad_norm(clip_grad_norm) -> None:
    """``clip_grad_norm(grads, max_norm)`` → new gradient tensors whose joint L2 norm is at most ``max_norm``."""
    torch.manual_seed(0)
    grads = [torch.randn(4, 3), torch.randn(3)]
    for max_norm in (0.1, 1.0, 100.0):
        params = [torch.zeros_like(g, requires_grad=True) for g in grads]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        torch.nn.utils.clip_grad_norm_(params, max_norm)
        inputs = [g.clone() for g in grads]
        label = f"clip_grad_norm(max_norm={max_norm})"
        got = clip_grad_norm(inputs, max_norm)
        assert_unchanged(label, [f"grads[{i}]" for i in range(len(grads))], inputs, grads)
        if len(got) != len(grads):
            raise AssertionError(f"{label}: expected {len(grads)} tensors, got {len(got)}")
        for i, (g, p) in enumerate(zip(got, params)):
            if not isinstance(g, torch.Tensor):
                raise AssertionError(f"{label}: gradient {i} must be a tensor, got {type(g).__name__}")
            assert_equal(f"{label}: dtype of gradient {i}", g.dtype, p.grad.dtype)
            assert_close(f"{label}: gradient {i}", g, p.grad, atol=1e-6)
