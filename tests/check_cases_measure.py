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
