"""Bit packing: store b-bit codes in ⌈n · b / 8⌉ bytes instead of one byte (or four) each.

A ``uint8`` tensor of 4-bit codes still spends 8 bits per code; the savings of low-bit quantization
exist only once codes are packed. :func:`pack` writes the codes as one little-endian **bitstream**: code
i occupies bits [i·b, (i+1)·b) of the stream, least significant bit first, and bit k of the stream is
bit (k mod 8) of byte ⌊k/8⌋. So 1, 2 and 4 bits fit whole codes in a byte (8, 4, 2 per byte), while 3-bit
(or 5-, 6-, 7-bit) codes straddle byte boundaries. The last byte is zero-padded.

:func:`save_packed` writes packed codes and their scales or codebooks to a real file with ``torch.save``
so that the chapter measures bytes on disk, not estimates.
"""
from __future__ import annotations

import os
from typing import Mapping

import torch

from .lowbit import QuantizedWeight

__all__ = ["PACK_BITS", "packed_nbytes", "pack", "unpack", "packed_state", "save_packed"]

PACK_BITS = range(1, 9)


def _check_bits(bits) -> None:
    if not isinstance(bits, int) or bits not in PACK_BITS:
        raise ValueError(f"bits must be an integer in [1, 8] to pack, got {bits!r}")


def packed_nbytes(numel: int, bits: int) -> int:
    """⌈numel · bits / 8⌉: the bytes :func:`pack` returns for ``numel`` codes of ``bits`` bits."""
    _check_bits(bits)
    if numel < 0:
        raise ValueError(f"numel must be ≥ 0, got {numel}")
    return -(-numel * bits // 8)


def pack(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """Pack integer codes in [0, 2^bits − 1] (any shape, read in row-major order) into a 1-D ``uint8`` bitstream."""
    _check_bits(bits)
    if not isinstance(codes, torch.Tensor) or codes.is_floating_point() or codes.is_complex() or codes.dtype == torch.bool:
        raise TypeError(f"codes must be an integer tensor, got {codes.dtype if isinstance(codes, torch.Tensor) else type(codes).__name__}")
    flat = codes.reshape(-1).to(torch.int64)
    if flat.numel() and (flat.min() < 0 or flat.max() >= 2 ** bits):
        raise ValueError(f"codes must lie in [0, {2 ** bits - 1}] for {bits} bits, got range "
                         f"[{int(flat.min())}, {int(flat.max())}]")
    stream = ((flat.unsqueeze(1) >> torch.arange(bits)) & 1).reshape(-1)  # bit j of code i at i·bits + j
    stream = torch.nn.functional.pad(stream, (0, -stream.numel() % 8))
    weights = 1 << torch.arange(8)
    return (stream.reshape(-1, 8) * weights).sum(dim=1).to(torch.uint8)


def unpack(packed: torch.Tensor, bits: int, shape: torch.Size | tuple[int, ...] | int) -> torch.Tensor:
    """Inverse of :func:`pack`: the ``uint8`` codes of ``shape`` read back from the bitstream ``packed``."""
    _check_bits(bits)
    if not isinstance(packed, torch.Tensor) or packed.dtype != torch.uint8:
        raise TypeError("packed must be a uint8 tensor made by pack()")
    shape = torch.Size([shape]) if isinstance(shape, int) else torch.Size(shape)
    numel = shape.numel()
    if packed.numel() != packed_nbytes(numel, bits):
        raise ValueError(f"{numel} codes of {bits} bits take {packed_nbytes(numel, bits)} bytes, "
                         f"but packed holds {packed.numel()}")
    stream = ((packed.reshape(-1).to(torch.int64).unsqueeze(1) >> torch.arange(8)) & 1).reshape(-1)
    code_bits = stream[: numel * bits].reshape(numel, bits)
    return (code_bits << torch.arange(bits)).sum(dim=1).to(torch.uint8).reshape(shape)


def packed_state(weights: Mapping[str, QuantizedWeight], extra: Mapping[str, torch.Tensor] | None = None) -> dict:
    """What a file of low-bit weights holds: per layer the packed codes and the side tensors (scales…).

    Keys are ``<layer>.codes`` (``uint8`` bitstream) and ``<layer>.<side>`` (e.g. ``fc1.scale``); ``extra``
    adds float tensors stored as they are (biases, BatchNorm). Shapes and bit widths, needed to unpack,
    are plain Python values ``<layer>.shape`` (a tuple) and ``<layer>.bits`` (an int), which cost a few
    bytes in the file where a tensor would cost a few hundred (each tensor is a record in the zip archive).
    """
    state: dict = {}
    for name, record in weights.items():
        state[f"{name}.codes"] = pack(record.codes, record.bits)
        state[f"{name}.shape"] = tuple(record.codes.shape)
        state[f"{name}.bits"] = record.bits
        for side, tensor in record.side_tensors().items():
            state[f"{name}.{side}"] = tensor
    for key, tensor in (extra or {}).items():
        if key in state:
            raise ValueError(f"extra key {key!r} collides with a packed weight's key")
        state[key] = tensor
    return state


def save_packed(weights: Mapping[str, QuantizedWeight], path: str | os.PathLike,
                extra: Mapping[str, torch.Tensor] | None = None) -> None:
    """``torch.save`` :func:`packed_state` to ``path`` (load it back with ``torch.load(path, weights_only=True)``)."""
    torch.save(packed_state(weights, extra), path)
