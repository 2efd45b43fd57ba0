"""Right and wrong answers for chapter 5.1's self-checks (run by tests/test_checks.py)."""
import struct

import torch

from companion.checks import image as checks


def idx_shape_right(raw):
    ndim = raw[3]
    return struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])


def idx_shape_little_endian(raw):  # reads the sizes in the machine's byte order
    ndim = raw[3]
    return struct.unpack(f"<{ndim}I", raw[4:4 + 4 * ndim])


def int_add_right(q_a, a_qp, q_b, b_qp, y_qp):
    real = a_qp[0] * (q_a.double() - a_qp[1]) + b_qp[0] * (q_b.double() - b_qp[1])
    return torch.clamp(torch.round(real / y_qp[0]) + y_qp[1], -128, 127).to(torch.int8)


def int_add_without_zero_points(q_a, a_qp, q_b, b_qp, y_qp):
    real = a_qp[0] * q_a.double() + b_qp[0] * q_b.double()
    return torch.clamp(torch.round(real / y_qp[0]) + y_qp[1], -128, 127).to(torch.int8)


def agreement_right(reference, logits, k):
    return (logits.topk(k, dim=1).indices == reference.argmax(1, keepdim=True)).any(1).float().mean().item()


def agreement_set_overlap(reference, logits, k):  # compares whole top-k sets instead of the reference top-1
    ref, got = reference.topk(k, dim=1).indices, logits.topk(k, dim=1).indices
    return sum(len(set(a.tolist()) & set(b.tolist())) / k for a, b in zip(ref, got)) / len(ref)


CASES = [
    (checks.check_idx_shape, idx_shape_right, idx_shape_little_endian),
    (checks.check_int_add, int_add_right, int_add_without_zero_points),
    (checks.check_topk_agreement, agreement_right, agreement_set_overlap),
]


def int_add_in_place(q_a, a_qp, q_b, b_qp, y_qp):
    codes = int_add_right(q_a, a_qp, q_b, b_qp, y_qp)
    q_a.zero_()
    return codes


def agreement_shifting_in_place(reference, logits, k):
    result = agreement_right(reference, logits, k)
    logits.add_(1.0)
    return result


ADVERSARIAL = [
    (checks.check_idx_shape,  # skips the first size: reads one field too far
     lambda raw: struct.unpack(f">{raw[3]}I", raw[8:8 + 4 * raw[3]]), "idx_shape of a header declaring"),
    (checks.check_int_add, int_add_in_place, "modified in place"),
    (checks.check_int_add, lambda *args: int_add_right(*args).to(torch.int32), "expected int8 codes"),
    (checks.check_int_add,  # subtracts the output zero point instead of adding it
     lambda q_a, a_qp, q_b, b_qp, y_qp: int_add_right(q_a, a_qp, q_b, b_qp, (y_qp[0], -y_qp[1])),
     "codes are .* away"),
    (checks.check_topk_agreement, agreement_shifting_in_place, "modified in place"),
    (checks.check_topk_agreement,  # off by one in k
     lambda reference, logits, k: agreement_right(reference, logits, max(k - 1, 1)), "agreement of"),
]
