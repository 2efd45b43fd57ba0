"""Self-checks for chapter 5.2 (natural language: the text encoder and its compression)."""
from __future__ import annotations

import torch

from ..text.compress import Int8Embedding
from ..text.encoder import mean_pool as reference_mean_pool
from ..text.pruning import lowest_units, normalize_per_layer
from . import assert_close, assert_equal, exercise

__all__ = ["check_mean_pool", "check_quantize_rows", "check_lowest_heads"]


@exercise
def check_mean_pool(mean_pool) -> None:
    """``mean_pool(hidden, mask)`` → the (batch, H) mean of ``hidden`` over the tokens where ``mask`` is 1."""
    generator = torch.Generator().manual_seed(0)
    hidden = torch.randn(3, 5, 4, generator=generator)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0]])
    got = mean_pool(hidden.clone(), mask.clone())
    assert_close("mean_pool(hidden of shape (3, 5, 4), mask with 5, 2 and 1 real tokens)", got,
                 reference_mean_pool(hidden, mask), atol=1e-6)


@exercise
def check_quantize_rows(quantize_rows) -> None:
    """``quantize_rows(table)`` → (int8 codes, one symmetric scale per row), S_r = max|E_r| / 127.5."""
    generator = torch.Generator().manual_seed(0)
    table = torch.randn(6, 8, generator=generator) * torch.tensor([[0.1], [1.0], [5.0], [0.01], [2.0], [0.0]])
    expected = Int8Embedding.from_float(torch.nn.Embedding.from_pretrained(table))
    codes, scales = quantize_rows(table.clone())
    codes, scales = torch.as_tensor(codes), torch.as_tensor(scales)
    assert_close("quantize_rows: scales", scales.reshape(-1), expected.scale, rtol=1e-6, atol=0)
    assert_equal("quantize_rows: codes", codes.to(torch.int64), expected.weight_int8.to(torch.int64))


@exercise
def check_lowest_heads(lowest_heads) -> None:
    """``lowest_heads(scores, count)`` → {layer: sorted heads}: the ``count`` lowest after per-layer ℓ2 norms."""
    generator = torch.Generator().manual_seed(0)
    scores = torch.rand(4, 6, generator=generator) * torch.tensor([[1.0], [10.0], [0.1], [3.0]])
    for count in (0, 5, 12):
        expected = lowest_units(normalize_per_layer(scores), count)
        got = lowest_heads(scores.clone(), count)
        got = {int(layer): sorted(int(h) for h in heads) for layer, heads in dict(got).items() if len(heads)}
        assert_equal(f"lowest_heads(scores of shape (4, 6), count={count})", got, expected)
