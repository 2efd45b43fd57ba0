"""One compressed model file: header (magic, version, length, CRC-32), a small JSON index, then bytes.

Layout (all integers little-endian)::

    magic  b"CDCM"            4 bytes   what the file is
    version                   2 bytes   FORMAT_VERSION; a reader refuses any other
    payload length            4 bytes   bytes after the header
    CRC-32 of the payload     4 bytes   zlib's CRC-32, so a flipped or missing byte is detected
    payload:
      index length            2 bytes
      index                   JSON: architecture, coding, per layer (name, shape, codebook size,
                              index bits, stored entries, stream bytes), extra tensors (name, shape, dtype)
      per layer, in order:    codebook (float32 × K)
                              [huffman] code lengths of the K value symbols and of the 2^b gaps
                              (4 bits each when all are ≤ 15, else 8; the width is in the index)
                              value-code stream, gap stream
      extra tensors:          weight layers' biases as int8 (per-tensor affine: float32 S, int8 Z, codes),
                              BatchNorm parameters and statistics as float16, integers as int64

Each weight layer is stored as Deep Compression stores it: its codebook, then only the stored entries
(kept weights and filler zeros, see :mod:`~companion.compress.relative_index`) as two streams, the
entries' codebook indices and the gaps between their positions. ``coding="huffman"`` writes both
streams with canonical Huffman codes (:mod:`~companion.compress.huffman`); ``coding="fixed"`` packs
them at a fixed width (⌈log₂ K⌉ and b bits), the stage before entropy coding.

Weight code 0 is reserved for zero: codebook[0] must be exactly 0, and a weight with code 0 is a
pruned one (or a filler). A reader that meets a wrong magic, another version, a length that does not
match, or a CRC that does not match raises :class:`CompressedFileError` and builds nothing.
"""
from __future__ import annotations

import io
import json
import math
import os
import struct
import zlib
from collections import Counter

import torch
from torch import nn

from ..models import build
from ..quant.kmeans import SharedWeight
from ..quant.affine import calc_qparams, dequantize, quantize
from ..quant.packing import pack, packed_nbytes, unpack
from . import huffman
from .relative_index import from_relative, to_relative

__all__ = ["MAGIC", "FORMAT_VERSION", "CompressedFileError", "save_compressed", "load_compressed", "encode_model",
           "decode_model", "stored_copy", "CODINGS"]

MAGIC = b"CDCM"
FORMAT_VERSION = 1
CODINGS = ("huffman", "fixed")
_HEADER = struct.Struct("<4sHII")


class CompressedFileError(ValueError):
    """A compressed model file that cannot be trusted: wrong magic, version, length or checksum."""


def _value_width(symbols: int) -> int:
    return max(1, math.ceil(math.log2(symbols)))


def _shared_layers(model: nn.Module) -> dict[str, SharedWeight]:
    layers = {name: m for name, m in model.named_modules() if isinstance(m, SharedWeight)}
    if not layers:
        raise ValueError("model has no SharedWeight layers: share its weights first "
                         "(companion.compress.share_pruned_weights)")
    for name, layer in layers.items():
        if float(layer.codebook.detach()[0]) != 0.0:
            raise ValueError(f"layer {name!r}: codebook[0] must be exactly 0 (the code of pruned weights), "
                             f"got {float(layer.codebook.detach()[0])}")
    return layers


def _extras(model: nn.Module, shared: dict[str, SharedWeight]) -> dict[str, torch.Tensor]:
    """Every tensor of the plain model's state_dict that is not a shared weight, under its plain name."""
    out = {}
    for key, tensor in model.state_dict().items():
        owner = next((name for name in shared if key.startswith(name + ".")), None)
        if owner is None:
            out[key] = tensor
            continue
        rest = key[len(owner) + 1:]
        if rest.startswith("layer.") and rest != "layer.weight":
            out[f"{owner}.{rest[len('layer.'):]}"] = tensor
    return out


def _stored_dtype(key: str, tensor: torch.Tensor, shared: dict[str, SharedWeight]) -> str:
    """How an extra tensor is stored: ``q8`` for a weight layer's bias, ``f16`` other floats, ``i64`` integers."""
    if not tensor.is_floating_point():
        return "i64"
    return "q8" if key.endswith(".bias") and key[: -len(".bias")] in shared else "f16"


def _extra_size(numel: int, dtype: str) -> int:
    return {"q8": 5 + numel, "f16": 2 * numel, "i64": 8 * numel}[dtype]


def _extra_bytes(tensor: torch.Tensor, dtype: str) -> bytes:
    """``q8``: float32 scale S, int8 zero-point Z, then int8 codes (asymmetric per tensor, 0 exact)."""
    tensor = tensor.detach().cpu()
    if dtype == "q8":
        scale, zero = calc_qparams(tensor.min(), tensor.max())
        codes = quantize(tensor, scale, zero).to(torch.int8)
        return struct.pack("<fb", float(scale), int(zero)) + codes.contiguous().numpy().tobytes()
    torch_dtype = torch.float16 if dtype == "f16" else torch.int64
    return tensor.to(torch_dtype).contiguous().numpy().tobytes()


