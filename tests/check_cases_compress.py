"""Right and wrong answers for chapter 4's self-checks (run by tests/test_checks.py)."""
import heapq

from companion.checks import compress as checks


def huffman_right(counts):
    heap = [(count, i, [symbol]) for i, (symbol, count) in enumerate(sorted(counts.items()))]
    heapq.heapify(heap)
    lengths = {symbol: 0 for symbol in counts}
    if len(heap) == 1:
        return {symbol: 1 for symbol in counts}
    tie = len(heap)
    while len(heap) > 1:
        a, _, left = heapq.heappop(heap)
        b, _, right = heapq.heappop(heap)
        for symbol in left + right:
            lengths[symbol] += 1
        heapq.heappush(heap, (a + b, tie, left + right))
        tie += 1
    return lengths


def huffman_fixed_length(counts):  # a valid prefix code, but not an optimal one
    width = max(1, (len(counts) - 1).bit_length())
    return {symbol: width for symbol in counts}


def gaps_right(positions, bits):
    gaps, previous = [], -1
    for p in positions:
        while p - previous > 2 ** bits:
            gaps.append(2 ** bits - 1)
            previous += 2 ** bits
        gaps.append(p - previous - 1)
        previous = p
    return gaps


def gaps_without_fillers(positions, bits):
    return [p - q - 1 for p, q in zip(positions, [-1] + positions[:-1])]


def fixed_bits_right(positions, index_bits, value_bits):
    return len(gaps_right(positions, index_bits)) * (index_bits + value_bits)


def fixed_bits_without_fillers(positions, index_bits, value_bits):
    return len(positions) * (index_bits + value_bits)


CASES = [(checks.check_huffman_lengths, huffman_right, huffman_fixed_length),
         (checks.check_relative_gaps, gaps_right, gaps_without_fillers),
         (checks.check_fixed_width_bits, fixed_bits_right, fixed_bits_without_fillers)]
