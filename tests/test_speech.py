"""Synthetic keyword data: determinism, the split by voice, a missing synthesiser, augmentation."""
import os
import shutil

import numpy as np
import pytest

from companion import speech

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("flite") is None,
                                reason="needs espeak-ng and flite: run `make speech-synth`")

# A small configuration: 8 espeak-ng variants (3 held out for test, 2 for validation), one take each,
# and one take per flite voice: 8·10 + 4·10 = 120 utterances, a few seconds to synthesise.
SMALL = dict(takes_per_variant=1, takes_per_flite_voice=1, val_variants=2, test_variants=3,
             variants=("m1", "m3", "f2", "f4", "klatt", "croak", "whisper", "Andy"))


@pytest.fixture(scope="module")
def small():
    return speech.synthesize(speech.SpeechConfig(seed=0, **SMALL))


def test_same_seed_gives_byte_identical_audio_and_cache_files(small, tmp_path, monkeypatch):
    config = speech.SpeechConfig(seed=0, **SMALL)
    assert small.audio.dtype == np.int16 and len(small) == 120
    # Synthesised again through the cache, twice, into two cache directories: byte-identical audio,
    # metadata, and files (the manifest of SHA-256 checksums included).
    directories = []
    for name in ("a", "b"):
        monkeypatch.setenv("COMPANION_CACHE_DIR", str(tmp_path / name))
        loaded = speech.load_utterances(config)
        assert loaded.audio.tobytes() == small.audio.tobytes()
        assert loaded.voices == small.voices and loaded.splits == small.splits and loaded.settings == small.settings
        assert np.array_equal(loaded.lengths, small.lengths) and np.array_equal(loaded.labels, small.labels)
        directories.append(speech.cache_path(config))
    names = sorted(p.name for p in directories[0].iterdir())
    assert names == ["audio.npy", "labels.npy", "lengths.npy", "manifest.json", "meta.json", "starts.npy"]
    for name in names:
        assert (directories[0] / name).read_bytes() == (directories[1] / name).read_bytes(), name
    # Loading again reads the cache; a corrupted file fails its checksum, so the cache counts as absent.
    assert speech._load(directories[1]).audio.tobytes() == small.audio.tobytes()
    (directories[1] / "audio.npy").write_bytes(b"corrupt")
    assert speech._load(directories[1]) is None
    # Augmentation is seeded too.
    clips_a, _, snr_a = speech.augment(small, small.indices("test"), 2, (10.0, 5.0), seed=1)
    clips_b, _, _ = speech.augment(small, small.indices("test"), 2, (10.0, 5.0), seed=1)
    assert clips_a.tobytes() == clips_b.tobytes() and set(snr_a) <= {10.0, 5.0}


def test_a_different_seed_gives_different_data(small):
    other = speech.synthesize(speech.SpeechConfig(seed=1, **SMALL))
    assert other.audio.tobytes() != small.audio.tobytes()


def test_train_val_and_test_voices_are_disjoint(small):
    data = small
    voices = {split: {data.voices[i] for i in data.indices(split)} for split in ("train", "val", "test")}
    assert voices["train"].isdisjoint(voices["test"]) and voices["train"].isdisjoint(voices["val"])
    assert voices["val"].isdisjoint(voices["test"])
    espeak_test = {v for v in voices["test"] if v.startswith("espeak:")}
    flite_test = {v for v in voices["test"] if v.startswith("flite:")}
    assert len(espeak_test) == 3 and len(flite_test) == 1 and len(voices["val"]) == 2
    # Every word is spoken in every split, by both synthesisers in train and test.
    for split in ("train", "val", "test"):
        assert set(data.labels[data.indices(split)]) == set(range(10))
    assert any(v.startswith("flite:") for v in voices["train"])


def test_utterances_are_trimmed_normalised_words_of_at_most_one_second(small):
    data = small
    assert data.lengths.max() <= speech.SAMPLE_RATE and data.lengths.min() > 0.05 * speech.SAMPLE_RATE
    peaks = [np.abs(data.utterance(i).astype(np.int32)).max() for i in range(len(data))]
    assert min(peaks) == max(peaks) == round(0.9 * 32767)


def test_augmentation_places_the_word_and_sets_the_snr(small):
    data = small
    index = int(data.indices("train")[0])
    word = data.utterance(index).astype(np.float64) / 32768.0
    clips, labels, snrs = speech.augment(data, np.array([index]), 1, (10.0,), seed=0, gain_db=(0.0, 0.0))
    assert clips.shape == (1, speech.SAMPLE_RATE) and labels[0] == data.labels[index] and snrs[0] == 10.0
    # Find the word by correlation, then measure the noise left over: its power is 10 dB below the word's.
    correlation = np.correlate(clips[0].astype(np.float64), word, mode="valid")
    offset = int(np.argmax(correlation))
    noise = clips[0].astype(np.float64).copy()
    noise[offset:offset + len(word)] -= word
    measured = 10 * np.log10(np.mean(word ** 2) / np.mean(noise ** 2))
    assert abs(measured - 10.0) < 0.01
    with pytest.raises(ValueError, match="copies"):
        speech.augment(data, np.array([index]), 0, (10.0,), seed=0)
    with pytest.raises(ValueError, match="snrs_db"):
        speech.augment(data, np.array([index]), 1, (), seed=0)


def test_a_missing_synthesiser_raises_an_error_naming_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: neither program is found
    with pytest.raises(speech.SynthesizerMissingError, match="apt-get install -y espeak-ng flite") as info:
        speech.synthesize(speech.SpeechConfig(**SMALL))
    assert "espeak-ng" in str(info.value) and "flite" in str(info.value)
    # Only flite missing: the message names flite alone.
    (tmp_path / "espeak-ng").symlink_to(shutil.which("espeak-ng", path=os.defpath + ":/usr/bin"))
    with pytest.raises(speech.SynthesizerMissingError, match=r"PATH: flite\. "):
        speech.require_synthesizers()


def test_bad_configurations_are_rejected():
    with pytest.raises(ValueError, match="takes_per_variant"):
        speech.SpeechConfig(takes_per_variant=0)
    with pytest.raises(ValueError, match="test_flite_voices"):
        speech.SpeechConfig(test_flite_voices=4)
    with pytest.raises(ValueError, match="espeak-ng variants"):
        speech.synthesize(speech.SpeechConfig(variants=("m1", "m2"), val_variants=1, test_variants=1))


def test_keyword_splits_are_standardised_log_mels_of_the_augmented_clips(small, tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(speech, "synthesize", lambda config, **kwargs: small)  # the module's utterances
    splits = speech.keyword_splits(copies=2, config=speech.SpeechConfig(seed=0, **SMALL))
    assert splits.input_shape == (1, 51, 20) and splits.num_classes == 10
    assert len(splits.y_train) == 2 * len(small.indices("train"))
    assert len(splits.y_test) == len(small.indices("test")) and len(splits.y_val) == len(small.indices("val"))
    assert abs(float(splits.x_train.mean())) < 1e-4 and abs(float(splits.x_train.std()) - 1) < 1e-4
    assert (speech.cache_path(speech.SpeechConfig(seed=0, **SMALL)) / "manifest.json").exists()
