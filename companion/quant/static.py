"""Static post-training quantization with integer-only inference (Jacob et al. 2018).

Pipeline for a flat ``nn.Sequential`` of Conv2d (grouped and depthwise included)/Linear (each
optionally followed by BatchNorm2d and ReLU), MaxPool2d, global AdaptiveAvgPool2d, Flatten, Dropout
and Identity layers:

1. :func:`companion.layers.fold_batchnorm`: y = γ·(conv(x) − μ)/σ + β is again a convolution, with
   W' = W·γ/σ (per output channel) and b' = β + (b − μ)·γ/σ, σ = √(var + ε).
2. Calibration: run float batches through the folded model; an observer at the input and one after
   every Conv/Linear (after its ReLU, which is fused) records each activation's range → (S, Z), int8.
3. Conversion: each Conv/Linear becomes an integer module. With int8 input codes q_x (S_x, Z_x),
   per-channel symmetric int8 weights q_w (S_w[j], Z_w = 0) and an int32 bias q_b = round(b / (S_x·S_w)),

       acc[j] = Σ_k q_x[k]·q_w[j, k] − Z_x·Σ_k q_w[j, k] + q_b[j]        (int32; the middle term precomputed)
       q_y[j] = clamp(Z_y + round(M[j]·acc[j]), q_lo, 127),  M[j] = S_x·S_w[j]/S_y = M₀[j]·2^(−n[j]),

   with the fixed-point multiplication of :mod:`~companion.quant.fixed_point`; a fused ReLU raises the
   lower bound q_lo from −128 to Z_y. Zero padding of a convolution pads with the code Z_x (real 0).
   A grouped convolution (``groups`` = G) does one such product per group: output channel j reads only
   the C/G input channels of its group; a depthwise convolution is G = C. With per-tensor weights
   (one S_w for the layer) M is one number, stored once: the choice that matters in depthwise layers,
   whose 3×3 filters hold only 9 weights per channel.
   Max pooling and flattening work on the codes directly (a monotone map commutes with max). Global
   average pooling keeps the input's (S, Z): the mean of S·(q − Z) is S·(mean(q) − Z), so the output
   code is mean(q) rounded, computed as ⌊(Σq + ⌊n/2⌋)/n⌋ in integers.
4. Only the first layer sees floats (quantize) and only the last returns them (dequantize).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import fold_batchnorm
from .affine import dequantize, quantize, quantize_weight_int8
from .fixed_point import quantize_multiplier, requantize
from .intmm import grouped_int_matmul, int_matmul
from .observers import MinMaxObserver, Observer

__all__ = ["IntLinear", "IntConv2d", "IntMaxPool2d", "IntAvgPool2d", "IntFlatten",
           "IntegerSequential", "quantize_static", "INT_MODULES", "conversion_plan", "float_stage"]

QMIN, QMAX = -128, 127


def _check_codes(q_x, dims: int, channels: int, layout: str, channel_dim: int = -1) -> None:
    """An integer layer's input: an int8 tensor of ``dims`` dimensions with ``channels`` along ``channel_dim``."""
    if not isinstance(q_x, torch.Tensor) or q_x.dtype != torch.int8:
        raise TypeError(f"q_x must be an int8 tensor of codes, got {getattr(q_x, 'dtype', type(q_x).__name__)}")
    if q_x.dim() != dims or q_x.shape[channel_dim] != channels:
        raise ValueError(f"q_x must have shape {layout} with {channels} channels, got {tuple(q_x.shape)}")


