"""CSR storage (bytes, save/load), the sparse Linear layer, the latency helper and the sensitivity scan."""
import io

import pytest
import torch
from torch import nn

from companion.models import MLP, SmallCNN
from companion.prune import (SparseLinear, csr_bytes, csr_model_bytes, global_magnitude, load_csr, make_permanent,
                             matmul_latency, prunable_weights, save_csr, sensitivity_scan, to_csr, weight_sparsity)


def _sparse_weight(rows=30, cols=20, sparsity=0.9, seed=0):
    torch.manual_seed(seed)
    weight = torch.randn(rows, cols)
    weight[torch.rand(rows, cols) < sparsity] = 0
    return weight


def test_csr_matches_dense_and_counts_its_bytes():
    weight = _sparse_weight()
    csr = to_csr(weight)
    assert torch.equal(csr.to_dense(), weight)
    nnz = int((weight != 0).sum())
    assert csr_bytes(csr) == 4 * nnz + 4 * nnz + 4 * (weight.shape[0] + 1)
    assert csr_bytes(to_csr(weight, torch.int64)) == 4 * nnz + 8 * nnz + 8 * (weight.shape[0] + 1)
    with pytest.raises(ValueError, match="matrix"):
        to_csr(torch.ones(3))
    with pytest.raises(ValueError, match="sparse_csr"):
        csr_bytes(weight)


def test_csr_file_round_trip_and_bytes():
    torch.manual_seed(0)
    model = MLP()
    global_magnitude(prunable_weights(model), 0.92)
    with pytest.raises(ValueError, match="make_permanent"):
        csr_model_bytes(model)
    make_permanent(model)
    dense_weight_bytes = sum(4 * m.weight.numel() for m, _ in prunable_weights(model))
    nnz = sum(int((m.weight != 0).sum()) for m, _ in prunable_weights(model))
    biases = sum(4 * m.bias.numel() for m, _ in prunable_weights(model))
    rows = 300 + 100 + 10
    assert csr_model_bytes(model) == 8 * nnz + 4 * (rows + 3) + biases + 3 * 2 * 8
    assert csr_model_bytes(model) < dense_weight_bytes / 5
    buffer = io.BytesIO()
    save_csr(model, buffer)
    buffer.seek(0)
    restored = load_csr(MLP(), buffer)
    x = torch.randn(4, 64)
    assert torch.equal(restored(x), model(x))
    assert weight_sparsity(restored) == weight_sparsity(model)


def test_csr_round_trip_of_a_conv_model():
    torch.manual_seed(0)
    model = SmallCNN().eval()
    global_magnitude(prunable_weights(model), 0.8)
    make_permanent(model)
    buffer = io.BytesIO()
    save_csr(model, buffer)
    buffer.seek(0)
    restored = load_csr(SmallCNN(), buffer).eval()
    x = torch.randn(2, 1, 8, 8)
    assert torch.equal(restored(x), model(x))


def test_sparse_linear_equals_dense_linear():
    torch.manual_seed(0)
    linear = nn.Linear(20, 30)
    with torch.no_grad():
        linear.weight.copy_(_sparse_weight())
    sparse = SparseLinear.from_linear(linear)
    x = torch.randn(3, 5, 20)
    torch.testing.assert_close(sparse(x), linear(x))
    assert "nnz=" in repr(sparse)
    with pytest.raises(TypeError):
        SparseLinear.from_linear(nn.Conv2d(1, 1, 1))


def test_matmul_latency_reports_both():
    times = matmul_latency(_sparse_weight(64, 64), torch.randn(8, 64), min_run_time=0.01)
    assert set(times) == {"dense_ms", "csr_ms"} and all(t > 0 for t in times.values())
    with pytest.raises(ValueError, match="need weight"):
        matmul_latency(torch.ones(4, 5), torch.ones(2, 4))


def test_sensitivity_scan_leaves_the_model_alone():
    torch.manual_seed(0)
    model = MLP(8, (6,), 2)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    rows = sensitivity_scan(model, lambda m: weight_sparsity(m), [0.0, 0.5, 1.0])
    assert [(r["layer"], r["sparsity"]) for r in rows] == [(l, a) for l in ("fc1", "fc2") for a in (0.0, 0.5, 1.0)]
    fc1_share = 48 / (48 + 12)
    assert rows[2]["metric"] == pytest.approx(fc1_share)  # fc1 fully pruned: its share of the weights
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())
    with pytest.raises(ValueError, match="no layer named"):
        sensitivity_scan(model, lambda m: 0.0, [0.5], layers=["fc9"])
    with pytest.raises(ValueError, match="amounts"):
        sensitivity_scan(model, lambda m: 0.0, [])
