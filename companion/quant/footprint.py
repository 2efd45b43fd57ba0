"""What a microcontroller must store to run a model: every stored number, counted in bytes by its type.

The architecture (layer kinds, shapes, strides, ReLU flags) is code on a device, the same for the float
and the integer model, and is not counted. What is counted:

- **float model** (BatchNorm folded into the convolution before it, as a float runtime would run it):
  each Conv/Linear weight and bias as float32, 4 bytes each;
- **integer model** (:class:`~companion.quant.static.IntegerSequential`), per Conv/Linear layer:
  the weight codes (1 byte each at 8 bits; ⌈n·b/8⌉ bytes for n codes of b < 8 bits, packed), the int32
  constant per output channel (q_b − Z_x·Σq_w, 4 bytes), the requantization multiplier M₀·2³¹ (int32,
  4 bytes) and shift n (|n| ≤ 31, one int8 byte) per channel, or once per layer when the layer's weight
  scale is per tensor, and the output zero point Z_y (int8, 1 byte; the next layer's Z_x is the same
  number). Once per model: the input scale (float32) and zero point (int8), to quantise the input, and the
  output scale (float32), to dequantise the logits. The float weight scales S_w are not needed at
  inference: they live inside the multipliers.

With ``sparse=True`` only non-zero weights are stored (at their bit width), plus a one-bit map of where
they are (⌈n/8⌉ bytes for n weights).

For any integer model with int8 weights and int32 biases the ratio to float has a floor: with W weights
and B biases, float32 takes 4W + 4B bytes and the integer model at least W + 4B, more than a quarter.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..layers import fold_batchnorm
from .packing import packed_nbytes
from .static import IntConv2d, IntegerSequential, IntLinear

__all__ = ["FLOAT32_BYTES", "INT32_BYTES", "INT8_BYTES", "weight_nbytes", "float_model_nbytes",
           "integer_model_nbytes"]

FLOAT32_BYTES, INT32_BYTES, INT8_BYTES = 4, 4, 1


def weight_nbytes(weight: torch.Tensor, bits: int, sparse: bool = False) -> int:
    """Bytes of a weight tensor at ``bits`` per weight: ⌈n·b/8⌉ dense; ⌈nnz·b/8⌉ + ⌈n/8⌉ sparse (bitmap)."""
    if isinstance(bits, bool) or not isinstance(bits, int) or bits not in (2, 3, 4, 5, 6, 7, 8, 32):
        raise ValueError(f"bits must be 2 … 8 (integer codes) or 32 (float32), got {bits!r}")
    count = int(torch.count_nonzero(weight)) if sparse else weight.numel()
    stored = count * FLOAT32_BYTES if bits == 32 else packed_nbytes(count, bits)
    return stored + (math.ceil(weight.numel() / 8) if sparse else 0)


def float_model_nbytes(model: nn.Module, sparse: bool = False) -> dict[str, int]:
    """Bytes of a float model's weights and biases (float32), after folding BatchNorm into the layer before.

    Returns {"weights": …, "biases": …}; their sum is the model's footprint. ``model`` is not modified.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    folded = fold_batchnorm(model)
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in folded.modules()):
        raise TypeError("model has a BatchNorm that does not follow a convolution; it cannot be folded")
    layers = [m for m in folded.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    if not layers:
        raise ValueError("model has no Conv2d or Linear layer")
    return {"weights": sum(weight_nbytes(m.weight, 32, sparse) for m in layers),
            "biases": sum(FLOAT32_BYTES * m.bias.numel() for m in layers if m.bias is not None)}


def integer_model_nbytes(model: IntegerSequential, sparse: bool = False) -> dict[str, int]:
    """Bytes an integer-only runtime stores for ``model``, by kind (see the module docstring).

    Returns {"weights", "biases", "multipliers", "shifts", "zero points", "scales"}; their sum is the
    model's footprint. Weight codes are counted at each layer's ``weight_bits``.
    """
    if not isinstance(model, IntegerSequential):
        raise TypeError(f"model must be an IntegerSequential (from quantize_static), got {type(model).__name__}")
    counts = dict.fromkeys(("weights", "biases", "multipliers", "shifts", "zero points", "scales"), 0)
    for layer in model.layers:
        if not isinstance(layer, (IntConv2d, IntLinear)):
            continue  # pooling and flattening store nothing
        counts["weights"] += weight_nbytes(layer.weight_int8, layer.weight_bits, sparse)
        counts["biases"] += INT32_BYTES * layer.bias_int32.numel()
        counts["multipliers"] += INT32_BYTES * layer.multiplier.numel()
        counts["shifts"] += INT8_BYTES * layer.shift.numel()            # |n| ≤ 31 (quantize_multiplier)
        counts["zero points"] += INT8_BYTES                              # Z_y of this layer
    counts["zero points"] += INT8_BYTES                                  # Z of the model's input
    counts["scales"] += 2 * FLOAT32_BYTES                                # input and output scale
    return counts
