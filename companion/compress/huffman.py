"""Huffman coding from scratch: optimal prefix codes for a stream of small integer symbols.

Given how often each symbol s occurs (its count f_s), Huffman's construction gives every symbol a code
length l_s that minimises the coded size

    L = Σ_s f_s · l_s   bits,   subject to Kraft's inequality  Σ_s 2^(−l_s) ≤ 1,

which no prefix code can beat, and which is within one bit per symbol of the entropy
H = −Σ_s p_s log₂ p_s. The construction: put every symbol in a min-heap keyed by its count, take out
the two least frequent subtrees, merge them into one whose count is their sum, and repeat until one
tree is left; a symbol's code length is its depth in that tree.

Only the **lengths** are stored. The codes themselves follow from them by the canonical rule
(DEFLATE's): sort symbols by (length, symbol) and hand out consecutive binary numbers, shifting left
whenever the length grows. A decoder rebuilds exactly the same codes from the lengths, so a file stores
one length per symbol of the alphabet, not a tree.

Bit order: codes are written most significant bit first, into a stream whose bit k is bit
7 − (k mod 8) of byte ⌊k/8⌋ (the first bit is the top bit of the first byte); the last byte is padded
with zeros. Two corner cases the construction does not cover on its own: a stream with a single
distinct symbol gets a one-bit code (0), and an empty stream gets no codes at all (all lengths 0).
"""
from __future__ import annotations

import heapq
import itertools
from collections import Counter
from typing import Iterable, Mapping, Sequence

__all__ = ["code_lengths", "lengths_for", "canonical_codes", "coded_bits", "encode", "decode", "MAX_CODE_LENGTH"]

MAX_CODE_LENGTH = 255  # a file stores each length in one byte


def _check_counts(counts: Mapping[int, int]) -> None:
    for symbol, count in counts.items():
        if isinstance(symbol, bool) or not isinstance(symbol, int) or symbol < 0:
            raise TypeError(f"symbols must be non-negative ints, got {symbol!r}")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"counts must be non-negative ints, got {count!r} for symbol {symbol}")


def code_lengths(counts: Mapping[int, int]) -> dict[int, int]:
    """Huffman code length (bits) of each symbol with a positive count in ``counts`` {symbol: count}.

    Ties between equal counts are broken by insertion order into the heap (symbols in increasing order
    first, merged subtrees after), so the result is deterministic. One symbol gets length 1; no symbol
    (empty or all-zero counts) gives ``{}``.
    """
    _check_counts(counts)
    present = sorted(s for s, c in counts.items() if c > 0)
    if len(present) <= 1:
        return {s: 1 for s in present}
    order = itertools.count()
    # heap entries: (count, tie-breaker, symbols in the subtree); merging deepens every symbol by one
    heap = [(counts[s], next(order), [s]) for s in present]
    heapq.heapify(heap)
    depth = dict.fromkeys(present, 0)
    while len(heap) > 1:
        count_a, _, symbols_a = heapq.heappop(heap)
        count_b, _, symbols_b = heapq.heappop(heap)
        for s in symbols_a + symbols_b:
            depth[s] += 1
        heapq.heappush(heap, (count_a + count_b, next(order), symbols_a + symbols_b))
    if max(depth.values()) > MAX_CODE_LENGTH:
        raise ValueError(f"a code length exceeds {MAX_CODE_LENGTH} bits; the counts are too skewed to store")
    return depth


def canonical_codes(lengths: Mapping[int, int]) -> dict[int, tuple[int, int]]:
    """The canonical prefix code {symbol: (code, length)} for the given code lengths (0 = symbol absent).

    Raises ``ValueError`` if the lengths violate Kraft's inequality (no prefix code has them).
    """
    used = sorted((length, symbol) for symbol, length in lengths.items() if length > 0)
    if any(length > MAX_CODE_LENGTH for length, _ in used):
        raise ValueError(f"code lengths must be at most {MAX_CODE_LENGTH}, got {max(l for l, _ in used)}")
    if sum(2.0 ** -length for length, _ in used) > 1.0 + 1e-12:
        raise ValueError("code lengths violate Kraft's inequality Σ 2^(−l) ≤ 1: no prefix code has them")
    codes, code, previous = {}, 0, 0
    for length, symbol in used:
        code <<= length - previous
        codes[symbol] = (code, length)
        code += 1
        previous = length
    return codes


def coded_bits(counts: Mapping[int, int], lengths: Mapping[int, int]) -> int:
    """L = Σ_s f_s · l_s: the bits a stream with these symbol counts takes with these code lengths."""
    _check_counts(counts)
    missing = [s for s, c in counts.items() if c > 0 and lengths.get(s, 0) == 0]
    if missing:
        raise ValueError(f"symbols {missing[:5]} occur but have no code")
    return sum(count * lengths[s] for s, count in counts.items() if count > 0)


def encode(symbols: Sequence[int] | Iterable[int], lengths: Mapping[int, int]) -> tuple[bytes, int]:
    """Encode ``symbols`` with the canonical code of ``lengths``: (the bytes, the number of bits used)."""
    codes = canonical_codes(lengths)
    pieces = []
    for symbol in symbols:
        if symbol not in codes:
            raise ValueError(f"symbol {symbol!r} has no code (its length is 0 or it is not in the alphabet)")
        code, length = codes[symbol]
        pieces.append(format(code, f"0{length}b"))
    text = "".join(pieces)
    padded = text + "0" * (-len(text) % 8)
    return int(padded, 2).to_bytes(len(padded) // 8, "big") if padded else b"", len(text)


def decode(data: bytes, count: int, lengths: Mapping[int, int]) -> list[int]:
    """Decode ``count`` symbols from ``data`` with the canonical code of ``lengths``.

    Canonical decoding: reading one bit at a time, a code of length l is complete when its value minus
    the first code of length l is below the number of codes of that length.
    """
    if count < 0:
        raise ValueError(f"count must be ≥ 0, got {count}")
    codes = canonical_codes(lengths)
    if count and not codes:
        raise ValueError(f"cannot decode {count} symbols: the code has no symbols")
    by_length: dict[int, list[int]] = {}
    for symbol, (_, length) in sorted(codes.items(), key=lambda item: item[1]):
        by_length.setdefault(length, []).append(symbol)
    first = {length: codes[symbols[0]][0] for length, symbols in by_length.items()}
    bits = "".join(format(byte, "08b") for byte in data)
    out, position = [], 0
    for _ in range(count):
        value, length = 0, 0
        while True:
            if position >= len(bits):
                raise ValueError(f"bitstream ended after {len(out)} of {count} symbols: the data is truncated")
            value = (value << 1) | (bits[position] == "1")
            position += 1
            length += 1
            symbols = by_length.get(length)
            if symbols is not None and 0 <= value - first[length] < len(symbols):
                out.append(symbols[value - first[length]])
                break
            if length > MAX_CODE_LENGTH:
                raise ValueError("bitstream holds a bit pattern that is no code: the data is corrupted")
    return out


def lengths_for(symbols: Iterable[int]) -> dict[int, int]:
    """Huffman code lengths for the symbol counts of a stream."""
    return code_lengths(Counter(symbols))