class _IntLayer(nn.Module):
    """Shared buffers of an integer Linear/Conv: int8 weights, int32 bias, fixed-point multipliers."""

    def __init__(self, out_channels: int, weight_shape: tuple[int, ...], relu: bool, per_channel: bool = True,
                 weight_bits: int = 8):
        super().__init__()
        if isinstance(weight_bits, bool) or not isinstance(weight_bits, int) or not 2 <= weight_bits <= 8:
            raise ValueError(f"weight_bits must be an integer in [2, 8], got {weight_bits!r}")
        self.relu, self.per_channel, self.weight_bits = relu, bool(per_channel), weight_bits
        scales = out_channels if self.per_channel else 1  # one S_w and one (M₀, n) per channel, or per tensor
        self.register_buffer("weight_int8", torch.zeros(weight_shape, dtype=torch.int8))
        self.register_buffer("weight_scale", torch.ones(scales))
        self.register_buffer("bias_int32", torch.zeros(out_channels, dtype=torch.int32))
        self.register_buffer("multiplier", torch.zeros(scales, dtype=torch.int32))
        self.register_buffer("shift", torch.zeros(scales, dtype=torch.int32))
        for name, dtype in (("in_scale", torch.float32), ("in_zero", torch.int32), ("out_scale", torch.float32), ("out_zero", torch.int32)):
            self.register_buffer(name, torch.zeros((), dtype=dtype))
        self._refresh()

    def _refresh(self) -> None:
        self._weight_t = self.weight_int8.reshape(self.weight_int8.shape[0], -1).t()

    def _load_from_state_dict(self, *args, **kwargs):
        super()._load_from_state_dict(*args, **kwargs)
        self._refresh()

    def quantize_from(self, weight: torch.Tensor, bias: torch.Tensor | None, in_qparams, out_qparams) -> None:
        """Quantize float weight and bias for input (S_x, Z_x) and output (S_y, Z_y) parameters.

        q_w: symmetric ``weight_bits``-bit codes on [−2^(b−1), 2^(b−1) − 1] (Z_w = 0; stored in int8
        tensors, packed two to a byte on a device for b = 4), with one scale S_w per output channel
        (``per_channel``) or one for the whole tensor; the int32 constant per channel is
        q_b − Z_x·Σ_k q_w with q_b = round(b / (S_x·S_w)); M = S_x·S_w / S_y is stored as the
        fixed-point pair (M₀·2³¹, n), per channel or, with a per-tensor S_w, once for the layer.
        """
        q_w, w_scale = quantize_weight_int8(weight, self.per_channel, bits=self.weight_bits)
        q_w = q_w.reshape(weight.shape[0], -1)
        in_scale, in_zero = in_qparams
        out_scale, out_zero = out_qparams
        acc_scale = in_scale.double() * w_scale.double()                # S_x·S_w, the scale of the int32 accumulator
        bias = torch.zeros(q_w.shape[0]) if bias is None else bias.detach()
        q_b = torch.round(bias.double() / acc_scale)
        correction = in_zero.double() * q_w.double().sum(dim=1)         # Z_x·Σ_k q_w
        total = q_b - correction
        if total.abs().max() >= 2 ** 31:
            raise ValueError("the int32 bias overflows: the layer's input range is too small for its bias")
        self.weight_int8 = q_w.reshape(weight.shape)
        scales = slice(None) if self.per_channel else slice(0, 1)  # per tensor: every entry is the same
        self.weight_scale = w_scale[scales]
        self.bias_int32 = total.to(torch.int32)
        self.multiplier, self.shift = quantize_multiplier(acc_scale[scales] / out_scale.double())
        self.in_scale, self.in_zero = in_scale.float(), in_zero.to(torch.int32)
        self.out_scale, self.out_zero = out_scale.float(), out_zero.to(torch.int32)
        self._refresh()

    def requantize_accumulator(self, acc: torch.Tensor) -> torch.Tensor:
        """q_y = clamp(Z_y + round(M·(acc + constant)), q_lo, 127) in integers; q_lo = Z_y with a fused ReLU.

        ``acc`` holds the products Σ q_x·q_w with the output channels along dim 1.
        """
        lower = max(QMIN, int(self.out_zero)) if self.relu else QMIN
        constant = self.bias_int32.reshape(-1, *[1] * (acc.dim() - 2))
        return requantize(acc + constant, self.multiplier, self.shift, self.out_zero, lower, QMAX, axis=1)


