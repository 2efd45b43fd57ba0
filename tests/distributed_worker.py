"""The scenarios of ``test_distributed.py``: run by 2 real Gloo processes, and by one process as the reference.

Each scenario trains for ``STEPS`` optimizer steps on fixed global batches of ``WORLD × LOCAL_BATCH``
digits; rank r takes rows [r·b, (r+1)·b) of each. Single-process training on the whole global batch
computes the same mean loss, so DDP must reproduce it up to floating-point summation order.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import distributed as dist
from torch.nn import functional as F
from torch.nn.parallel import DistributedDataParallel

from companion import distributed as cdist
from companion.data import digits
from companion.models import SmallCNN
from companion.prune import make_permanent, masks_of, prunable_weights, prune_to, random_unstructured
from companion.layers import fold_batchnorm
from companion.quant.observers import (HistogramObserver, MinMaxObserver, MovingAverageMinMaxObserver,
                                       PercentileObserver)
from companion.quant.qat import prepare_qat

WORLD, LOCAL_BATCH, STEPS = 2, 16, 6


def global_batches() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``STEPS`` global batches of ``WORLD × LOCAL_BATCH`` training digits, in a seeded order."""
    splits = digits(image=True)
    order = torch.randperm(len(splits.x_train), generator=torch.Generator().manual_seed(0))
    size = WORLD * LOCAL_BATCH
    return [(splits.x_train[order[t * size:(t + 1) * size]], splits.y_train[order[t * size:(t + 1) * size]])
            for t in range(STEPS)]


def local_batches(batches, rank: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Rank ``rank``'s slice of every global batch."""
    rows = slice(rank * LOCAL_BATCH, (rank + 1) * LOCAL_BATCH)
    return [(x[rows], y[rows]) for x, y in batches]


def base_model() -> torch.nn.Module:
    """The digits CNN with its BatchNorms folded into the convolutions (seeded random weights)."""
    torch.manual_seed(0)
    return fold_batchnorm(SmallCNN())


def random_prune(model: torch.nn.Module, seed: int, amount: float = 0.5) -> None:
    """Random pruning of every weight to ``amount`` sparsity, from a generator seeded with ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    for module, name in prunable_weights(model):
        random_unstructured(module, name, amount=amount, generator=generator)


def qat_model() -> tuple[torch.nn.Module, dict[str, torch.Tensor]]:
    """A magnitude-pruned (50% per layer) CNN prepared for QAT (LSQ 4-bit weights, 8-bit activations)."""
    model = base_model()
    prune_to(prunable_weights(model), 0.5, scope="layer")
    masks = masks_of(model)
    return prepare_qat(make_permanent(model), weight_bits=4, act_bits=8, lsq=True), masks


def train(model, forward, batches, masks=None) -> None:
    """SGD with momentum and weight decay; the pruned weights are re-zeroed after every step."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)
    model.train()
    for x, y in batches:
        optimizer.zero_grad()
        F.cross_entropy(forward(x), y).backward()
        optimizer.step()
        cdist.reapply_masks_(model, masks)


def observer_tensors() -> list[torch.Tensor]:
    """Three global batches of activations, (WORLD × 4, 6 channels, 5) each, with different ranges per channel."""
    generator = torch.Generator().manual_seed(1)
    return [torch.randn(WORLD * 4, 6, 5, generator=generator) * torch.arange(1.0, 7.0).reshape(1, 6, 1) + t
            for t in range(3)]


def make_observers() -> dict[str, torch.nn.Module]:
    return {"minmax_per_channel": MinMaxObserver(axis=1), "moving_average": MovingAverageMinMaxObserver(0.3),
            "histogram": HistogramObserver(bins=64, search=16)}


def observe(observers: dict, tensors: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    results = {}
    for name, observer in observers.items():
        for x in tensors:
            observer(x)
        results.update({f"{name}.{k}": v for k, v in cdist.quant_state(observer).items()})
        if isinstance(observer, HistogramObserver):
            results[f"{name}.counts"] = observer.counts.clone()
    return results


def state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Parameters, buffers (masks, activation ranges) and quantization parameters, detached copies."""
    result = {k: v.detach().clone() for k, v in model.state_dict().items()
              if isinstance(v, torch.Tensor)}  # observers' learned state (a dict) is compared through qparams
    result.update({f"qparams:{k}": v for k, v in cdist.quant_state(model).items()})
    return result


def ddp(model):
    return DistributedDataParallel(model, forward_sync_buffers=False)


def _mask_difference(model) -> float:
    return max(diff for name, diff in cdist.rank_differences(model).items() if name.endswith("_mask"))


def worker(rank: int, port: int, out: str, batches) -> None:
    """One rank: every scenario in turn on its slices of ``batches``; results saved to ``out/rank{rank}.pt``."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(WORLD),
                      LOCAL_RANK=str(rank), GLOO_SOCKET_IFNAME="lo")
    torch.set_num_threads(1)
    cdist.init_from_env("gloo", timeout_s=60)
    results = {}

    # The trap: random masks drawn with a per-rank seed differ; deciding on rank 0 makes them agree.
    undecided = base_model()
    random_prune(undecided, seed=rank)
    results["undecided_mask_difference"] = _mask_difference(undecided)
    # DDP copies rank 0's buffers (masks included) when it wraps a model, but not masks made afterwards.
    wrapped = base_model()
    random_prune(wrapped, seed=rank)
    ddp(wrapped)
    results["wrapped_mask_difference"] = _mask_difference(wrapped)
    random_prune(wrapped, seed=10 + rank, amount=0.75)  # a second round, as iterative pruning does
    results["repruned_mask_difference"] = _mask_difference(wrapped)

    model = base_model()
    cdist.decide_masks_on_rank0(model, lambda m: random_prune(m, seed=rank))
    train(model, ddp(model), local_batches(batches, rank))
    results["prune"], results["prune_differences"] = state(model), cdist.rank_differences(model)

    for variant in ("qat", "qat_unsynced", "qat_masks_on_rank0_only"):
        model, masks = qat_model()
        if variant != "qat_unsynced":
            cdist.sync_observers(model)
        train(model, ddp(model), local_batches(batches, rank),
              masks if variant != "qat_masks_on_rank0_only" or rank == 0 else {})
        results[variant], results[f"{variant}_differences"] = state(model), cdist.rank_differences(model)

    synced = make_observers()
    for observer in synced.values():
        cdist.sync_observers(observer)
    rows = slice(rank * 4, (rank + 1) * 4)
    results["observers"] = observe(synced, [x[rows] for x in observer_tensors()])
    results["observers_unsynced"] = observe(make_observers(), [x[rows] for x in observer_tensors()])

    try:
        cdist.sync_observers(PercentileObserver())
    except TypeError as error:
        results["percentile_error"] = str(error)
    results["wrote_checkpoint"] = cdist.save_on_rank0({"written_by": rank}, Path(out) / "checkpoint.pt")
    torch.save(results, Path(out) / f"rank{rank}.pt")
    dist.destroy_process_group()


def reference(batches) -> dict:
    """The same scenarios in one process, on the whole global ``batches`` (rank 0's pruning decisions)."""
    results = {}
    model = base_model()
    random_prune(model, seed=0)
    train(model, model, batches)
    results["prune"] = state(model)
    model, masks = qat_model()
    train(model, model, batches, masks)
    results["qat"] = state(model)
    results["observers"] = observe(make_observers(), observer_tensors())
    return results
