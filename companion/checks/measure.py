"""Self-checks for chapters 1 (Background) and 2 (Concepts): counting what a model costs."""
from __future__ import annotations

import math

import torch
from torch import nn

from .. import measure
from ..prune.sparse import quiet_sparse_beta
from . import assert_close, assert_equal, exercise

__all__ = ["check_linear_macs", "check_conv2d_macs", "check_model_bytes", "check_sparsity", "check_pareto_front", "check_torch_csr_bytes"]


@exercise
def check_linear_macs(linear_macs) -> None:
    """``linear_macs(batch, in_features, out_features)`` → MACs of one ``nn.Linear`` call."""
    for batch, fan_in, fan_out in [(1, 64, 300), (32, 300, 100), (7, 3, 5)]:
        expected = measure.count_macs(nn.Linear(fan_in, fan_out), torch.zeros(batch, fan_in))
        assert_equal(f"linear_macs({batch}, {fan_in}, {fan_out})", linear_macs(batch, fan_in, fan_out), expected)


@exercise
def check_conv2d_macs(conv2d_macs) -> None:
    """``conv2d_macs(conv, height, width)`` → MACs of ``conv`` on one ``in_channels``×height×width image."""
    cases = [(nn.Conv2d(1, 16, 3, padding=1), 8, 8), (nn.Conv2d(16, 32, 3, stride=2), 9, 9),
             (nn.Conv2d(8, 8, 5, padding=2, groups=4), 12, 10)]
    for conv, height, width in cases:
        expected = measure.count_macs(conv, torch.zeros(1, conv.in_channels, height, width))
        assert_equal(f"conv2d_macs({conv}, {height}, {width})", conv2d_macs(conv, height, width), expected)


@exercise
def check_model_bytes(model_bytes) -> None:
    """``model_bytes(num_parameters, bits)`` → bytes to store that many values at ``bits`` each, whole bytes."""
    for count, bits in [(50_610, 32), (50_610, 8), (50_610, 4), (3, 2), (11_689_512, 16), (1, 1)]:
        assert_equal(f"model_bytes({count}, {bits})", model_bytes(count, bits), math.ceil(count * bits / 8))


@exercise
def check_sparsity(sparsity) -> None:
    """``sparsity(model)`` → the fraction of the model's parameters that are exactly zero."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 3))
    assert_close("sparsity of a freshly initialised model", sparsity(model), measure.sparsity(model))
    with torch.no_grad():
        model[0].weight[:, :5] = 0
        model[2].bias.zero_()
    assert_close("sparsity after zeroing half of layer 0's weights and layer 2's bias", sparsity(model),
                 measure.sparsity(model))


@exercise
def check_pareto_front(pareto_front) -> None:
    """``pareto_front(costs, accuracies)`` → indices of the non-dominated points, sorted by cost."""
    cases = [
        ([4.0, 1.0, 2.0, 3.0], [0.97, 0.90, 0.95, 0.94]),
        ([1.0, 1.0, 2.0], [0.5, 0.6, 0.6]),
        ([10.0], [0.1]),
    ]
    for costs, accs in cases:
        assert_equal(f"pareto_front({costs}, {accs})", list(pareto_front(costs, accs)), measure.pareto_front(costs, accs))


@exercise
def check_torch_csr_bytes(csr_storage_bytes) -> None:
    """``csr_storage_bytes(weight)`` → bytes of ``weight.to_sparse_csr()``: values, column indices, row pointers."""
    torch.manual_seed(0)
    for rows, cols, density in [(8, 12, 0.5), (300, 64, 0.1), (10, 100, 1.0), (5, 5, 0.0)]:
        weight = torch.randn(rows, cols) * (torch.rand(rows, cols) < density)
        with quiet_sparse_beta():
            csr = weight.to_sparse_csr()
        # numel × element size: the arrays' own entries (their storage may be a larger shared buffer).
        expected = sum(t.numel() * t.element_size() for t in (csr.values(), csr.col_indices(), csr.crow_indices()))
        assert_equal(f"csr_storage_bytes of a {rows}×{cols} matrix at density {density}", csr_storage_bytes(weight), expected)
