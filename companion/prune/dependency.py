"""Which channels must be removed together: dependency groups traced from the model's graph.

Removing output unit ``i`` of a layer is only half the job: every layer that reads that unit must lose
the matching input, and every tensor added to it must lose the same channel. A **dependency group** is
a set of channels that share one index space:

- *producers*: the ``Linear``/``Conv`` layers whose output units (weight rows, filters) they are;
- *norms*: the ``BatchNorm`` layers that normalise them (one entry of γ, β, running mean and variance);
- *consumers*: the ``Linear``/``Conv`` layers that read them (weight columns, input channels). A
  ``Linear`` after a flatten reads ``repeat = H·W`` consecutive features per channel, because
  ``flatten`` lays out a C×H×W tensor channel by channel.

Element-wise layers (activations, dropout) and pooling keep the channel index and pass it through;
an addition (a residual connection) ties the channel spaces of its two operands into one group, so
``bn2`` of a ResNet block and its shortcut (and every block the identity shortcut connects) are pruned
together. Channels that reach the model's input or output can never be removed.

The graph comes from ``torch.fx`` symbolic tracing and the spatial sizes from one forward pass on an
example input. An operation this module does not understand raises ``ValueError`` naming the node, so
a model is either pruned correctly or not at all.
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass

import torch
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from ..layers import BATCH_NORMS, WEIGHT_LAYERS

__all__ = ["Consumer", "DependencyGroup", "dependency_groups"]

_ELEMENTWISE_MODULES = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.Hardswish, nn.Hardtanh,
    nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Identity,
)
_POOLS = (
    nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
    nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
    nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d,
)
_CHANNELWISE_FUNCTIONS = {torch.relu, nn.functional.relu, nn.functional.gelu, nn.functional.silu, torch.sigmoid,
                          torch.tanh, nn.functional.dropout, nn.functional.max_pool2d, nn.functional.avg_pool2d,
                          nn.functional.adaptive_avg_pool2d}
_CHANNELWISE_METHODS = {"relu", "sigmoid", "tanh", "contiguous"}
_ADDS = {operator.add, operator.iadd, torch.add}


@dataclass(frozen=True)
class Consumer:
    """A layer that reads a group's channels: ``repeat`` input features (or channels) per channel."""

    name: str
    repeat: int = 1


@dataclass(frozen=True)
class DependencyGroup:
    """Channels that are removed together; ``name`` is the first producer's module name."""

    name: str
    size: int
    producers: tuple[str, ...]
    norms: tuple[str, ...]
    consumers: tuple[Consumer, ...]


class _Spaces:
    """Union–find over channel index spaces, with what each space collects."""

    def __init__(self) -> None:
        self.parent: list[int] = []
        self.producers: list[list[str]] = []
        self.norms: list[list[str]] = []
        self.consumers: list[list[Consumer]] = []
        self.frozen: list[bool] = []
        self.size: list[int] = []

    def new(self, size: int, producer: str | None = None, frozen: bool = False) -> int:
        self.parent.append(len(self.parent))
        self.producers.append([producer] if producer else [])
        self.norms.append([])
        self.consumers.append([])
        self.frozen.append(frozen)
        self.size.append(size)
        return len(self.parent) - 1

    def find(self, space: int) -> int:
        while self.parent[space] != space:
            self.parent[space] = self.parent[self.parent[space]]
            space = self.parent[space]
        return space

    def union(self, a: int, b: int, where: str) -> int:
        a, b = self.find(a), self.find(b)
        if a == b:
            return a
        if self.size[a] != self.size[b]:
            raise ValueError(f"{where}: adds tensors of {self.size[a]} and {self.size[b]} channels")
        if b < a:
            a, b = b, a
        self.parent[b] = a
        for field in (self.producers, self.norms, self.consumers):
            field[a] += field[b]
        self.frozen[a] = self.frozen[a] or self.frozen[b]
        return a


def _shape(node: fx.Node) -> torch.Size:
    meta = node.meta.get("tensor_meta")
    if meta is None or not hasattr(meta, "shape"):
        raise ValueError(f"node {node.name!r} does not produce a single tensor; structured pruning cannot trace it")
    return meta.shape


def _trace(model: nn.Module, example_input: torch.Tensor) -> fx.GraphModule:
    try:
        graph_module = fx.symbolic_trace(model)
    except Exception as error:  # fx raises many types (TraceError, TypeError, ...) for untraceable code
        raise ValueError(f"cannot trace {type(model).__name__} with torch.fx: {error}") from error
    was_training = model.training
    graph_module.eval()
    with torch.no_grad():
        ShapeProp(graph_module).propagate(example_input)
    graph_module.train(was_training)
    return graph_module


