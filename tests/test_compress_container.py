"""Relative indices round-trip (gap overflows included); the compressed file is exact, and refuses bad files."""
import copy
import io

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from companion.compress import (CompressedFileError, decode_model, encode_model, filler_count, finetune_centroids,
                                fresh_process_logits,
                                from_relative, load_compressed, save_compressed, share_pruned_weights, stored_copy,
                                to_relative)
from companion.compress import container
from companion.models import MLP, SmallCNN
from companion.prune import l1_unstructured, make_permanent
from companion.layers import weight_layers


@settings(max_examples=200, deadline=None)
@given(st.sets(st.integers(0, 3000), max_size=200), st.integers(1, 8))
def test_relative_indices_round_trip(position_set, index_bits):
    positions = torch.tensor(sorted(position_set), dtype=torch.int64)
    gaps, slots = to_relative(positions, index_bits)
    assert gaps.numel() == 0 or int(gaps.max()) < 2 ** index_bits
    assert torch.equal(from_relative(gaps, index_bits), slots)
    assert set(positions.tolist()) <= set(slots.tolist())
    assert len(slots) - len(positions) == filler_count(positions, index_bits)


def test_gap_overflow_inserts_fillers():
    # 3-bit gaps skip at most 7 zeros: position 20 after 3 needs a filler at 11 and one at 19
    gaps, slots = to_relative(torch.tensor([0, 3, 20]), 3)
    assert slots.tolist() == [0, 3, 11, 19, 20]
    assert gaps.tolist() == [0, 2, 7, 7, 0]
    assert filler_count(torch.tensor([0, 3, 20]), 3) == 2
    brute = sum((b - a - 1) // 8 for a, b in zip([-1, 0, 3], [0, 3, 20]))
    assert brute == 2


def test_relative_index_rejects_bad_input():
    with pytest.raises(ValueError, match="strictly increasing"):
        to_relative(torch.tensor([3, 3]), 4)
    with pytest.raises(ValueError, match="index_bits"):
        to_relative(torch.tensor([1]), 0)
    with pytest.raises(TypeError, match="integer tensor"):
        to_relative(torch.tensor([1.0]), 4)
    with pytest.raises(ValueError, match="does not fit"):
        from_relative(torch.tensor([16]), 4)


def pruned_shared(model, amount=0.8, bits=3, seed=0):
    torch.manual_seed(seed)
    model = copy.deepcopy(model)
    for layer in weight_layers(model).values():
        l1_unstructured(layer, "weight", amount=amount)
    return share_pruned_weights(make_permanent(model), bits)


@pytest.fixture(scope="module")
def mlp_shared():
    torch.manual_seed(0)
    return pruned_shared(MLP())


def test_sharing_keeps_pruned_zeros_and_codes_the_rest():
    torch.manual_seed(0)
    model = MLP()
    l1_unstructured(model.fc1, "weight", amount=0.9)
    make_permanent(model)
    shared = share_pruned_weights(model, {"fc1": 3})
    assert torch.equal(shared.fc1.weight() == 0, model.fc1.weight == 0)
    assert shared.fc1.codebook.numel() == 2 ** 3 + 1 and float(shared.fc1.codebook.detach()[0]) == 0.0
    kept = model.fc1.weight != 0
    error = (shared.fc1.weight() - model.fc1.weight)[kept].abs().max()
    assert error < (model.fc1.weight[kept].max() - model.fc1.weight[kept].min()) / 8


@pytest.mark.parametrize("coding", ["huffman", "fixed"])
@pytest.mark.parametrize("index_bits", [2, 5])
def test_file_round_trip_is_exact(mlp_shared, coding, index_bits):
    data, sizes = encode_model(mlp_shared, ("mlp", {}), index_bits, coding)
    loaded = decode_model(data)
    expected = stored_copy(mlp_shared, ("mlp", {}))
    for key, tensor in expected.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], tensor), key
    assert sizes["total"] == len(data)
    assert sizes["kept weights"] == sum(int((w != 0).sum()) for k, w in expected.state_dict().items()
                                        if k.endswith("weight"))


