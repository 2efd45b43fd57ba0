"""What a model costs: parameters, non-zeros, bytes, multiply–accumulates (MACs), latency, accuracy.

Units: counts are plain integers, bytes are bytes (1 KB = 1,000 bytes in the book's tables), latency
is milliseconds per call of the model on the given input, accuracy a fraction in [0, 1].

All timing in the book goes through this module: :func:`latency` times one model (or any callable)
with ``torch.utils.benchmark``; :func:`interleaved_latency` compares several side by side, round by
round, so that a burst of load on a shared machine hits all of them; :func:`layer_latencies` times
each layer of a model on the input it receives.
"""
from __future__ import annotations

import contextlib
import io
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence

import torch
from torch import nn
from torch.utils import benchmark

from .layers import WEIGHT_LAYERS

__all__ = ["hooked", "count_parameters", "count_nonzero", "sparsity", "dense_bytes", "state_dict_bytes", "file_bytes",
           "macs_by_layer", "count_macs", "activation_bytes_by_layer", "peak_activation_bytes", "Latency", "latency",
           "interleaved_latency", "layer_latencies", "predictions", "accuracy", "cost_report", "pareto_front"]


def count_parameters(model: nn.Module) -> int:
    """Number of scalar parameters (weights and biases; buffers such as BatchNorm statistics excluded)."""
    return sum(p.numel() for p in model.parameters())


def count_nonzero(model_or_tensor: nn.Module | torch.Tensor) -> int:
    """Number of parameters (or tensor entries) that are not exactly zero."""
    tensors = [model_or_tensor] if isinstance(model_or_tensor, torch.Tensor) else list(model_or_tensor.parameters())
    return sum(int(torch.count_nonzero(t)) for t in tensors)


def sparsity(model_or_tensor: nn.Module | torch.Tensor) -> float:
    """Fraction of parameters (or tensor entries) that are exactly zero: 1 − non-zeros / total."""
    total = model_or_tensor.numel() if isinstance(model_or_tensor, torch.Tensor) else count_parameters(model_or_tensor)
    if total == 0:
        raise ValueError("model_or_tensor has no entries: its sparsity is undefined")
    return 1.0 - count_nonzero(model_or_tensor) / total


def dense_bytes(model: nn.Module) -> int:
    """Bytes the model's parameters and buffers occupy in memory: Σ numel × element size."""
    tensors = list(model.parameters()) + list(model.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)


def state_dict_bytes(model_or_state_dict: nn.Module | dict) -> int:
    """Bytes of ``torch.save(state_dict)``: what a checkpoint file of this model takes on disk.

    ``torch.save`` writes a zip archive whose records are named after the file's stem (``archive``
    for an in-memory buffer), so a file named ``archive.pt`` has exactly this size; other names
    differ by a few bytes per tensor.
    """
    state = model_or_state_dict.state_dict() if isinstance(model_or_state_dict, nn.Module) else model_or_state_dict
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getbuffer().nbytes


def file_bytes(path: str | os.PathLike) -> int:
    """Size of a file on disk, in bytes."""
    return Path(path).stat().st_size


@contextlib.contextmanager
def hooked(model: nn.Module, hooks: Iterable[tuple[nn.Module, Callable]], *, pre: bool = False) -> Iterator[nn.Module]:
    """Attach forward hooks (``pre=True``: forward-pre hooks) and put ``model`` in eval mode for a block.

    On leaving the block, even by an exception, every hook is removed and the model returns to the
    train/eval mode it was in. Measuring a model this way leaves no trace on it.
    """
    register = "register_forward_pre_hook" if pre else "register_forward_hook"
    handles = [getattr(module, register)(hook) for module, hook in hooks]
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)


def _layer_macs(module: nn.Module, output: torch.Tensor) -> int:
    """MACs of one Linear or Conv call: every output element costs one MAC per input it reads.

    Linear: outputs × in_features. Conv: outputs × (in_channels / groups) × kernel volume.
    """
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    kernel_volume = 1
    for size in module.kernel_size:
        kernel_volume *= size
    return output.numel() * (module.in_channels // module.groups) * kernel_volume


@torch.no_grad()
def macs_by_layer(model: nn.Module, example_input: torch.Tensor) -> dict[str, int]:
    """MACs of each Linear and Conv layer in one forward pass on ``example_input`` (batch included).

    Counted with forward hooks, so only layers that actually run are counted, as often as they run.
    Element-wise work (activations, BatchNorm in eval mode, pooling, additions) is not counted: it is
    small next to the matrix products and is often fused away.
    """
    counts: dict[str, int] = {}

    def counter(name: str) -> Callable:
        def hook(module, inputs, output):
            counts[name] = counts.get(name, 0) + _layer_macs(module, output)
        return hook

    layers = [(m, counter(name)) for name, m in model.named_modules() if isinstance(m, WEIGHT_LAYERS)]
    with hooked(model, layers):
        model(example_input)
    return counts


def count_macs(model: nn.Module, example_input: torch.Tensor) -> int:
    """Total Linear and Conv MACs of one forward pass on ``example_input`` (see :func:`macs_by_layer`)."""
    return sum(macs_by_layer(model, example_input).values())


def _tensor_bytes(value) -> int:
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, (tuple, list)):
        return sum(_tensor_bytes(v) for v in value)
    return 0


