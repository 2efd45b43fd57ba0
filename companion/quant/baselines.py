"""PyTorch's own int8 paths, for side-by-side comparison with the companion's from-scratch ones.

- ``torch.ao.quantization`` (eager mode): works in torch 2.13 but is deprecated and warns at every
  call; the warnings are silenced here, by message, only around these calls.
- torchao: the maintained library; ``quantize_`` with ``Int8DynamicActivationInt8WeightConfig``
  (int8 weights and per-token dynamic int8 activations) or ``Int8WeightOnlyConfig``. Its import logs
  loader messages to stderr, so the ``torchao`` and ``torch.utils._pytree`` loggers are quietened first.
"""
from __future__ import annotations

import copy
import logging
import warnings
from contextlib import contextmanager
from typing import Iterable

import torch
from torch import nn

__all__ = ["quiet_deprecations", "quiet_torchao", "torch_ao_dynamic", "torch_ao_static", "torchao_quantize", "linear_latency_table"]


@contextmanager
def quiet_deprecations():
    """Silence the deprecation warnings of ``torch.ao.quantization`` and quantized dtypes, by message, in a block."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*(deprecat|torch\.ao\.quantization).*")
        yield


@contextmanager
def quiet_torchao():
    """Quieten the loader messages torchao's import logs to stderr (its and ``torch.utils._pytree``'s loggers)."""
    loggers = [logging.getLogger(name) for name in ("torchao", "torch.utils._pytree")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def torch_ao_dynamic(model: nn.Module) -> nn.Module:
    """``torch.ao.quantization.quantize_dynamic`` with per-channel int8 weights (a copy; deprecated API)."""
    with quiet_deprecations():
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        return quantize_dynamic(copy.deepcopy(model).eval(), {nn.Linear: per_channel_dynamic_qconfig})


class _Stubbed(nn.Sequential):
    """QuantStub → model → DeQuantStub: eager-mode static quantization needs explicit entry and exit."""


def torch_ao_static(model: nn.Sequential, calibration: Iterable[torch.Tensor], fuse: list[list[str]] | None = None) -> nn.Module:
    """Eager-mode static PTQ of a copy of ``model`` with the x86 default qconfig (deprecated API).

    ``fuse`` lists module-name groups to fuse first (e.g. ``[["conv1", "bn1", "relu1"]]``).
    """
    with quiet_deprecations():
        from torch.ao import quantization as tq

        inner = copy.deepcopy(model).eval()
        if fuse:
            inner = tq.fuse_modules(inner, fuse)
        stubbed = _Stubbed(tq.QuantStub(), inner, tq.DeQuantStub()).eval()
        stubbed.qconfig = tq.get_default_qconfig("x86")
        prepared = tq.prepare(stubbed)
        with torch.no_grad():
            for x in calibration:
                prepared(x)
        return tq.convert(prepared).eval()


def torchao_quantize(model: nn.Module, config: str = "int8_dynamic") -> nn.Module:
    """A copy of ``model`` quantized in place by torchao's ``quantize_``.

    ``config``: ``"int8_dynamic"`` (Int8DynamicActivationInt8WeightConfig) or ``"int8_weight_only"``.
    """
    with quiet_torchao():
        from torchao.quantization import Int8DynamicActivationInt8WeightConfig, Int8WeightOnlyConfig, quantize_

    configs = {"int8_dynamic": Int8DynamicActivationInt8WeightConfig, "int8_weight_only": Int8WeightOnlyConfig}
    if config not in configs:
        raise ValueError(f"config must be one of {sorted(configs)}, got {config!r}")
    copied = copy.deepcopy(model).eval()
    with quiet_torchao():
        quantize_(copied, configs[config]())
    return copied


def linear_latency_table(features: int = 1024, batches=(1, 64), threads: int | None = None,
                         min_run_time: float = 0.5, rounds: int = 3, cpu_time: bool = False) -> list[dict]:
    """Median latency of one features×features Linear: fp32, companion int8, torch.ao, torchao, one run.

    The implementations are timed side by side with :func:`companion.measure.interleaved_latency`,
    ``rounds`` rounds of ``min_run_time / rounds`` seconds each, so that a burst of load on a shared
    machine hits all of them rather than one. ``cpu_time=True`` (one thread only) times the thread's
    CPU time instead of wall-clock time (see :func:`companion.measure.latency`). One row per (batch, implementation) with the speed-up
    over fp32 and the time relative to torch.ao.
    """
    from ..measure import interleaved_latency
    from .dynamic import quantize_dynamic

    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    torch.manual_seed(0)
    linear = nn.Sequential(nn.Linear(features, features)).eval()
    models = {"fp32 nn.Linear": linear, "companion int8": quantize_dynamic(linear),
              "torch.ao dynamic (deprecated)": torch_ao_dynamic(linear), "torchao int8 dynamic": torchao_quantize(linear)}
    rows = []
    with quiet_deprecations():
        for batch in batches:
            times = interleaved_latency(models, torch.randn(batch, features), threads=threads, rounds=rounds,
                                        min_run_time=min_run_time / rounds, cpu_time=cpu_time)
            for name, ms in times.items():
                rows.append({"batch": batch, "implementation": name, "median ms": ms,
                             "speed-up vs fp32": times["fp32 nn.Linear"] / ms,
                             "time / torch.ao": ms / times["torch.ao dynamic (deprecated)"]})
    return rows
