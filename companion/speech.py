"""Synthetic keyword-spotting data: the ten Speech Commands core words spoken by speech synthesisers.

No real labelled speech set installs offline here, so the words are synthesised with two Debian
speech synthesisers:

- ``espeak-ng`` (formant synthesis): 8 English accents × 101 ``+variant`` voices (each variant changes
  the formants, pitch range and voice quality), with a random speed (words per minute) and pitch;
- ``flite`` (CMU Flite 2.2): the voices ``kal16``, ``awb``, ``rms`` and ``slt``, the last three built
  from recordings of real speakers, with random duration stretch and mean pitch.

A **voice** is an espeak-ng variant (heard in any accent) or a flite voice. The split is by voice:
validation and test voices are never heard in training, so test accuracy measures how well the model
generalises to a new speaker, as Speech Commands' own split by speaker does.

Each utterance is resampled to 16 kHz, trimmed of silence and peak-normalised; :func:`augment` then
places it at a random offset in a one-second clip (a random time shift), applies a random gain and
mixes in background noise (white, pink or brown) at a signal-to-noise ratio drawn from a set list.

Generation is seeded (same seed → byte-identical audio), runs the synthesiser calls in parallel, and
is cached under ``companion.train.cache_dir() / 'speech'`` with a ``manifest.json`` of SHA-256
checksums that is verified on every load.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import wave
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["WORDS", "ESPEAK_ACCENTS", "FLITE_VOICES", "SAMPLE_RATE", "SynthesizerMissingError", "SpeechConfig",
           "Utterances", "require_synthesizers", "espeak_variants", "synthesize", "cache_path", "load_utterances", "snr_gain",
           "augment", "keyword_splits", "CACHE_FORMAT"]

WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
ESPEAK_ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd",
                  "en-029", "en-us-nyc")
FLITE_VOICES = ("kal16", "awb", "rms", "slt")
SAMPLE_RATE = 16_000  # Hz, as in Speech Commands
CLIP_SAMPLES = SAMPLE_RATE  # one-second clips
NOISE_KINDS = ("white", "pink", "brown")
CACHE_FORMAT = 1  # bump when generation changes what a configuration produces
INSTALL_COMMAND = "apt-get install -y espeak-ng flite"


class SynthesizerMissingError(RuntimeError):
    """A speech synthesiser the data set needs is not installed."""


def require_synthesizers(names: tuple[str, ...] = ("espeak-ng", "flite")) -> None:
    """Raise :class:`SynthesizerMissingError` naming the install command unless every program is on PATH."""
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        raise SynthesizerMissingError(
            f"speech synthesiser(s) not found on PATH: {', '.join(missing)}. The keyword-spotting data "
            f"are synthesised locally; install them with `{INSTALL_COMMAND}` (Debian/Ubuntu, as root) "
            "or run `make speech-synth`.")


def espeak_variants() -> tuple[str, ...]:
    """The names of espeak-ng's voice variants (``+name`` modifiers), sorted, from its data directory."""
    require_synthesizers(("espeak-ng",))
    info = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, check=True).stdout
    data_dir = Path(info.split("Data at:")[-1].strip())
    return tuple(sorted(p.name for p in (data_dir / "voices" / "!v").iterdir() if p.is_file()))