class IntLinear(_IntLayer):
    """Integer-only Linear (+ fused ReLU): int8 codes in, int8 codes out."""

    def __init__(self, in_features: int, out_features: int, relu: bool = False, per_channel: bool = True,
                 weight_bits: int = 8):
        super().__init__(out_features, (out_features, in_features), relu, per_channel, weight_bits)
        self.in_features, self.out_features = in_features, out_features

    def layout(self) -> dict:
        return {"in_features": self.in_features, "out_features": self.out_features, "relu": self.relu,
                "per_channel": self.per_channel, "weight_bits": self.weight_bits}

    @classmethod
    def from_float(cls, linear: nn.Linear, in_qparams, out_qparams, relu: bool = False, per_channel: bool = True,
                   weight_bits: int = 8) -> "IntLinear":
        module = cls(linear.in_features, linear.out_features, relu, per_channel, weight_bits)
        module.quantize_from(linear.weight, linear.bias, in_qparams, out_qparams)
        return module

    def accumulate(self, q_x: torch.Tensor) -> torch.Tensor:
        """The int32 products Σ_k q_x·q_w, shape (batch, out_features) (the constant comes next)."""
        _check_codes(q_x, 2, self.in_features, "(batch, in_features)")
        return int_matmul(q_x, self._weight_t)

    def forward(self, q_x: torch.Tensor) -> torch.Tensor:
        """int8 codes (batch, in_features) → int8 codes (batch, out_features); ``TypeError``/``ValueError`` otherwise."""
        return self.requantize_accumulator(self.accumulate(q_x))

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, relu={self.relu}"