def _shares_storage(output, inputs: tuple) -> bool:
    """Whether ``output`` is a view of (or the same memory as) one of the inputs: no new buffer."""
    if not isinstance(output, torch.Tensor):
        return False
    return any(isinstance(t, torch.Tensor) and t.untyped_storage().data_ptr() == output.untyped_storage().data_ptr()
               for t in inputs)


@torch.no_grad()
def activation_bytes_by_layer(model: nn.Module, example_input: torch.Tensor) -> dict[str, int]:
    """Bytes live while each leaf layer runs: its input tensors plus its output, measured by forward hooks.

    This is the memory of a layer-by-layer executor (e.g. a microcontroller runtime) that keeps one
    buffer for the current layer's input and one for its output and frees the input afterwards. A layer
    whose output is a view of its input (Flatten, an in-place ReLU) needs no new buffer and counts its
    input only. Weights are not included; the batch size is that of ``example_input``.
    """
    sizes: dict[str, int] = {}

    def recorder(name: str) -> Callable:
        def hook(module, inputs, output):
            live = _tensor_bytes(inputs) + (0 if _shares_storage(output, inputs) else _tensor_bytes(output))
            sizes[name] = max(sizes.get(name, 0), live)
        return hook

    leaves = [(m, recorder(name)) for name, m in model.named_modules() if not list(m.children())]
    with hooked(model, leaves):
        model(example_input)
    return sizes


def peak_activation_bytes(model: nn.Module, example_input: torch.Tensor) -> int:
    """The largest input + output bytes of any one layer (see :func:`activation_bytes_by_layer`)."""
    return max(activation_bytes_by_layer(model, example_input).values())


@dataclass(frozen=True)
class Latency:
    """Median and interquartile range of one call, in milliseconds, and the thread count used."""

    median_ms: float
    iqr_ms: float
    threads: int
    runs: int

    def __str__(self) -> str:
        return f"{self.median_ms:.3f} ms (IQR {self.iqr_ms:.3f} ms, {self.threads} threads, {self.runs} runs)"


def latency(model: nn.Module | callable, example_input: torch.Tensor, *, threads: int | None = None,
            min_run_time: float = 0.3, cpu_time: bool = False) -> Latency:
    """Time ``model(example_input)`` with ``torch.utils.benchmark`` in inference mode.

    ``blocked_autorange`` repeats the call in blocks for at least ``min_run_time`` seconds and reports
    the median block time per call, which is robust to the occasional slow run; on CUDA it
    synchronises the device around each block. ``threads`` defaults to ``torch.get_num_threads()``.

    ``cpu_time=True`` counts the CPU time of the calling thread instead of wall-clock time: on a
    machine shared with other work it leaves out the time the thread waits to be scheduled. It
    needs ``threads=1`` (with more, the work of PyTorch's other threads would not be counted).
    """
    if min_run_time <= 0:
        raise ValueError(f"min_run_time must be positive seconds, got {min_run_time}")
    threads = threads or torch.get_num_threads()
    if cpu_time and threads != 1:
        raise ValueError(f"cpu_time=True counts one thread's CPU time and needs threads=1, got threads={threads}")
    if isinstance(model, nn.Module):
        model.eval()
    clock = {"timer": time.thread_time} if cpu_time else {}
    timer = benchmark.Timer(stmt="with torch.inference_mode(): model(x)", globals={"model": model, "x": example_input, "torch": torch},
                            num_threads=threads, **clock)
    measurement = timer.blocked_autorange(min_run_time=min_run_time)
    return Latency(measurement.median * 1e3, measurement.iqr * 1e3, threads, len(measurement.times))


