"""Knowledge distillation (Hinton, Vinyals & Dean 2015): a student learns from a teacher's soft outputs.

With student logits z_s, teacher logits z_t (B examples × C classes), labels y, a temperature T > 0
and a weight α ∈ [0, 1]:

    p_t = softmax(z_t / T),   log q_s = log_softmax(z_s / T)
    KL_T(z_t ‖ z_s) = (1/B) Σ_b Σ_c p_t[b, c] · (log p_t[b, c] − log q_s[b, c])     (nats per example)
    L = (1 − α) · CE(z_s, y) + α · T² · KL_T

The factor T² keeps the soft term's gradients at the scale of the hard term's as T grows (the
gradient of KL_T with respect to z_s is (q_s − p_t) / T per example). :func:`distill` trains a
student with this loss, using the book's recipe (Adam, cosine-decayed learning rate, as
:func:`companion.train.finetune`); with α = 0 it is plain fine-tuning on the labels.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader

from .train import choose_device, seed_everything

__all__ = ["soft_kl", "distillation_loss", "distill"]


def _check_logits(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> None:
    for name, value in (("student_logits", student_logits), ("teacher_logits", teacher_logits)):
        if not isinstance(value, torch.Tensor) or value.dim() != 2 or not value.is_floating_point():
            raise TypeError(f"{name} must be a 2-D float tensor (examples × classes), got "
                            f"{getattr(value, 'shape', type(value).__name__)}")
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student_logits {tuple(student_logits.shape)} and teacher_logits "
                         f"{tuple(teacher_logits.shape)} must have the same shape")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
        raise ValueError(f"temperature must be a number > 0, got {temperature!r}")


def soft_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL_T(z_t ‖ z_s): the teacher's softened distribution against the student's, nats per example.

    Not multiplied by T² (:func:`distillation_loss` does that). Differentiable in ``student_logits``.
    """
    _check_logits(student_logits, teacher_logits, temperature)
    log_p_teacher = F.log_softmax(teacher_logits / temperature, dim=1)
    log_q_student = F.log_softmax(student_logits / temperature, dim=1)
    per_example = (log_p_teacher.exp() * (log_p_teacher - log_q_student)).sum(dim=1)
    return per_example.mean()


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
                      temperature: float = 4.0, alpha: float = 0.9) -> torch.Tensor:
    """L = (1 − α) · CE(z_s, y) + α · T² · KL_T(z_t ‖ z_s), mean over the batch (nats per example)."""
    _check_logits(student_logits, teacher_logits, temperature)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}")
    if not isinstance(labels, torch.Tensor) or labels.shape != student_logits.shape[:1]:
        raise ValueError(f"labels must be a tensor of {student_logits.shape[0]} class indices, got "
                         f"{getattr(labels, 'shape', type(labels).__name__)}")
    hard = F.cross_entropy(student_logits, labels)
    soft = soft_kl(student_logits, teacher_logits, temperature)
    return (1 - alpha) * hard + alpha * temperature ** 2 * soft


def distill(student: nn.Module, teacher: nn.Module, train_loader: DataLoader, epochs: int, *,
            temperature: float = 4.0, alpha: float = 0.9, lr: float = 1e-3, seed: int | None = None,
            after_step: Callable[[nn.Module, int], None] | None = None,
            device: str | torch.device | None = None) -> list[dict]:
    """Train ``student`` in place on :func:`distillation_loss` against a frozen ``teacher``.

    Adam at ``lr``, cosine-decayed to 0 over ``epochs`` (the recipe of
    :func:`companion.train.finetune`); the teacher runs in eval mode without gradients on each batch.
    ``after_step(student, step)`` runs after every optimizer step. Returns one dict per epoch with
    ``epoch``, ``lr`` and ``train_loss`` (the mean of the batches' losses). The student ends in eval mode.
    """
    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be an integer ≥ 0, got {epochs!r}")
    if student is teacher:
        raise ValueError("student and teacher must be different modules (copy the teacher first)")
    if seed is not None:
        seed_everything(seed)
    device = choose_device(device)
    student.to(device)
    teacher.to(device).eval()
    optimizer = torch.optim.Adam([p for p in student.parameters() if p.requires_grad], lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs, 1))
    history, step = [], 0
    for epoch in range(1, epochs + 1):
        student.train()
        record, total, batches = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"]}, 0.0, 0
        for x, y in train_loader:
            x, y = x.to(device), y.to(device)
            with torch.no_grad():
                teacher_logits = teacher(x)
            loss = distillation_loss(student(x), teacher_logits, y, temperature, alpha)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            if after_step is not None:
                after_step(student, step)
            total, batches = total + loss.item(), batches + 1
        scheduler.step()
        record["train_loss"] = total / max(batches, 1)
        history.append(record)
    student.eval()
    return history
