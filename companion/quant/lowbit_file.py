"""A whole low-bit model as one file, and back to a plain float model that runs at float speed.

:func:`~companion.quant.packing.save_packed` stores packed weight codes and their side tensors. A
deployable file also needs everything else the model holds (biases, BatchNorm parameters and
statistics), and a reader needs the way back. Here:

- :func:`lowbit_state` takes a model whose Linear/Conv layers are wrapped by k-means weight sharing
  (:class:`~companion.quant.kmeans.SharedWeight`) or converted from QAT
  (:class:`~companion.quant.qat.QuantizedLayer`) and returns the packed codes and side tensors of each
  such layer plus every other tensor of the model's ``state_dict`` as ``float_dtype``.
- :func:`load_lowbit` unpacks such a state into a copy of a plain ``template`` model of the same
  architecture: each weight becomes Ŵ (``codebook[codes]`` or S·(q − Z)), so the result is an ordinary
  float model. The file is small; the model in memory is as large and as fast as the float model of
  that architecture. (PyTorch has no CPU kernel that computes with 4-bit codes directly.)

Activation quantization of a QAT model is not kept: the loaded model computes with float activations.
"""
from __future__ import annotations

import copy
import io
import os

import torch
from torch import nn

from .kmeans import KMeansWeight, SharedWeight
from .lowbit import UniformWeight
from .packing import packed_state, unpack
from .qat import QuantizedLayer

__all__ = ["lowbit_state", "save_lowbit", "load_lowbit", "lowbit_file_bytes"]

_WRAPPED_KEYS = ("layer.weight", "codes", "codebook", "scale", "zero_point", "act_scale", "act_zero_point")


def _low_bit_layers(model: nn.Module) -> dict[str, object]:
    found = {}
    for name, module in model.named_modules():
        if isinstance(module, SharedWeight):
            found[name] = module.quantized()
        elif isinstance(module, QuantizedLayer):
            found[name] = module.quantized_weight()
    return found


def lowbit_state(model: nn.Module, float_dtype: torch.dtype = torch.float32) -> dict:
    """Packed codes and side tensors of every low-bit layer, plus the model's other tensors.

    The other tensors are keyed by their name in a **plain** model of the same architecture (a
    wrapped layer's ``<name>.layer.bias`` is stored as ``<name>.bias``); floating-point ones are cast
    to ``float_dtype``, integer ones (e.g. BatchNorm's ``num_batches_tracked``) are left out.
    """
    if float_dtype not in (torch.float32, torch.float16, torch.bfloat16):
        raise ValueError(f"float_dtype must be float32, float16 or bfloat16, got {float_dtype}")
    weights = _low_bit_layers(model)
    if not weights:
        raise ValueError("model has no SharedWeight or QuantizedLayer: apply share_weights or convert(prepare_qat(...)) first")
    extra = {}
    for key, tensor in model.state_dict().items():
        owner = next((name for name in weights if key.startswith(name + ".")), None)
        if owner is not None:
            rest = key[len(owner) + 1:]
            if rest in _WRAPPED_KEYS:
                continue
            key = f"{owner}.{rest.removeprefix('layer.')}"
        if tensor.is_floating_point():
            extra[key] = tensor.detach().to(float_dtype)
    state = packed_state(weights, extra)
    for name, record in weights.items():
        if isinstance(record, UniformWeight):
            state[f"{name}.group_size"] = record.group_size
        elif not isinstance(record, KMeansWeight):
            raise TypeError(f"layer {name!r}: only k-means and uniform low-bit weights can be loaded back, "
                            f"got {type(record).__name__}")
    return state


def save_lowbit(model: nn.Module, path: str | os.PathLike, float_dtype: torch.dtype = torch.float32) -> None:
    """``torch.save`` :func:`lowbit_state` to ``path``."""
    torch.save(lowbit_state(model, float_dtype), path)


def lowbit_file_bytes(model: nn.Module, float_dtype: torch.dtype = torch.float32) -> int:
    """Bytes of the file :func:`save_lowbit` writes (the ``torch.save`` archive, measured in memory)."""
    buffer = io.BytesIO()
    torch.save(lowbit_state(model, float_dtype), buffer)
    return buffer.getbuffer().nbytes


def _record(state: dict, name: str, bits: int, shape: tuple) -> KMeansWeight | UniformWeight:
    codes = unpack(state[f"{name}.codes"], bits, shape)
    if f"{name}.codebook" in state:
        return KMeansWeight(codes=codes, bits=bits, codebook=state[f"{name}.codebook"].float())
    if f"{name}.scale" in state:
        return UniformWeight(codes=codes, bits=bits, scale=state[f"{name}.scale"], zero_point=state[f"{name}.zero_point"],
                             group_size=state[f"{name}.group_size"])
    raise ValueError(f"layer {name!r} has neither a codebook nor a scale in the file")


@torch.no_grad()
def load_lowbit(template: nn.Module, state_or_path) -> nn.Module:
    """A copy of the plain float ``template`` with every tensor taken from a low-bit state (or its file).

    Weights are decoded to Ŵ; the template's own values are not used, only its architecture, and
    every tensor of the template must be found in the state (a clear ``ValueError`` otherwise).
    """
    state = state_or_path if isinstance(state_or_path, dict) else torch.load(state_or_path, weights_only=True)
    model = copy.deepcopy(template).eval()
    layers = {key[: -len(".bits")] for key in state if key.endswith(".bits")}
    values = {}
    for name in layers:
        values[f"{name}.weight"] = _record(state, name, state[f"{name}.bits"], state[f"{name}.shape"]).dequantize()
    for key, tensor in state.items():
        if isinstance(tensor, torch.Tensor) and not any(key.startswith(name + ".") for name in layers):
            values[key] = tensor
        elif isinstance(tensor, torch.Tensor) and key.rsplit(".", 1)[1] == "bias":
            values[key] = tensor
    own = model.state_dict()
    missing = [k for k, v in own.items() if v.is_floating_point() and k not in values]
    unknown = [k for k in values if k not in own]
    if missing or unknown:
        raise ValueError(f"the state does not fit template: missing {missing[:5]}, unknown {unknown[:5]}")
    for key, tensor in values.items():
        if tuple(tensor.shape) != tuple(own[key].shape):
            raise ValueError(f"{key} has shape {tuple(tensor.shape)} in the state, {tuple(own[key].shape)} in template")
        own[key].copy_(tensor.to(own[key].dtype).reshape(own[key].shape))
    return model
