"""Mixed precision: the allocation is the brute-force optimum; the scan quantizes one layer at a time."""
import itertools

import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from companion.quant.mixed import allocate_bits, layer_bytes, sensitivity_scan
from companion.quant.lowbit import quantize_uniform


@settings(max_examples=60, deadline=None)
@given(layers=st.integers(1, 4), seed=st.integers(0, 2**16), slack=st.floats(0, 1))
def test_allocation_equals_brute_force(layers, seed, slack):
    generator = torch.Generator().manual_seed(seed)
    options = [2, 3, 4, 8]
    sizes = torch.randint(10, 500, (layers,), generator=generator).tolist()
    cost = {f"l{i}": {b: sizes[i] * b for b in options} for i in range(layers)}
    damage = {f"l{i}": {b: float(torch.rand(1, generator=generator)) / b for b in options} for i in range(layers)}
    low, high = sum(s * 2 for s in sizes), sum(s * 8 for s in sizes)
    budget = int(low + slack * (high - low))
    plan = allocate_bits(cost, damage, budget)
    best = min((sum(damage[l][b] for l, b in zip(cost, combo)), combo)
               for combo in itertools.product(options, repeat=layers)
               if sum(cost[l][b] for l, b in zip(cost, combo)) <= budget)
    assert sum(cost[l][plan[l]] for l in plan) <= budget
    assert sum(damage[l][plan[l]] for l in plan) == pytest.approx(best[0])


def test_allocation_bad_input():
    cost, damage = {"a": {2: 10, 4: 20}}, {"a": {2: 1.0, 4: 0.1}}
    assert allocate_bits(cost, damage, 20) == {"a": 4} and allocate_bits(cost, damage, 19) == {"a": 2}
    with pytest.raises(ValueError, match="budget"):
        allocate_bits(cost, damage, 9)
    with pytest.raises(ValueError, match="same"):
        allocate_bits(cost, {"b": {2: 1.0}}, 100)
    with pytest.raises(ValueError, match="same"):
        allocate_bits(cost, {"a": {2: 1.0}}, 100)


def test_sensitivity_scan_quantizes_one_layer_at_a_time():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    loader = DataLoader(TensorDataset(torch.randn(40, 6), torch.randint(0, 3, (40,))), batch_size=16)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rows = sensitivity_scan(model, loader, bits_options=(2, 8))
    assert [(r["layer"], r["bits"]) for r in rows] == [("0", 2), ("0", 8), ("2", 2), ("2", 8)]
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert rows[0]["bytes"] == layer_bytes(quantize_uniform(model[0].weight, 2)) == 48 * 2 // 8 + 8 * 4 + 8 * 1
    assert abs(rows[1]["loss_increase"]) < abs(rows[0]["loss_increase"]) + 1e-3
    with pytest.raises(ValueError, match="bits_options"):
        sensitivity_scan(model, loader, bits_options=())
