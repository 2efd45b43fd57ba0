"""Where the kept weights are: positions as relative indices of fixed width (Deep Compression's scheme).

A pruned weight tensor, read in row-major order, keeps a few entries at increasing flat positions
p_0 < p_1 < … . Instead of each position (⌈log₂ numel⌉ bits) Han, Mao & Dally store the **gap** to the
previous kept entry in a few bits b. With p_{−1} = −1 the k-th gap is

    g_k = p_k − p_{k−1} − 1 ∈ {0, …, 2^b − 1}   (the number of zeros skipped),

so a gap of up to 2^b − 1 zeros fits in b bits. A longer run of zeros does not fit: the encoder then
stores a **filler** entry 2^b positions after the previous one (gap 2^b − 1) whose value is zero, and
repeats until the rest of the gap fits. A filler costs one gap and one value code, which is why b is a
trade-off: small b gives short gaps but more fillers.

Decoding needs only the gaps: p_k = p_{k−1} + g_k + 1, i.e. the positions are the running sum of
(g + 1), minus one.
"""
from __future__ import annotations

import torch

__all__ = ["INDEX_BITS", "to_relative", "from_relative", "filler_count"]

INDEX_BITS = range(1, 17)


def _check_index_bits(index_bits) -> None:
    if isinstance(index_bits, bool) or not isinstance(index_bits, int) or index_bits not in INDEX_BITS:
        raise ValueError(f"index_bits must be an integer in [1, 16], got {index_bits!r}")


def _check_positions(positions) -> torch.Tensor:
    if not isinstance(positions, torch.Tensor) or positions.is_floating_point() or positions.dtype == torch.bool:
        raise TypeError("positions must be an integer tensor of flat indices")
    if positions.dim() != 1:
        raise ValueError(f"positions must be 1-D, got shape {tuple(positions.shape)}")
    positions = positions.to(torch.int64)
    if positions.numel() and int(positions[0]) < 0:
        raise ValueError(f"positions must be ≥ 0, got {int(positions[0])}")
    if positions.numel() > 1 and not bool((positions[1:] > positions[:-1]).all()):
        raise ValueError("positions must be strictly increasing (sorted, no repeats)")
    return positions


def to_relative(positions: torch.Tensor, index_bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaps of ``index_bits`` bits for sorted flat ``positions``, with filler entries where a gap overflows.

    Returns ``(gaps, slots)``: ``gaps[k]`` ∈ [0, 2^b − 1] is the number of zeros skipped before stored
    entry k, and ``slots[k]`` its flat position. ``slots`` holds every position of ``positions`` plus
    the fillers; a filler's slot is not in ``positions`` (its weight is zero).
    """
    _check_index_bits(index_bits)
    positions = _check_positions(positions)
    span = 2 ** index_bits  # the largest step one entry can make, p_k − p_{k−1} ≤ 2^b
    previous = torch.cat([torch.tensor([-1]), positions])[:-1]
    steps = positions - previous  # ≥ 1
    fillers = (steps - 1) // span  # entries that must be inserted before each kept one
    slots_per_entry = fillers + 1
    total = int(slots_per_entry.sum())
    owner = torch.repeat_interleave(torch.arange(len(positions)), slots_per_entry)
    rank = torch.arange(total) - torch.repeat_interleave(torch.cumsum(slots_per_entry, 0) - slots_per_entry,
                                                         slots_per_entry)
    is_last = rank == fillers[owner]
    slots = torch.where(is_last, positions[owner], previous[owner] + span * (rank + 1))
    gaps = torch.diff(slots, prepend=torch.tensor([-1])) - 1
    return gaps, slots


def from_relative(gaps: torch.Tensor, index_bits: int | None = None) -> torch.Tensor:
    """Flat positions of the stored entries (kept ones and fillers): p_k = Σ_{j ≤ k} (g_j + 1) − 1."""
    if not isinstance(gaps, torch.Tensor) or gaps.is_floating_point() or gaps.dtype == torch.bool:
        raise TypeError("gaps must be an integer tensor")
    if gaps.dim() != 1:
        raise ValueError(f"gaps must be 1-D, got shape {tuple(gaps.shape)}")
    gaps = gaps.to(torch.int64)
    if gaps.numel() and int(gaps.min()) < 0:
        raise ValueError(f"gaps must be ≥ 0, got {int(gaps.min())}")
    if index_bits is not None:
        _check_index_bits(index_bits)
        if gaps.numel() and int(gaps.max()) >= 2 ** index_bits:
            raise ValueError(f"gap {int(gaps.max())} does not fit in index_bits={index_bits} bits")
    return torch.cumsum(gaps + 1, 0) - 1


def filler_count(positions: torch.Tensor, index_bits: int) -> int:
    """How many filler entries :func:`to_relative` inserts: Σ_k ⌊(p_k − p_{k−1} − 1) / 2^b⌋."""
    _check_index_bits(index_bits)
    positions = _check_positions(positions)
    steps = torch.diff(positions, prepend=torch.tensor([-1]))
    return int(((steps - 1) // 2 ** index_bits).sum())