class IntConv2d(_IntLayer):
    """Integer-only Conv2d (+ fused ReLU) as im2col and int8 GEMMs, one per group (depthwise: groups = channels)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 relu: bool = False, groups: int = 1, per_channel: bool = True, weight_bits: int = 8):
        kernel_size, stride, padding, dilation = (nn.modules.utils._pair(v) for v in (kernel_size, stride, padding, dilation))
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"groups must be a positive divisor of in_channels={in_channels} and "
                             f"out_channels={out_channels}, got {groups}")
        super().__init__(out_channels, (out_channels, in_channels // groups, *kernel_size), relu, per_channel,
                         weight_bits)
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride, self.padding, self.dilation = kernel_size, stride, padding, dilation

    def _refresh(self) -> None:
        super()._refresh()
        groups = getattr(self, "groups", 1)
        if groups > 1:  # (groups, C/G·kh·kw, out/G): one GEMM operand per group
            per_group = self.weight_int8.shape[0] // groups
            self._weight_t = self.weight_int8.reshape(groups, per_group, -1).transpose(1, 2).contiguous()

    def layout(self) -> dict:
        return {"in_channels": self.in_channels, "out_channels": self.out_channels, "kernel_size": self.kernel_size,
                "stride": self.stride, "padding": self.padding, "dilation": self.dilation, "relu": self.relu,
                "groups": self.groups, "per_channel": self.per_channel, "weight_bits": self.weight_bits}

    @classmethod
    def from_float(cls, conv: nn.Conv2d, in_qparams, out_qparams, relu: bool = False, per_channel: bool = True,
                   weight_bits: int = 8) -> "IntConv2d":
        if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            raise TypeError("IntConv2d supports zero padding given as integers only")
        module = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                     relu, conv.groups, per_channel, weight_bits)
        module.quantize_from(conv.weight, conv.bias, in_qparams, out_qparams)
        return module

    def forward(self, q_x: torch.Tensor) -> torch.Tensor:
        """int8 codes (N, in_channels, H, W) → int8 codes (N, out_channels, H', W'); ``TypeError``/``ValueError`` otherwise."""
        return self.requantize_accumulator(self.accumulate(q_x))

    def accumulate(self, q_x: torch.Tensor) -> torch.Tensor:
        """The int32 products Σ q_x·q_w (padding: code Z_x) of every output, shape (N, out_channels, H', W')."""
        _check_codes(q_x, 4, self.in_channels, "(N, in_channels, H, W)", channel_dim=1)
        batch, _, height, width = q_x.shape
        ph, pw = self.padding
        # Pad with the code of real 0; unfold on float copies of the codes is exact (|code| ≤ 128).
        padded = F.pad(q_x.float(), (pw, pw, ph, ph), value=float(self.in_zero))
        cols = F.unfold(padded, self.kernel_size, dilation=self.dilation, stride=self.stride)  # (N, C·kh·kw, L)
        out_h = (height + 2 * ph - self.dilation[0] * (self.kernel_size[0] - 1) - 1) // self.stride[0] + 1
        out_w = (width + 2 * pw - self.dilation[1] * (self.kernel_size[1] - 1) - 1) // self.stride[1] + 1
        rows = cols.transpose(1, 2).reshape(-1, cols.shape[1]).to(torch.int8)               # (N·L, C·kh·kw)
        if self.groups == 1:
            acc = int_matmul(rows, self._weight_t)                                          # (N·L, out)
        else:
            grouped = rows.reshape(rows.shape[0], self.groups, -1).transpose(0, 1)          # (G, N·L, C/G·kh·kw)
            acc = grouped_int_matmul(grouped, self._weight_t).transpose(0, 1).reshape(rows.shape[0], -1)
        return acc.reshape(batch, out_h, out_w, self.out_channels).permute(0, 3, 1, 2).contiguous()

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, groups={self.groups}, relu={self.relu}")


class IntMaxPool2d(nn.Module):
    """Max pooling on codes: max commutes with the increasing map q ↦ S·(q − Z)."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride if stride is not None else kernel_size, padding

    def layout(self) -> dict:
        return {"kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding}

    def forward(self, q_x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(q_x.float(), self.kernel_size, self.stride, self.padding).to(q_x.dtype)


class IntAvgPool2d(nn.Module):
    """Global average pooling on codes: output code ⌊(Σq + ⌊n/2⌋)/n⌋ over the n = H·W positions, same (S, Z)."""

    def layout(self) -> dict:
        return {}

    def forward(self, q_x: torch.Tensor) -> torch.Tensor:
        count = q_x.shape[-2] * q_x.shape[-1]
        total = q_x.to(torch.int32).sum(dim=(-2, -1), keepdim=True)
        return torch.div(total + count // 2, count, rounding_mode="floor").to(q_x.dtype)


class IntFlatten(nn.Module):
    """Flatten codes from dim 1 on."""

    def layout(self) -> dict:
        return {}

    def forward(self, q_x: torch.Tensor) -> torch.Tensor:
        return q_x.flatten(1)


INT_MODULES = {cls.__name__: cls for cls in (IntLinear, IntConv2d, IntMaxPool2d, IntAvgPool2d, IntFlatten)}


class IntegerSequential(nn.Module):
    """float x → int8 codes (input S, Z) → integer layers → float output (output S, Z)."""

    def __init__(self, layers: list[tuple[str, nn.Module]]):
        super().__init__()
        self.layers = nn.Sequential(OrderedDict(layers))
        for name, dtype in (("in_scale", torch.float32), ("in_zero", torch.int32), ("out_scale", torch.float32), ("out_zero", torch.int32)):
            self.register_buffer(name, torch.zeros((), dtype=dtype))

    def layout(self) -> list[tuple[str, str, dict]]:
        """The architecture as plain data: (name, class name, constructor arguments) per layer."""
        return [(name, type(m).__name__, m.layout()) for name, m in self.layers.named_children()]

    @classmethod
    def from_layout(cls, layout: list[tuple[str, str, dict]]) -> "IntegerSequential":
        layers = []
        for name, kind, kwargs in layout:
            if kind not in INT_MODULES:
                raise ValueError(f"unknown integer module {kind!r}; known: {sorted(INT_MODULES)}")
            layers.append((name, INT_MODULES[kind](**kwargs)))
        return cls(layers)

    def quantize_input(self, x: torch.Tensor) -> torch.Tensor:
        return quantize(x, self.in_scale, self.in_zero, QMIN, QMAX)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self.layers(self.quantize_input(x))
        return dequantize(q, self.out_scale, self.out_zero)


_PASS_THROUGH = (nn.Dropout, nn.Identity)


def conversion_plan(model: nn.Sequential) -> list[tuple[str, nn.Module, bool]]:
    """(name, module, relu fused) for each layer that survives conversion; errors on anything else."""
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"quantize_static handles a flat nn.Sequential, got {type(model).__name__}")
    plan = []
    children = [(n, m) for n, m in model.named_children() if not isinstance(m, _PASS_THROUGH)]
    i = 0
    while i < len(children):
        name, module = children[i]
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            relu = i + 1 < len(children) and isinstance(children[i + 1][1], nn.ReLU)
            plan.append((name, module, relu))
            i += 2 if relu else 1
            continue
        if isinstance(module, (nn.MaxPool2d, nn.Flatten)):
            if isinstance(module, nn.Flatten) and (module.start_dim != 1 or module.end_dim != -1):
                raise TypeError(f"layer {name!r}: only Flatten(start_dim=1, end_dim=-1) is supported")
            if isinstance(module, nn.MaxPool2d) and (module.dilation not in (1, (1, 1)) or module.ceil_mode or module.return_indices):
                raise TypeError(f"layer {name!r}: only MaxPool2d without dilation, ceil_mode or return_indices is supported")
            plan.append((name, module, False))
            i += 1
            continue
        if isinstance(module, nn.AdaptiveAvgPool2d):
            if nn.modules.utils._pair(module.output_size) != (1, 1):
                raise TypeError(f"layer {name!r}: only global average pooling, AdaptiveAvgPool2d(1), is supported")
            plan.append((name, module, False))
            i += 1
            continue
        raise TypeError(f"quantize_static cannot convert layer {name!r} of type {type(module).__name__}: supported are "
                        "Conv2d (+BatchNorm2d) (+ReLU), Linear (+ReLU), MaxPool2d, AdaptiveAvgPool2d(1), Flatten, Dropout, Identity")
    if not any(isinstance(m, (nn.Linear, nn.Conv2d)) for _, m, _ in plan):
        raise ValueError("model has no Linear or Conv2d layer to quantize")
    return plan


def float_stage(module: nn.Module, relu: bool) -> Callable[[torch.Tensor], torch.Tensor]:
    return (lambda x: F.relu(module(x))) if relu else module


@torch.no_grad()
def quantize_static(model: nn.Sequential, calibration: Iterable, observer: Callable[[], Observer] | None = None,
                    per_channel: bool = True, weight_bits: int = 8,
                    depthwise_per_channel: bool | None = None) -> IntegerSequential:
    """Fold BatchNorm, calibrate activation ranges on ``calibration`` batches, convert to integer-only.

    ``calibration`` yields input tensors or (input, target) pairs; ``observer`` makes one activation
    observer (default: asymmetric int8 min-max, :class:`MinMaxObserver`); ``per_channel`` chooses
    per-channel (default) or per-tensor symmetric int8 weights; ``depthwise_per_channel`` overrides that
    choice for depthwise convolutions (``groups`` = in_channels > 1; ``None``: same as ``per_channel``),
    whose 9-weight filters make a per-channel multiplier as large as the weights; ``weight_bits`` < 8
    puts the weights on a coarser symmetric grid (e.g. 4-bit codes, W4A8) while activations stay int8.
    ``model`` is not modified.
    """
    if depthwise_per_channel is None:
        depthwise_per_channel = per_channel
    observer = observer or (lambda: MinMaxObserver(bits=8, signed=True))
    folded = fold_batchnorm(model) if isinstance(model, nn.Sequential) else model
    plan = conversion_plan(folded)
    input_observer = observer()
    output_observers = {name: observer() for name, module, _ in plan if isinstance(module, (nn.Linear, nn.Conv2d))}
    for bad in (input_observer, *output_observers.values()):
        if (bad.qmin, bad.qmax) != (QMIN, QMAX):
            raise ValueError(f"activation observers must use the int8 grid [{QMIN}, {QMAX}], got [{bad.qmin}, {bad.qmax}]")
    seen = 0
    for batch in calibration:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        x = input_observer(x.float())
        for name, module, relu in plan:
            x = float_stage(module, relu)(x)
            if name in output_observers:
                output_observers[name](x)
        seen += 1
    if seen == 0:
        raise ValueError("calibration yielded no batches: static quantization needs calibration data")
    qparams = input_observer.calculate_qparams()
    result_in = qparams
    layers = []
    for name, module, relu in plan:
        if isinstance(module, nn.Linear):
            out = output_observers[name].calculate_qparams()
            layers.append((name, IntLinear.from_float(module, qparams, out, relu, per_channel, weight_bits)))
            qparams = out
        elif isinstance(module, nn.Conv2d):
            out = output_observers[name].calculate_qparams()
            depthwise = module.groups > 1 and module.groups == module.in_channels
            layer_per_channel = depthwise_per_channel if depthwise else per_channel
            layers.append((name, IntConv2d.from_float(module, qparams, out, relu, layer_per_channel, weight_bits)))
            qparams = out
        elif isinstance(module, nn.MaxPool2d):
            layers.append((name, IntMaxPool2d(module.kernel_size, module.stride, module.padding)))
        elif isinstance(module, nn.AdaptiveAvgPool2d):
            layers.append((name, IntAvgPool2d()))
        else:
            layers.append((name, IntFlatten()))
    quantized = IntegerSequential(layers)
    quantized.in_scale, quantized.in_zero = result_in[0].float(), result_in[1].to(torch.int32)
    quantized.out_scale, quantized.out_zero = qparams[0].float(), qparams[1].to(torch.int32)
    return quantized.eval()
