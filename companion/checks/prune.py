"""Self-checks for chapter 3.4 (Pruning weights)."""
from __future__ import annotations

import torch

from ..prune import agp_sparsity, csr_bytes, nm_mask, smallest_mask, to_csr
from . import assert_close, assert_equal, assert_integer, assert_unchanged, exercise, snapshot

__all__ = ["check_global_masks", "check_agp", "check_nm_mask", "check_csr_bytes"]


def _weights(shapes, seed):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=generator) for shape in shapes]


def _tied_weights(shapes, seed):
    """Weights drawn from {-2, …, 2}: most magnitudes are tied, so only the stated tie rule gives one answer."""
    generator = torch.Generator().manual_seed(seed)
    return [torch.randint(-2, 3, shape, generator=generator).float() for shape in shapes]


@exercise
def check_global_masks(global_masks) -> None:
    """``global_masks(weights, amount)`` → one 0/1 mask per tensor, pruning the ``round(amount × total)`` smallest |w| overall.

    Ties in |w| are broken by position, as the exercise states: earlier tensors and lower flat indices are
    pruned first (a stable sort of the concatenated magnitudes). The tied cases reject ``torch.topk`` and
    unstable sorts (whose order among equal values is unspecified) and thresholds that prune every tie.
    """
    cases = [(_weights, [(6, 4), (3, 6), (2, 3)], 0.5), (_weights, [(10, 10), (10, 2)], 0.9),
             (_weights, [(5, 5)], 0.2), (_weights, [(4, 4), (4, 2)], 0.0), (_weights, [(3, 3)], 1.0),
             (_tied_weights, [(6, 4), (3, 6)], 0.5), (_tied_weights, [(8, 8), (4, 8)], 0.3),
             (_tied_weights, [(5, 5)], 0.4)]
    for seed, (draw, shapes, amount) in enumerate(cases):
        weights = draw(shapes, seed)
        pooled = smallest_mask(torch.cat([w.abs().flatten() for w in weights]), round(amount * sum(w.numel() for w in weights)))
        expected = list(torch.split(pooled, [w.numel() for w in weights]))
        inputs = [w.clone() for w in weights]
        tied = " (with tied magnitudes: prune earlier tensors and lower indices first)" if draw is _tied_weights else ""
        what = f"global_masks for shapes {shapes}, amount {amount}{tied}"
        got = global_masks(inputs, amount)
        assert_unchanged(what, [f"weights[{i}]" for i in range(len(weights))], inputs, weights)
        assert_equal(f"number of masks for shapes {shapes}", len(got), len(weights))
        got = [torch.as_tensor(g) for g in got]
        for i, (g, w) in enumerate(zip(got, weights)):
            assert_equal(f"{what}: shape of mask {i}", tuple(g.shape), tuple(w.shape))
        assert_equal(f"{what}: number of pruned (zero) entries over all masks",
                     sum(int((g == 0).sum()) for g in got), int((pooled == 0).sum()))
        for i, (g, e, w) in enumerate(zip(got, expected, weights)):
            assert_equal(f"{what}: mask {i}", g.float(), e.view_as(w).float())


def _agp_checkpoints(start, n, interval):
    """Steps where every reading of AGP agrees: before ``start``, each pruning step t₀ + kΔt, and after the end."""
    before = [0, start - 1] if start > 0 else []
    return before + [start + k * interval for k in range(n + 1)] + [start + n * interval + 7]


@exercise
def check_agp(agp) -> None:
    """``agp(step, initial, final, start, n, interval)`` → the AGP target sparsity (Zhu & Gupta 2017).

    The chapter defines s_t at the pruning steps t ∈ {t₀, t₀ + Δt, …, t₀ + nΔt}, ``initial`` before t₀ and
    ``final`` after the last one. The check asks only there, so both the smooth curve and a staircase that
    holds each value until the next pruning step pass; off-by-one step counts and other curves do not.
    """
    for initial, final, start, n, interval in [(0.0, 0.9, 0, 10, 5), (0.0, 0.8, 10, 4, 5), (0.1, 0.95, 10, 4, 5),
                                               (0.0, 0.5, 3, 1, 2), (0.2, 0.2, 0, 3, 1)]:
        for step in _agp_checkpoints(start, n, interval):
            args = (step, initial, final, start, n, interval)
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
        got = csr_size(rows, cols, nnz)
        assert_integer(f"csr_size({rows}, {cols}, {nnz})", got)
        assert_equal(f"csr_size({rows}, {cols}, {nnz})", got, csr_bytes(to_csr(weight)))
