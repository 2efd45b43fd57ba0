"""Importance criteria against brute-force oracles and torch.nn.utils.prune; dead units."""
import pytest
import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from companion.models import MLP, SmallCNN, tiny_resnet
from companion.prune.importance import (CRITERIA, bn_scale, channel_stats, dead_units, group_scores, weight_norm)
from companion.prune.surgery import remove_units, units_to_remove


def test_weight_norm_matches_explicit_sums():
    w = torch.randn(5, 3, 3, 3)
    torch.testing.assert_close(weight_norm(w, 1), w.abs().sum(dim=(1, 2, 3)))
    torch.testing.assert_close(weight_norm(w, 2), w.pow(2).sum(dim=(1, 2, 3)).sqrt())
    with pytest.raises(ValueError, match="p must be positive"):
        weight_norm(w, 0)
    with pytest.raises(TypeError, match="weight"):
        weight_norm(torch.randn(4), 1)


@pytest.mark.parametrize("build", [lambda: nn.Conv2d(6, 10, 3), lambda: nn.Linear(20, 12)], ids=["conv", "linear"])
@pytest.mark.parametrize("amount", [0.2, 0.5, 0.7])
@pytest.mark.parametrize("seed", [0, 1])
def test_l2_criterion_selects_the_channels_ln_structured_zeroes(build, amount, seed):
    torch.manual_seed(seed)
    layer = build()
    ours = units_to_remove(weight_norm(layer.weight, 2), amount)
    torch_prune.ln_structured(layer, "weight", amount=amount, n=2, dim=0)
    zeroed = (layer.weight_mask.flatten(1).sum(dim=1) == 0).nonzero().flatten().tolist()
    assert ours == zeroed


def test_group_l2_scores_of_a_plain_chain_are_the_layer_norms():
    model, x = SmallCNN(), torch.zeros(1, 1, 8, 8)
    scores = group_scores(model, x, "l2")
    torch.testing.assert_close(scores["conv1"], weight_norm(model.conv1.weight, 2))
    torch.testing.assert_close(group_scores(model, x, "bn_scale")["conv2"], model.bn2.weight.detach().abs())


def test_residual_group_scores_add_over_producers():
    model, x = tiny_resnet(), torch.zeros(1, 1, 8, 8)
    scores = group_scores(model, x, "l1")["stem.0"]
    torch.testing.assert_close(scores, weight_norm(model.stem[0].weight) + weight_norm(model.stages[0][0].conv2.weight))


def test_bn_scale_needs_batchnorm():
    with pytest.raises(TypeError, match="BatchNorm"):
        bn_scale(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="layer 'fc1' is followed by no BatchNorm"):
        group_scores(MLP(), torch.zeros(1, 64), "bn_scale")


def test_activation_statistics_match_brute_force():
    torch.manual_seed(0)
    model = SmallCNN().eval()
    batches = [torch.randn(5, 1, 8, 8) for _ in range(3)]
    x = torch.cat(batches)
    with torch.no_grad():
        relu1 = model.relu1(model.bn1(model.conv1(x)))              # what conv2 reads
        pooled = model.pool(model.relu2(model.bn2(model.conv2(relu1))))  # what fc reads, per channel
    stats = channel_stats(model, x[:1], batches)
    scores = {c: group_scores(model, x[:1], c, batches) for c in ("mean_activation", "apoz")}
    for name, acts in (("conv1", relu1), ("conv2", pooled)):
        torch.testing.assert_close(scores["mean_activation"][name], acts.mean(dim=(0, 2, 3)))
        torch.testing.assert_close(scores["apoz"][name], 1 - (acts == 0).float().mean(dim=(0, 2, 3)))
        torch.testing.assert_close(stats[name].peak.float(), acts.abs().amax(dim=(0, 2, 3)))


def test_taylor_matches_autograd_and_leaves_gradients_alone():
    torch.manual_seed(0)
    model = MLP().eval()
    x, y = torch.randn(6, 64), torch.randint(0, 10, (6,))
    hidden = model.relu1(model.fc1(x)).detach().requires_grad_()
    logits = model.fc3(model.relu2(model.fc2(hidden)))
    (grad,) = torch.autograd.grad(nn.functional.cross_entropy(logits, y, reduction="sum"), hidden)
    expected = (hidden * grad).abs().mean(dim=0)
    scores = group_scores(model, x[:1], "taylor", [(x[:4], y[:4]), (x[4:], y[4:])])
    torch.testing.assert_close(scores["fc1"], expected.detach())
    assert all(p.grad is None for p in model.parameters())
    with pytest.raises(ValueError, match="\\(input, target\\) pairs"):
        group_scores(model, x[:1], "taylor", [x])


def test_bad_criterion_and_missing_data():
    model, x = MLP(), torch.zeros(1, 64)
    with pytest.raises(ValueError, match="criterion must be one of"):
        group_scores(model, x, "l3")
    with pytest.raises(ValueError, match="needs calibration batches"):
        group_scores(model, x, "apoz")
    with pytest.raises(ValueError, match="batches is empty"):
        group_scores(model, x, "apoz", [])
    assert set(CRITERIA) >= {"l1", "l2", "bn_scale", "mean_activation", "apoz", "taylor"}


def test_removing_dead_units_changes_no_output():
    torch.manual_seed(0)
    model = MLP().eval()
    resnet = tiny_resnet().eval()
    with torch.no_grad():
        model.fc1.bias[[3, 7, 250]] = -1e3   # these ReLUs never fire on inputs in [0, 1]
        model.fc2.weight[[5, 9]] = 0
        model.fc2.bias[[5, 9]] = 0            # exactly zero, hence dead too
        resnet.stages[1][0].bn1.bias[[0, 4]] = -1e3
    x = torch.rand(64, 64)
    with torch.no_grad():  # brute force: units whose ReLU output is 0 on every example
        hidden1 = model.relu1(model.fc1(x))
        hidden2 = model.relu2(model.fc2(hidden1))
    expected = {"fc1": (hidden1 == 0).all(0).nonzero().flatten().tolist(),
                "fc2": (hidden2 == 0).all(0).nonzero().flatten().tolist()}
    dead = dead_units(model, x[:1], [x[:32], x[32:]])
    assert dead == expected
    assert {3, 7, 250} <= set(dead["fc1"]) and {5, 9} <= set(dead["fc2"])
    torch.testing.assert_close(remove_units(model, x[:1], dead)(x), model(x), atol=1e-5, rtol=1e-5)
    image = torch.rand(16, 1, 8, 8)
    dead = dead_units(resnet, image[:1], [image])
    assert {0, 4} <= set(dead["stages.1.0.conv1"])
    pruned = remove_units(resnet, image[:1], dead)
    torch.testing.assert_close(pruned(image), resnet(image), atol=1e-5, rtol=1e-5)
