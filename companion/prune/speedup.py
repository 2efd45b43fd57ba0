"""Does removing channels make a model faster? Measured speedup next to the MAC ratio.

For a model pruned by a uniform fraction of channels in every dependency group,

    MAC ratio = MACs(dense) / MACs(pruned),     speedup = latency(dense) / latency(pruned),

and the *efficiency* speedup / MAC ratio says how much of the theoretical gain the hardware delivers
(1 = all of it). Removing a fraction f of the channels of a conv layer that also loses f of its input
channels divides its MACs by 1/(1 − f)², but element-wise work (BatchNorm, ReLU, pooling) only by
1/(1 − f), and smaller matrix products run the CPU's kernels less efficiently, so efficiency falls
below 1 when channels are few.

Latencies come from :func:`companion.measure.interleaved_latency`: each round times every model
once, and the median over rounds is reported, so slow phases of a shared machine hit all models alike.
"""
from __future__ import annotations

import copy
from typing import Mapping, Sequence

import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from .. import measure
from ..layers import fold_batchnorm
from .dependency import dependency_groups
from .surgery import prune_channels

__all__ = ["ln_structured_masked", "speedup_rows"]


def ln_structured_masked(model: nn.Module, example_input: torch.Tensor, amount: float, n: int = 2) -> nn.Module:
    """A copy of ``model`` pruned the way ``torch.nn.utils.prune.ln_structured`` does it: masks only.

    Every producer of every dependency group gets ``ln_structured(amount, n, dim=0)``: its lowest-norm
    output rows are multiplied by a zero mask on every call. Shapes, parameter count and MACs stay
    those of the dense model (the mask is stored besides the weight).
    """
    masked = copy.deepcopy(model)
    modules = dict(masked.named_modules())
    for group in dependency_groups(masked, example_input):
        for name in group.producers:
            torch_prune.ln_structured(modules[name], "weight", amount=amount, n=n, dim=0)
    return masked


def speedup_rows(model: nn.Module, example_input: torch.Tensor, amounts: Sequence[float],
                 scores: Mapping[str, torch.Tensor], *, threads: int = 1, rounds: int = 5,
                 min_run_time: float = 0.1, memory_format: torch.memory_format = torch.contiguous_format,
                 masked: bool = True, fold_bn: bool = False) -> list[dict]:
    """One row per fraction removed: parameters, MACs, latencies, MAC ratio, speedup and efficiency.

    With ``masked=True`` each row also times the ``ln_structured`` masked model at the same fraction,
    whose cost is the dense model's (``masked ms`` is NaN otherwise). All models are timed
    interleaved in the same rounds, with weights and input in ``memory_format``
    (``torch.channels_last`` stores images pixel by pixel, which CPU convolution and pooling kernels
    prefer). With ``fold_bn=True`` the dense and pruned models are timed with BatchNorm folded into
    the convolutions (:func:`companion.layers.fold_batchnorm`); masked models cannot be folded (their masks are hooks),
    so ``fold_bn`` requires ``masked=False``. ``model`` is not modified.
    """
    if fold_bn and masked:
        raise ValueError("fold_bn=True needs masked=False: masked models keep their BatchNorm layers")
    dense_macs = measure.count_macs(model, example_input)
    models = {"dense": copy.deepcopy(model)}
    groups = dependency_groups(model, example_input)
    for amount in amounts:
        models[f"pruned {amount}"] = prune_channels(model, None, amount, scores, groups=groups)
        if masked:
            models[f"masked {amount}"] = ln_structured_masked(model, example_input, amount)
    if fold_bn:
        models = {name: fold_batchnorm(m) for name, m in models.items()}
    models = {name: m.eval().to(memory_format=memory_format) for name, m in models.items()}
    timed_input = example_input.contiguous(memory_format=memory_format)
    latency = measure.interleaved_latency(models, timed_input, threads=threads, rounds=rounds, min_run_time=min_run_time)
    rows = []
    for amount in amounts:
        pruned = models[f"pruned {amount}"]
        mac_ratio = dense_macs / measure.count_macs(pruned, example_input)
        speedup = latency["dense"] / latency[f"pruned {amount}"]
        rows.append({"channels removed": amount, "parameters": measure.count_parameters(pruned),
                     "MACs": measure.count_macs(pruned, example_input), "dense ms": latency["dense"],
                     "masked ms": latency.get(f"masked {amount}", float("nan")), "pruned ms": latency[f"pruned {amount}"],
                     "MAC ratio": mac_ratio, "speedup": speedup, "efficiency": speedup / mac_ratio,
                     "threads": threads, "memory format": str(memory_format).removeprefix("torch.")})
    return rows
