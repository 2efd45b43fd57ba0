"""N:M storage cost against a brute-force count: compress a real 2:4 matrix into values and packed indices."""
import math

import pytest
import torch

from companion.prune import nm_bits_per_weight, nm_mask
from companion.quant.packing import pack


@pytest.mark.parametrize("n, m, value_bits", [(2, 4, 16), (2, 4, 8), (1, 4, 16), (4, 8, 8), (1, 2, 32)])
def test_bits_per_weight_match_a_real_compressed_matrix(n, m, value_bits):
    torch.manual_seed(0)
    weight = torch.randn(12, 8 * m)
    kept = (weight * nm_mask(weight, n, m)).reshape(12, -1, m)
    positions = kept.ne(0).nonzero()[:, 2]  # the index of each survivor inside its group
    values = kept[kept.ne(0)]
    index_bits = math.ceil(math.log2(m))
    stored_bits = values.numel() * value_bits + 8 * pack(positions.to(torch.uint8), index_bits).numel()
    assert values.numel() == weight.numel() * n // m
    assert nm_bits_per_weight(value_bits, n, m) == pytest.approx(stored_bits / weight.numel())


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="value_bits must be a positive integer"):
        nm_bits_per_weight(0)
    with pytest.raises(ValueError):
        nm_bits_per_weight(16, n=5, m=4)
