"""Right and wrong answers for chapter 3.2's self-checks (run by tests/test_checks.py)."""
import math

import torch

from companion.checks import quant as checks


def scale_zero_point_right(lo, hi, qmin, qmax):
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / (qmax - qmin)
    return scale, int(min(max(qmin - round(lo / scale), qmin), qmax))


def scale_zero_point_no_zero(lo, hi, qmin, qmax):  # forgets to include 0 in the range
    scale = (hi - lo) / (qmax - qmin)
    return scale, int(min(max(qmin - round(lo / scale), qmin), qmax))


def per_channel_right(x, scale, zero, qmin, qmax, axis):
    shape = [1] * x.dim()
    shape[axis] = -1
    return torch.clamp(torch.round(x * (1 / scale.reshape(shape)) + zero.reshape(shape)), qmin, qmax).to(torch.int64)


def per_channel_no_clamp(x, scale, zero, qmin, qmax, axis):
    shape = [1] * x.dim()
    shape[axis] = -1
    return torch.round(x / scale.reshape(shape) + zero.reshape(shape))


def multiplier_right(m):
    mantissa, exponent = math.frexp(m)
    m0 = round(mantissa * 2 ** 31)
    if m0 == 2 ** 31:
        return m0 // 2, -exponent - 1
    return m0, -exponent


def multiplier_truncating(m):
    mantissa, exponent = math.frexp(m)
    return int(mantissa * 2 ** 31), -exponent


CASES = [
    (checks.check_scale_zero_point, scale_zero_point_right, scale_zero_point_no_zero),
    (checks.check_quantize_per_channel, per_channel_right, per_channel_no_clamp),
    (checks.check_quantize_multiplier, multiplier_right, multiplier_truncating),
]


def scale_zero_point_unrounded(lo, hi, qmin, qmax):  # the zero-point is a code: it must be rounded to an integer
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / (qmax - qmin)
    return scale, qmin - lo / scale


def scale_zero_point_off_by_one(lo, hi, qmin, qmax):  # counts qmax − qmin + 1 steps
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / (qmax - qmin + 1)
    return scale, int(min(max(qmin - round(lo / scale), qmin), qmax))


def per_channel_in_place(x, scale, zero, qmin, qmax, axis):
    shape = [1] * x.dim()
    shape[axis] = -1
    return torch.clamp(torch.round(x.div_(scale.reshape(shape)).add_(zero.reshape(shape))), qmin, qmax)


def per_channel_truncating(x, scale, zero, qmin, qmax, axis):
    shape = [1] * x.dim()
    shape[axis] = -1
    return torch.clamp(torch.trunc(x / scale.reshape(shape) + zero.reshape(shape)), qmin, qmax).to(torch.int64)


def per_channel_first_scale(x, scale, zero, qmin, qmax, axis):  # per-tensor: every slice uses channel 0's (S, Z)
    return torch.clamp(torch.round(x / scale[0] + zero[0]), qmin, qmax).to(torch.int64)


ADVERSARIAL = [
    (checks.check_scale_zero_point, scale_zero_point_unrounded, "zero-point .*expected a whole number"),
    (checks.check_scale_zero_point, scale_zero_point_off_by_one, "scale"),
    (checks.check_scale_zero_point, scale_zero_point_no_zero, r"scale_zero_point\(-5.0, -1.0, -128, 127\): scale"),
    (checks.check_quantize_per_channel, per_channel_in_place, "input 'x' was modified in place"),
    (checks.check_quantize_per_channel, per_channel_truncating, r"code at \(.*\) is"),
    (checks.check_quantize_per_channel, per_channel_first_scale, r"code at \(.*\) is"),
    (checks.check_quantize_per_channel, lambda *args: per_channel_right(*args).flatten(), "expected shape"),
    (checks.check_quantize_multiplier, lambda m: tuple(float(v) for v in multiplier_right(m)), "m0: expected a whole number"),
    (checks.check_quantize_multiplier, lambda m: (multiplier_right(m)[0] // 2, multiplier_right(m)[1] + 1), r"not in \[2\^30, 2\^31\)"),
    (checks.check_quantize_multiplier, multiplier_truncating, "m0: expected"),
]
