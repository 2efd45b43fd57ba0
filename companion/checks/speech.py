"""Self-checks for chapter 5.3 (keyword spotting on a device budget)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import features, speech
from . import assert_close, exercise

__all__ = ["check_mel_filterbank", "check_snr_gain", "check_depthwise_accumulator"]


@exercise
def check_mel_filterbank(mel_filterbank) -> None:
    """``mel_filterbank(n_mels, n_fft, sample_rate, f_min, f_max)`` → HTK triangles, (n_mels, n_fft//2 + 1)."""
    for n_mels, n_fft, sample_rate, f_min, f_max in ((10, 256, 8000, 0.0, 4000.0), (40, 512, 16000, 20.0, 7600.0),
                                                     (24, 1024, 22050, 100.0, 8000.0)):
        expected = features.mel_filterbank(n_mels, n_fft, sample_rate, f_min, f_max)
        got = torch.as_tensor(mel_filterbank(n_mels, n_fft, sample_rate, f_min, f_max), dtype=torch.float64)
        assert_close(f"mel_filterbank({n_mels}, {n_fft}, {sample_rate}, {f_min}, {f_max})", got, expected, atol=1e-5,
                     rtol=0)


@exercise
def check_snr_gain(snr_gain) -> None:
    """``snr_gain(signal_power, noise_power, snr_db)`` → the gain g with 10·log₁₀(P_s / (g²·P_n)) = SNR."""
    for signal_power, noise_power, snr_db in ((1.0, 1.0, 0.0), (0.04, 1.0, 10.0), (2.5, 0.3, 5.0), (0.01, 2.0, 20.0),
                                              (1.0, 1.0, -6.0)):
        assert_close(f"snr_gain({signal_power}, {noise_power}, {snr_db})", float(snr_gain(signal_power, noise_power, snr_db)),
                     speech.snr_gain(signal_power, noise_power, snr_db), rtol=1e-6, atol=0)


@exercise
def check_depthwise_accumulator(depthwise_accumulator) -> None:
    """``depthwise_accumulator(q_x, q_w, in_zero)`` → int32 Σ (q_x − Z_x)·q_w per channel, 3×3, zero padding of 1.

    ``q_x``: int8 codes (N, C, H, W); ``q_w``: int8 weights (C, 1, 3, 3); padding stands for real 0, so
    padded positions contribute nothing. The oracle is ``F.conv2d(..., groups=C)`` in float64.
    """
    generator = torch.Generator().manual_seed(0)
    for channels, height, width, in_zero in ((4, 5, 6, -3), (8, 7, 4, 12), (3, 3, 3, 0)):
        q_x = torch.randint(-128, 128, (2, channels, height, width), generator=generator, dtype=torch.int8)
        q_w = torch.randint(-127, 128, (channels, 1, 3, 3), generator=generator, dtype=torch.int8)
        expected = F.conv2d(q_x.double() - in_zero, q_w.double(), padding=1, groups=channels)
        got = torch.as_tensor(depthwise_accumulator(q_x.clone(), q_w.clone(), in_zero))
        what = f"depthwise_accumulator(q_x of shape {tuple(q_x.shape)}, in_zero={in_zero})"
        if got.dtype not in (torch.int32, torch.int64):
            raise AssertionError(f"{what}: accumulators must be integers (int32), got {got.dtype}")
        if got.shape != expected.shape:
            raise AssertionError(f"{what}: expected shape {tuple(expected.shape)}, got {tuple(got.shape)}")
        wrong = (got.double() != expected).nonzero()
        if len(wrong):
            index = tuple(wrong[0].tolist())
            raise AssertionError(f"{what}: accumulator at {index} is {int(got[index])}, expected {int(expected[index])}")
