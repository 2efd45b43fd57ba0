"""Attention-head and FFN-neuron pruning of the text encoder: importance scores and physical removal.

**Importance** (Michel, Levy & Neubig 2019, "Are Sixteen Heads Really Better than One?"). Give every
head h a gate ξ_h multiplying its attention output (``head_mask`` of
:class:`~companion.text.encoder.SentenceEncoder`, all ones). To first order, removing the head
(ξ_h: 1 → 0) changes the loss by ∂L/∂ξ_h, so the importance of h is the expected magnitude

    I_h = E_x |∂L(x)/∂ξ_h|,

with L(x) the loss of one example: the magnitude is taken per sentence, before averaging, so that
gradients of opposite sign on different sentences do not cancel. One backward pass gives all of them:
each sentence of a batch gets its own copy of the gates, and the gradient of the summed loss with
respect to sentence x's copy is ∂L(x)/∂ξ.
Michel et al. then divide each layer's scores by their ℓ2 norm over the layer's heads, which makes
layers comparable before one global ranking. FFN neurons get the same treatment with a gate on each
neuron's GELU output (``neuron_mask``).

**Removal.** Head h of a layer owns rows [h·d, (h+1)·d) of W_Q, W_K, W_V (and their biases) and the
same columns of the output projection W_O; deleting them gives a layer with fewer heads that computes
exactly what the gated layer computed with ξ_h = 0. FFN neuron j owns row j of W_1 (and b_1[j]) and
column j of W_2. Nothing is zeroed and kept: the matrices get smaller.
"""
from __future__ import annotations

import copy
from typing import Iterable, Mapping

import torch
from torch import nn
from torch.nn import functional as F

from .encoder import SentenceEncoder

__all__ = ["IMPORTANCE_FORMAT", "gate_importance", "normalize_per_layer", "lowest_units", "prune_heads",
           "prune_neurons"]


IMPORTANCE_FORMAT = 2  # bump when gate_importance changes what it computes (part of cache keys)


def _check_encoder(model) -> None:
    if not isinstance(model, SentenceEncoder):
        raise TypeError(f"model must be a companion.text.SentenceEncoder, got {type(model).__name__}")


