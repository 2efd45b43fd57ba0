"""Self-checks for chapter 5.1 (Applications: image recognition): IDX headers, integer addition, agreement."""
from __future__ import annotations

import struct

import torch

from ..data import parse_idx
from ..measure import topk_agreement
from ..quant.residual import IntAdd
from . import assert_close, assert_equal, assert_unchanged, exercise, snapshot

__all__ = ["check_idx_shape", "check_int_add", "check_topk_agreement"]


@exercise
def check_idx_shape(idx_shape) -> None:
    """``idx_shape(raw)`` → the shape tuple an IDX file's header declares (magic, then big-endian uint32 sizes)."""
    for shape in ((10_000,), (60_000, 28, 28), (3, 1, 258, 7)):
        raw = bytes([0, 0, 0x08, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + bytes(int(torch.tensor(shape).prod()))
        assert_equal(f"idx_shape of a header declaring {shape}", tuple(idx_shape(raw)), tuple(parse_idx(raw).shape))


@exercise
def check_int_add(int_add) -> None:
    """``int_add(q_a, a_qparams, q_b, b_qparams, out_qparams)`` → int8 codes of a + b on the output grid.

    Each ``*_qparams`` is a (scale, zero point) pair; the answer may use floats and must be within one
    code of the exact q_y = clamp(Z_y + round((S_a(q_a − Z_a) + S_b(q_b − Z_b)) / S_y), −128, 127).
    """
    generator = torch.Generator().manual_seed(0)
    cases = [((0.05, -3), (0.02, 10), (0.06, -20)), ((0.1, 0), (0.1, 0), (0.2, 0)), ((0.013, 40), (0.2, -128), (0.25, 5))]
    for a_qp, b_qp, y_qp in cases:
        q_a = torch.randint(-128, 128, (64,), generator=generator, dtype=torch.int32).to(torch.int8)
        q_b = torch.randint(-128, 128, (64,), generator=generator, dtype=torch.int32).to(torch.int8)
        expected, copies = IntAdd(a_qp, b_qp, y_qp)(q_a, q_b), snapshot([q_a, q_b])
        got = int_add(q_a, a_qp, q_b, b_qp, y_qp)
        assert_unchanged(f"int_add for qparams {a_qp}, {b_qp} → {y_qp}", ["q_a", "q_b"], [q_a, q_b], copies)
        if not isinstance(got, torch.Tensor) or got.dtype != torch.int8:
            raise AssertionError(f"int_add for qparams {a_qp}, {b_qp} → {y_qp}: expected int8 codes, got "
                                 f"{getattr(got, 'dtype', type(got).__name__)}")
        assert_equal(f"shape of int_add for qparams {a_qp}, {b_qp} → {y_qp}", tuple(got.shape), (64,))
        worst = int((got.to(torch.int32) - expected.to(torch.int32)).abs().max())
        if worst > 1:
            raise AssertionError(f"int_add for qparams {a_qp}, {b_qp} → {y_qp}: some codes are {worst} away from "
                                 f"the right ones (expected e.g. {expected[:6].tolist()}, got {got[:6].tolist()})")


@exercise
def check_topk_agreement(agreement) -> None:
    """``agreement(reference_logits, logits, k)`` → fraction of rows whose reference top-1 is in the top-k of ``logits``."""
    generator = torch.Generator().manual_seed(0)
    for rows, classes, k in ((50, 10, 1), (50, 10, 5), (200, 1000, 5), (7, 3, 2)):
        reference = torch.randn(rows, classes, generator=generator)
        logits = reference + 1.5 * torch.randn(rows, classes, generator=generator)
        what = f"agreement of {rows}×{classes} logits with k={k}"
        expected, copies = topk_agreement(reference, logits, k), snapshot([reference, logits])
        got = agreement(reference, logits, k)
        assert_unchanged(what, ["reference_logits", "logits"], [reference, logits], copies)
        assert_close(what, got, expected, atol=1e-9)
