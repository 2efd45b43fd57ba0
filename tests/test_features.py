"""Log-mel features from scratch, against closed forms and against librosa."""
import math

import librosa
import numpy as np
import pytest
import torch

from companion.features import hann_window, hz_to_mel, log_mel_spectrogram, mel_filterbank, mel_to_hz


def test_htk_mel_scale_closed_form_and_inverse():
    assert float(hz_to_mel(0.0)) == 0.0
    assert abs(float(hz_to_mel(700.0)) - 2595 * math.log10(2)) < 1e-9
    assert abs(float(hz_to_mel(1000.0)) - 1000.0) < 0.1  # the mel scale's anchor: 1 kHz ≈ 1000 mel
    f = torch.linspace(0, 8000, 101, dtype=torch.float64)
    assert torch.allclose(mel_to_hz(hz_to_mel(f)), f, atol=1e-9)
    assert np.allclose(hz_to_mel(f).numpy(), librosa.hz_to_mel(f.numpy(), htk=True))


def test_hann_window_matches_torch_periodic_hann():
    assert torch.allclose(hann_window(480), torch.hann_window(480, periodic=True), atol=1e-7)
    with pytest.raises(ValueError, match="length"):
        hann_window(0)


def test_filters_peak_at_mel_spaced_centres():
    n_fft, sr, n_mels = 4096, 16000, 20
    bank = mel_filterbank(n_mels, n_fft, sr, 0.0, 8000.0)
    bins = torch.arange(n_fft // 2 + 1) * sr / n_fft
    points = mel_to_hz(torch.linspace(0, float(hz_to_mel(8000.0)), n_mels + 2))
    left, centres, right = points[:-2], points[1:-1], points[2:]
    peak = bank.argmax(dim=1)
    peak_freqs = bins[peak]
    assert torch.all((peak_freqs - centres).abs() <= sr / n_fft)  # within one FFT bin
    # The value there is the triangle's closed form: 1 − distance to the centre / the slope's width.
    width = torch.where(peak_freqs < centres, centres - left, right - centres)
    expected = 1 - (peak_freqs - centres).abs() / width
    assert torch.allclose(bank.max(dim=1).values.double(), expected, atol=1e-6) and torch.all(bank <= 1.0)
    # Centres are equally spaced in mel, so their spacing in Hz grows with frequency.
    assert torch.all(torch.diff(torch.diff(centres)) > 0)


def test_filters_form_a_partition_of_unity_between_the_first_and_last_centre():
    n_fft, sr, n_mels = 1024, 16000, 40
    bank = mel_filterbank(n_mels, n_fft, sr, 20.0, 7600.0)
    points = mel_to_hz(torch.linspace(float(hz_to_mel(20.0)), float(hz_to_mel(7600.0)), n_mels + 2))
    bins = torch.arange(n_fft // 2 + 1) * sr / n_fft
    inside = (bins >= points[1]) & (bins <= points[-2])
    assert torch.allclose(bank.sum(dim=0)[inside], torch.ones(int(inside.sum())), atol=1e-5)
    outside = (bins < points[0]) | (bins > points[-1])
    assert torch.all(bank[:, outside] == 0)


def test_a_pure_tone_lands_in_the_band_centred_nearest_to_it():
    sr, n_mels = 16000, 40
    centres = mel_to_hz(torch.linspace(float(hz_to_mel(20.0)), float(hz_to_mel(7600.0)), n_mels + 2))[1:-1]
    t = torch.arange(sr, dtype=torch.float64) / sr
    for band in (3, 17, 30):
        tone = torch.sin(2 * math.pi * float(centres[band]) * t)
        features = log_mel_spectrogram(tone, sample_rate=sr, n_fft=2048, win_length=2048, hop_length=512,
                                       n_mels=n_mels)
        assert features.shape == (1 + sr // 512, n_mels)
        assert int(features[5:-5].mean(dim=0).argmax()) == band


def test_filterbank_and_log_mels_match_librosa():
    for n_mels, n_fft, f_min, f_max in ((40, 512, 20.0, 7600.0), (20, 512, 0.0, 8000.0), (64, 2048, 50.0, 4000.0)):
        ours = mel_filterbank(n_mels, n_fft, 16000, f_min, f_max).numpy()
        reference = librosa.filters.mel(sr=16000, n_fft=n_fft, n_mels=n_mels, fmin=f_min, fmax=f_max, htk=True, norm=None)
        assert np.allclose(ours, reference, atol=1e-5), (n_mels, n_fft)
    x = torch.from_numpy(np.random.default_rng(0).standard_normal(16000).astype(np.float32))
    ours = log_mel_spectrogram(x, n_mels=20)
    power = librosa.feature.melspectrogram(y=x.numpy(), sr=16000, n_fft=512, win_length=480, hop_length=320,
                                           window="hann", center=True, pad_mode="reflect", power=2.0,
                                           n_mels=20, fmin=20.0, fmax=7600.0, htk=True, norm=None)
    assert np.allclose(ours.numpy(), np.log(power.T + 1e-6), atol=1e-3)


def test_bad_feature_arguments_are_rejected():
    with pytest.raises(ValueError, match="f_min"):
        mel_filterbank(10, 512, 16000, 9000.0, None)
    with pytest.raises(ValueError, match="n_mels"):
        mel_filterbank(0, 512, 16000)
    with pytest.raises(ValueError, match="at least"):
        log_mel_spectrogram(torch.zeros(100))
    with pytest.raises(ValueError, match="win_length"):
        log_mel_spectrogram(torch.zeros(16000), win_length=1024)
