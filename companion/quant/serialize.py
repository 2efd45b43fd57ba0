"""Save an integer model to disk as integers: int8 weights, int32 biases, float32 scales.

The file is ``torch.save`` of {"layout": architecture as plain data, "state_dict": tensors}; the int8
tensors take one byte per weight on disk, so a model's file shrinks to about a quarter of its fp32
checkpoint (plus the per-channel scales, multipliers and the archive's overhead).
"""
from __future__ import annotations

import os

import torch

from .static import IntegerSequential

__all__ = ["save_quantized", "load_quantized"]


def save_quantized(model: IntegerSequential, path: str | os.PathLike) -> None:
    """Write ``model``'s architecture and integer tensors to ``path``."""
    if not isinstance(model, IntegerSequential):
        raise TypeError(f"save_quantized needs an IntegerSequential (from quantize_static), got {type(model).__name__}")
    torch.save({"layout": model.layout(), "state_dict": model.state_dict()}, path)


def load_quantized(path: str | os.PathLike) -> IntegerSequential:
    """Rebuild the :class:`IntegerSequential` saved by :func:`save_quantized` (tensors only, no pickled code)."""
    saved = torch.load(path, weights_only=True)
    model = IntegerSequential.from_layout(saved["layout"])
    model.load_state_dict(saved["state_dict"])
    return model.eval()