@dataclass(frozen=True)
class SpeechConfig:
    """Everything that decides the synthesised utterances; the cache key is a hash of these fields.

    ``takes_per_variant`` utterances of each word per espeak-ng variant (each with a random accent,
    speed in ``espeak_speed`` words per minute and pitch in ``espeak_pitch`` on espeak's 0–99 scale);
    ``takes_per_flite_voice`` of each word per flite voice (duration stretch in ``flite_stretch``, mean
    pitch in ``flite_pitch`` Hz). ``val_variants``/``test_variants`` espeak variants and
    ``test_flite_voices`` flite voices are held out, chosen by the seeded generator.
    """

    seed: int = 0
    takes_per_variant: int = 3
    takes_per_flite_voice: int = 25
    val_variants: int = 10
    test_variants: int = 20
    test_flite_voices: int = 1
    espeak_speed: tuple[int, int] = (120, 200)
    espeak_pitch: tuple[int, int] = (20, 80)
    flite_stretch: tuple[float, float] = (0.8, 1.3)
    flite_pitch: tuple[float, float] = (80.0, 200.0)
    variants: tuple[str, ...] | None = field(default=None)  # None: all of espeak-ng's variants

    def __post_init__(self):
        for name in ("takes_per_variant", "takes_per_flite_voice"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if not 0 <= self.test_flite_voices < len(FLITE_VOICES):
            raise ValueError(f"test_flite_voices must be in [0, {len(FLITE_VOICES) - 1}], got {self.test_flite_voices}")
        if self.val_variants < 1 or self.test_variants < 1:
            raise ValueError(f"val_variants and test_variants must be ≥ 1, got {self.val_variants}, {self.test_variants}")

    def key(self) -> str:
        text = json.dumps({**asdict(self), "format": CACHE_FORMAT}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Utterances:
    """Clean synthesised words: int16 audio at 16 kHz, concatenated, with one metadata row per word.

    ``audio[starts[i]:starts[i] + lengths[i]]`` is utterance ``i``; ``labels[i]`` indexes :data:`WORDS`;
    ``voices[i]`` names its voice (``espeak:<variant>`` or ``flite:<voice>``); ``splits[i]`` is
    ``'train'``, ``'val'`` or ``'test'``.
    """

    audio: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray
    voices: tuple[str, ...]
    splits: tuple[str, ...]
    settings: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)

    def utterance(self, i: int) -> np.ndarray:
        return self.audio[self.starts[i]:self.starts[i] + self.lengths[i]]

    def indices(self, split: str) -> np.ndarray:
        if split not in ("train", "val", "test"):
            raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
        return np.array([i for i, s in enumerate(self.splits) if s == split], dtype=np.int64)


def _plan(config: SpeechConfig) -> list[dict]:
    """One job per utterance: synthesiser, voice, settings, word and split, drawn from the seed."""
    rng = np.random.default_rng(config.seed)
    variants = list(config.variants or espeak_variants())
    if len(variants) <= config.val_variants + config.test_variants:
        raise ValueError(f"need more than val_variants + test_variants = {config.val_variants + config.test_variants} "
                         f"espeak-ng variants, got {len(variants)}")
    order = rng.permutation(len(variants))
    split_of = {}
    for rank, index in enumerate(order):
        split_of[f"espeak:{variants[index]}"] = ("test" if rank < config.test_variants else
                                                 "val" if rank < config.test_variants + config.val_variants else "train")
    flite_order = rng.permutation(len(FLITE_VOICES))
    for rank, index in enumerate(flite_order):
        split_of[f"flite:{FLITE_VOICES[index]}"] = "test" if rank < config.test_flite_voices else "train"
    jobs = []
    for variant in variants:
        for label, word in enumerate(WORDS):
            for _ in range(config.takes_per_variant):
                accent = ESPEAK_ACCENTS[rng.integers(len(ESPEAK_ACCENTS))]
                speed = int(rng.integers(config.espeak_speed[0], config.espeak_speed[1] + 1))
                pitch = int(rng.integers(config.espeak_pitch[0], config.espeak_pitch[1] + 1))
                voice = f"espeak:{variant}"
                jobs.append({"command": ["espeak-ng", "-v", f"{accent}+{variant}", "-s", str(speed), "-p", str(pitch),
                                         "--stdout", word],
                             "label": label, "voice": voice, "split": split_of[voice],
                             "setting": f"{accent} {speed} wpm pitch {pitch}"})
    for name in FLITE_VOICES:
        for label, word in enumerate(WORDS):
            for _ in range(config.takes_per_flite_voice):
                stretch = round(float(rng.uniform(*config.flite_stretch)), 3)
                pitch = round(float(rng.uniform(*config.flite_pitch)), 1)
                voice = f"flite:{name}"
                jobs.append({"command": ["flite", "-voice", name, "--setf", f"duration_stretch={stretch}",
                                         "--setf", f"int_f0_target_mean={pitch}", "-t", word, "-o"],
                             "label": label, "voice": voice, "split": split_of[voice],
                             "setting": f"stretch {stretch} pitch {pitch} Hz"})
    return jobs


def _read_wav(data: bytes) -> tuple[np.ndarray, int]:
    """Mono 16-bit PCM samples (float64 in [-1, 1)) and the sample rate of a WAV file's bytes.

    espeak-ng writes to a pipe, so its header's length field is a placeholder (about 2³⁰ frames);
    reading that many frames returns every frame that is actually there.
    """
    import io

    with wave.open(io.BytesIO(data)) as handle:
        if handle.getnchannels() != 1 or handle.getsampwidth() != 2:
            raise ValueError("expected mono 16-bit PCM from the synthesiser")
        rate = handle.getframerate()
        pcm = handle.readframes(handle.getnframes())
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768.0
    return samples, rate


def _run(job: dict, workdir: str) -> np.ndarray:
    """Synthesise one word and return it at 16 kHz, trimmed of silence, peak-normalised, as int16."""
    from scipy.signal import resample_poly

    command = list(job["command"])
    if command[0] == "flite":
        handle, path = tempfile.mkstemp(suffix=".wav", dir=workdir)
        os.close(handle)
        subprocess.run(command + [path], capture_output=True, check=True)
        data = Path(path).read_bytes()
        os.unlink(path)
    else:
        data = subprocess.run(command, capture_output=True, check=True).stdout
    samples, rate = _read_wav(data)
    if rate != SAMPLE_RATE:
        g = np.gcd(rate, SAMPLE_RATE)
        samples = resample_poly(samples, SAMPLE_RATE // g, rate // g)
    loud = np.flatnonzero(np.abs(samples) > 0.02 * np.abs(samples).max())
    samples = samples[loud[0]:loud[-1] + 1][:CLIP_SAMPLES]
    samples = 0.9 * samples / np.abs(samples).max()
    return np.round(samples * 32767).astype(np.int16)


def synthesize(config: SpeechConfig, workers: int | None = None, progress: bool | None = None) -> Utterances:
    """Synthesise every utterance of ``config`` (no cache); the synthesiser calls run in parallel threads."""
    require_synthesizers()
    jobs = _plan(config)
    workers = workers or min(8, os.cpu_count() or 1)
    with tempfile.TemporaryDirectory() as workdir, ThreadPoolExecutor(workers) as pool:
        results = pool.map(lambda job: _run(job, workdir), jobs)
        if _progress(progress):
            from tqdm.auto import tqdm
            results = tqdm(results, total=len(jobs), desc="synthesising words", leave=False)
        clips = list(results)
    lengths = np.array([len(c) for c in clips], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    return Utterances(np.concatenate(clips), starts, lengths, np.array([j["label"] for j in jobs], dtype=np.int64),
                      tuple(j["voice"] for j in jobs), tuple(j["split"] for j in jobs),
                      tuple(j["setting"] for j in jobs))


def _progress(progress: bool | None) -> bool:
    return os.environ.get("COMPANION_PROGRESS", "1") != "0" if progress is None else progress


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _save(utterances: Utterances, directory: Path, config: SpeechConfig) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {"audio.npy": utterances.audio, "starts.npy": utterances.starts, "lengths.npy": utterances.lengths,
              "labels.npy": utterances.labels}
    for name, array in arrays.items():
        np.save(directory / name, array, allow_pickle=False)
    meta = {"voices": utterances.voices, "splits": utterances.splits, "settings": utterances.settings}
    (directory / "meta.json").write_text(json.dumps(meta, indent=0))
    files = [*arrays, "meta.json"]
    manifest = {"config": asdict(config), "format": CACHE_FORMAT, "words": WORDS, "sample_rate": SAMPLE_RATE,
                "sha256": {name: _sha256(directory / name) for name in files}}
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))


def _load(directory: Path) -> Utterances | None:
    """The cached utterances, or ``None`` when the cache is absent or any checksum does not match."""
    manifest_path = directory / "manifest.json"
    if not manifest_path.exists():
        return None
    manifest = json.loads(manifest_path.read_text())
    for name, digest in manifest["sha256"].items():
        if not (directory / name).exists() or _sha256(directory / name) != digest:
            return None
    arrays = {name: np.load(directory / f"{name}.npy", allow_pickle=False) for name in ("audio", "starts", "lengths", "labels")}
    meta = json.loads((directory / "meta.json").read_text())
    return Utterances(**arrays, voices=tuple(meta["voices"]), splits=tuple(meta["splits"]),
                      settings=tuple(meta["settings"]))


def cache_path(config: SpeechConfig) -> Path:
    """Where the utterances of ``config`` are cached: ``<companion cache>/speech/<config hash>``."""
    from .train import cache_dir

    return cache_dir() / "speech" / config.key()


def load_utterances(config: SpeechConfig | None = None, progress: bool | None = None) -> Utterances:
    """The utterances of ``config`` from the cache, synthesised and cached first when absent or corrupt.

    The cache is written to a temporary directory and renamed into place, so a concurrent run never
    reads a half-written one.
    """
    config = config or SpeechConfig()
    directory = cache_path(config)
    cached = _load(directory)
    if cached is not None:
        return cached
    utterances = synthesize(config, progress=progress)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=directory.parent, prefix=".staging-"))
    _save(utterances, staging, config)
    if directory.exists():
        shutil.rmtree(directory)
    os.replace(staging, directory)
    return utterances


