"""Pruning and quantization-aware training under ``torch.distributed`` data parallelism (DDP).

PyTorch's :class:`~torch.nn.parallel.DistributedDataParallel` runs one copy of the model per process
("rank"), gives each rank its own slice of every global batch, and all-reduces the gradients during
``backward`` so that every rank takes the same optimizer step: with R ranks each holding b examples,

    g = (1/R) Σ_r ∇ L_r = ∇ (1/(R·b)) Σ_{examples of the global batch} ℓ,

the gradient of the mean loss over the global batch of R·b examples. Gradients are all DDP
synchronises. Everything else that compression keeps in a model must be made to agree by hand:

- **masks** (the ``*_mask`` buffers of :mod:`companion.prune.masks`) are decided from weights or random
  numbers. :func:`decide_masks_on_rank0` computes them once, on rank 0, and broadcasts them.
- **masked weights**, when a mask is enforced by zeroing weights after each optimizer step (a pruned
  model trained further after :func:`companion.prune.make_permanent`, or wrapped by QAT), must be
  zeroed on every rank: :func:`reapply_masks_`.
- **observer ranges** see only the rank's slice of a batch. :func:`sync_observers` all-reduces the
  statistics before each update: the batch minimum and maximum (one ``MAX`` all-reduce of (−min, max);
  per channel when the observer is), or the histogram counts (``SUM``) of a :class:`~companion.quant.observers.HistogramObserver`
  over the global range, so each rank's range equals the one a single process would have learned
  from the global batch.
- **checkpoints** are written once, by rank 0 (:func:`save_on_rank0`).

:func:`rank_differences` and :func:`assert_same_on_all_ranks` measure what still differs. Launch
scripts with ``torchrun``; :func:`init_from_env` picks NCCL when every rank has a GPU, else Gloo.
"""
from __future__ import annotations

import datetime
import os
import socket
from pathlib import Path

import torch
from torch import distributed as dist
from torch import nn
from torch.nn.utils import prune as torch_prune

from .layers import WEIGHT_LAYERS
from .quant.observers import HistogramObserver, MinMaxObserver, Observer
from .quant.qat import ActivationFakeQuant, QATLayer

__all__ = ["default_backend", "init_from_env", "free_port", "rank", "world_size", "decide_masks_on_rank0",
           "reapply_masks_", "sync_observers", "unsync_observers", "quant_state", "rank_differences",
           "assert_same_on_all_ranks", "save_on_rank0"]


def default_backend() -> str:
    """``'nccl'`` when CUDA and NCCL are available (one GPU per rank), else ``'gloo'`` (CPU)."""
    return "nccl" if torch.cuda.is_available() and dist.is_nccl_available() else "gloo"


def init_from_env(backend: str | None = None, timeout_s: float = 60.0) -> torch.device:
    """Join the process group ``torchrun`` describes in the environment; return this rank's device.

    ``torchrun`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``.
    A collective that waits longer than ``timeout_s`` seconds raises instead of hanging. With NCCL,
    rank r uses GPU ``LOCAL_RANK``.
    """
    missing = [key for key in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if key not in os.environ]
    if missing:
        raise RuntimeError(f"environment variables {missing} are not set: launch with torchrun "
                           "(torchrun --nproc-per-node=2 script.py)")
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s}")
    backend = backend or default_backend()
    if backend not in ("gloo", "nccl"):
        raise ValueError(f"backend must be 'gloo' or 'nccl', got {backend!r}")
    device = torch.device("cpu")
    if backend == "nccl":
        local_rank = int(os.environ.get("LOCAL_RANK", 0))
        if local_rank >= torch.cuda.device_count():
            raise RuntimeError(f"NCCL needs one GPU per rank: LOCAL_RANK={local_rank}, but this machine has "
                               f"{torch.cuda.device_count()} GPUs; use fewer processes per node or backend='gloo'")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s),
                            **({"device_id": device} if backend == "nccl" else {}))
    return device


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now (for ``--master-port``)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def rank() -> int:
    """This process's rank (0 when not distributed)."""
    return dist.get_rank() if dist.is_initialized() else 0


