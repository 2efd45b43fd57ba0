"""Right and wrong answers for chapter 3.5's self-checks (run by tests/test_checks.py)."""
import torch
from torch import nn

from companion.checks import structured as checks
from companion.prune import dependency_groups, group_scores


def shrink_right(first, second, keep):
    new_first, new_second = nn.Linear(first.in_features, len(keep)), nn.Linear(len(keep), second.out_features)
    with torch.no_grad():
        new_first.weight.copy_(first.weight[keep])
        new_first.bias.copy_(first.bias[keep])
        new_second.weight.copy_(second.weight[:, keep])
        new_second.bias.copy_(second.bias)
    return new_first, new_second


def shrink_wrong_columns(first, second, keep):  # keeps the right rows but the first columns of the next layer
    new_first, new_second = shrink_right(first, second, keep)
    with torch.no_grad():
        new_second.weight.copy_(second.weight[:, : len(keep)])
    return new_first, new_second


def shrink_in_place(first, second, keep):  # right answer, but modifies its inputs
    new_first, new_second = shrink_right(first, second, keep)
    with torch.no_grad():
        first.weight.zero_()
    return new_first, new_second


def apoz_right(acts):
    return (acts == 0).float().transpose(0, 1).flatten(1).mean(1)


def bn_scores_right(model, x):
    return group_scores(model, x, "bn_scale")


def bn_scores_first_norm_only(model, x):  # forgets that residual groups have several BatchNorm layers
    modules = dict(model.named_modules())
    return {g.name: modules[g.norms[0]].weight.detach().abs() for g in dependency_groups(model, x)}


CASES = [
    (checks.check_filter_l1, lambda conv: conv.weight.abs().sum(dim=(1, 2, 3)),
     lambda conv: conv.weight.pow(2).sum(dim=(1, 2, 3)).sqrt()),
    (checks.check_shrink_linear_pair, shrink_right, shrink_wrong_columns),
    (checks.check_shrink_linear_pair, shrink_right, shrink_in_place),
    (checks.check_bn_scores, bn_scores_right, bn_scores_first_norm_only),
    (checks.check_apoz, apoz_right, lambda acts: (acts == 0).float().mean(0).flatten()[: acts.shape[1]]),
]


def shrink_replaces_parameters(first, second, keep):  # slices the inputs' own parameters: they shrink too
    first.weight = nn.Parameter(first.weight[keep].detach())
    first.bias = nn.Parameter(first.bias[keep].detach())
    second.weight = nn.Parameter(second.weight[:, keep].detach())
    first.out_features = second.in_features = len(keep)
    return first, second


def shrink_zeroes_dropped(first, second, keep):  # masks the dropped units in the originals instead of removing them
    with torch.no_grad():
        drop = [i for i in range(first.out_features) if i not in keep]
        first.weight[drop] = 0
        first.bias[drop] = 0
    return shrink_right(first, second, keep)


def shrink_forgets_bias(first, second, keep):
    new_first, new_second = shrink_right(first, second, keep)
    with torch.no_grad():
        new_first.bias.copy_(first.bias[: len(keep)])
    return new_first, new_second


ADVERSARIAL = [
    (checks.check_shrink_linear_pair, shrink_in_place, r"input 'first.weight' was modified in place"),
    (checks.check_shrink_linear_pair, shrink_replaces_parameters, "parameters were replaced"),
    (checks.check_shrink_linear_pair, shrink_zeroes_dropped, r"input 'first.weight' was modified in place"),
    (checks.check_shrink_linear_pair, shrink_wrong_columns, "outputs"),
    (checks.check_shrink_linear_pair, shrink_forgets_bias, "outputs"),
    (checks.check_shrink_linear_pair, lambda first, second, keep: (first, second), "weight shape|is one of the inputs"),
    (checks.check_filter_l1, lambda conv: conv.weight.abs().sum(dim=(0, 2, 3)), "filter_l1"),
]


def apoz_in_place(acts):
    return acts.eq_(0).float().transpose(0, 1).flatten(1).mean(1)


def bn_scores_in_place(model, x):  # takes |γ| in place: right scores, but the model's BatchNorm weights change
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.weight.data.abs_()
    return group_scores(model, x, "bn_scale")


def bn_scores_signed(model, x):  # sums γ, not |γ|
    modules = dict(model.named_modules())
    return {g.name: sum(modules[n].weight.detach() for n in g.norms) for g in dependency_groups(model, x)}


ADVERSARIAL += [
    (checks.check_apoz, apoz_in_place, "input 'activations' was modified in place"),
    (checks.check_apoz, lambda acts: 1 - apoz_right(acts), "apoz of a tensor of shape"),
    (checks.check_apoz, lambda acts: (acts == 0).float().mean(0), "expected shape"),
    (checks.check_bn_scores, bn_scores_in_place, r"input 'model\..*weight' was modified in place"),
    (checks.check_bn_scores, bn_scores_signed, "scores of group"),
    (checks.check_bn_scores, bn_scores_first_norm_only, "scores of group"),
]
