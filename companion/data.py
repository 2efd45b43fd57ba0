"""Data sets that need no network, as seeded train/validation/test splits of tensors.

- ``digits``: scikit-learn's 1,797 handwritten digits, 8×8 pixels with values 0..16, scaled to [0, 1].
- ``mnist1d``: Greydanus's MNIST-1D (arXiv:2011.14439), 5,000 one-dimensional signals of length 40,
  generated locally with ``mnist1d.data.make_dataset`` (never ``get_dataset``, which downloads).
- ``fashion_mnist``: Zalando's Fashion-MNIST (Xiao et al. 2017, arXiv:1708.07747), 60,000 + 10,000
  real 28×28 grey-scale photos of clothing in 10 classes, read from the four IDX files that Debian's
  ``dataset-fashion-mnist`` package installs (or a folder named by ``$FASHION_MNIST_DIR``), parsed
  here from scratch and checked against their SHA-256 digests.
- ``speech``: the ten Speech Commands keywords synthesised with espeak-ng and flite, as log-mel
  features, split by voice (:mod:`companion.speech`).

The test split of MNIST-1D is the one its generator defines; every other split is a fixed
permutation drawn from ``torch.Generator().manual_seed(seed)``, so the same seed always gives the
same examples on every machine.
"""
from __future__ import annotations

import gzip
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

__all__ = ["Splits", "digits", "mnist1d", "speech", "parse_idx", "fashion_mnist_dir", "fashion_mnist",
           "FASHION_MNIST_CLASSES", "sample_photos", "photo_crops", "IMAGENET_MEAN", "IMAGENET_STD", "load",
           "DATASETS"]


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


# --- Fashion-MNIST -------------------------------------------------------------------------------

