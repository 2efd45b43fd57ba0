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


def momentum_in_place(weight, grad, buffer, lr, momentum):  # right values, but edits buffer and weight in place
    if buffer is None:
        buffer = grad.clone()
    else:
        buffer.mul_(momentum).add_(grad)
    weight.sub_(lr * buffer)
    return weight, buffer


def momentum_float64(weight, grad, buffer, lr, momentum):  # right values in the wrong dtype
    new_weight, new_buffer = momentum_right(weight, grad, buffer, lr, momentum)
    return new_weight.double(), new_buffer.double()


def momentum_damped_first_step(weight, grad, buffer, lr, momentum):  # off by one: treats step 1 like the others
    buffer = momentum * (torch.zeros_like(grad) if buffer is None else buffer) + grad
    return weight - lr * momentum * buffer, buffer


def clip_in_place(grads, max_norm):  # right values, but scales the caller's tensors
    norm = torch.cat([g.flatten() for g in grads]).norm()
    for g in grads:
        g.mul_(min(1.0, max_norm / (float(norm) + 1e-6)))
    return grads


def clip_float64(grads, max_norm):
    return [g.double() for g in clip_right(grads, max_norm)]


def clip_always_rescale(grads, max_norm):  # forgets the min(1, ·): small gradients are scaled up
    norm = torch.cat([g.flatten() for g in grads]).norm()
    return [g * max_norm / (float(norm) + 1e-6) for g in grads]


# (check, adversarial wrong answer, what the rejection message must say)
ADVERSARIAL = [
    (checks.check_momentum_step, momentum_in_place, "modified in place"),
    (checks.check_momentum_step, momentum_float64, "dtype of the new weight"),
    (checks.check_momentum_step, momentum_damped_first_step, "new weight"),
    (checks.check_momentum_step, momentum_wrong, "new buffer"),
    (checks.check_cosine_lr, lambda step, base, total, eta_min: cosine_right(step + 1, base, total, eta_min),
     r"cosine_lr\(0, 0.1, 10, 0.0\)"),
    (checks.check_clip_grad_norm, clip_in_place, r"input 'grads\[0\]' was modified in place"),
    (checks.check_clip_grad_norm, clip_float64, "dtype of gradient 0"),
    (checks.check_clip_grad_norm, clip_always_rescale, r"max_norm=100.0\): gradient 0"),
    (checks.check_clip_grad_norm, lambda grads, max_norm: clip_right(grads, max_norm)[:1], "expected 2 tensors"),
]