def _noise(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-power noise of a given colour: white (flat), pink (power ∝ 1/f) or brown (∝ 1/f²)."""
    white = rng.standard_normal(n)
    if kind != "white":
        spectrum = np.fft.rfft(white)
        f = np.arange(len(spectrum), dtype=np.float64)
        f[0] = 1.0
        spectrum /= np.sqrt(f) if kind == "pink" else f
        spectrum[0] = 0.0
        white = np.fft.irfft(spectrum, n)
    return white / np.sqrt(np.mean(white ** 2))


def snr_gain(signal_power: float, noise_power: float, snr_db: float) -> float:
    """The gain g that puts noise at ``snr_db`` below a signal: 10·log₁₀(P_s / (g²·P_n)) = SNR.

    Powers are mean squares (any common unit); g = √(P_s / P_n · 10^(−SNR/10)).
    """
    if signal_power < 0 or noise_power <= 0:
        raise ValueError(f"signal_power must be ≥ 0 and noise_power > 0, got {signal_power}, {noise_power}")
    return float(np.sqrt(signal_power / noise_power * 10 ** (-snr_db / 10)))


def augment(utterances: Utterances, indices: np.ndarray, copies: int, snrs_db: tuple[float, ...], seed: int,
            gain_db: tuple[float, float] = (-10.0, 0.0)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-second noisy clips: ``copies`` augmented versions of each utterance in ``indices``.

    Each copy places the word at a uniformly random offset (time shift), scales it by a random gain
    in ``gain_db`` and adds white, pink or brown noise at an SNR drawn from ``snrs_db``:
    noise power = word power · 10^(−SNR/10), the word's power measured over its own samples.
    Returns (clips float32 of shape (N, 16000), labels int64, SNR of each clip in dB).
    """
    if copies < 1:
        raise ValueError(f"copies must be a positive integer, got {copies}")
    if not snrs_db:
        raise ValueError("snrs_db must list at least one signal-to-noise ratio in dB")
    rng = np.random.default_rng(seed)
    n = len(indices) * copies
    clips = np.zeros((n, CLIP_SAMPLES), dtype=np.float32)
    labels = np.empty(n, dtype=np.int64)
    snrs = np.empty(n, dtype=np.float64)
    row = 0
    for i in indices:
        word = utterances.utterance(int(i)).astype(np.float64) / 32768.0
        for _ in range(copies):
            offset = int(rng.integers(0, CLIP_SAMPLES - len(word) + 1))
            gain = 10 ** (rng.uniform(*gain_db) / 20)
            snr = float(snrs_db[rng.integers(len(snrs_db))])
            kind = NOISE_KINDS[rng.integers(len(NOISE_KINDS))]
            signal = np.zeros(CLIP_SAMPLES)
            signal[offset:offset + len(word)] = gain * word
            noise = _noise(kind, CLIP_SAMPLES, rng)  # unit power
            clip = signal + snr_gain(np.mean((gain * word) ** 2), 1.0, snr) * noise
            clips[row], labels[row], snrs[row] = clip, utterances.labels[i], snr
            row += 1
    return clips, labels, snrs


def keyword_splits(seed: int = 0, copies: int = 2, snrs_db: tuple[float, ...] = (20.0, 10.0, 5.0), n_mels: int = 20,
                   config: SpeechConfig | None = None) -> "Splits":
    """Train/val/test log-mel features of the synthetic keywords, split by voice (see the module docstring).

    Training utterances are augmented ``copies`` times, validation and test utterances once, each copy
    with its own time shift, gain, noise colour and SNR from ``snrs_db``. Features are ``n_mels`` HTK
    log-mel bands × 51 frames of 30 ms every 20 ms (:func:`companion.features.log_mel_spectrogram`),
    standardised with the mean and standard deviation of the training features: inputs have shape
    (1, 51, n_mels).
    """
    import torch

    from .data import Splits
    from .features import log_mel_spectrogram

    utterances = load_utterances(config or SpeechConfig())
    tensors, stats = {}, None
    for offset, (split, n_copies) in enumerate((("train", copies), ("val", 1), ("test", 1))):
        clips, labels, _ = augment(utterances, utterances.indices(split), n_copies, snrs_db, seed=seed * 3 + offset)
        features = log_mel_spectrogram(torch.from_numpy(clips), n_mels=n_mels).unsqueeze(1)
        if stats is None:
            stats = features.mean(), features.std()
        tensors[split] = ((features - stats[0]) / stats[1], torch.from_numpy(labels))
    return Splits(*tensors["train"], *tensors["val"], *tensors["test"], num_classes=len(WORDS))