def test_cnn_with_batchnorm_round_trips(tmp_path):
    torch.manual_seed(1)
    model = SmallCNN()
    model.train()
    model(torch.randn(32, 1, 8, 8))  # non-trivial BatchNorm statistics
    shared = pruned_shared(model.eval(), amount=0.7, bits=4)
    save_compressed(shared, tmp_path / "cnn.dcm", ("cnn", {}), index_bits=4)
    loaded = load_compressed(tmp_path / "cnn.dcm")
    x = torch.randn(16, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(loaded(x), stored_copy(shared, ("cnn", {}))(x))
        assert torch.allclose(loaded(x), shared.eval()(x), atol=1e-2)  # only float16 extras differ


def test_huffman_beats_fixed_width(mlp_shared):
    _, fixed = encode_model(mlp_shared, ("mlp", {}), 4, "fixed")
    _, coded = encode_model(mlp_shared, ("mlp", {}), 4, "huffman")
    assert coded["values"] + coded["gaps"] < fixed["values"] + fixed["gaps"]


@pytest.fixture(scope="module")
def good_file(mlp_shared, tmp_path_factory):
    path = tmp_path_factory.mktemp("files") / "mlp.dcm"
    save_compressed(mlp_shared, path, ("mlp", {}))
    return path.read_bytes()


def test_truncated_file_is_refused(good_file, tmp_path):
    for cut in (5, len(good_file) // 2, len(good_file) - 1):
        (tmp_path / "cut.dcm").write_bytes(good_file[:cut])
        with pytest.raises(CompressedFileError, match="truncated"):
            load_compressed(tmp_path / "cut.dcm")


def test_corrupted_file_is_refused_by_its_checksum(good_file, tmp_path):
    for position in (container._HEADER.size + 3, len(good_file) // 2, len(good_file) - 1):
        corrupted = bytearray(good_file)
        corrupted[position] ^= 0x10
        (tmp_path / "bad.dcm").write_bytes(bytes(corrupted))
        with pytest.raises(CompressedFileError, match="checksum mismatch"):
            load_compressed(tmp_path / "bad.dcm")


def test_wrong_version_and_magic_are_refused(good_file, tmp_path):
    newer = bytearray(good_file)
    newer[4:6] = (container.FORMAT_VERSION + 1).to_bytes(2, "little")
    (tmp_path / "new.dcm").write_bytes(bytes(newer))
    with pytest.raises(CompressedFileError, match="unsupported format version 2"):
        load_compressed(tmp_path / "new.dcm")
    (tmp_path / "zip.dcm").write_bytes(b"PK\x03\x04" + good_file[4:])
    with pytest.raises(CompressedFileError, match="not a compressed model file"):
        load_compressed(tmp_path / "zip.dcm")


def test_bad_arguments_are_rejected(mlp_shared):
    with pytest.raises(ValueError, match="coding"):
        encode_model(mlp_shared, ("mlp", {}), 4, "zip")
    with pytest.raises(TypeError, match="architecture"):
        encode_model(mlp_shared, "mlp")
    with pytest.raises(ValueError, match="no SharedWeight"):
        encode_model(MLP(), ("mlp", {}))
    broken = copy.deepcopy(mlp_shared)
    with torch.no_grad():
        broken.fc1.codebook[0] = 0.5
    with pytest.raises(ValueError, match=r"codebook\[0\] must be exactly 0"):
        encode_model(broken, ("mlp", {}))
    with pytest.raises(ValueError, match="bits for layer"):
        share_pruned_weights(MLP(), 8)
    with pytest.raises(ValueError, match="one width per shared layer"):
        encode_model(mlp_shared, ("mlp", {}), {"fc1": 4})
    with pytest.raises(ValueError, match="no SharedWeight"):
        finetune_centroids(MLP(), None)


def test_fresh_process_load_gives_identical_predictions(mlp_shared, tmp_path):
    path = tmp_path / "mlp.dcm"
    save_compressed(mlp_shared, path, ("mlp", {}))
    x = torch.rand(64, 64)
    with torch.no_grad():
        expected = stored_copy(mlp_shared, ("mlp", {}))(x)
    got = fresh_process_logits(path, x)
    assert torch.equal(got.argmax(1), expected.argmax(1))
    assert torch.allclose(got, expected, atol=1e-5)


def test_code_length_tables_and_int8_biases_round_trip():
    for lengths in ([1, 2, 3, 3, 0], [1, 20, 20, 2]):  # nibbles, and the one-byte fallback (20 > 15)
        raw, width = container._table_bytes(lengths)
        assert width == (4 if max(lengths) <= 15 else 8)
        assert container._read_table(io.BytesIO(raw), len(lengths), width) == lengths
    bias = torch.linspace(-0.3, 0.7, 37)
    restored = container._read_extra(container._extra_bytes(bias, "q8"), [37], "q8")
    step = (0.7 + 0.3) / 255
    assert (restored - bias).abs().max() <= step / 2 + 1e-6
    assert len(container._extra_bytes(bias, "q8")) == container._extra_size(37, "q8")
