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