FASHION_MNIST_APT = "apt-get install -y dataset-fashion-mnist"
FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_ENV = "FASHION_MNIST_DIR"
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
# SHA-256 of the four gzipped files as Zalando published them (and Debian ships them).
FASHION_MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    "train-labels-idx1-ubyte.gz": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    "t10k-images-idx3-ubyte.gz": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    "t10k-labels-idx1-ubyte.gz": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
}
# IDX type codes (LeCun's format): the third byte of the magic number names the element type.
_IDX_DTYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
               0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def parse_idx(raw: bytes, expect_dims: int | None = None) -> np.ndarray:
    """Decode one IDX file (already un-gzipped) into a NumPy array.

    Layout: a 4-byte magic number ``0x00 0x00 <type> <ndim>``, then ``ndim`` big-endian uint32
    sizes, then ``prod(sizes)`` elements of ``<type>`` in row-major order. Raises ``ValueError`` on a
    wrong magic number, an unknown type, an unexpected number of dimensions (``expect_dims``), or a
    body shorter or longer than the header promises.
    """
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise TypeError(f"raw must be bytes, got {type(raw).__name__}")
    raw = bytes(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"raw is not an IDX file: its magic number must start with two zero bytes, got {raw[:4].hex() or 'nothing'}")
    type_code, ndim = raw[2], raw[3]
    if type_code not in _IDX_DTYPES:
        raise ValueError(f"raw has IDX type code 0x{type_code:02x}; allowed: {', '.join(f'0x{c:02x}' for c in _IDX_DTYPES)}")
    if expect_dims is not None and ndim != expect_dims:
        raise ValueError(f"raw has {ndim} dimensions, expected {expect_dims}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"raw is truncated: its header needs {header} bytes, the file has {len(raw)}")
    shape = tuple(int(n) for n in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[type_code]
    body = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != body:
        kind = "truncated" if len(raw) - header < body else "longer than its header says"
        raise ValueError(f"raw is {kind}: shape {shape} needs {body} data bytes, the file has {len(raw) - header}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def fashion_mnist_dir() -> Path:
    """The folder holding the four Fashion-MNIST files: ``$FASHION_MNIST_DIR`` if set, else Debian's.

    Raises ``FileNotFoundError`` naming both ways to get the files when the folder or a file is missing.
    """
    override = os.environ.get(FASHION_MNIST_ENV)
    folder = Path(override) if override else FASHION_MNIST_SYSTEM_DIR
    missing = [name for name in FASHION_MNIST_FILES if not (folder / name).is_file()]
    if missing:
        where = f"${FASHION_MNIST_ENV} names a folder" if override else "the system folder"
        raise FileNotFoundError(
            f"Fashion-MNIST not found: {where} lacks {', '.join(missing)}. Install it with "
            f"`{FASHION_MNIST_APT}` (Debian/Ubuntu; `make test` does this), or download the four files "
            f"{', '.join(FASHION_MNIST_FILES)} from github.com/zalandoresearch/fashion-mnist into a folder "
            f"and set the environment variable {FASHION_MNIST_ENV} to it.")
    return folder


def _read_checked(path: Path) -> bytes:
    """The un-gzipped bytes of one Fashion-MNIST file, after checking its SHA-256 digest."""
    packed = path.read_bytes()
    digest = hashlib.sha256(packed).hexdigest()
    if digest != FASHION_MNIST_FILES[path.name]:
        raise ValueError(f"{path.name} has SHA-256 {digest}, expected {FASHION_MNIST_FILES[path.name]}: "
                         f"the file is damaged or not the published Fashion-MNIST")
    return gzip.decompress(packed)


def fashion_mnist(seed: int = 0, val_fraction: float = 1 / 12) -> Splits:
    """Fashion-MNIST as 1×28×28 float images in [0, 1]: 55,000 / 5,000 / 10,000 with the defaults.

    The published test set is the test split; ``seed`` draws the validation split (a ``val_fraction``
    of the 60,000 training images) from a fixed permutation.
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    folder = fashion_mnist_dir()
    arrays = {}
    for name in FASHION_MNIST_FILES:
        arrays[name] = parse_idx(_read_checked(folder / name), expect_dims=3 if "images" in name else 1)
    tensors = {}
    for part in ("train", "t10k"):
        images, labels = arrays[f"{part}-images-idx3-ubyte.gz"], arrays[f"{part}-labels-idx1-ubyte.gz"]
        if images.shape[0] != labels.shape[0] or images.shape[1:] != (28, 28):
            raise ValueError(f"{part} files disagree: images {images.shape}, labels {labels.shape}")
        x = torch.from_numpy(images.copy()).unsqueeze(1).float() / 255.0
        tensors[part] = (x, torch.from_numpy(labels.astype(np.int64)))
    (x_val, y_val), (x_train, y_train) = _split(*tensors["train"], (val_fraction,), seed)
    x_test, y_test = tensors["t10k"]
    return Splits(x_train, y_train, x_val, y_val, x_test, y_test, num_classes=10)


# --- Photos bundled with scikit-learn and scikit-image (for ImageNet models; no labels) -------------

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")


def sample_photos() -> dict[str, torch.Tensor]:
    """Six colour photos shipped inside scikit-learn (``china``, ``flower``) and scikit-image
    (``astronaut``, ``chelsea`` the cat, ``coffee``, ``rocket``), as (3, H, W) uint8 tensors. No network."""
    from skimage import data as skimage_data
    from sklearn.datasets import load_sample_images

    bunch = load_sample_images()
    photos = {Path(name).stem: image for name, image in zip(bunch.filenames, bunch.images)}
    photos.update({name: getattr(skimage_data, name)() for name in _SKIMAGE_PHOTOS})
    return {name: torch.from_numpy(np.array(image, copy=True)).permute(2, 0, 1).contiguous()
            for name, image in photos.items()}


def photo_crops(crops_per_photo: int = 16, size: int = 224, seed: int = 0, flips: bool = True,
                min_scale: float = 0.35) -> tuple[torch.Tensor, list[str]]:
    """Random square crops of :func:`sample_photos`, resized to ``size``, normalized as ImageNet models expect.

    Each crop's side is a uniform fraction in [``min_scale``, 1] of the photo's shorter side, at a
    uniform position; it is resized with antialiased bilinear interpolation and normalized per channel,
    x = (pixel/255 − mean)/std with the ImageNet mean and std. ``flips=True`` adds each crop's mirror
    image. Returns the (N, 3, size, size) float tensor and the source photo's name per crop.
    """
    if crops_per_photo < 1 or size < 8:
        raise ValueError(f"crops_per_photo must be ≥ 1 and size ≥ 8, got {crops_per_photo}, {size}")
    if not 0 < min_scale <= 1:
        raise ValueError(f"min_scale must be in (0, 1], got {min_scale}")
    generator = torch.Generator().manual_seed(seed)
    mean = torch.tensor(IMAGENET_MEAN).reshape(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).reshape(3, 1, 1)
    crops, names = [], []
    for name, photo in sample_photos().items():
        _, height, width = photo.shape
        for _ in range(crops_per_photo):
            scale = min_scale + (1 - min_scale) * float(torch.rand((), generator=generator))
            side = max(8, int(scale * min(height, width)))
            top = int(torch.randint(0, height - side + 1, (), generator=generator))
            left = int(torch.randint(0, width - side + 1, (), generator=generator))
            patch = photo[:, top:top + side, left:left + side].float().unsqueeze(0) / 255.0
            patch = torch.nn.functional.interpolate(patch, size=(size, size), mode="bilinear", antialias=True,
                                                    align_corners=False)[0].clamp(0, 1)
            patch = (patch - mean) / std
            crops.append(patch)
            names.append(name)
            if flips:
                crops.append(patch.flip(-1))
                names.append(name)
    return torch.stack(crops), names


def speech(**kwargs) -> Splits:
    """Synthetic keyword spotting: see :func:`companion.speech.keyword_splits` (imported on first use)."""
    from .speech import keyword_splits

    return keyword_splits(**kwargs)


DATASETS = {"digits": digits, "mnist1d": mnist1d, "fashion_mnist": fashion_mnist, "speech": speech}


def load(name: str, **kwargs) -> Splits:
    """Load a data set by name (a key of ``DATASETS``) with its keyword arguments."""
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {sorted(DATASETS)}, got {name!r}")
    return DATASETS[name](**kwargs)
