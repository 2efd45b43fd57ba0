"""Self-checks for chapter 3.5 (Pruning neurons): importance criteria and removing units by hand."""
from __future__ import annotations

import copy

import torch
from torch import nn

from ..models import SmallCNN, tiny_resnet
from ..prune.importance import group_scores, weight_norm
from ..prune.surgery import remove_units
from . import assert_close, assert_equal, assert_unchanged, exercise, snapshot

__all__ = ["check_filter_l1", "check_shrink_linear_pair", "check_apoz", "check_bn_scores"]


@exercise
def check_filter_l1(filter_l1) -> None:
    """``filter_l1(conv)`` → one L1 norm per output filter of ``conv``: s_i = Σ |W_i,c,h,w|."""
    torch.manual_seed(0)
    for conv in (nn.Conv2d(3, 8, 3), nn.Conv2d(16, 4, 1), nn.Conv2d(2, 5, (3, 5))):
        assert_close(f"filter_l1({conv})", filter_l1(conv), weight_norm(conv.weight, 1), atol=1e-5)


@exercise
def check_shrink_linear_pair(shrink_linear_pair) -> None:
    """``shrink_linear_pair(first, second, keep)`` → new (first, second) that keep only hidden units ``keep``.

    The pair computes ``second(relu(first(x)))``; the result must compute the same as the original
    with the other hidden units removed, and ``first``/``second`` must not be modified.
    """
    torch.manual_seed(0)
    for fan_in, hidden, fan_out, keep in [(6, 5, 3, [0, 2, 3]), (10, 8, 4, [7]), (4, 4, 2, [0, 1, 2, 3])]:
        first, second = nn.Linear(fan_in, hidden), nn.Linear(hidden, fan_out)
        x = torch.randn(7, fan_in)
        drop = [i for i in range(hidden) if i not in keep]
        # The reference runs first, on copies, so an answer that edits its inputs cannot disturb it.
        reference = nn.Sequential(copy.deepcopy(first), nn.ReLU(), copy.deepcopy(second))
        expected = remove_units(reference, x, {"0": drop} if drop else {})(x).detach()
        names = ("first.weight", "first.bias", "second.weight", "second.bias")
        originals = (first.weight, first.bias, second.weight, second.bias)
        copies = snapshot(originals)
        new_first, new_second = shrink_linear_pair(first, second, list(keep))
        what = f"shrink_linear_pair on a {fan_in}→{hidden}→{fan_out} pair keeping {keep}"
        current = [getattr(layer, attr) for layer in (first, second) for attr in ("weight", "bias")]
        if any(now is not then for now, then in zip(current, originals)):
            raise AssertionError(f"{what}: the original layers' parameters were replaced; "
                                 "leave first and second unchanged and return new layers")
        assert_unchanged(what, names, originals, copies)
        for name, layer in (("first", new_first), ("second", new_second)):
            if not isinstance(layer, nn.Linear):
                raise AssertionError(f"{what}: the new {name} layer must be an nn.Linear, got {type(layer).__name__}")
            if layer is first or layer is second:
                raise AssertionError(f"{what}: the new {name} layer is one of the inputs; return new layers")
        assert_equal(f"{what}: first layer's weight shape", tuple(new_first.weight.shape), (len(keep), fan_in))
        assert_equal(f"{what}: second layer's weight shape", tuple(new_second.weight.shape), (fan_out, len(keep)))
        with torch.no_grad():
            assert_close(f"{what}: outputs", new_second(torch.relu(new_first(x))), expected, atol=1e-5)


@exercise
def check_apoz(apoz) -> None:
    """``apoz(activations)`` → the fraction of zeros per channel of an (N, C) or (N, C, H, W) tensor."""
    torch.manual_seed(0)
    cases = [torch.relu(torch.randn(50, 6)), torch.relu(torch.randn(4, 3, 5, 5) - 0.5), torch.zeros(2, 2, 2, 2)]
    for acts in cases:
        expected = (acts == 0).float().transpose(0, 1).reshape(acts.shape[1], -1).mean(dim=1)
        what = f"apoz of a tensor of shape {tuple(acts.shape)}"
        given = acts.clone()
        got = apoz(given)
        assert_unchanged(what, ("activations",), (given,), (acts,))
        assert_close(what, got, expected, atol=1e-6)


@exercise
def check_bn_scores(bn_scores) -> None:
    """``bn_scores(model, example_input)`` → {group name: Σ |γ| over the group's BatchNorm layers}."""
    torch.manual_seed(0)
    for model, x in ((SmallCNN(), torch.zeros(1, 1, 8, 8)), (tiny_resnet(), torch.zeros(1, 1, 8, 8))):
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.weight.normal_()
        expected = group_scores(model, x, "bn_scale")
        names, tensors = zip(*model.state_dict().items())
        copies = snapshot(tensors)
        got = bn_scores(model, x)
        assert_unchanged(f"bn_scores({type(model).__name__})", [f"model.{name}" for name in names], tensors, copies)
        assert_equal(f"groups of {type(model).__name__}", sorted(got), sorted(expected))
        for name, scores in expected.items():
            assert_close(f"scores of group {name!r} of {type(model).__name__}", got[name], scores)
