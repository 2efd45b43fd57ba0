"""Right and wrong answers for chapter 5.3's self-checks (run by tests/test_checks.py)."""
import math

import torch
import torch.nn.functional as F

from companion.checks import speech as checks


def mel_filterbank_right(n_mels, n_fft, sample_rate, f_min, f_max):
    to_mel = lambda f: 2595 * math.log10(1 + f / 700)  # noqa: E731
    mels = torch.linspace(to_mel(f_min), to_mel(f_max), n_mels + 2, dtype=torch.float64)
    points = 700 * (10 ** (mels / 2595) - 1)
    bins = torch.arange(n_fft // 2 + 1, dtype=torch.float64) * sample_rate / n_fft
    rows = []
    for j in range(n_mels):
        left, centre, right = points[j], points[j + 1], points[j + 2]
        rows.append(torch.clamp(torch.minimum((bins - left) / (centre - left), (right - bins) / (right - centre)), min=0))
    return torch.stack(rows)


def mel_filterbank_linear_spacing(n_mels, n_fft, sample_rate, f_min, f_max):  # centres equally spaced in Hz
    points = torch.linspace(f_min, f_max, n_mels + 2, dtype=torch.float64)
    bins = torch.arange(n_fft // 2 + 1, dtype=torch.float64) * sample_rate / n_fft
    left, centre, right = points[:-2, None], points[1:-1, None], points[2:, None]
    return torch.clamp(torch.minimum((bins - left) / (centre - left), (right - bins) / (right - centre)), min=0)


def snr_gain_right(signal_power, noise_power, snr_db):
    return math.sqrt(signal_power / noise_power / 10 ** (snr_db / 10))


def snr_gain_amplitude_db(signal_power, noise_power, snr_db):  # treats the dB value as an amplitude ratio twice
    return math.sqrt(signal_power / noise_power) / 10 ** (snr_db / 10)


def depthwise_right(q_x, q_w, in_zero):
    padded = F.pad(q_x.to(torch.int32) - in_zero, (1, 1, 1, 1))
    n, c, h, w = q_x.shape
    acc = torch.zeros(n, c, h, w, dtype=torch.int32)
    for dy in range(3):
        for dx in range(3):
            acc += padded[:, :, dy:dy + h, dx:dx + w] * q_w[:, 0, dy, dx].to(torch.int32).reshape(1, c, 1, 1)
    return acc


def depthwise_pads_with_code_zero(q_x, q_w, in_zero):  # pads with code 0, which is real −S·Z, not real 0
    padded = F.pad(q_x.to(torch.int32), (1, 1, 1, 1)) - in_zero
    n, c, h, w = q_x.shape
    acc = torch.zeros(n, c, h, w, dtype=torch.int32)
    for dy in range(3):
        for dx in range(3):
            acc += padded[:, :, dy:dy + h, dx:dx + w] * q_w[:, 0, dy, dx].to(torch.int32).reshape(1, c, 1, 1)
    return acc


CASES = [
    (checks.check_mel_filterbank, mel_filterbank_right, mel_filterbank_linear_spacing),
    (checks.check_snr_gain, snr_gain_right, snr_gain_amplitude_db),
    (checks.check_depthwise_accumulator, depthwise_right, depthwise_pads_with_code_zero),
]
