"""Right and wrong answers for the self-checks of chapter 7 (run by tests/test_checks.py)."""
import math

import torch

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


CASES = [
    (checks.check_fp8_roundtrip, fp8_roundtrip, fp8_unscaled),
    (checks.check_bits_per_weight, bits_per_weight, lambda out, inp, bits, group: bits + 32 / group),
    (checks.check_nm_bits_per_weight, bits_per_weight_nm, lambda value_bits, n, m: n / m * value_bits),
]
