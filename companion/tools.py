"""Glue for chapter 6: third-party tools run on the companion's models, measured the same way.

- :func:`captured`: run a call and keep the warnings and log records it emits (instead of letting
  them reach stderr), so a chapter can show them as text.
- :func:`install_bytes`: the bytes an installed distribution's files take on disk.
- :func:`code_lines`: the lines of code a function's body takes (blank lines, comments and the
  docstring left out), the "lines of code used" column of the chapter's table.
- Torch-Pruning (``torch_pruning``): :func:`torch_pruning_groups` (its dependency groups as sets of
  module names) and :func:`torch_pruning_prune` (its ``MetaPruner`` with L1 magnitude importance);
  :func:`group_modules` gives the same sets for the companion's groups.
- ONNX Runtime: :func:`export_onnx` (``torch.onnx.export``, legacy TorchScript exporter, dynamic
  batch, one or several inputs), :class:`OnnxModel` (an ``InferenceSession`` on a fixed number of
  threads, callable like a module on tensors), :func:`onnx_quantize_dynamic`, :func:`onnx_quantize_static` and
  :func:`onnx_initializer_bytes`.
- :func:`nearest_centroid_accuracy`: a training-free probe of embeddings (each test vector takes the
  label of the nearest class mean of the training vectors), to compare encoder variants.
"""
from __future__ import annotations

import copy
import inspect
import logging
import os
import textwrap
import warnings
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import torch
from torch import nn

from .prune.dependency import DependencyGroup

__all__ = ["Captured", "captured", "code_lines", "group_modules", "torch_pruning_groups", "torch_pruning_prune",
           "install_bytes", "export_onnx", "OnnxModel", "onnx_quantize_dynamic", "onnx_quantize_static",
           "onnx_initializer_bytes", "nearest_centroid_accuracy"]


@dataclass
class Captured:
    """What a call returned, and the distinct warning and log messages it emitted, in order."""

    result: object
    warnings: list[str] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.levelname}: {record.getMessage()}")


def _distinct(messages: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(messages))


def captured(function: Callable, *args, **kwargs) -> Captured:
    """Call ``function(*args, **kwargs)``, recording its warnings and log records (WARNING and above).

    Every warning is recorded (the filter is ``"always"`` inside the call) and none is printed. Log
    records reaching the root logger are collected by a handler that replaces the root's handlers
    for the duration of the call, so nothing falls through to Python's last-resort stderr handler.
    """
    if not callable(function):
        raise TypeError(f"function must be callable, got {type(function).__name__}")
    root = logging.getLogger()
    handler, saved_handlers, saved_level = _ListHandler(), root.handlers[:], root.level
    root.handlers = [handler]
    root.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = function(*args, **kwargs)
    finally:
        root.handlers = saved_handlers
        root.setLevel(saved_level)
    return Captured(result, _distinct(str(w.message).strip() for w in caught), _distinct(handler.messages))


def code_lines(function: Callable) -> int:
    """Lines of code in ``function``'s body: not its ``def`` line, docstring, blank lines or comments."""
    if not inspect.isfunction(function):
        raise TypeError(f"function must be a Python function, got {type(function).__name__}")
    source = textwrap.dedent(inspect.getsource(function)).splitlines()
    start = next(i for i, line in enumerate(source) if line.rstrip().endswith(":") and not line.startswith("@")) + 1
    body = [line.strip() for line in source[start:]]
    if function.__doc__ is not None and body and body[0][:3] in ('"""', "'''"):
        quote = body[0][:3]
        end = 0 if body[0].count(quote) >= 2 else next(i for i in range(1, len(body)) if quote in body[i])
        body = body[end + 1:]
    return sum(1 for line in body if line and not line.startswith("#"))


def install_bytes(distribution: str) -> int:
    """Bytes on disk of the files an installed distribution (e.g. ``"onnxruntime"``) lists in its RECORD."""
    from importlib import metadata

    try:
        files = metadata.distribution(distribution).files or []
    except metadata.PackageNotFoundError:
        raise ValueError(f"distribution {distribution!r} is not installed") from None
    return sum(path.stat().st_size for path in (f.locate() for f in files) if path.is_file())