def gate_importance(model: SentenceEncoder, classifier: nn.Module,
                    batches: Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """E_x |∂L(x)/∂ξ| for every head gate and every FFN-neuron gate (Michel et al. 2019).

    ``batches`` yields ``(input_ids, attention_mask, labels)``; L(x) is the cross-entropy of
    ``classifier(model(x))`` for one sentence x. Returns the means over all sentences,
    ``{"heads": (layers, heads), "neurons": (layers, FFN width)}`` (unnormalized). Needs an unpruned
    model (every layer the same width). Weights are not changed and get no gradient.
    """
    _check_encoder(model)
    heads, neurons = set(model.heads_per_layer()), set(model.neurons_per_layer())
    if len(heads) != 1 or len(neurons) != 1:
        raise ValueError("gate_importance needs a model whose layers all have the same width (score before pruning)")
    layers = len(model.layers)
    heads, neurons = heads.pop(), neurons.pop()
    dtype = next(model.parameters()).dtype
    scores = {"heads": torch.zeros(layers, heads, dtype=dtype), "neurons": torch.zeros(layers, neurons, dtype=dtype)}
    parameters = list(model.parameters()) + list(classifier.parameters())
    saved = [p.requires_grad for p in parameters]
    model.eval()
    count = 0
    try:
        for p in parameters:
            p.requires_grad_(False)
        for input_ids, attention_mask, labels in batches:
            size = len(input_ids)  # one gate per (layer, sentence, unit)
            head_gate = torch.ones(layers, size, heads, dtype=dtype, requires_grad=True)
            neuron_gate = torch.ones(layers, size, neurons, dtype=dtype, requires_grad=True)
            logits = classifier(model(input_ids, attention_mask, head_gate, neuron_gate))
            loss = F.cross_entropy(logits, labels, reduction="sum")  # Σ_x L(x): its gradient per copy is ∂L(x)/∂ξ
            grad_heads, grad_neurons = torch.autograd.grad(loss, (head_gate, neuron_gate))
            scores["heads"] += grad_heads.abs().sum(dim=1)
            scores["neurons"] += grad_neurons.abs().sum(dim=1)
            count += size
    finally:
        for p, flag in zip(parameters, saved):
            p.requires_grad_(flag)
    if count == 0:
        raise ValueError("batches is empty: importance needs at least one batch")
    return {name: total / count for name, total in scores.items()}


def normalize_per_layer(scores: torch.Tensor) -> torch.Tensor:
    """Each row (layer) divided by its ℓ2 norm, as Michel et al. do before ranking heads across layers."""
    if scores.dim() != 2:
        raise ValueError(f"scores must have shape (layers, units), got {tuple(scores.shape)}")
    return scores / scores.norm(dim=1, keepdim=True).clamp(min=1e-20)


def lowest_units(scores: torch.Tensor, count: int) -> dict[int, list[int]]:
    """The ``count`` lowest-scoring units of a (layers, units) table, globally: {layer: sorted unit indices}.

    Ties are broken by position (earlier layer, then earlier unit, first), so the choice is deterministic.
    """
    if scores.dim() != 2:
        raise ValueError(f"scores must have shape (layers, units), got {tuple(scores.shape)}")
    if not isinstance(count, int) or not 0 <= count <= scores.numel():
        raise ValueError(f"count must be an integer in [0, {scores.numel()}], got {count!r}")
    order = sorted(range(scores.numel()), key=lambda i: (float(scores.reshape(-1)[i]), i))[:count]
    chosen: dict[int, list[int]] = {}
    for flat in order:
        layer, unit = divmod(flat, scores.shape[1])
        chosen.setdefault(layer, []).append(unit)
    return {layer: sorted(units) for layer, units in sorted(chosen.items())}


def _kept(total: int, removed: Iterable[int], what: str) -> torch.Tensor:
    removed = sorted(set(int(i) for i in removed))
    if any(not 0 <= i < total for i in removed):
        raise ValueError(f"{what} indices must lie in [0, {total}), got {removed}")
    return torch.tensor([i for i in range(total) if i not in removed], dtype=torch.long)


def _shrink(linear: nn.Linear, rows: torch.Tensor | None = None, cols: torch.Tensor | None = None) -> nn.Linear:
    weight = linear.weight.detach()
    bias = linear.bias.detach() if linear.bias is not None else None
    if rows is not None:
        weight, bias = weight[rows], (bias[rows] if bias is not None else None)
    if cols is not None:
        weight = weight[:, cols]
    new = nn.Linear(1, 1, bias=bias is not None)  # its parameters are replaced: nothing to initialise at full size
    new.in_features, new.out_features = weight.shape[1], weight.shape[0]
    new.weight = nn.Parameter(weight.clone())
    if bias is not None:
        new.bias = nn.Parameter(bias.clone())
    return new


def _check_layers(model: SentenceEncoder, plan: Mapping[int, Iterable[int]]) -> None:
    bad = [layer for layer in plan if not 0 <= layer < len(model.layers)]
    if bad:
        raise ValueError(f"layer indices must lie in [0, {len(model.layers)}), got {bad}")


def prune_heads(model: SentenceEncoder, heads: Mapping[int, Iterable[int]]) -> SentenceEncoder:
    """A copy of ``model`` without the attention heads ``{layer: [head, …]}`` (indices into the current heads)."""
    _check_encoder(model)
    _check_layers(model, heads)
    pruned = copy.deepcopy(model)
    for index, removed in heads.items():
        attention = pruned.layers[index].attention
        kept_heads = _kept(attention.num_heads, removed, f"layer {index}'s head")
        d = attention.head_dim
        rows = (kept_heads[:, None] * d + torch.arange(d)).reshape(-1)
        attention.query, attention.key, attention.value = (_shrink(getattr(attention, n), rows=rows)
                                                           for n in ("query", "key", "value"))
        attention.output = _shrink(attention.output, cols=rows)
        attention.num_heads = len(kept_heads)
    return pruned.eval()


def prune_neurons(model: SentenceEncoder, neurons: Mapping[int, Iterable[int]]) -> SentenceEncoder:
    """A copy of ``model`` without the FFN neurons ``{layer: [neuron, …]}`` (rows of W_1, columns of W_2)."""
    _check_encoder(model)
    _check_layers(model, neurons)
    pruned = copy.deepcopy(model)
    for index, removed in neurons.items():
        ffn = pruned.layers[index].ffn
        kept = _kept(ffn.up.out_features, removed, f"layer {index}'s neuron")
        ffn.up, ffn.down = _shrink(ffn.up, rows=kept), _shrink(ffn.down, cols=kept)
    return pruned.eval()