def _read_extra(raw: bytes, shape: list[int], dtype: str) -> torch.Tensor:
    if dtype == "q8":
        scale, zero = struct.unpack_from("<fb", raw)
        codes = torch.frombuffer(bytearray(raw[5:]), dtype=torch.int8).reshape(shape)
        return dequantize(codes, torch.tensor(scale, dtype=torch.float32), torch.tensor(zero, dtype=torch.int32))
    torch_dtype = torch.float16 if dtype == "f16" else torch.int64
    tensor = torch.frombuffer(bytearray(raw), dtype=torch_dtype).reshape(shape)
    return tensor.to(torch.float32) if dtype == "f16" else tensor.clone()


def _table_bytes(lengths: list[int]) -> tuple[bytes, int]:
    """Code lengths as 4-bit nibbles when all are ≤ 15 (the usual case), else one byte each."""
    width = 4 if max(lengths, default=0) <= 15 else 8
    return pack(torch.tensor(lengths, dtype=torch.int64), width).numpy().tobytes(), width


def _read_table(stream: io.BytesIO, count: int, width: int) -> list[int]:
    raw = torch.frombuffer(bytearray(stream.read(packed_nbytes(count, width))), dtype=torch.uint8)
    return unpack(raw, width, count).tolist()


def _check_architecture(architecture) -> tuple[str, dict]:
    if (not isinstance(architecture, (tuple, list)) or len(architecture) != 2 or not isinstance(architecture[0], str)
            or not isinstance(architecture[1], dict)):
        raise TypeError(f"architecture must be (model name, kwargs dict) as for companion.models.build, "
                        f"got {architecture!r}")
    return architecture[0], architecture[1]


def encode_model(model: nn.Module, architecture, index_bits: int | dict[str, int] = 4,
                 coding: str = "huffman") -> tuple[bytes, dict]:
    """The file's bytes for a model whose weight layers are :class:`SharedWeight`, and a size breakdown.

    ``architecture`` is ``(name, kwargs)`` for :func:`companion.models.build`; ``index_bits`` the gap
    width b (one for all layers, or per layer name). The breakdown counts bytes per part: header and
    index, codebooks, Huffman tables, value codes, gaps, extra tensors; and the stored entries.
    """
    if coding not in CODINGS:
        raise ValueError(f"coding must be one of {CODINGS}, got {coding!r}")
    name, kwargs = _check_architecture(architecture)
    shared = _shared_layers(model)
    if isinstance(index_bits, dict) and set(index_bits) != set(shared):
        raise ValueError(f"index_bits must give one width per shared layer {sorted(shared)}, "
                         f"got {sorted(index_bits)}")
    sizes = Counter()
    index = {"architecture": [name, kwargs], "coding": coding, "layers": [], "extras": []}
    body = io.BytesIO()
    for layer_name, layer in shared.items():
        bits = index_bits[layer_name] if isinstance(index_bits, dict) else index_bits
        codes = layer.codes.reshape(-1).to(torch.int64)
        codebook = layer.codebook.detach().to(torch.float32).cpu()
        gaps, slots = to_relative(torch.nonzero(codes).reshape(-1), bits)
        values = codes[slots]
        symbols = codebook.numel()
        part = {}
        part["codebook"] = codebook.numpy().tobytes()
        if coding == "huffman":
            value_lengths = huffman.lengths_for(values.tolist())
            gap_lengths = huffman.lengths_for(gaps.tolist())
            value_table, value_width = _table_bytes([value_lengths.get(s, 0) for s in range(symbols)])
            gap_table, gap_width = _table_bytes([gap_lengths.get(g, 0) for g in range(2 ** bits)])
            part["tables"] = value_table + gap_table
            table_widths = [value_width, gap_width]
            part["values"], _ = huffman.encode(values.tolist(), value_lengths)
            part["gaps"], _ = huffman.encode(gaps.tolist(), gap_lengths)
        else:
            if _value_width(symbols) > 8 or bits > 8:
                raise ValueError(f"fixed coding packs at most 8 bits per code; layer {layer_name!r} needs "
                                 f"{_value_width(symbols)} and index_bits={bits}")
            part["tables"], table_widths = b"", [0, 0]
            part["values"] = pack(values, _value_width(symbols)).numpy().tobytes()
            part["gaps"] = pack(gaps, bits).numpy().tobytes()
        index["layers"].append([layer_name, list(layer.codes.shape), symbols, bits, int(values.numel()),
                                len(part["values"]), len(part["gaps"]), *table_widths])
        for key in ("codebook", "tables", "values", "gaps"):
            body.write(part[key])
            sizes[key] += len(part[key])
        sizes["stored entries"] += int(values.numel())
        sizes["kept weights"] += int((values != 0).sum())
        sizes["fillers"] += int((values == 0).sum())
    for key, tensor in _extras(model, shared).items():
        dtype = _stored_dtype(key, tensor, shared)
        raw = _extra_bytes(tensor, dtype)
        index["extras"].append([key, list(tensor.shape), dtype])
        body.write(raw)
        sizes["extras"] += len(raw)
    index_bytes = json.dumps(index, separators=(",", ":")).encode()
    payload = struct.pack("<H", len(index_bytes)) + index_bytes + body.getvalue()
    sizes["header and index"] = _HEADER.size + 2 + len(index_bytes)
    data = _HEADER.pack(MAGIC, FORMAT_VERSION, len(payload), zlib.crc32(payload)) + payload
    sizes["total"] = len(data)
    return data, dict(sizes)


