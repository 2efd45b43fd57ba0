"""What every technique needs to know about layers: which ones carry weights, how to replace one,
and how to fold a BatchNorm into the convolution before it.

Quantization and pruning both act on the same layers, the ``nn.Linear`` and ``nn.Conv*`` modules
(:data:`WEIGHT_LAYERS`): a weight matrix or filter bank whose first dimension indexes the output
units. Both replace layers inside a model (:func:`set_submodule`), and both meet BatchNorm, which in
eval mode is a fixed per-channel affine map that folds into the convolution before it:

    BN(conv(x)) = γ·(W∗x + b − μ)/σ + β = W'∗x + b',   W' = W·γ/σ,   b' = β + (b − μ)·γ/σ,

with σ = √(var + ε), per output channel (Jacob et al. 2018, §3.2). :func:`fold_conv_bn` folds one
pair; :func:`fold_batchnorm` finds every foldable pair of a model by tracing it with ``torch.fx``.
"""
from __future__ import annotations

import copy
from typing import Iterable

import torch
import torch.fx
from torch import nn

__all__ = ["WEIGHT_LAYERS", "BATCH_NORMS", "weight_layers", "set_submodule", "fold_conv_bn", "fold_batchnorm"]

#: The layers with a weight whose rows (Linear) or filters (Conv) are the output units.
WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
#: BatchNorm over 1, 2 or 3 spatial dimensions: one γ, β, running mean and variance per channel.
BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_FOLDABLE = {nn.Conv1d: nn.BatchNorm1d, nn.Conv2d: nn.BatchNorm2d, nn.Conv3d: nn.BatchNorm3d}


def weight_layers(model: nn.Module, layers: Iterable[str] | None = None) -> dict[str, nn.Module]:
    """The Linear and Conv layers of ``model`` by name (all of them, or those named in ``layers``)."""
    found = {name: module for name, module in model.named_modules() if isinstance(module, WEIGHT_LAYERS)}
    if layers is None:
        return found
    layers = list(layers)
    missing = [name for name in layers if name not in found]
    if missing:
        raise ValueError(f"layers {missing} are not Linear/Conv layers of the model; choose from {sorted(found)}")
    return {name: found[name] for name in layers}


def set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    """Replace the submodule called ``name`` (a dotted path such as ``'stages.1.0.conv1'``) in place."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be an nn.Module, got {type(module).__name__}")
    parent, _, child = name.rpartition(".")
    try:
        owner = model.get_submodule(parent) if parent else model
    except AttributeError as error:
        raise ValueError(f"model has no submodule {parent!r} (from name {name!r})") from error
    if child not in owner._modules:
        raise ValueError(f"model has no submodule {name!r}")
    setattr(owner, child, module)


def fold_conv_bn(conv: nn.Module, bn: nn.Module) -> nn.Module:
    """A new convolution equal to ``bn(conv(x))`` in eval mode: W' = W·γ/σ, b' = β + (b − μ)·γ/σ.

    σ = √(running var + ε). ``conv`` and ``bn`` are not modified.
    """
    if type(conv) not in _FOLDABLE or not isinstance(bn, _FOLDABLE[type(conv)]):
        raise TypeError(f"fold_conv_bn needs a Conv1d/2d/3d and the BatchNorm of the same dimension (e.g. Conv2d and "
                        f"BatchNorm2d), got {type(conv).__name__}, {type(bn).__name__}")
    if bn.num_features != conv.out_channels or bn.running_mean is None:
        raise ValueError("bn must track running statistics of conv's output channels")
    folded = copy.deepcopy(conv)
    gamma = bn.weight.detach() if bn.affine else torch.ones(bn.num_features)
    beta = bn.bias.detach() if bn.affine else torch.zeros(bn.num_features)
    factor = gamma / torch.sqrt(bn.running_var + bn.eps)
    bias = conv.bias.detach() if conv.bias is not None else torch.zeros(conv.out_channels)
    shape = (-1,) + (1,) * (conv.weight.dim() - 1)
    folded.weight = nn.Parameter(conv.weight.detach() * factor.reshape(shape))
    folded.bias = nn.Parameter(beta + (bias - bn.running_mean) * factor)
    return folded


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` with every BatchNorm that directly follows a convolution folded into it.

    The model is traced with ``torch.fx`` to find the pairs: a BatchNorm is folded when it reads a
    convolution's output, nothing else reads that output and each of the two modules is called once,
    in a flat ``nn.Sequential`` and in residual blocks alike. In the copy each such convolution becomes :func:`fold_conv_bn` of the pair
    and the BatchNorm becomes ``nn.Identity``, so the copy keeps the model's class, names and
    structure. Deployed models run this way: it saves a pass over every activation. ``model`` is not
    modified.
    """
    folded = copy.deepcopy(model).eval()
    try:
        traced = torch.fx.symbolic_trace(folded)
    except Exception as error:  # fx raises many types (TraceError, TypeError, ...) for untraceable code
        raise ValueError(f"cannot trace {type(model).__name__} with torch.fx to find Conv→BatchNorm pairs: {error}") from error
    modules = dict(folded.named_modules())
    calls: dict[str, int] = {}
    for node in traced.graph.nodes:
        if node.op == "call_module":
            calls[node.target] = calls.get(node.target, 0) + 1
    for node in traced.graph.nodes:
        if node.op != "call_module" or not isinstance(modules[node.target], BATCH_NORMS):
            continue
        source = node.args[0]
        if (isinstance(source, torch.fx.Node) and source.op == "call_module" and len(source.users) == 1
                and calls[source.target] == 1 and calls[node.target] == 1
                and type(modules[source.target]) in _FOLDABLE
                and isinstance(modules[node.target], _FOLDABLE[type(modules[source.target])])):
            set_submodule(folded, source.target, fold_conv_bn(modules[source.target], modules[node.target]))
            set_submodule(folded, node.target, nn.Identity())
    return folded
