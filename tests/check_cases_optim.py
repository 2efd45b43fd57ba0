"""Right and wrong answers for chapter 3.1's self-checks (run by tests/test_checks.py)."""
import math

import torch

from companion.checks import optim as checks


def momentum_right(weight, grad, buffer, lr, momentum):
    buffer = grad.clone() if buffer is None else momentum * buffer + grad
    return weight - lr * buffer, buffer


def momentum_wrong(weight, grad, buffer, lr, momentum):  # an exponential average (1 - μ)g: not PyTorch's rule
    buffer = grad.clone() if buffer is None else momentum * buffer + (1 - momentum) * grad
    return weight - lr * buffer, buffer


def cosine_right(step, base_lr, total_steps, eta_min):
    return eta_min + (base_lr - eta_min) * (1 + math.cos(math.pi * step / total_steps)) / 2


def cosine_wrong(step, base_lr, total_steps, eta_min):  # forgets eta_min
    return base_lr * (1 + math.cos(math.pi * step / total_steps)) / 2


def clip_right(grads, max_norm):
    norm = torch.cat([g.flatten() for g in grads]).norm()
    return [g * min(1.0, max_norm / (float(norm) + 1e-6)) for g in grads]


def clip_wrong(grads, max_norm):  # clips each tensor by its own norm
    return [g * min(1.0, max_norm / (float(g.norm()) + 1e-6)) for g in grads]


CASES = [(checks.check_momentum_step, momentum_right, momentum_wrong),
                   (checks.check_cosine_lr, cosine_right, cosine_wrong),
                   (checks.check_clip_grad_norm, clip_right, clip_wrong)]
