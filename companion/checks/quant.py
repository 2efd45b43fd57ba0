"""Self-checks for chapter 3.2 (quantization to integers)."""
from __future__ import annotations

import torch

from ..quant import affine, fixed_point
from . import assert_close, assert_equal, assert_integer, assert_unchanged, exercise, snapshot

__all__ = ["check_scale_zero_point", "check_quantize_per_channel", "check_quantize_multiplier"]


@exercise
def check_scale_zero_point(scale_zero_point) -> None:
    """``scale_zero_point(min_val, max_val, qmin, qmax)`` → (S, Z) of the asymmetric mapping, as floats/ints."""
    cases = [(-1.2, 3.0, -128, 127), (0.0, 6.0, 0, 255), (-5.0, -1.0, -128, 127), (0.5, 2.0, -8, 7), (-0.3, 0.1, 0, 15)]
    for lo, hi, qmin, qmax in cases:
        scale, zero = affine.calc_qparams(lo, hi, qmin, qmax)
        got_scale, got_zero = scale_zero_point(lo, hi, qmin, qmax)
        what = f"scale_zero_point({lo}, {hi}, {qmin}, {qmax})"
        assert_close(f"{what}: scale", float(got_scale), float(scale), rtol=1e-5, atol=0)
        assert_integer(f"{what}: zero-point (a code, so a rounded integer)", got_zero)
        assert_equal(f"{what}: zero-point", int(got_zero), int(zero))


@exercise
def check_quantize_per_channel(quantize_per_channel) -> None:
    """``quantize_per_channel(x, scale, zero_point, qmin, qmax, axis)`` → integer codes, one (S, Z) per slice."""
    generator = torch.Generator().manual_seed(0)
    for shape, axis, (qmin, qmax) in [((6, 10), 0, (-128, 127)), ((4, 5, 3), 1, (0, 255)), ((3, 7), -1, (-8, 7))]:
        x = torch.randn(shape, generator=generator) * 2
        n = shape[axis]
        scale = torch.rand(n, generator=generator) * 0.1 + 0.02
        zero = torch.randint(qmin, qmax + 1, (n,), generator=generator).to(torch.int32)
        expected = affine.quantize(x, scale, zero, qmin, qmax, axis=axis)
        inputs = (x.clone(), scale.clone(), zero.clone())
        got = torch.as_tensor(quantize_per_channel(*inputs, qmin, qmax, axis))
        what = f"quantize_per_channel(x of shape {shape}, axis={axis}, range [{qmin}, {qmax}])"
        assert_unchanged(what, ("x", "scale", "zero_point"), inputs, (x, scale, zero))
        if got.shape != expected.shape:
            raise AssertionError(f"{what}: expected shape {tuple(expected.shape)}, got {tuple(got.shape)}")
        if got.is_floating_point() and not torch.equal(got, got.round()):
            raise AssertionError(f"{what}: codes must be integers, got {got.flatten()[:5].tolist()}…")
        wrong = (got.long() != expected.long()).nonzero()
        if len(wrong):
            index = tuple(wrong[0].tolist())
            raise AssertionError(f"{what}: code at {index} is {int(got[index])}, expected {int(expected[index])} "
                                 f"(x = {float(x[index]):.4f})")


@exercise
def check_quantize_multiplier(quantize_multiplier) -> None:
    """``quantize_multiplier(m)`` → (m0, n): integers with m ≈ m0 / 2³¹ · 2⁻ⁿ and 2³⁰ ≤ m0 < 2³¹."""
    for m in (0.5, 0.3, 0.0072, 1.0, 3.7, 1e-5, 0.99999999999):
        m0, shift = quantize_multiplier(m)
        ref_m0, ref_shift = fixed_point.quantize_multiplier(m)
        what = f"quantize_multiplier({m})"
        assert_integer(f"{what}: m0", m0)
        assert_integer(f"{what}: shift n", shift)
        if not 2 ** 30 <= int(m0) < 2 ** 31:
            raise AssertionError(f"{what}: m0 = {int(m0)} is not in [2^30, 2^31) (M₀ in [0.5, 1) as Q31)")
        assert_equal(f"{what}: shift n", int(shift), int(ref_shift))
        assert_equal(f"{what}: m0", int(m0), int(ref_m0))
