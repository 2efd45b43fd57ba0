"""Right and wrong answers for the self-checks of chapter 7 (run by tests/test_checks.py)."""
import math

import torch
from torch.nn import functional as F

from companion.checks import summary as checks


def fp8_roundtrip(x, dtype):
    scale = x.abs().max() / torch.finfo(dtype).max
    return (x / scale).to(dtype).float() * scale


def fp8_unscaled(x, dtype):
    return x.to(dtype).float()


def bits_per_weight(out, inp, bits, group):
    groups = math.ceil(inp / group)
    return (8 * math.ceil(out * inp * bits / 8) + 40 * out * groups) / (out * inp)


def bits_per_weight_nm(value_bits, n, m):
    return n / m * (value_bits + math.ceil(math.log2(m)))


def kd_loss(student, teacher, labels, temperature, alpha):
    soft = F.kl_div(F.log_softmax(student / temperature, 1), F.log_softmax(teacher / temperature, 1),
                    reduction="batchmean", log_target=True)
    return (1 - alpha) * F.cross_entropy(student, labels) + alpha * temperature ** 2 * soft


def kd_loss_without_t_squared(student, teacher, labels, temperature, alpha):
    return kd_loss(student, teacher, labels, temperature, alpha) - alpha * (temperature ** 2 - 1) * F.kl_div(
        F.log_softmax(student / temperature, 1), F.log_softmax(teacher / temperature, 1),
        reduction="batchmean", log_target=True)


CASES = [
    (checks.check_fp8_roundtrip, fp8_roundtrip, fp8_unscaled),
    (checks.check_bits_per_weight, bits_per_weight, lambda out, inp, bits, group: bits + 32 / group),
    (checks.check_nm_bits_per_weight, bits_per_weight_nm, lambda value_bits, n, m: n / m * value_bits),
    (checks.check_distillation_loss, kd_loss, kd_loss_without_t_squared),
]


def fp8_roundtrip_in_place(x, dtype):
    scale = x.abs().max() / torch.finfo(dtype).max
    return x.div_(scale).to(dtype).float().mul_(scale)


def fp8_roundtrip_per_row(x, dtype):
    rows = x.reshape(len(x), -1) if x.dim() > 1 else x.reshape(1, -1)
    scale = rows.abs().amax(dim=1, keepdim=True) / torch.finfo(dtype).max
    return ((rows / scale).to(dtype).float() * scale).reshape(x.shape)


ADVERSARIAL = [
    (checks.check_fp8_roundtrip, fp8_roundtrip_in_place, "modified in place"),
    (checks.check_fp8_roundtrip, fp8_roundtrip_per_row, r"shape \(8, 16\)"),   # one scale per row, not per tensor
    (checks.check_fp8_roundtrip, lambda x, dtype: fp8_roundtrip(x, dtype).to(dtype), "float32 tensor"),
    (checks.check_bits_per_weight,  # floor instead of ceiling: the last, partial group loses its scale
     lambda out, inp, bits, group: (8 * math.ceil(out * inp * bits / 8) + 40 * out * (inp // group)) / (out * inp),
     r"bits_per_weight\(100, 300, 4, 32\)"),
    (checks.check_nm_bits_per_weight,  # ⌈log₂ m⌉ + 1 index bits: one too many
     lambda value_bits, n, m: n / m * (value_bits + m.bit_length()), r"bits_per_weight_nm\(16, 2, 4\)"),
    (checks.check_distillation_loss,  # KL(student ‖ teacher): the arguments of kl_div swapped
     lambda s, t, y, T, a: (1 - a) * F.cross_entropy(s, y) + a * T ** 2 * F.kl_div(
         F.log_softmax(t / T, 1), F.log_softmax(s / T, 1), reduction="batchmean", log_target=True),
     r"T = 4.0, alpha = 0.5"),
    (checks.check_distillation_loss,  # the teacher left at temperature 1
     lambda s, t, y, T, a: (1 - a) * F.cross_entropy(s, y) + a * T ** 2 * F.kl_div(
         F.log_softmax(s / T, 1), F.log_softmax(t, 1), reduction="batchmean", log_target=True),
     r"T = 4.0, alpha = 0.5"),
    (checks.check_distillation_loss,  # the mean over classes too (kl_div's reduction="mean")
     lambda s, t, y, T, a: (1 - a) * F.cross_entropy(s, y) + a * T ** 2 * (
         F.softmax(t / T, 1) * (F.log_softmax(t / T, 1) - F.log_softmax(s / T, 1))).mean(),
     r"T = 4.0, alpha = 0.5"),
    (checks.check_distillation_loss,  # divides the student's logits in place
     lambda s, t, y, T, a: kd_loss(s.div_(1.0 + 1e-3), t, y, T, a), "modified in place"),
]
