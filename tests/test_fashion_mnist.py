"""Fashion-MNIST loader: IDX parsing from scratch, checksums, the folder override and its errors."""
import gzip
import struct

import numpy as np
import pytest
import torch

from companion import data

REAL = data.FASHION_MNIST_SYSTEM_DIR


def _idx(array: np.ndarray, type_code: int = 0x08) -> bytes:
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def test_parse_idx_round_trips_every_type_against_numpy():
    rng = np.random.default_rng(0)
    for code, dtype in data._IDX_DTYPES.items():
        array = (rng.standard_normal((3, 4, 5)) * 50).astype(dtype.newbyteorder("="))
        assert np.array_equal(data.parse_idx(_idx(array, code)), array)


@pytest.mark.parametrize("raw, message", [
    (b"\x01\x00\x08\x01" + struct.pack(">I", 2) + b"\x00\x01", "magic number"),    # wrong magic
    (b"\x00\x00\x07\x01" + struct.pack(">I", 2) + b"\x00\x01", "type code"),       # unknown element type
    (b"\x00\x00\x08\x03" + struct.pack(">I", 2), "truncated: its header"),         # header cut short
    (b"\x00\x00\x08\x01" + struct.pack(">I", 5) + b"\x00\x01", "truncated"),       # body cut short
    (b"\x00\x00\x08\x01" + struct.pack(">I", 1) + b"\x00\x01", "longer"),          # trailing bytes
    (b"", "magic number"),
])
def test_parse_idx_rejects_crafted_bad_files(raw, message):
    with pytest.raises(ValueError, match=message):
        data.parse_idx(raw)


def test_parse_idx_rejects_wrong_dimensions_and_types():
    images = _idx(np.zeros((2, 28, 28), np.uint8))
    assert data.parse_idx(images, expect_dims=3).shape == (2, 28, 28)
    with pytest.raises(ValueError, match="3 dimensions, expected 1"):
        data.parse_idx(images, expect_dims=1)
    with pytest.raises(TypeError, match="raw must be bytes"):
        data.parse_idx("not bytes")


needs_real = pytest.mark.skipif(not (REAL / "t10k-labels-idx1-ubyte.gz").exists(),
                                reason="dataset-fashion-mnist is not installed (make test installs it)")


@needs_real
def test_real_files_parse_to_the_published_sizes_and_balance():
    s = data.fashion_mnist()
    assert (len(s.x_train), len(s.x_val), len(s.x_test)) == (55_000, 5_000, 10_000)
    assert s.input_shape == (1, 28, 28) and s.x_test.dtype == torch.float32
    assert 0.0 == float(s.x_test.min()) and float(s.x_test.max()) == 1.0
    # 6,000 training and 1,000 test images per class (Xiao et al. 2017).
    assert torch.cat([s.y_train, s.y_val]).bincount().tolist() == [6000] * 10
    assert s.y_test.bincount().tolist() == [1000] * 10
    # The parser agrees with a direct NumPy read of the same bytes (an independent decoder).
    raw = gzip.decompress((REAL / "t10k-images-idx3-ubyte.gz").read_bytes())
    direct = np.frombuffer(raw[16:], np.uint8).reshape(10_000, 1, 28, 28) / 255.0
    assert np.allclose(s.x_test.numpy(), direct)


@needs_real
def test_environment_variable_names_a_folder_with_the_same_files(tmp_path, monkeypatch):
    for name in data.FASHION_MNIST_FILES:
        (tmp_path / name).symlink_to(REAL / name)
    monkeypatch.setenv(data.FASHION_MNIST_ENV, str(tmp_path))
    assert data.fashion_mnist_dir() == tmp_path
    labels = data.parse_idx(gzip.decompress((REAL / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    assert torch.equal(data.fashion_mnist().y_test, torch.from_numpy(labels.astype(np.int64)))


def test_missing_folder_names_the_install_command_and_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(data.FASHION_MNIST_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError) as error:
        data.fashion_mnist()
    assert "apt-get install -y dataset-fashion-mnist" in str(error.value)
    assert "FASHION_MNIST_DIR" in str(error.value)


def test_a_damaged_file_fails_its_checksum(tmp_path, monkeypatch):
    for name in data.FASHION_MNIST_FILES:
        (tmp_path / name).write_bytes(gzip.compress(_idx(np.zeros((2, 28, 28) if "images" in name else (2,), np.uint8))))
    monkeypatch.setenv(data.FASHION_MNIST_ENV, str(tmp_path))
    with pytest.raises(ValueError, match="SHA-256"):
        data.fashion_mnist()


def test_fashion_mnist_rejects_bad_fractions():
    with pytest.raises(ValueError, match="val_fraction"):
        data.fashion_mnist(val_fraction=1.0)
