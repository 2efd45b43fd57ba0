"""Magnitude, random, score-based and N:M pruning agree with torch.nn.utils.prune and hit their targets."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils import prune as torch_prune

from companion.models import MLP
from companion.prune import (clone, global_magnitude, is_nm_sparse, l1_unstructured, nm_mask, nm_prune,
                             prune_by_scores, random_unstructured, weight_sparsity)


def _linear(out_features=7, in_features=12, seed=0):
    torch.manual_seed(seed)
    return nn.Linear(in_features, out_features)


@pytest.mark.parametrize("amount", [0.0, 0.1, 0.33, 0.5, 0.9, 1.0, 0, 17, 84])
def test_layerwise_magnitude_equals_torch_l1_unstructured(amount):
    ours, theirs = _linear(), _linear()
    l1_unstructured(ours, "weight", amount=amount)
    torch_prune.l1_unstructured(theirs, "weight", amount=amount)
    assert torch.equal(ours.weight_mask, theirs.weight_mask)
    assert torch.equal(ours.weight, theirs.weight)


def test_layerwise_target_after_earlier_pruning_equals_torch_remaining_count():
    ours, theirs = _linear(), _linear()
    l1_unstructured(ours, amount=0.5)
    l1_unstructured(ours, amount=0.75)  # target: 63 of 84 pruned in total
    torch_prune.l1_unstructured(theirs, "weight", amount=42)
    torch_prune.l1_unstructured(theirs, "weight", amount=63 - 42)  # PyTorch counts what is still left
    assert torch.equal(ours.weight_mask, theirs.weight_mask)


@pytest.mark.parametrize("amount", [0.2, 0.8, 0.95, 1234])
def test_global_magnitude_equals_torch_global_unstructured(amount):
    ours, theirs = MLP(), MLP()
    theirs.load_state_dict(ours.state_dict())
    pairs = lambda m: [(m.fc1, "weight"), (m.fc2, "weight"), (m.fc3, "weight")]
    global_magnitude(pairs(ours), amount)
    torch_prune.global_unstructured(pairs(theirs), pruning_method=torch_prune.L1Unstructured, amount=amount)
    for name in ("fc1", "fc2", "fc3"):
        assert torch.equal(getattr(ours, name).weight_mask, getattr(theirs, name).weight_mask), name
    # a global threshold gives layers different sparsities
    if isinstance(amount, float) and amount > 0.5:
        sparsities = [float((getattr(ours, n).weight == 0).float().mean()) for n in ("fc1", "fc2", "fc3")]
        assert max(sparsities) - min(sparsities) > 0.01


def test_ties_are_broken_by_flat_index():
    layer = nn.Linear(4, 2, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, -1.0, 2.0, 1.0], [3.0, 1.0, -1.0, 5.0]]))
    l1_unstructured(layer, amount=3)  # five entries tie at |w| = 1: the three with the lowest index go
    assert layer.weight_mask.tolist() == [[0, 0, 1, 0], [1, 1, 1, 1]]
    global_layer = clone(layer)
    prune_by_scores(global_layer, "weight", 5, torch.zeros(2, 4))
    assert global_layer.weight_mask.flatten().tolist() == [0, 0, 0, 0, 0, 1, 1, 1]


@settings(max_examples=60, deadline=None)
@given(out_features=st.integers(1, 9), in_features=st.integers(1, 9), amount=st.floats(0.0, 1.0),
       second=st.floats(0.0, 1.0), seed=st.integers(0, 2**16))
def test_sparsity_is_exactly_the_requested_fraction(out_features, in_features, amount, second, seed):
    torch.manual_seed(seed)
    layer = nn.Linear(in_features, out_features)
    numel = in_features * out_features
    l1_unstructured(layer, amount=amount)
    assert int((layer.weight_mask == 0).sum()) == round(amount * numel)
    target = max(amount, second)
    random_unstructured(layer, amount=target, generator=torch.Generator().manual_seed(seed))
    assert int((layer.weight_mask == 0).sum()) == round(target * numel)
    assert int((layer.weight == 0).sum()) >= round(target * numel)


@settings(max_examples=30, deadline=None)
@given(widths=st.lists(st.integers(1, 6), min_size=2, max_size=4), amount=st.floats(0.0, 1.0), seed=st.integers(0, 999))
def test_global_sparsity_is_exact_over_the_pooled_weights(widths, amount, seed):
    torch.manual_seed(seed)
    layers = [nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:])]
    total = sum(layer.weight.numel() for layer in layers)
    global_magnitude([(layer, "weight") for layer in layers], amount)
    assert sum(int((layer.weight_mask == 0).sum()) for layer in layers) == round(amount * total)


def test_random_pruning_is_seeded_and_not_magnitude():
    a, b = _linear(30, 40), _linear(30, 40)
    random_unstructured(a, amount=0.5, generator=torch.Generator().manual_seed(3))
    random_unstructured(b, amount=0.5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a.weight_mask, b.weight_mask)
    magnitude = l1_unstructured(_linear(30, 40), amount=0.5)
    assert not torch.equal(a.weight_mask, magnitude.weight_mask)


def test_pruning_by_scores_keeps_the_highest_scores():
    layer = _linear(3, 4)
    scores = torch.arange(12.0).reshape(3, 4)
    prune_by_scores(layer, "weight", 0.25, scores)
    assert layer.weight_mask.flatten().tolist() == [0, 0, 0] + [1] * 9


def test_masks_never_shrink_and_bad_input_raises():
    layer = _linear()
    l1_unstructured(layer, amount=0.5)
    with pytest.raises(ValueError, match="at least the current sparsity"):
        l1_unstructured(layer, amount=0.2)
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match=r"amount=.*\[0, 1\]"):
            l1_unstructured(_linear(), amount=bad)
    with pytest.raises(ValueError, match=r"\[0, 84\]"):
        l1_unstructured(_linear(), amount=85)
    with pytest.raises(TypeError, match="amount"):
        l1_unstructured(_linear(), amount="half")
    with pytest.raises(ValueError, match="no parameter named 'weights'"):
        l1_unstructured(_linear(), "weights", amount=0.5)
    with pytest.raises(ValueError, match="no parameter"):
        l1_unstructured(nn.ReLU(), amount=0.5)
    with pytest.raises(TypeError, match="nn.Module"):
        l1_unstructured(torch.ones(3), amount=0.5)
    with pytest.raises(ValueError, match="shape"):
        prune_by_scores(_linear(), "weight", 0.5, torch.ones(3))
    with pytest.raises(ValueError, match="empty"):
        global_magnitude([], 0.5)
    layer = _linear()
    with pytest.raises(ValueError, match="twice"):
        global_magnitude([(layer, "weight"), (layer, "weight")], 0.5)


def test_nm_mask_keeps_exactly_the_two_largest_of_every_group_of_four():
    torch.manual_seed(0)
    weight = torch.randn(16, 32)
    mask = nm_mask(weight, 2, 4)
    groups, kept = weight.abs().reshape(16, 8, 4), mask.reshape(16, 8, 4)
    assert torch.equal(kept.sum(-1), torch.full((16, 8), 2.0))
    for o in range(16):
        for g in range(8):
            top2 = set(torch.topk(groups[o, g], 2).indices.tolist())
            assert set(torch.nonzero(kept[o, g]).flatten().tolist()) == top2
    assert is_nm_sparse(weight * mask) and not is_nm_sparse(weight)
    assert float((mask == 0).float().mean()) == 0.5


def test_nm_prune_on_modules_and_bad_input():
    layer = _linear(8, 16)
    nm_prune(layer)
    assert is_nm_sparse(layer.weight) and weight_sparsity([(layer, "weight")]) == 0.5
    conv = nn.Conv2d(4, 8, 3)  # input dimension 4·3·3 = 36 = 9 groups of 4
    nm_prune(conv, n=1, m=4)
    assert is_nm_sparse(conv.weight, 1, 4)
    with pytest.raises(ValueError, match="1 ≤ n ≤ m"):
        nm_mask(torch.ones(2, 8), n=5, m=4)
    with pytest.raises(ValueError, match="multiple of m=4"):
        nm_mask(torch.ones(2, 6))
    with pytest.raises(ValueError, match="input dimension"):
        nm_mask(torch.ones(8))
    with pytest.raises(TypeError, match="n must be an int"):
        nm_mask(torch.ones(2, 8), n=2.0)
