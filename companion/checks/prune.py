"""Self-checks for chapter 3.4 (Pruning weights)."""
from __future__ import annotations

import torch

from ..prune import agp_sparsity, csr_bytes, nm_mask, smallest_mask, to_csr
from . import assert_close, assert_equal, exercise

__all__ = ["check_global_masks", "check_agp", "check_nm_mask", "check_csr_bytes"]


def _weights(shapes, seed):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=generator) for shape in shapes]


@exercise
def check_global_masks(global_masks) -> None:
    """``global_masks(weights, amount)`` → one 0/1 mask per tensor, pruning the ``round(amount × total)`` smallest |w| overall."""
    cases = [([(6, 4), (3, 6), (2, 3)], 0.5), ([(10, 10), (10, 2)], 0.9), ([(5, 5)], 0.2), ([(4, 4), (4, 2)], 0.0)]
    for seed, (shapes, amount) in enumerate(cases):
        weights = _weights(shapes, seed)
        pooled = smallest_mask(torch.cat([w.abs().flatten() for w in weights]), round(amount * sum(w.numel() for w in weights)))
        expected = list(torch.split(pooled, [w.numel() for w in weights]))
        got = global_masks([w.clone() for w in weights], amount)
        assert_equal(f"number of masks for shapes {shapes}", len(got), len(weights))
        for i, (g, e, w) in enumerate(zip(got, expected, weights)):
            assert_equal(f"mask {i} for shapes {shapes}, amount {amount}", torch.as_tensor(g).float(), e.view_as(w).float())


@exercise
def check_agp(agp) -> None:
    """``agp(step, initial, final, start, n, interval)`` → the AGP target sparsity (Zhu & Gupta 2017)."""
    for args in [(0, 0.0, 0.9, 0, 10, 5), (25, 0.0, 0.9, 0, 10, 5), (50, 0.0, 0.9, 0, 10, 5), (99, 0.0, 0.9, 0, 10, 5),
                 (3, 0.0, 0.8, 10, 4, 5), (17, 0.1, 0.95, 10, 4, 5), (30, 0.1, 0.95, 10, 4, 5)]:
        assert_close(f"agp{args}", agp(*args), agp_sparsity(*args), atol=1e-9)


@exercise
def check_nm_mask(my_nm_mask) -> None:
    """``my_nm_mask(weight, n, m)`` → mask keeping the n largest |w| of each group of m along the input dimension."""
    for seed, (shape, n, m) in enumerate([((4, 8), 2, 4), ((3, 12), 1, 4), ((5, 16), 2, 8), ((2, 4), 4, 4)]):
        weight = _weights([shape], seed)[0]
        assert_equal(f"{n}:{m} mask of a {shape} weight", torch.as_tensor(my_nm_mask(weight.clone(), n, m)).float(),
                     nm_mask(weight, n, m))


@exercise
def check_csr_bytes(csr_size) -> None:
    """``csr_size(rows, cols, nnz)`` → bytes of a float32 CSR matrix with int32 indices."""
    generator = torch.Generator().manual_seed(0)
    for rows, cols, keep in [(300, 64, 0.08), (100, 300, 0.5), (10, 100, 1.0), (7, 3, 0.0)]:
        weight = torch.randn(rows, cols, generator=generator) * (torch.rand(rows, cols, generator=generator) < keep)
        nnz = int((weight != 0).sum())
        assert_equal(f"csr_size({rows}, {cols}, {nnz})", csr_size(rows, cols, nnz), csr_bytes(to_csr(weight)))