def world_size() -> int:
    """The number of processes (1 when not distributed)."""
    return dist.get_world_size() if dist.is_initialized() else 1


def _require_group() -> None:
    if not dist.is_initialized():
        raise RuntimeError("torch.distributed is not initialised: call init_from_env() (or "
                           "torch.distributed.init_process_group) first")


def _masks(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: buffer for name, buffer in model.named_buffers() if name.endswith("_mask")}


def decide_masks_on_rank0(model: nn.Module, prune_fn, src: int = 0) -> nn.Module:
    """Prune ``model`` in place with ``prune_fn(model)`` on every rank, then broadcast rank ``src``'s masks.

    Every rank runs ``prune_fn`` so that every rank gets the ``weight_orig``/``weight_mask``
    reparametrisation; the broadcast then overwrites each rank's masks with rank ``src``'s decision.
    Magnitude pruning of identical weights already agrees (ties are broken by position), but random
    pruning seeded per rank, or weights that drifted apart, would not. Returns ``model``.
    """
    _require_group()
    if not callable(prune_fn):
        raise TypeError(f"prune_fn must be a callable taking the model, got {type(prune_fn).__name__}")
    if not isinstance(src, int) or not 0 <= src < world_size():
        raise ValueError(f"src must be a rank in [0, {world_size() - 1}], got {src!r}")
    prune_fn(model)
    masks = _masks(model)
    if not masks:
        raise ValueError("prune_fn left no pruning mask on the model (no *_mask buffer)")
    for name in sorted(masks):
        dist.broadcast(masks[name], src)
    return model


def _weight_holder(model: nn.Module, name: str) -> nn.Module:
    module = model.get_submodule(name)
    if isinstance(module, QATLayer):
        module = module.layer
    if not isinstance(module, WEIGHT_LAYERS):
        raise TypeError(f"masks[{name!r}] names a {type(module).__name__}; masks belong to Linear/Conv layers "
                        "(or QATLayers wrapping them)")
    return module


@torch.no_grad()
def reapply_masks_(model: nn.Module, masks: dict[str, torch.Tensor] | None = None) -> nn.Module:
    """Zero the pruned weights in place, w ← w ⊙ m; call it after every optimizer step on every rank.

    ``masks`` maps layer names to 0/1 masks (as :func:`companion.prune.masks_of` returns them; a name
    may point at a :class:`~companion.quant.qat.QATLayer`, whose wrapped layer is masked). Without
    ``masks``, each reparametrised ``w_orig`` is multiplied by its own ``w_mask``: the forward pass
    already uses w_orig ⊙ w_mask, but weight decay and momentum keep moving the hidden entries, and a
    rank that skips this step holds different latent weights from the others. Returns ``model``.
    """
    if masks is None:
        for module in model.modules():
            for hook in module._forward_pre_hooks.values():
                if isinstance(hook, torch_prune.BasePruningMethod):
                    name = hook._tensor_name
                    getattr(module, name + "_orig").mul_(getattr(module, name + "_mask"))
        return model
    if not isinstance(masks, dict):
        raise TypeError(f"masks must be a dict of layer name → mask, got {type(masks).__name__}")
    for name, mask in masks.items():
        if not isinstance(mask, torch.Tensor):
            raise TypeError(f"masks[{name!r}] must be a tensor of zeros and ones, got {type(mask).__name__}")
        module = _weight_holder(model, name)
        weight = getattr(module, "weight_orig", None)
        weight = module.weight if weight is None else weight
        if mask.shape != weight.shape:
            raise ValueError(f"masks[{name!r}] has shape {tuple(mask.shape)}, the weight {tuple(weight.shape)}")
        if not bool(((mask == 0) | (mask == 1)).all()):
            raise ValueError(f"masks[{name!r}] must hold only zeros and ones")
        weight.mul_(mask.to(weight.device, weight.dtype))
    return model


