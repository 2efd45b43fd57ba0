"""Right and wrong answers for the self-checks of chapters 1 and 2 (run by tests/test_checks.py)."""
import math

from companion import measure
from companion.checks import measure as checks

CASES = [
    (checks.check_linear_macs, lambda b, i, o: b * i * o, lambda b, i, o: i * o),
    (checks.check_conv2d_macs,
     lambda conv, h, w: (((h + 2 * conv.padding[0] - conv.kernel_size[0]) // conv.stride[0] + 1)
                         * ((w + 2 * conv.padding[1] - conv.kernel_size[1]) // conv.stride[1] + 1)
                         * conv.out_channels * conv.in_channels // conv.groups * conv.kernel_size[0] * conv.kernel_size[1]),
     lambda conv, h, w: h * w * conv.out_channels * conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]),
    (checks.check_model_bytes, lambda n, bits: math.ceil(n * bits / 8), lambda n, bits: n * bits // 8),
    (checks.check_sparsity, measure.sparsity, lambda model: measure.count_nonzero(model) / measure.count_parameters(model)),
    (checks.check_pareto_front, measure.pareto_front, lambda costs, accs: list(range(len(costs)))),
    (checks.check_torch_csr_bytes, lambda w: int((w != 0).sum()) * 12 + (w.shape[0] + 1) * 8, lambda w: int((w != 0).sum()) * 8),
]


def pareto_keeps_duplicates(costs, accs):  # brute force without the tie rule: keeps every identical copy
    dominated = [any(c2 <= c and a2 >= a and (c2 < c or a2 > a) for c2, a2 in zip(costs, accs)) for c, a in zip(costs, accs)]
    return sorted((i for i, d in enumerate(dominated) if not d), key=lambda i: (costs[i], i))


def pareto_keeps_last_duplicate(costs, accs):  # sorts without the index, reverse stable: the last copy wins
    order = sorted(reversed(range(len(costs))), key=lambda i: (costs[i], -accs[i]))
    front, best = [], float("-inf")
    for i in order:
        if accs[i] > best:
            front.append(i)
            best = accs[i]
    return front


ADVERSARIAL = [
    (checks.check_pareto_front, pareto_keeps_duplicates, "identical points count once"),
    (checks.check_pareto_front, pareto_keeps_last_duplicate, "identical points count once"),
    (checks.check_model_bytes, lambda n, bits: float(math.ceil(n * bits / 8)), "expected a whole number"),
    (checks.check_model_bytes, lambda n, bits: (n * bits + 7) // 8 + 1, r"model_bytes\(50610, 32\)"),
    (checks.check_linear_macs, lambda b, i, o: float(b * i * o), "expected a whole number"),
    (checks.check_linear_macs, lambda b, i, o: b * i * o + o, r"linear_macs\(1, 64, 300\): expected"),
    (checks.check_conv2d_macs, lambda conv, h, w: 1.0 * CASES[1][1](conv, h, w), "expected a whole number"),
    (checks.check_conv2d_macs,  # off by one: output size without the + 1
     lambda conv, h, w: (((h + 2 * conv.padding[0] - conv.kernel_size[0]) // conv.stride[0])
                         * ((w + 2 * conv.padding[1] - conv.kernel_size[1]) // conv.stride[1])
                         * conv.out_channels * conv.in_channels // conv.groups * conv.kernel_size[0] * conv.kernel_size[1]),
     "conv2d_macs"),
    (checks.check_sparsity, lambda model: 1 - measure.sparsity(model), "sparsity of a freshly initialised model"),
    (checks.check_torch_csr_bytes, lambda w: int((w != 0).sum()) * 12 + w.shape[0] * 8,
     "csr_storage_bytes of a 8×12 matrix"),
    (checks.check_torch_csr_bytes, lambda w: float(int((w != 0).sum()) * 12 + (w.shape[0] + 1) * 8), "expected a whole number"),
]