def interleaved_latency(models: Mapping[str, nn.Module | Callable], example_input: torch.Tensor, *, threads: int | None = 1,
                        rounds: int = 5, min_run_time: float = 0.1, cpu_time: bool = False) -> dict[str, float]:
    """Median over ``rounds`` of each model's median latency (ms), timing every model once per round.

    Each round gives every model ``min_run_time`` seconds of :func:`latency`; keeping the median of
    the rounds' medians makes the comparison robust to load that comes and goes on a shared machine.
    ``models`` maps a label to an ``nn.Module`` or to any callable of one input; ``cpu_time`` is
    passed to :func:`latency`.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be ≥ 1, got {rounds}")
    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(rounds):
        for name, model in models.items():
            times[name].append(latency(model, example_input, threads=threads, min_run_time=min_run_time,
                                          cpu_time=cpu_time).median_ms)
    return {name: statistics.median(values) for name, values in times.items()}


@torch.no_grad()
def layer_latencies(model: nn.Module, example_input: torch.Tensor, *, threads: int = 1,
                    min_run_time: float = 0.1) -> dict[str, float]:
    """Median latency (ms) of each leaf layer of ``model`` on the input it receives in a forward pass.

    Each leaf module is timed on its own, on a copy of the input it received; a layer called several
    times is timed on its first call.
    """
    inputs: dict[str, torch.Tensor] = {}

    def recorder(name: str):
        def hook(module, args):
            inputs.setdefault(name, args[0].clone())
        return hook

    modules = dict(model.named_modules())
    leaves = [(module, recorder(name)) for name, module in modules.items() if name and not list(module.children())]
    with hooked(model, leaves, pre=True):
        model(example_input)
    return {name: latency(modules[name], x, threads=threads, min_run_time=min_run_time).median_ms
            for name, x in inputs.items()}


def _device_of(model: nn.Module) -> torch.device:
    tensor = next(iter(model.parameters()), None)
    if tensor is None:
        tensor = next(iter(model.buffers()), None)
    return tensor.device if tensor is not None else torch.device("cpu")


def predictions(model: nn.Module, loader: Iterable) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``(model(x), y)`` for each ``(x, y)`` batch of ``loader``: eval mode, no gradients, the model's device.

    The model returns to the train/eval mode it was in when the iteration ends.
    """
    device, was_training = _device_of(model), model.training
    model.eval()
    try:
        with torch.no_grad():
            for x, y in loader:
                y = y.to(device)
                yield model(x.to(device)), y
    finally:
        model.train(was_training)


def accuracy(model: nn.Module, loader: Iterable) -> float:
    """Fraction of examples in ``loader`` that ``model`` classifies correctly (argmax of its outputs)."""
    correct = count = 0
    for logits, y in predictions(model, loader):
        correct += int((logits.argmax(dim=1) == y).sum())
        count += len(y)
    if count == 0:
        raise ValueError("loader is empty: cannot measure accuracy on zero examples")
    return correct / count


def cost_report(model: nn.Module, example_input: torch.Tensor, *, time_it: bool = True) -> dict:
    """One row of a cost table: parameters, non-zeros, in-memory and on-disk bytes, MACs, latency."""
    row = {
        "parameters": count_parameters(model),
        "nonzero": count_nonzero(model),
        "dense bytes": dense_bytes(model),
        "state_dict bytes": state_dict_bytes(model),
        "MACs": count_macs(model, example_input),
    }
    if time_it:
        row["latency ms"] = latency(model, example_input).median_ms
    return row


def pareto_front(costs: Sequence[float], accuracies: Sequence[float]) -> list[int]:
    """Indices of the Pareto-optimal points, sorted by cost.

    A point is on the front when no other point is at least as cheap and at least as accurate and
    strictly better in one of the two. Ties in both are kept once (the first index).
    """
    if len(costs) != len(accuracies):
        raise ValueError(f"costs and accuracies must have equal length, got {len(costs)} and {len(accuracies)}")
    order = sorted(range(len(costs)), key=lambda i: (costs[i], -accuracies[i], i))
    front, best = [], float("-inf")
    for i in order:
        if accuracies[i] > best:
            front.append(i)
            best = accuracies[i]
    return front


__all__ += ["topk_agreement"]


def topk_agreement(reference_logits: torch.Tensor, logits: torch.Tensor, k: int = 1) -> float:
    """Fidelity of a model to a reference when no labels exist: the fraction of examples whose
    reference top-1 class is among the model's top-``k`` classes (``k = 1``: the two top-1 classes agree).

    Both inputs are (N, classes) scores of the same N examples.
    """
    if reference_logits.shape != logits.shape or logits.dim() != 2 or len(logits) == 0:
        raise ValueError(f"reference_logits and logits must be equal, non-empty (N, classes) shapes, "
                         f"got {tuple(reference_logits.shape)} and {tuple(logits.shape)}")
    if not 1 <= k <= logits.shape[1]:
        raise ValueError(f"k must be in [1, {logits.shape[1]}], got {k}")
    reference = reference_logits.argmax(dim=1, keepdim=True)
    return float((logits.topk(k, dim=1).indices == reference).any(dim=1).float().mean())
