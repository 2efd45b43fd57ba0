"""Physical removal: same function as masking, hand-computed costs, residual groups, clear errors."""
import copy

import pytest
import torch
from torch import nn

from companion import measure
from companion.models import MLP, ResNet, SmallCNN, tiny_resnet
from companion.prune.dependency import dependency_groups
from companion.prune.importance import group_scores
from companion.prune.surgery import (group_sensitivity, mask_units, prune_channels, ratios_from_sensitivity,
                                     remove_units, uniform_amount_for_macs, units_to_remove)


def randomised(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give BatchNorm layers non-trivial statistics and affine parameters, so a bug cannot hide behind γ=1, β=0."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.copy_(torch.randn(module.num_features, generator=generator))
                module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
                module.weight.copy_(torch.randn(module.num_features, generator=generator))
                module.bias.copy_(torch.randn(module.num_features, generator=generator))
    return model.eval()


CASES = [
    ("mlp", lambda: MLP(), (16, 64)),
    ("cnn", lambda: SmallCNN(), (16, 1, 8, 8)),
    ("tiny_resnet", lambda: tiny_resnet(), (16, 1, 8, 8)),
    ("resnet_two_blocks", lambda: ResNet((2, 2), (8, 16), 3, 5, stem="small"), (4, 3, 12, 12)),
]


@pytest.mark.parametrize("name, build, shape", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_removed_model_equals_masked_model(name, build, shape, seed):
    torch.manual_seed(seed)
    model = randomised(build(), seed)
    x = torch.randn(*shape)
    generator = torch.Generator().manual_seed(seed)
    removals = {}
    for group in dependency_groups(model, x):
        count = int(torch.randint(1, group.size, (1,), generator=generator))
        removals[group.name] = torch.randperm(group.size, generator=generator)[:count].tolist()
    before = copy.deepcopy(model.state_dict())
    pruned, masked = remove_units(model, x, removals), mask_units(model, x, removals)
    torch.testing.assert_close(pruned(x), masked(x), atol=1e-5, rtol=1e-5)
    assert measure.count_parameters(pruned) < measure.count_parameters(model)
    assert measure.count_parameters(masked) == measure.count_parameters(model)
    for key, value in model.state_dict().items():  # the input model is untouched
        assert torch.equal(value, before[key]), key


def test_pruned_copy_trains():
    model, x = tiny_resnet(), torch.randn(4, 1, 8, 8)
    pruned = prune_channels(model, x, 0.5, group_scores(model, x, "l1")).train()
    nn.functional.cross_entropy(pruned(x), torch.tensor([0, 1, 2, 3])).backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in pruned.parameters())


def test_cnn_counts_match_hand_computation():
    model, x = SmallCNN(), torch.zeros(1, 1, 8, 8)
    pruned = remove_units(model, x, {"conv1": range(8), "conv2": range(0, 32, 2)})  # 16→8 and 32→16 channels
    params = (1 * 8 * 9 + 8) + 2 * 8 + (8 * 16 * 9 + 16) + 2 * 16 + (16 * 4 * 4 * 10 + 10)
    assert measure.count_parameters(pruned) == params == 3866
    assert measure.macs_by_layer(pruned, x) == {"conv1": 8 * 64 * 1 * 9, "conv2": 16 * 64 * 8 * 9, "fc": 10 * 16 * 16}
    assert (pruned.conv2.in_channels, pruned.conv2.out_channels, pruned.fc.in_features) == (8, 16, 256)


def test_flatten_boundary_keeps_the_right_columns():
    model, x = SmallCNN(), torch.zeros(1, 1, 8, 8)
    pruned = remove_units(model, x, {"conv2": [0, 2]})
    kept_columns = [c for c in range(32 * 16) if c // 16 not in (0, 2)]
    assert torch.equal(pruned.fc.weight, model.fc.weight[:, kept_columns])


def test_mlp_counts_match_hand_computation():
    model, x = MLP(), torch.zeros(3, 64)
    pruned = remove_units(model, x, {"fc1": range(150), "fc2": range(50)})
    assert measure.count_parameters(pruned) == 64 * 150 + 150 + 150 * 50 + 50 + 50 * 10 + 10
    assert measure.count_macs(pruned, x) == 3 * (64 * 150 + 150 * 50 + 50 * 10)
    assert torch.equal(pruned.fc2.weight, model.fc2.weight[50:, 150:])


def test_residual_group_is_removed_together_from_any_of_its_layers():
    model, x = randomised(tiny_resnet()), torch.randn(2, 1, 8, 8)
    by_first = remove_units(model, x, {"stem.0": [1, 5]})
    by_second = remove_units(model, x, {"stages.0.0.conv2": [1, 5]})
    for pruned in (by_first, by_second):
        assert pruned.stem[0].out_channels == pruned.stages[0][0].conv2.out_channels == 14
        assert pruned.stem[1].num_features == pruned.stages[0][0].bn2.num_features == 14
        assert pruned.stages[0][0].conv1.in_channels == pruned.stages[1][0].conv1.in_channels == 14
        assert pruned.stages[1][0].shortcut[0].in_channels == 14
        torch.testing.assert_close(pruned(x), mask_units(model, x, {"stem.0": [1, 5]})(x), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(by_first(x), by_second(x))


def test_units_to_remove_takes_lowest_scores():
    assert units_to_remove(torch.tensor([3.0, 1.0, 2.0, 0.5]), 0.5) == [1, 3]
    assert units_to_remove(torch.tensor([1.0, 1.0, 1.0, 1.0]), 0.25) == [0]
    assert units_to_remove(torch.tensor([1.0, 2.0]), 0.0) == []


@pytest.mark.parametrize("amount", [-0.1, 1.0, 1.5, float("nan"), 17, -1, True, "0.5"])
def test_bad_amount_names_the_layer(amount):
    model, x = SmallCNN(), torch.zeros(1, 1, 8, 8)  # conv1 has 16 units
    with pytest.raises((ValueError, TypeError), match="layer 'conv1'"):
        prune_channels(model, x, amount, group_scores(model, x, "l1"))


def test_amount_follows_the_unstructured_rule_fraction_or_count():
    scores = torch.tensor([3.0, 1.0, 2.0, 0.5])
    assert units_to_remove(scores, 2) == units_to_remove(scores, 0.5) == [1, 3]
    assert units_to_remove(scores, 0) == []
    with pytest.raises(ValueError, match="every unit of layer 'fc1'"):
        units_to_remove(scores, 4, "fc1")


def test_groups_traced_once_give_the_same_model():
    model, x = SmallCNN(), torch.randn(2, 1, 8, 8)
    groups, scores = dependency_groups(model, x), group_scores(model, x, "l1")
    traced = prune_channels(model, x, 0.5, scores)
    given = prune_channels(model, None, 0.5, scores, groups=groups)
    torch.testing.assert_close(traced(x), given(x))
    with pytest.raises(ValueError, match="example_input"):
        remove_units(model, None, {"conv1": [0]})


def test_removing_every_unit_names_the_layer():
    model, x = SmallCNN(), torch.zeros(1, 1, 8, 8)
    with pytest.raises(ValueError, match="every unit of layer 'conv2'"):
        remove_units(model, x, {"conv2": range(32)})
    with pytest.raises(ValueError, match="every unit of layer 'conv1'"):
        prune_channels(model, x, {"conv1": 0.99}, group_scores(model, x, "l1"))


def test_other_bad_removals():
    model, x = SmallCNN(), torch.zeros(1, 1, 8, 8)
    with pytest.raises(ValueError, match="layer 'fc' is not a prunable layer"):
        remove_units(model, x, {"fc": [0]})
    with pytest.raises(ValueError, match="units of layer 'conv1' must be indices in \\[0, 15\\] \\(16 units\\), got \\[16\\]"):
        remove_units(model, x, {"conv1": [16]})
    with pytest.raises(ValueError, match="head no prunable group"):
        prune_channels(model, x, {"bn1": 0.5}, group_scores(model, x, "l1"))


def test_sensitivity_ratios_meet_the_mac_budget():
    torch.manual_seed(0)
    model, x = SmallCNN().eval(), torch.randn(8, 1, 8, 8)
    scores = group_scores(model, x, "l1")
    reference = model(x)

    def agreement(pruned):  # a cheap stand-in for accuracy: agreement with the dense model's predictions
        return float((pruned(x).argmax(1) == reference.argmax(1)).float().mean())

    scan = group_sensitivity(model, x, scores, agreement, amounts=(0.25, 0.5, 0.75))
    assert set(scan) == {"conv1", "conv2"} and all(set(v) == {0.25, 0.5, 0.75} for v in scan.values())
    dense = measure.count_macs(model, x)
    ratios = ratios_from_sensitivity(model, x, scores, scan, baseline=1.0, macs_removed=0.5)
    assert 1 - measure.count_macs(prune_channels(model, x, ratios, scores), x) / dense >= 0.5
    amount = uniform_amount_for_macs(model, x, scores, 0.5)
    assert 1 - measure.count_macs(prune_channels(model, x, amount, scores), x) / dense >= 0.5
    assert 1 - measure.count_macs(prune_channels(model, x, amount - 0.01, scores), x) / dense < 0.5
    with pytest.raises(ValueError, match="macs_removed"):
        ratios_from_sensitivity(model, x, scores, scan, baseline=1.0, macs_removed=1.0)
    with pytest.raises(ValueError, match="out of reach"):
        ratios_from_sensitivity(model, x, scores, {"conv1": {0.25: 1.0}}, baseline=1.0, macs_removed=0.9)