def group_modules(groups: Sequence[DependencyGroup]) -> list[frozenset[str]]:
    """Each companion dependency group as the set of module names it touches (producers, norms, consumers)."""
    return [frozenset(g.producers) | frozenset(g.norms) | frozenset(c.name for c in g.consumers) for g in groups]


def _modules_named(model: nn.Module, names: Iterable[str]) -> list[nn.Module]:
    modules = dict(model.named_modules())
    unknown = sorted(set(names) - set(modules))
    if unknown:
        raise ValueError(f"ignored_layers names no module of the model: {unknown}")
    return [modules[name] for name in names]


def torch_pruning_groups(model: nn.Module, example_input: torch.Tensor,
                         ignored_layers: Sequence[str] = ()) -> list[frozenset[str]]:
    """Torch-Pruning's dependency groups of ``model`` (rooted at Conv/Linear outputs) as sets of module names.

    ``ignored_layers`` names layers whose outputs are not pruned (e.g. the classifier ``'fc'``).
    """
    import torch_pruning as tp

    names = {module: name for name, module in model.named_modules()}
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=example_input)
    groups = graph.get_all_groups(ignored_layers=_modules_named(model, ignored_layers),
                                  root_module_types=[nn.Conv2d, nn.Linear])
    return [frozenset(names[item.dep.target.module] for item in group if item.dep.target.module in names)
            for group in groups]


def torch_pruning_prune(model: nn.Module, example_input: torch.Tensor, ratio: float,
                        ignored_layers: Sequence[str] = ()) -> nn.Module:
    """A copy of ``model`` with ``ratio`` of each group's channels removed by Torch-Pruning's ``MetaPruner``.

    Importance: the mean over the group of each channel's L1 weight norm (``MagnitudeImportance(p=1)``).
    """
    import torch_pruning as tp

    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"ratio must be in [0, 1), got {ratio}")
    pruned = copy.deepcopy(model).eval()
    pruner = tp.pruner.MetaPruner(pruned, example_input, importance=tp.importance.MagnitudeImportance(p=1),
                                  pruning_ratio=ratio, ignored_layers=_modules_named(pruned, ignored_layers))
    pruner.step()
    return pruned


def export_onnx(model: nn.Module, example_input: torch.Tensor | tuple[torch.Tensor, ...],
                path: str | os.PathLike, input_names: Sequence[str] = ("x",),
                output_names: Sequence[str] = ("logits",),
                dynamic_axes: dict[str, dict[int, str]] | None = None) -> list[str]:
    """Export ``model`` to ONNX at ``path``; returns the exporter's warnings.

    ``example_input`` is one tensor or a tuple of them, named by ``input_names`` (default: one input
    ``"x"``, one output ``"logits"``). ``dynamic_axes`` says which dimensions may vary; by default
    dimension 0 (the batch) of every input and output. Uses the TorchScript-based exporter
    (``dynamo=False``): the default ``torch.export``-based one needs the ``onnxscript`` package. The
    legacy exporter is deprecated and says so; its warnings are returned, not printed.
    """
    inputs = example_input if isinstance(example_input, tuple) else (example_input,)
    if len(input_names) != len(inputs):
        raise ValueError(f"input_names has {len(input_names)} names for {len(inputs)} example inputs")
    if dynamic_axes is None:
        dynamic_axes = {name: {0: "batch"} for name in (*input_names, *output_names)}
    model = copy.deepcopy(model).eval()
    run = captured(torch.onnx.export, model, inputs, os.fspath(path), dynamo=False,
                   input_names=list(input_names), output_names=list(output_names),
                   dynamic_axes=dynamic_axes)
    return run.warnings + run.logs