def _check_header(data: bytes) -> bytes:
    if len(data) < _HEADER.size:
        raise CompressedFileError(f"file is truncated: {len(data)} bytes, shorter than the {_HEADER.size}-byte header")
    magic, version, length, crc = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise CompressedFileError(f"not a compressed model file: magic is {magic!r}, expected {MAGIC!r}")
    if version != FORMAT_VERSION:
        raise CompressedFileError(f"unsupported format version {version}: this reader reads version {FORMAT_VERSION}")
    payload = data[_HEADER.size:]
    if len(payload) != length:
        raise CompressedFileError(f"file is truncated or has trailing bytes: the header announces a "
                                  f"{length}-byte payload, the file holds {len(payload)}")
    if zlib.crc32(payload) != crc:
        raise CompressedFileError(f"checksum mismatch: the payload's CRC-32 is {zlib.crc32(payload):#010x}, "
                                  f"the header says {crc:#010x}; the file is corrupted")
    return payload


def decode_model(data: bytes) -> nn.Module:
    """Rebuild the plain model (dense float weights Ŵ = codebook[codes]) from a file's bytes, in eval mode."""
    payload = _check_header(data)
    (index_length,) = struct.unpack_from("<H", payload)
    index = json.loads(payload[2:2 + index_length])
    stream = io.BytesIO(payload[2 + index_length:])
    name, kwargs = index["architecture"]
    model = build(name, **kwargs)
    state = {}
    for layer_name, shape, symbols, bits, entries, value_bytes, gap_bytes, *widths in index["layers"]:
        codebook = torch.frombuffer(bytearray(stream.read(4 * symbols)), dtype=torch.float32)
        if index["coding"] == "huffman":
            value_table, gap_table = _read_table(stream, symbols, widths[0]), _read_table(stream, 2 ** bits, widths[1])
            value_lengths = {s: length for s, length in enumerate(value_table) if length}
            gap_lengths = {g: length for g, length in enumerate(gap_table) if length}
            values = torch.tensor(huffman.decode(stream.read(value_bytes), entries, value_lengths), dtype=torch.int64)
            gaps = torch.tensor(huffman.decode(stream.read(gap_bytes), entries, gap_lengths), dtype=torch.int64)
        else:
            raw_values = torch.frombuffer(bytearray(stream.read(value_bytes)), dtype=torch.uint8)
            raw_gaps = torch.frombuffer(bytearray(stream.read(gap_bytes)), dtype=torch.uint8)
            values = unpack(raw_values, _value_width(symbols), entries).to(torch.int64)
            gaps = unpack(raw_gaps, bits, entries).to(torch.int64)
        codes = torch.zeros(math.prod(shape), dtype=torch.int64)
        codes[from_relative(gaps.reshape(-1), bits)] = values.reshape(-1)
        state[f"{layer_name}.weight"] = codebook[codes].reshape(shape)
    for key, shape, dtype in index["extras"]:
        state[key] = _read_extra(stream.read(_extra_size(math.prod(shape), dtype)), shape, dtype)
    model.load_state_dict(state)
    return model.eval()


def save_compressed(model: nn.Module, path: str | os.PathLike, architecture, index_bits: int | dict[str, int] = 4,
                    coding: str = "huffman") -> dict:
    """Write ``model`` (weight layers as :class:`SharedWeight`) to ``path``; return the size breakdown."""
    data, sizes = encode_model(model, architecture, index_bits, coding)
    with open(path, "wb") as handle:
        handle.write(data)
    return sizes


def load_compressed(path: str | os.PathLike) -> nn.Module:
    """Read a file written by :func:`save_compressed`: the plain model, in eval mode, or a clear error."""
    with open(path, "rb") as handle:
        return decode_model(handle.read())


def stored_copy(model: nn.Module, architecture) -> nn.Module:
    """The plain model exactly as :func:`save_compressed` stores it (biases int8, other extras float16).

    This is the in-memory compressed model: it equals what :func:`load_compressed` returns.
    """
    name, kwargs = _check_architecture(architecture)
    shared = _shared_layers(model)
    plain = build(name, **kwargs)
    state = {f"{n}.weight": layer.weight().detach().clone() for n, layer in shared.items()}
    for key, tensor in _extras(model, shared).items():
        dtype = _stored_dtype(key, tensor, shared)
        state[key] = _read_extra(_extra_bytes(tensor, dtype), list(tensor.shape), dtype)
    plain.load_state_dict(state)
    return plain.eval()
