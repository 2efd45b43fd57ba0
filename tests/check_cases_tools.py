"""Right and wrong answers for the self-checks of chapter 6 (run by tests/test_checks.py)."""
from torch import nn

from companion.checks import tools as checks


def _weight_elements(model):
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear))


CASES = [
    (checks.check_mask_checkpoint_bytes,
     lambda linear: 2 * 4 * linear.weight.numel() + (4 * linear.bias.numel() if linear.bias is not None else 0),
     lambda linear: sum(4 * p.numel() for p in linear.parameters())),
    (checks.check_onnx_int8_weight_bytes, _weight_elements, lambda model: sum(p.numel() for p in model.parameters())),
    (checks.check_group_modules,
     lambda g: set(g.producers) | set(g.norms) | {c.name for c in g.consumers},
     lambda g: set(g.producers) | set(g.norms)),
]

ADVERSARIAL = [
    (checks.check_mask_checkpoint_bytes,     # a bool mask: one byte per element, not four
     lambda linear: 4 * linear.weight.numel() + linear.weight.numel()
     + (4 * linear.bias.numel() if linear.bias is not None else 0), r"mask_checkpoint_bytes\(Linear"),
    (checks.check_onnx_int8_weight_bytes,    # counts each layer's int8 zero-point too: off by one per layer
     lambda model: _weight_elements(model) + sum(isinstance(m, nn.Linear) for m in model.modules()),
     r"onnx_int8_weight_bytes\(Sequential"),
    (checks.check_group_modules,             # forgets the BatchNorm layers
     lambda g: set(g.producers) | {c.name for c in g.consumers}, "groups .* not matched"),
]