class OnnxModel(nn.Module):
    """An ONNX Runtime session called like a module: float tensor in, float tensor out (CPU).

    ``threads`` sets ``intra_op_num_threads`` (and one inter-op thread), so it can be timed against
    PyTorch on the same number of threads.
    """

    def __init__(self, path: str | os.PathLike, threads: int = 1) -> None:
        import onnxruntime as ort

        super().__init__()
        if not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive int, got {threads!r}")
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        self.session = ort.InferenceSession(os.fspath(path), options, providers=["CPUExecutionProvider"])

    def forward(self, *inputs: torch.Tensor, **named: torch.Tensor) -> torch.Tensor:
        """The first output for ``inputs``, given in the order of the graph's inputs (or by name)."""
        names = [i.name for i in self.session.get_inputs()]
        if len(inputs) > len(names):
            raise ValueError(f"the model takes {len(names)} inputs {names}, got {len(inputs)}")
        feed = {**dict(zip(names, inputs)), **named}
        missing = sorted(set(names) - set(feed))
        if missing:
            raise ValueError(f"missing inputs {missing} (the model takes {names})")
        return torch.from_numpy(self.session.run(None, {k: v.detach().numpy() for k, v in feed.items()})[0])


def onnx_quantize_dynamic(source: str | os.PathLike, target: str | os.PathLike) -> list[str]:
    """ONNX Runtime's dynamic int8 quantization (signed int8 weights) of ``source`` into ``target``.

    Returns the messages it logs (it suggests a pre-processing step), captured rather than printed.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    run = captured(quantize_dynamic, os.fspath(source), os.fspath(target), weight_type=QuantType.QInt8)
    return run.warnings + run.logs


def onnx_quantize_static(source: str | os.PathLike, target: str | os.PathLike,
                         calibration: Iterable[torch.Tensor], per_channel: bool = True) -> list[str]:
    """ONNX Runtime's static int8 quantization of ``source`` into ``target``, calibrated on ``calibration``.

    Activations get uint8 ranges from the calibration batches (min–max), weights int8 (per output
    channel when ``per_channel``), written in the QDQ format (QuantizeLinear/DequantizeLinear pairs
    around each operator, which the runtime fuses into integer kernels). The batches are fed to the
    model's first input. Returns the messages it logs, captured rather than printed.
    """
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    batches = [batch.detach().numpy() for batch in calibration]
    if not batches:
        raise ValueError("calibration must hold at least one batch")
    import onnx

    input_name = onnx.load(os.fspath(source)).graph.input[0].name

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.remaining = iter(batches)

        def get_next(self):
            batch = next(self.remaining, None)
            return None if batch is None else {input_name: batch}

    run = captured(quantize_static, os.fspath(source), os.fspath(target), _Reader(), quant_format=QuantFormat.QDQ,
                   per_channel=per_channel, weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8)
    return run.warnings + run.logs


def onnx_initializer_bytes(path: str | os.PathLike) -> dict[str, tuple[str, int]]:
    """Each initializer (stored tensor) of an ONNX file: name → (element type, payload bytes)."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(os.fspath(path)).graph
    return {t.name: (onnx.TensorProto.DataType.Name(t.data_type), numpy_helper.to_array(t).nbytes)
            for t in graph.initializer}


def nearest_centroid_accuracy(train: torch.Tensor, train_labels: torch.Tensor, test: torch.Tensor,
                              test_labels: torch.Tensor) -> float:
    """Fraction of ``test`` vectors whose nearest class centroid (Euclidean) is their own class.

    The centroid of class c is the mean of the ``train`` vectors labelled c; ties go to the lower
    class index. The probe has no parameters to train, so it compares encoder variants without a head.
    """
    if train.dim() != 2 or test.dim() != 2 or train.shape[1] != test.shape[1]:
        raise ValueError(f"train and test must be 2-D with the same width, got {tuple(train.shape)}, "
                         f"{tuple(test.shape)}")
    if len(train_labels) != len(train) or len(test_labels) != len(test) or len(train) == 0:
        raise ValueError("each of train and test needs one label per row, and train at least one row")
    classes = torch.unique(train_labels)
    centroids = torch.stack([train[train_labels == c].mean(dim=0) for c in classes])
    predicted = classes[torch.cdist(test.double(), centroids.double()).argmin(dim=1)]
    return (predicted == test_labels).double().mean().item()