def _global_min_max(lo: torch.Tensor, hi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Elementwise (min over ranks of ``lo``, max over ranks of ``hi``) in one all-reduce: min(a) = −max(−a)."""
    both = torch.cat([-lo.detach().reshape(-1), hi.detach().reshape(-1)])
    dist.all_reduce(both, op=dist.ReduceOp.MAX)
    return -both[: lo.numel()].reshape(lo.shape), both[lo.numel():].reshape(hi.shape)


def _probe(lo: torch.Tensor, hi: torch.Tensor, axis: int | None, ndim: int) -> torch.Tensor:
    """A tensor whose per-channel (or overall) minimum and maximum are ``lo`` and ``hi``."""
    if axis is None:
        return torch.stack([lo.reshape(()), hi.reshape(())])
    pairs = torch.stack([lo, hi], dim=1)  # (channels, 2)
    return torch.movedim(pairs.reshape(*pairs.shape, *([1] * (ndim - 2))), 0, axis)


def _synced_minmax_observe(observer: MinMaxObserver, observe):
    """``_observe`` of a (moving-average) min–max observer that first all-reduces the batch range."""
    def synced(x: torch.Tensor) -> None:
        lo, hi = _global_min_max(*torch.aminmax(observer._channels(x), dim=1))
        observe(_probe(lo, hi, observer.axis, x.dim()))
    return synced


def _synced_histogram_observe(observer: HistogramObserver, observe):
    """``_observe`` of a histogram observer: all-reduce the range, then the counts over that range."""
    def synced(x: torch.Tensor) -> None:
        lo, hi = _global_min_max(*torch.aminmax(x))
        probe = torch.stack([lo, hi])
        observe(probe)  # widens (and re-bins) to the global range exactly as the whole batch would ...
        observer.counts -= torch.histc(probe.double(), observer.bins, observer.lo, observer.hi)  # ... minus the probe
        counts = torch.histc(x.double(), observer.bins, observer.lo, observer.hi)
        dist.all_reduce(counts, op=dist.ReduceOp.SUM)
        observer.counts += counts
    return synced


def _activation_pre_hook(module: ActivationFakeQuant, args):
    """Update the EMA range from the global batch range, then run the real call with the range frozen."""
    if not module.training:
        return None
    (x,) = args
    lo, hi = _global_min_max(*torch.aminmax(x.detach()))
    with torch.no_grad():
        type(module).forward(module, torch.stack([lo, hi]))  # the EMA update a global batch would make
    module.training = False
    module._synced_restore_training = True
    return None


def _activation_post_hook(module: ActivationFakeQuant, args, output):
    if getattr(module, "_synced_restore_training", False):
        module.training = True
        module._synced_restore_training = False
    return output


_HOOKS_ATTR = "_distributed_sync_handles"


def sync_observers(model: nn.Module) -> int:
    """Make every observer and activation fake-quantizer of ``model`` learn from the global batch.

    Min–max and moving-average observers all-reduce the batch minimum and maximum (per channel when
    they are per channel) before their update; histogram observers all-reduce the range, then the
    counts; QAT's :class:`~companion.quant.qat.ActivationFakeQuant` all-reduces the batch range before
    its moving-average update. Each rank then holds exactly the range (and histogram) one process
    would have learned from the concatenated global batch. Percentile and MSE observers keep all the
    values they saw and are refused. Modifies ``model`` in place; returns how many modules were synced.
    """
    _require_group()
    targets = [(name, module) for name, module in model.named_modules()
               if isinstance(module, Observer) or (isinstance(module, ActivationFakeQuant) and not any(
                   isinstance(child, Observer) for child in module.modules()))]  # else synced through its observer
    if not targets:
        raise ValueError("model has no observer or ActivationFakeQuant to synchronise")
    for name, module in targets:
        if isinstance(module, Observer) and not isinstance(module, (MinMaxObserver, HistogramObserver)):
            raise TypeError(f"{name or 'model'} is a {type(module).__name__}, which stores the values it saw; "
                            "only min–max, moving-average and histogram observers can be synchronised")
    for _, module in targets:
        if isinstance(module, Observer):
            if "_observe" not in module.__dict__:  # not synchronised yet
                make = _synced_histogram_observe if isinstance(module, HistogramObserver) else _synced_minmax_observe
                module._observe = make(module, module._observe)
        elif not hasattr(module, _HOOKS_ATTR):
            setattr(module, _HOOKS_ATTR, (module.register_forward_pre_hook(_activation_pre_hook),
                                          module.register_forward_hook(_activation_post_hook)))
    return len(targets)


def unsync_observers(model: nn.Module) -> nn.Module:
    """Undo :func:`sync_observers`: every observer learns from its own rank's data again. Returns ``model``."""
    for module in model.modules():
        module.__dict__.pop("_observe", None)
        for handle in module.__dict__.pop(_HOOKS_ATTR, ()):
            handle.remove()
    return model


def quant_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every quantization parameter of ``model`` by name: (scale, zero-point) of each calibrated observer
    and activation fake-quantizer, and each LSQ step (a parameter). Empty for an unquantized model."""
    state = {}
    for name, module in model.named_modules():
        if isinstance(module, Observer) and module.batches > 0:
            state[f"{name}.scale"], state[f"{name}.zero_point"] = module.calculate_qparams()
        elif isinstance(module, ActivationFakeQuant):
            try:
                state[f"{name}.scale"], state[f"{name}.zero_point"] = module.qparams()
            except RuntimeError:  # not calibrated yet (NotCalibratedError is a RuntimeError too)
                continue
    state.update({name: p.detach() for name, p in model.named_parameters() if name.endswith(".step")})
    return {name: tensor.detach().clone() for name, tensor in state.items()}


def _named_state(model: nn.Module) -> dict[str, torch.Tensor]:
    state = {name: p.detach() for name, p in model.named_parameters()}
    state.update({name: b.detach() for name, b in model.named_buffers()})
    state.update({f"qparams:{name}": t for name, t in quant_state(model).items()})
    return state


def rank_differences(model: nn.Module) -> dict[str, float]:
    """For every parameter, buffer and quantization parameter: the largest |value on rank i − value on rank j|.

    All ranks must call it (it is a collective) with models of the same structure; every rank gets
    the same answer. Masks compare as 0/1 floats.
    """
    _require_group()
    state = sorted(_named_state(model).items())
    if not state:
        return {}
    values = torch.cat([tensor.detach().double().reshape(-1) for _, tensor in state])
    low, high = _global_min_max(values, values)  # one all-reduce for the whole model
    spread = (high - low).split([tensor.numel() for _, tensor in state])
    return {name: float(part.max()) if part.numel() else 0.0 for (name, _), part in zip(state, spread)}


def assert_same_on_all_ranks(model: nn.Module, atol: float = 0.0) -> None:
    """Raise ``AssertionError`` naming every tensor whose values differ across ranks by more than ``atol``."""
    if atol < 0:
        raise ValueError(f"atol must be ≥ 0, got {atol}")
    differing = {name: diff for name, diff in rank_differences(model).items() if diff > atol}
    if differing:
        raise AssertionError(f"{len(differing)} tensors differ across ranks (largest |difference|): {differing}")


def save_on_rank0(obj, path: str | os.PathLike) -> bool:
    """``torch.save(obj, path)`` on rank 0 only (atomically: a temporary file renamed into place), then a
    barrier, so no rank reads a half-written file. Returns whether this rank wrote it."""
    path = Path(path)
    wrote = rank() == 0
    if wrote:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        torch.save(obj, partial)
        os.replace(partial, path)
    if dist.is_initialized():
        dist.barrier()
    return wrote
