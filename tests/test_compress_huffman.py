"""Huffman coding: optimal (against a reference heap construction and dahuffman) and lossless."""
import heapq
import itertools
import math
from collections import Counter

import dahuffman
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from companion.compress import huffman


def reference_cost(counts: dict) -> int:
    """Optimal coded size Σ f·l by the textbook argument: each merge of the two smallest weights adds their sum."""
    weights = [c for c in counts.values() if c > 0]
    if len(weights) == 1:
        return weights[0]
    heapq.heapify(weights)
    cost = 0
    while len(weights) > 1:
        merged = heapq.heappop(weights) + heapq.heappop(weights)
        cost += merged
        heapq.heappush(weights, merged)
    return cost


counts_strategy = st.dictionaries(st.integers(0, 300), st.integers(1, 10_000), min_size=2, max_size=60)


@settings(max_examples=200, deadline=None)
@given(counts_strategy)
def test_code_lengths_are_optimal_and_satisfy_kraft(counts):
    lengths = huffman.code_lengths(counts)
    assert set(lengths) == set(counts)
    assert huffman.coded_bits(counts, lengths) == reference_cost(counts)
    assert sum(2.0 ** -l for l in lengths.values()) == pytest.approx(1.0)  # a full tree: Kraft with equality


@settings(max_examples=100, deadline=None)
@given(counts_strategy)
def test_code_lengths_match_dahuffman(counts):
    oracle = dahuffman.HuffmanCodec.from_frequencies(counts)
    oracle_lengths = {s: bits for s, (bits, _) in oracle.get_code_table().items() if s in counts}
    # dahuffman adds an end-of-file symbol, so compare with our code over the same alphabet plus that symbol
    eof = max(counts) + 1
    ours = huffman.code_lengths({**counts, eof: 1})
    assert huffman.coded_bits({**counts, eof: 1}, ours) == huffman.coded_bits(
        {**counts, eof: 1}, {**oracle_lengths, eof: oracle.get_code_table()[oracle._eof][0]})


def test_a_known_code():
    lengths = huffman.code_lengths({0: 45, 1: 13, 2: 12, 3: 16, 4: 9, 5: 5})  # CLRS's example
    assert lengths == {0: 1, 1: 3, 2: 3, 3: 3, 4: 4, 5: 4}
    assert huffman.canonical_codes(lengths) == {0: (0b0, 1), 1: (0b100, 3), 2: (0b101, 3), 3: (0b110, 3),
                                                4: (0b1110, 4), 5: (0b1111, 4)}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 40), max_size=400))
def test_round_trip_is_lossless(symbols):
    lengths = huffman.lengths_for(symbols)
    data, bits = huffman.encode(symbols, lengths)
    assert len(data) == math.ceil(bits / 8)
    assert bits == huffman.coded_bits(Counter(symbols), lengths) if symbols else bits == 0
    assert huffman.decode(data, len(symbols), lengths) == symbols


@pytest.mark.parametrize("symbols", [[], [7], [7] * 50])
def test_empty_and_one_symbol_streams(symbols):
    lengths = huffman.lengths_for(symbols)
    assert lengths == ({} if not symbols else {7: 1})
    data, bits = huffman.encode(symbols, lengths)
    assert bits == len(symbols)
    assert huffman.decode(data, len(symbols), lengths) == symbols


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="counts must be non-negative"):
        huffman.code_lengths({0: -1, 1: 2})
    with pytest.raises(TypeError, match="symbols must be non-negative ints"):
        huffman.code_lengths({"a": 1})
    with pytest.raises(ValueError, match="Kraft"):
        huffman.canonical_codes({0: 1, 1: 1, 2: 1})
    with pytest.raises(ValueError, match="no code"):
        huffman.encode([3], {0: 1, 1: 1})
    lengths = huffman.lengths_for([0, 1, 1, 2, 2, 2])
    data, _ = huffman.encode([0, 1, 2] * 10, lengths)
    with pytest.raises(ValueError, match="truncated"):
        huffman.decode(data[:2], 30, lengths)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 50), min_size=2, max_size=5))
def test_no_prefix_code_beats_huffman_brute_force(frequencies):
    """Every assignment of lengths 1..n-1 that satisfies Kraft's inequality costs at least Huffman's."""
    counts = dict(enumerate(frequencies))
    n = len(counts)
    best = min(sum(f * l for f, l in zip(frequencies, lengths))
               for lengths in itertools.product(range(1, n), repeat=n)
               if sum(2.0 ** -l for l in lengths) <= 1)
    assert huffman.coded_bits(counts, huffman.code_lengths(counts)) == best
