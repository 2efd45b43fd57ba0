"""Self-checks for chapter 7 (Summary and trends): FP8 casts, group-wise and 2:4 bit budgets,
the distillation loss."""
from __future__ import annotations

import torch

from ..distill import distillation_loss
from ..prune.unstructured import nm_bits_per_weight
from ..quant.fp8 import fp8_fake_quantize
from ..quant.lowbit import quantize_uniform
from ..quant.packing import packed_nbytes
from . import assert_close, assert_equal, assert_unchanged, exercise, snapshot

__all__ = ["check_fp8_roundtrip", "check_bits_per_weight", "check_nm_bits_per_weight", "check_distillation_loss"]


@exercise
def check_fp8_roundtrip(fp8_roundtrip) -> None:
    """``fp8_roundtrip(x, dtype)`` → S · fp8(x / S) in float32 with one scale S = max|x| / F_max."""
    torch.manual_seed(0)
    for dtype in (torch.float8_e4m3fn, torch.float8_e5m2):
        for x in (torch.randn(8, 16), torch.randn(50) * 1e-3, torch.tensor([0.1, -3.0, 7.5])):
            what = f"fp8_roundtrip of a tensor of shape {tuple(x.shape)} in {dtype}"
            expected, copies = fp8_fake_quantize(x, dtype), snapshot([x])
            got = fp8_roundtrip(x, dtype)
            assert_unchanged(what, ["x"], [x], copies)
            if not isinstance(got, torch.Tensor) or got.dtype != torch.float32:
                raise AssertionError(f"{what}: expected a float32 tensor, got {getattr(got, 'dtype', type(got))}")
            assert_close(what, got, expected, atol=1e-7, rtol=1e-6)


@exercise
def check_bits_per_weight(bits_per_weight) -> None:
    """``bits_per_weight(out, inp, bits, group_size)`` → stored bits per weight of a group-wise ``bits``-bit
    weight: packed codes plus a float32 scale and a uint8 zero-point per group of ``group_size`` inputs."""
    for out, inp, bits, group in [(300, 64, 4, 16), (100, 300, 4, 32), (10, 100, 3, 64), (384, 384, 4, 128)]:
        record = quantize_uniform(torch.randn(out, inp), bits, "group", group)
        expected = 8 * (packed_nbytes(out * inp, bits) + record.side_bytes()) / (out * inp)
        assert_close(f"bits_per_weight({out}, {inp}, {bits}, {group})", bits_per_weight(out, inp, bits, group), expected)


@exercise
def check_nm_bits_per_weight(bits_per_weight_nm) -> None:
    """``bits_per_weight_nm(value_bits, n, m)`` → stored bits per original weight of an N:M compressed
    matrix: the ``n`` kept values of every ``m`` plus a position index of ⌈log₂ m⌉ bits for each."""
    for value_bits, n, m in [(16, 2, 4), (8, 2, 4), (16, 1, 4), (8, 4, 8), (32, 1, 2)]:
        assert_close(f"bits_per_weight_nm({value_bits}, {n}, {m})", bits_per_weight_nm(value_bits, n, m),
                     nm_bits_per_weight(value_bits, n, m))


@exercise
def check_distillation_loss(kd_loss) -> None:
    """``kd_loss(student_logits, teacher_logits, labels, temperature, alpha)`` → the scalar
    (1 − α)·CE(z_s, y) + α·T²·KL(softmax(z_t/T) ‖ softmax(z_s/T)), both terms averaged over the batch."""
    generator = torch.Generator().manual_seed(0)
    for batch, classes, temperature, alpha in [(8, 10, 4.0, 0.5), (5, 3, 1.0, 1.0), (16, 4, 2.0, 0.0),
                                               (3, 6, 10.0, 0.9)]:
        student = torch.randn(batch, classes, generator=generator) * 3
        teacher = torch.randn(batch, classes, generator=generator) * 3
        labels = torch.randint(0, classes, (batch,), generator=generator)
        what = f"kd_loss on {batch} examples of {classes} classes, T = {temperature}, alpha = {alpha}"
        expected, copies = distillation_loss(student, teacher, labels, temperature, alpha), snapshot(
            [student, teacher, labels])
        got = kd_loss(student, teacher, labels, temperature, alpha)
        assert_unchanged(what, ["student_logits", "teacher_logits", "labels"], [student, teacher, labels], copies)
        if not isinstance(got, torch.Tensor) or got.dim() != 0:
            raise AssertionError(f"{what}: expected a scalar tensor, got {getattr(got, 'shape', type(got))}")
        assert_close(what, got, expected, atol=1e-5, rtol=1e-5)
