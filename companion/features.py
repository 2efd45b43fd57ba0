"""Log-mel spectrograms from scratch: a Hann window, ``torch.stft`` and a hand-built mel filterbank.

The mel scale is the **HTK** formula (Young et al., *The HTK Book*), m(f) = 2595·log₁₀(1 + f/700),
with inverse f(m) = 700·(10^(m/2595) − 1). A filterbank of ``n_mels`` triangles puts n_mels + 2 points
equally spaced in mel between f_min and f_max; triangle j rises linearly in Hz from point j to its
peak of 1 at point j + 1 (its centre) and falls to 0 at point j + 2. Neighbouring triangles cross at
1/2, and between the first and the last centre the filters sum to 1 (a partition of unity): every
frequency's energy is shared between the two bands around it. (Slaney's variant, librosa's default,
also divides each triangle by its width so that each has the same area; this book does not.)

A log-mel spectrogram of a waveform x (sample rate f_s) is

    X[t, k] = Σ_n x[t·hop + n]·w[n]·e^(−2πi·k·n/N_fft)     (STFT with Hann window w, centred frames)
    P[t, k] = |X[t, k]|²                                   (power)
    L[t, j] = log(Σ_k H[j, k]·P[t, k] + ε)                 (natural log of mel-band energy)

with H the filterbank sampled at the FFT bin frequencies k·f_s/N_fft.
"""
from __future__ import annotations

import math

import torch

__all__ = ["hz_to_mel", "mel_to_hz", "hann_window", "mel_filterbank", "log_mel_spectrogram"]


def hz_to_mel(f: torch.Tensor | float) -> torch.Tensor:
    """HTK mel scale: m = 2595·log₁₀(1 + f/700), f in Hz."""
    return 2595.0 * torch.log10(1.0 + torch.as_tensor(f, dtype=torch.float64) / 700.0)


def mel_to_hz(m: torch.Tensor | float) -> torch.Tensor:
    """Inverse of :func:`hz_to_mel`: f = 700·(10^(m/2595) − 1), in Hz."""
    return 700.0 * (torch.pow(10.0, torch.as_tensor(m, dtype=torch.float64) / 2595.0) - 1.0)


def hann_window(length: int) -> torch.Tensor:
    """Periodic Hann window w[n] = 0.5 − 0.5·cos(2πn/L), n = 0 … L − 1 (the DFT-even form STFTs use)."""
    if length < 1:
        raise ValueError(f"length must be a positive number of samples, got {length}")
    n = torch.arange(length, dtype=torch.float64)
    return (0.5 - 0.5 * torch.cos(2 * math.pi * n / length)).float()


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int, f_min: float = 0.0, f_max: float | None = None) -> torch.Tensor:
    """Triangular HTK mel filters, shape (n_mels, n_fft // 2 + 1), each with a peak of 1 at its centre.

    H[j, k] = max(0, min((f_k − p_j)/(p_{j+1} − p_j), (p_{j+2} − f_k)/(p_{j+2} − p_{j+1}))), where
    f_k = k·f_s/N_fft and p_0 < … < p_{n_mels+1} are equally spaced in mel from f_min to f_max.
    """
    f_max = sample_rate / 2 if f_max is None else f_max
    if n_mels < 1 or n_fft < 2 or sample_rate <= 0:
        raise ValueError(f"n_mels ≥ 1, n_fft ≥ 2 and sample_rate > 0 are needed, got {n_mels}, {n_fft}, {sample_rate}")
    if not 0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(f"need 0 ≤ f_min < f_max ≤ sample_rate/2 = {sample_rate / 2} Hz, got f_min={f_min}, f_max={f_max}")
    points = mel_to_hz(torch.linspace(float(hz_to_mel(f_min)), float(hz_to_mel(f_max)), n_mels + 2, dtype=torch.float64))
    bins = torch.arange(n_fft // 2 + 1, dtype=torch.float64) * sample_rate / n_fft
    left, centre, right = points[:-2, None], points[1:-1, None], points[2:, None]
    rising = (bins - left) / (centre - left)
    falling = (right - bins) / (right - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0.0).float()


def log_mel_spectrogram(waveform: torch.Tensor, sample_rate: int = 16_000, n_fft: int = 512, win_length: int = 480,
                        hop_length: int = 320, n_mels: int = 40, f_min: float = 20.0, f_max: float | None = 7600.0,
                        eps: float = 1e-6) -> torch.Tensor:
    """L[..., t, j] = log(Σ_k H[j, k]·|STFT(x)[t, k]|² + ε) for waveforms of shape (..., samples).

    Defaults: 30 ms Hann windows every 20 ms at 16 kHz (a 512-point FFT), 40 HTK mel bands from 20 Hz
    to 7.6 kHz, centred frames: one second gives 1 + 16000/320 = 51 frames. Returns (..., frames, n_mels).
    """
    if waveform.dim() < 1 or waveform.shape[-1] < n_fft // 2 + 1:
        raise ValueError(f"waveform must have at least n_fft/2 + 1 = {n_fft // 2 + 1} samples in its last dimension, "
                         f"got shape {tuple(waveform.shape)}")
    if not 0 < win_length <= n_fft or hop_length < 1:
        raise ValueError(f"need 0 < win_length ≤ n_fft and hop_length ≥ 1, got {win_length}, {n_fft}, {hop_length}")
    batch_shape = waveform.shape[:-1]
    flat = waveform.reshape(-1, waveform.shape[-1]).float()
    spectrum = torch.stft(flat, n_fft, hop_length=hop_length, win_length=win_length, window=hann_window(win_length),
                          center=True, pad_mode="reflect", return_complex=True)            # (B, bins, frames)
    power = spectrum.real ** 2 + spectrum.imag ** 2
    mel = mel_filterbank(n_mels, n_fft, sample_rate, f_min, f_max) @ power                   # (B, n_mels, frames)
    return torch.log(mel + eps).transpose(1, 2).reshape(*batch_shape, -1, n_mels)

