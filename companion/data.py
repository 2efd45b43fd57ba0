"""Data sets that need no network, as seeded train/validation/test splits of tensors.

- ``digits``: scikit-learn's 1,797 handwritten digits, 8×8 pixels with values 0..16, scaled to [0, 1].
- ``mnist1d``: Greydanus's MNIST-1D (arXiv:2011.14439), 5,000 one-dimensional signals of length 40,
  generated locally with ``mnist1d.data.make_dataset`` (never ``get_dataset``, which downloads).
- ``speech``: the ten Speech Commands keywords synthesised with espeak-ng and flite, as log-mel
  features, split by voice (:mod:`companion.speech`).

The test split of MNIST-1D is the one its generator defines; every other split is a fixed
permutation drawn from ``torch.Generator().manual_seed(seed)``, so the same seed always gives the
same examples on every machine.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, TensorDataset

__all__ = ["Splits", "digits", "mnist1d", "speech", "load", "DATASETS"]


@dataclass(frozen=True)
class Splits:
    """Train/validation/test tensors of one data set (inputs ``x_*`` float32, labels ``y_*`` int64)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one example, without the batch dimension."""
        return tuple(self.x_train.shape[1:])

    def loader(self, split: str, batch_size: int = 64, shuffle: bool | None = None, seed: int = 0) -> DataLoader:
        """A DataLoader over one split ('train', 'val' or 'test').

        The training split is shuffled by default, with its own seeded generator, so the batch order
        is the same on every run.
        """
        if split not in ("train", "val", "test"):
            raise ValueError(f"split must be 'train', 'val' or 'test', got {split!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
        shuffle = (split == "train") if shuffle is None else shuffle
        generator = torch.Generator().manual_seed(seed) if shuffle else None
        return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle, generator=generator)

    def loaders(self, batch_size: int = 64, seed: int = 0) -> tuple[DataLoader, DataLoader, DataLoader]:
        """(train, val, test) loaders; only the training loader shuffles."""
        return tuple(self.loader(s, batch_size, seed=seed) for s in ("train", "val", "test"))


def _split(x: torch.Tensor, y: torch.Tensor, fractions: tuple[float, ...], seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Cut (x, y) into consecutive pieces of a seeded permutation; the last piece takes the rest."""
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    pieces, start = [], 0
    for fraction in fractions:
        stop = start + round(fraction * len(x))
        pieces.append(order[start:stop])
        start = stop
    pieces.append(order[start:])
    return [(x[i], y[i]) for i in pieces]


def digits(seed: int = 0, image: bool = False, val_fraction: float = 0.15, test_fraction: float = 0.2) -> Splits:
    """scikit-learn's handwritten digits, scaled to [0, 1].

    ``image=False`` gives flat vectors of 64 pixels (for the MLP); ``image=True`` gives 1×8×8 images
    (for the CNN). With the default fractions the split is 1,168 / 270 / 359 examples (train / val / test).
    """
    from sklearn.datasets import load_digits

    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 < value < 1:
            raise ValueError(f"{name} must be in (0, 1), got {value}")
    if val_fraction + test_fraction >= 1:
        raise ValueError(f"val_fraction + test_fraction must be below 1, got {val_fraction + test_fraction}")
    bunch = load_digits()
    x = torch.tensor(bunch.data, dtype=torch.float32) / 16.0
    y = torch.tensor(bunch.target, dtype=torch.int64)
    if image:
        x = x.reshape(-1, 1, 8, 8)
    (x_test, y_test), (x_val, y_val), (x_train, y_train) = _split(x, y, (test_fraction, val_fraction), seed)
    return Splits(x_train, y_train, x_val, y_val, x_test, y_test, num_classes=10)


def mnist1d(seed: int = 0, channel: bool = False, val_fraction: float = 0.1) -> Splits:
    """MNIST-1D generated locally: 4,000 training signals (a seeded ``val_fraction`` of them held out
    for validation) and the generator's own 1,000 test signals, each of length 40.

    ``channel=True`` adds a channel axis (N, 1, 40) for 1-D convolutions. The generator's own seed
    (42) is kept, so the signals are those of the paper; ``seed`` only picks the validation split.
    """
    from mnist1d.data import get_dataset_args, make_dataset

    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    raw = make_dataset(get_dataset_args())
    x = torch.tensor(raw["x"], dtype=torch.float32)
    y = torch.tensor(raw["y"], dtype=torch.int64)
    x_test = torch.tensor(raw["x_test"], dtype=torch.float32)
    y_test = torch.tensor(raw["y_test"], dtype=torch.int64)
    if channel:
        x, x_test = x.unsqueeze(1), x_test.unsqueeze(1)
    (x_val, y_val), (x_train, y_train) = _split(x, y, (val_fraction,), seed)
    return Splits(x_train, y_train, x_val, y_val, x_test, y_test, num_classes=10)


def speech(**kwargs) -> Splits:
    """Synthetic keyword spotting: see :func:`companion.speech.keyword_splits` (imported on first use)."""
    from .speech import keyword_splits

    return keyword_splits(**kwargs)


DATASETS = {"digits": digits, "mnist1d": mnist1d, "speech": speech}


def load(name: str, **kwargs) -> Splits:
    """Load a data set by name (a key of ``DATASETS``) with its keyword arguments."""
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {sorted(DATASETS)}, got {name!r}")
    return DATASETS[name](**kwargs)
