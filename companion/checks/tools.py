"""Self-checks for chapter 6 (Tools measured side by side)."""
from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import torch
import torch.nn.utils.prune as torch_prune
from torch import nn

from . import assert_equal, exercise

__all__ = ["check_mask_checkpoint_bytes", "check_onnx_int8_weight_bytes", "check_group_modules"]


@exercise
def check_mask_checkpoint_bytes(mask_checkpoint_bytes) -> None:
    """``mask_checkpoint_bytes(linear)`` → tensor bytes in ``linear``'s state dict once
    ``torch.nn.utils.prune.l1_unstructured(linear, "weight", 0.5)`` has been applied to it."""
    torch.manual_seed(0)
    for linear in (nn.Linear(64, 300), nn.Linear(100, 10), nn.Linear(7, 3, bias=False)):
        pruned = copy.deepcopy(linear)
        torch_prune.l1_unstructured(pruned, "weight", amount=0.5)
        expected = sum(t.numel() * t.element_size() for t in pruned.state_dict().values())
        assert_equal(f"mask_checkpoint_bytes({linear})", mask_checkpoint_bytes(copy.deepcopy(linear)), expected)


@exercise
def check_onnx_int8_weight_bytes(onnx_int8_weight_bytes) -> None:
    """``onnx_int8_weight_bytes(model)`` → bytes of the int8 weight tensors that ONNX Runtime's dynamic
    quantization stores for a model of ``nn.Linear`` layers."""
    from ..tools import export_onnx, onnx_initializer_bytes, onnx_quantize_dynamic

    torch.manual_seed(0)
    models = [nn.Sequential(nn.Linear(64, 300), nn.ReLU(), nn.Linear(300, 10)),
              nn.Sequential(nn.Linear(12, 5), nn.ReLU(), nn.Linear(5, 5), nn.ReLU(), nn.Linear(5, 3))]
    with tempfile.TemporaryDirectory() as folder:
        for model in models:
            source, target = Path(folder) / "model.onnx", Path(folder) / "model-int8.onnx"
            export_onnx(model, torch.zeros(1, model[0].in_features), source)
            onnx_quantize_dynamic(source, target)
            expected = sum(size for name, (kind, size) in onnx_initializer_bytes(target).items()
                           if kind == "INT8" and name.endswith("weight_quantized"))
            assert_equal(f"onnx_int8_weight_bytes({model})", onnx_int8_weight_bytes(model), expected)


@exercise
def check_group_modules(group_modules) -> None:
    """``group_modules(group)`` → the set of module names a companion ``DependencyGroup`` touches, as
    Torch-Pruning groups them (checked against Torch-Pruning on a small ResNet)."""
    from ..models import tiny_resnet
    from ..prune import dependency_groups
    from ..tools import torch_pruning_groups

    torch.manual_seed(0)
    model, example = tiny_resnet().eval(), torch.zeros(1, 1, 8, 8)
    expected = set(torch_pruning_groups(model, example, ignored_layers=["fc"]))
    got = {frozenset(group_modules(group)) for group in dependency_groups(model, example)}
    missing, extra = sorted(map(sorted, expected - got)), sorted(map(sorted, got - expected))
    assert_equal("groups (as sets of module names) not matched: Torch-Pruning's, yours", (missing, extra), ([], []))
