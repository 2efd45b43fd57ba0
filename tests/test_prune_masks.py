"""Our masks live in PyTorch's weight_orig / weight_mask reparametrisation and survive save/load and removal."""
import io

import pytest
import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from companion.models import MLP, SmallCNN
from companion.prune import (amount_to_count, apply_mask, clone, effective_weight, get_mask, global_magnitude,
                             is_pruned, l1_unstructured, layer_sparsities, make_permanent, prunable_weights,
                             smallest_mask, weight_sparsity)


def _pruned_mlp(seed=0, amount=0.9):
    torch.manual_seed(seed)
    model = MLP()
    global_magnitude(prunable_weights(model), amount)
    return model


def test_our_result_is_a_torch_pruned_module():
    model = _pruned_mlp()
    assert torch_prune.is_pruned(model)
    assert {"fc1.weight_orig", "fc1.weight_mask"} <= set(model.state_dict())
    assert "fc1.weight" not in dict(model.named_parameters())
    assert torch.equal(model.fc1.weight, model.fc1.weight_orig * model.fc1.weight_mask)
    torch_prune.remove(model.fc1, "weight")  # PyTorch's own removal works on our masks
    assert isinstance(model.fc1.weight, nn.Parameter) and not hasattr(model.fc1, "weight_mask")


def test_masked_weights_get_zero_gradient_and_stay_zero_in_training():
    model = _pruned_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(3):
        optimizer.zero_grad()
        model(torch.randn(8, 64)).logsumexp(1).mean().backward()
        assert bool((model.fc1.weight_orig.grad[model.fc1.weight_mask == 0] == 0).all())
        optimizer.step()
    assert weight_sparsity(model) == pytest.approx(0.9, abs=1e-4)


def test_state_dict_round_trip_keeps_sparsity():
    model = _pruned_mlp()
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    fresh = MLP()
    global_magnitude(prunable_weights(fresh), 0.9)  # same reparametrisation, so the keys match
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    for a, b in zip(prunable_weights(model), prunable_weights(fresh)):
        assert torch.equal(effective_weight(*a), effective_weight(*b))
    assert weight_sparsity(fresh) == weight_sparsity(model) == pytest.approx(0.9, abs=1e-4)
    x = torch.randn(5, 64)
    assert torch.equal(model(x), fresh(x))


def test_make_permanent_leaves_a_clean_state_dict():
    model = _pruned_mlp()
    x = torch.randn(5, 64)
    before = model(x)
    make_permanent(model)
    keys = set(model.state_dict())
    assert not any(k.endswith(("_orig", "_mask")) for k in keys)
    assert keys == set(MLP().state_dict())
    assert not torch_prune.is_pruned(model)
    assert torch.equal(model(x), before)
    assert weight_sparsity(model) == pytest.approx(0.9, abs=1e-4)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    plain = MLP()
    plain.load_state_dict(torch.load(buffer, weights_only=True))  # loads into an unpruned model
    assert weight_sparsity(plain) == pytest.approx(0.9, abs=1e-4)


def test_make_permanent_after_repeated_pruning_and_on_convs():
    torch.manual_seed(0)
    cnn = SmallCNN()
    for amount in (0.3, 0.6):
        for module, name in prunable_weights(cnn):
            l1_unstructured(module, name, amount=amount)
    l1_unstructured(cnn.conv1, "bias", amount=0.5)
    sparsities = layer_sparsities(cnn)
    make_permanent(cnn)
    assert not any(k.endswith(("_orig", "_mask")) for k in cnn.state_dict())
    assert layer_sparsities(cnn) == sparsities
    assert sparsities["conv2"] == pytest.approx(0.6, abs=1e-3)


def test_clone_copies_a_pruned_model_after_training():
    model = _pruned_mlp()
    model(torch.randn(2, 64)).sum().backward()  # cached weight now has a grad_fn
    copy = clone(model)
    assert torch.equal(copy.fc2.weight_mask, model.fc2.weight_mask)
    copy.fc2.weight_orig.data.zero_()
    assert model.fc2.weight_orig.abs().sum() > 0


def test_apply_mask_multiplies_with_existing_mask_and_checks_input():
    layer = nn.Linear(4, 2)
    first = torch.tensor([[0.0, 1, 1, 1], [1, 1, 1, 1]])
    second = torch.tensor([[1.0, 0, 1, 1], [1, 1, 1, 0]])
    apply_mask(layer, "weight", first)
    apply_mask(layer, "weight", second)
    assert torch.equal(get_mask(layer), first * second)
    assert is_pruned(layer) and not is_pruned(layer, "bias")
    with pytest.raises(ValueError, match="shape"):
        apply_mask(layer, "weight", torch.ones(3))
    with pytest.raises(ValueError, match="zeros and ones"):
        apply_mask(layer, "weight", torch.full((2, 4), 0.5))


def test_counting_rules_and_errors():
    assert amount_to_count(0.5, 5) == 2 and amount_to_count(0.7, 5) == 4  # Python's round, like PyTorch
    assert amount_to_count(3, 5) == 3
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        amount_to_count(1.01, 5)
    with pytest.raises(ValueError, match=r"\[0, 5\]"):
        amount_to_count(6, 5)
    with pytest.raises(TypeError):
        amount_to_count(True, 5)
    assert smallest_mask(torch.tensor([3.0, 1.0, 2.0]), 2).tolist() == [1.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="no Linear or Conv"):
        prunable_weights(nn.ReLU())
    assert weight_sparsity(MLP()) == 0.0
