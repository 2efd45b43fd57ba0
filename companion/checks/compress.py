"""Self-checks for chapter 4 (best practice): Huffman code lengths, relative indices, their storage cost."""
from __future__ import annotations

import torch

from ..compress.huffman import code_lengths, coded_bits
from ..compress.relative_index import filler_count, to_relative
from . import assert_equal, exercise

__all__ = ["check_huffman_lengths", "check_relative_gaps", "check_fixed_width_bits"]


@exercise
def check_huffman_lengths(huffman_lengths) -> None:
    """``huffman_lengths(counts)`` → {symbol: code length}, an optimal prefix code for {symbol: count}."""
    cases = {"two symbols": {0: 5, 1: 1}, "CLRS's six symbols": {0: 45, 1: 13, 2: 12, 3: 16, 4: 9, 5: 5},
             "equal counts": {s: 10 for s in range(8)}, "powers of two": {s: 2 ** s for s in range(10)}}
    for what, counts in cases.items():
        got = huffman_lengths(dict(counts))
        assert_equal(f"symbols with a length for {what}", sorted(got), sorted(counts))
        kraft = sum(2.0 ** -length for length in got.values())
        if kraft > 1 + 1e-12:
            raise AssertionError(f"{what}: lengths {got} break Kraft's inequality (Σ 2^-l = {kraft}), "
                                 "so no prefix code has them")
        assert_equal(f"coded bits Σ f·l for {what}", coded_bits(counts, got), coded_bits(counts, code_lengths(counts)))


@exercise
def check_relative_gaps(relative_gaps) -> None:
    """``relative_gaps(positions, index_bits)`` → list of gaps, with filler entries for gaps ≥ 2^index_bits."""
    cases = [([0, 3, 20], 3), ([5], 2), ([], 4), ([2, 40, 41, 100], 4), (list(range(0, 200, 9)), 3)]
    for positions, bits in cases:
        got = relative_gaps(list(positions), bits)
        expected = to_relative(torch.tensor(positions, dtype=torch.int64), bits)[0].tolist()
        assert_equal(f"relative_gaps({positions}, {bits})", list(got), expected)


@exercise
def check_fixed_width_bits(fixed_width_bits) -> None:
    """``fixed_width_bits(positions, index_bits, value_bits)`` → bits of kept + filler entries at fixed width."""
    generator = torch.Generator().manual_seed(3)
    scattered = torch.sort(torch.randperm(5000, generator=generator)[:400]).values.tolist()
    cases = [([0, 3, 20], 3, 4), ([], 5, 4), (scattered, 2, 4), (scattered, 5, 4), (scattered, 8, 5)]
    for positions, index_bits, value_bits in cases:
        entries = len(positions) + filler_count(torch.tensor(positions, dtype=torch.int64), index_bits)
        assert_equal(f"fixed_width_bits(<{len(positions)} positions>, {index_bits}, {value_bits})",
                     fixed_width_bits(list(positions), index_bits, value_bits), entries * (index_bits + value_bits))
