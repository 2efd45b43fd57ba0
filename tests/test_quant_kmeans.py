"""k-means weight sharing: Lloyd never increases the objective; centroid gradients are per-cluster sums."""
import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from companion.quant.kmeans import SharedWeight, centroid_gradients, kmeans_quantize, share_weights, shared_weights


@settings(max_examples=40, deadline=None)
@given(bits=st.integers(1, 5), numel=st.integers(32, 400), seed=st.integers(0, 2**16))
def test_objective_never_increases(bits, numel, seed):
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(numel, generator=generator) ** 3  # heavy-tailed, like trained weights
    record = kmeans_quantize(weight, bits, iterations=25)
    objective = torch.tensor(record.objective)
    assert (objective[1:] <= objective[:-1] * (1 + 1e-12)).all(), record.objective
    assert torch.isclose(torch.tensor(float(((record.dequantize() - weight) ** 2).sum())), objective[-1], rtol=1e-4)


def test_linear_initialisation_and_nearest_assignment():
    weight = torch.tensor([0.0, 0.1, 0.9, 1.0, 0.45])
    record = kmeans_quantize(weight, 2, iterations=0)
    assert torch.allclose(record.codebook, torch.tensor([0.0, 1 / 3, 2 / 3, 1.0]))
    assert record.codes.tolist() == [0, 0, 3, 3, 1]
    brute = (weight[:, None] - record.codebook[None, :]).abs().argmin(1)
    assert torch.equal(record.codes.long(), brute)


def test_kmeans_beats_uniform_on_a_bimodal_weight():
    torch.manual_seed(0)
    weight = torch.cat([torch.randn(500) * 0.05 - 1, torch.randn(500) * 0.05 + 1])
    record = kmeans_quantize(weight, 1)
    assert torch.allclose(record.codebook.sort().values, torch.tensor([-1.0, 1.0]), atol=0.02)


def test_centroid_gradients_are_per_cluster_sums_and_match_autograd():
    torch.manual_seed(1)
    layer = nn.Linear(12, 5)
    shared = SharedWeight(layer, kmeans_quantize(layer.weight, 2))
    x = torch.randn(7, 12)
    (shared(x) ** 2).sum().backward()
    # the gradient with respect to Ŵ, computed independently with a plain Linear holding Ŵ
    plain = nn.Linear(12, 5)
    with torch.no_grad():
        plain.weight.copy_(shared.weight())
        plain.bias.copy_(layer.bias)
    (plain(x) ** 2).sum().backward()
    expected = torch.stack([plain.weight.grad[shared.codes == k].sum() for k in range(4)])
    assert torch.allclose(shared.codebook.grad, expected, atol=1e-5)
    assert torch.allclose(centroid_gradients(plain.weight.grad, shared.codes, 4), expected, atol=1e-6)
    assert layer.weight.grad is None  # the float weight is frozen


def test_share_weights_fine_tunes_only_codebooks_and_biases():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    shared = share_weights(model, {"0": 2, "2": 3})
    trainable = {name for name, p in shared.named_parameters() if p.requires_grad}
    assert trainable == {"0.codebook", "0.layer.bias", "2.codebook", "2.layer.bias"}
    records = shared_weights(shared)
    assert records["0"].codebook.numel() == 4 and records["2"].codebook.numel() == 8
    codes_before = shared[0].codes.clone()
    optimizer = torch.optim.SGD([p for p in shared.parameters() if p.requires_grad], lr=0.1)
    shared(torch.randn(4, 8)).sum().backward()
    optimizer.step()
    assert torch.equal(shared[0].codes, codes_before)
    assert len(torch.unique(shared[0].weight())) <= 4
    assert isinstance(model[0], nn.Linear)  # the original is untouched


def test_bad_input():
    with pytest.raises(ValueError, match="more|centroids"):
        kmeans_quantize(torch.randn(10), 4)
    for bits in (0, 9, 2.5):
        with pytest.raises(ValueError, match="bits"):
            kmeans_quantize(torch.randn(100), bits)
    with pytest.raises(ValueError, match="iterations"):
        kmeans_quantize(torch.randn(100), 2, iterations=-1)
    with pytest.raises(ValueError, match="shape"):
        centroid_gradients(torch.zeros(3), torch.zeros(4, dtype=torch.uint8), 2)
