"""Bit packing round-trips exactly for every width and length, and real files have the packed size."""
import pytest
import torch
from hypothesis import given, settings, strategies as st

from companion.measure import file_bytes
from companion.quant.lowbit import quantize_uniform, ternarize
from companion.quant.packing import pack, packed_nbytes, packed_state, save_packed, unpack


@settings(max_examples=150, deadline=None)
@given(bits=st.integers(1, 8), shape=st.lists(st.integers(0, 13), min_size=1, max_size=3), seed=st.integers(0, 2**16))
def test_pack_unpack_round_trip_any_width_and_shape(bits, shape, seed):
    generator = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, 2 ** bits, shape, generator=generator, dtype=torch.uint8)
    packed = pack(codes, bits)
    assert packed.dtype == torch.uint8 and packed.numel() == packed_nbytes(codes.numel(), bits)
    assert torch.equal(unpack(packed, bits, codes.shape), codes)


@pytest.mark.parametrize("bits", [1, 2, 3, 4])
@pytest.mark.parametrize("length", [1, 5, 7, 8, 9, 17, 1001])
def test_lengths_not_divisible_by_codes_per_byte(bits, length):
    codes = torch.arange(length) % (2 ** bits)
    packed = pack(codes, bits)
    assert packed.numel() == -(-length * bits // 8)
    assert torch.equal(unpack(packed, bits, length), codes.to(torch.uint8))


def test_bit_layout_is_a_little_endian_stream():
    assert pack(torch.tensor([1, 0, 1, 1, 0, 0, 0, 0, 1]), 1).tolist() == [0b00001101, 1]
    assert pack(torch.tensor([0x3, 0xA]), 4).tolist() == [0xA3]
    # 3-bit codes straddle bytes: 5 = 101b, 6 = 110b, 7 = 111b → stream 101 011 111 (LSB first)
    assert pack(torch.tensor([5, 6, 7]), 3).tolist() == [0b11110101, 0b1]
    assert pack(torch.empty(0, dtype=torch.uint8), 3).numel() == 0


def test_bad_input():
    with pytest.raises(ValueError, match="bits"):
        pack(torch.tensor([1]), 0)
    with pytest.raises(ValueError, match=r"\[0, 3\]"):
        pack(torch.tensor([4]), 2)
    with pytest.raises(ValueError, match=r"\[0, 3\]"):
        pack(torch.tensor([-1]), 2)
    with pytest.raises(TypeError, match="integer"):
        pack(torch.tensor([1.0]), 2)
    with pytest.raises(ValueError, match="bytes"):
        unpack(torch.zeros(3, dtype=torch.uint8), 4, 7)
    with pytest.raises(TypeError, match="uint8"):
        unpack(torch.zeros(3, dtype=torch.int32), 4, 6)


def test_saved_file_holds_packed_codes_and_round_trips(tmp_path):
    torch.manual_seed(0)
    weights = {"fc1": quantize_uniform(torch.randn(300, 64), 4), "fc2": ternarize(torch.randn(100, 300))}
    path = tmp_path / "packed.pt"
    save_packed(weights, path, extra={"fc1.bias": torch.zeros(300)})
    state = torch.load(path, weights_only=True)
    for name, record in weights.items():
        codes = unpack(state[f"{name}.codes"], state[f"{name}.bits"], state[f"{name}.shape"])
        assert torch.equal(codes, record.codes)
    assert state["fc1.codes"].numel() == 300 * 64 // 2 and state["fc2.codes"].numel() == 300 * 100 // 4
    payload = sum(t.numel() * t.element_size() for t in packed_state(weights).values() if isinstance(t, torch.Tensor))
    payload += 300 * 4
    assert payload < file_bytes(path) < payload + 4096  # torch.save's zip container adds a little
    with pytest.raises(ValueError, match="collides"):
        packed_state(weights, extra={"fc1.scale": torch.zeros(1)})