def dependency_groups(model: nn.Module, example_input: torch.Tensor) -> list[DependencyGroup]:
    """The groups of channels of ``model`` that can be removed, in the order the forward pass meets them.

    ``example_input`` (batch included) fixes the spatial sizes, hence how many features a ``Linear``
    after a flatten reads per channel. Raises ``ValueError`` naming the node for an operation that is
    not understood (concatenation, reshapes other than a flatten from dimension 1, grouped
    convolutions, a layer called twice, ...).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not isinstance(example_input, torch.Tensor):
        raise TypeError(f"example_input must be a tensor, got {type(example_input).__name__}")
    graph_module = _trace(model, example_input)
    modules = dict(graph_module.named_modules())
    spaces = _Spaces()
    value: dict[fx.Node, tuple[int, int]] = {}  # node → (channel space, features per channel)
    calls: dict[str, int] = {}

    def source(node: fx.Node, arg) -> tuple[int, int]:
        if not isinstance(arg, fx.Node) or arg not in value:
            raise ValueError(f"node {node.name!r} ({node.target}) reads a value that is not a traced tensor")
        return value[arg]

    for node in graph_module.graph.nodes:
        if node.op == "placeholder":
            value[node] = (spaces.new(_shape(node)[1], frozen=True), 1)
        elif node.op == "output":
            outputs = node.args[0] if isinstance(node.args[0], (tuple, list)) else (node.args[0],)
            for out in outputs:
                space, _ = source(node, out)
                spaces.frozen[spaces.find(space)] = True
        elif node.op == "call_module":
            module = modules[node.target]
            name = str(node.target)
            if isinstance(module, WEIGHT_LAYERS + BATCH_NORMS):
                calls[name] = calls.get(name, 0) + 1
                if calls[name] > 1:
                    raise ValueError(f"layer {name!r} is called more than once; its channels cannot be removed consistently")
            space, repeat = source(node, node.args[0])
            if isinstance(module, WEIGHT_LAYERS):
                if getattr(module, "groups", 1) != 1:
                    raise ValueError(f"layer {name!r} is a grouped convolution (groups={module.groups}); "
                                     "structured pruning supports groups=1 only")
                if isinstance(module, nn.Linear) and len(_shape(node.args[0])) != 2:
                    raise ValueError(f"layer {name!r} reads a {len(_shape(node.args[0]))}-d tensor; "
                                     "structured pruning supports Linear layers on (batch, features) inputs only")
                if not isinstance(module, nn.Linear) and repeat != 1:
                    raise ValueError(f"layer {name!r} reads a flattened tensor; cannot trace its channels")
                spaces.consumers[spaces.find(space)].append(Consumer(name, repeat))
                out_size = module.out_features if isinstance(module, nn.Linear) else module.out_channels
                value[node] = (spaces.new(out_size, producer=name), 1)
            elif isinstance(module, BATCH_NORMS):
                if repeat != 1:
                    raise ValueError(f"layer {name!r} normalises a flattened tensor; cannot trace its channels")
                spaces.norms[spaces.find(space)].append(name)
                value[node] = (space, repeat)
            elif isinstance(module, nn.Flatten):
                if module.start_dim != 1 or module.end_dim != -1:
                    raise ValueError(f"layer {name!r} flattens from dimension {module.start_dim} to {module.end_dim}; "
                                     "structured pruning supports flatten(start_dim=1) only")
                value[node] = (space, repeat * math.prod(_shape(node.args[0])[2:]))
            elif isinstance(module, _ELEMENTWISE_MODULES):
                value[node] = (space, repeat)
            elif isinstance(module, _POOLS):
                if repeat != 1:
                    raise ValueError(f"layer {name!r} pools a flattened tensor; cannot trace its channels")
                value[node] = (space, repeat)
            else:
                raise ValueError(f"layer {name!r} ({type(module).__name__}) is not supported by structured pruning")
        elif node.op == "call_function" and node.target in _ADDS:
            tensors = [a for a in node.args if isinstance(a, fx.Node)]
            (space, repeat), *others = [source(node, a) for a in tensors]
            for other_space, other_repeat in others:
                if other_repeat != repeat:
                    raise ValueError(f"node {node.name!r} adds tensors with different layouts; cannot trace it")
                space = spaces.union(space, other_space, f"node {node.name!r}")
            value[node] = (space, repeat)
        elif (node.op == "call_function" and node.target is torch.flatten) or (node.op == "call_method" and node.target == "flatten"):
            start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
            end = node.args[2] if len(node.args) > 2 else node.kwargs.get("end_dim", -1)
            if start != 1 or end != -1:
                raise ValueError(f"node {node.name!r} flattens from dimension {start} to {end}; "
                                 "structured pruning supports flatten(start_dim=1) only")
            space, repeat = source(node, node.args[0])
            value[node] = (space, repeat * math.prod(_shape(node.args[0])[2:]))
        elif ((node.op == "call_function" and node.target in _CHANNELWISE_FUNCTIONS)
              or (node.op == "call_method" and node.target in _CHANNELWISE_METHODS)):
            value[node] = source(node, node.args[0])
        else:
            raise ValueError(f"node {node.name!r} ({node.op} {getattr(node.target, '__name__', node.target)}) is not "
                             "supported by structured pruning: it cannot tell which channels this operation ties together")

    groups, seen = [], set()
    for node in graph_module.graph.nodes:
        if node.op != "call_module" or not isinstance(modules[node.target], WEIGHT_LAYERS):
            continue
        root = spaces.find(value[node][0])
        if root in seen or spaces.frozen[root]:
            continue
        seen.add(root)
        groups.append(DependencyGroup(name=spaces.producers[root][0], size=spaces.size[root],
                                      producers=tuple(spaces.producers[root]), norms=tuple(spaces.norms[root]),
                                      consumers=tuple(spaces.consumers[root])))
    return groups
