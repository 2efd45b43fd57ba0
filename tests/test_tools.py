"""companion.tools: capturing warnings/logs, counting code lines, Torch-Pruning and ONNX Runtime glue."""
import logging
import warnings

import pytest
import torch
from torch import nn

from companion import measure
from companion.models import tiny_resnet
from companion.prune import dependency_groups, group_scores, prune_channels
from companion.tools import (OnnxModel, captured, code_lines, install_bytes, export_onnx, group_modules,
                             nearest_centroid_accuracy, onnx_initializer_bytes,
                             onnx_quantize_dynamic, onnx_quantize_static, torch_pruning_groups, torch_pruning_prune)


def _noisy(x):
    warnings.warn("first warning", DeprecationWarning)
    warnings.warn("first warning", DeprecationWarning)
    logging.warning("a log line")
    return x + 1


def test_captured_keeps_warnings_and_logs_off_stderr(capfd):
    handlers = logging.getLogger().handlers[:]
    run = captured(_noisy, 1)
    assert run.result == 2 and run.warnings == ["first warning"] and run.logs == ["WARNING: a log line"]
    out, err = capfd.readouterr()
    assert err == "" and out == ""
    assert logging.getLogger().handlers == handlers
    with pytest.raises(TypeError, match="function must be callable"):
        captured(3)


def _three_lines(a, b):
    """Docstring,
    on two lines."""
    # a comment
    c = a + b

    d = c * 2  # trailing comment counts as code
    return d


def test_code_lines_counts_body_without_docstring_comments_blanks():
    assert code_lines(_three_lines) == 3
    with pytest.raises(TypeError, match="function must be a Python function"):
        code_lines(len)


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    return tiny_resnet().eval(), torch.randn(1, 1, 8, 8)


def test_companion_groups_match_torch_pruning(resnet):
    model, x = resnet
    ours = set(group_modules(dependency_groups(model, x)))
    theirs = set(torch_pruning_groups(model, x, ignored_layers=["fc"]))
    assert ours == theirs and len(ours) == 6


def test_torch_pruning_prune_matches_companion_shapes(resnet):
    model, x = resnet
    theirs = torch_pruning_prune(model, x, 0.5, ignored_layers=["fc"])
    ours = prune_channels(model, x, 0.5, group_scores(model, x, "l1"))
    assert measure.count_parameters(theirs) == measure.count_parameters(ours) < measure.count_parameters(model)
    assert measure.count_parameters(model) == measure.count_parameters(tiny_resnet())   # not modified
    with pytest.raises(ValueError, match="ratio"):
        torch_pruning_prune(model, x, 1.0)
    with pytest.raises(ValueError, match="ignored_layers"):
        torch_pruning_prune(model, x, 0.5, ignored_layers=["head"])


def test_onnx_export_runs_like_pytorch_and_quantizes_weights_to_int8(tmp_path, capfd):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4)).eval()
    x = torch.randn(5, 16)
    export_onnx(model, x[:1], tmp_path / "m.onnx")
    with torch.no_grad():
        assert torch.allclose(OnnxModel(tmp_path / "m.onnx")(x), model(x), atol=1e-5)
    messages = onnx_quantize_dynamic(tmp_path / "m.onnx", tmp_path / "q.onnx")
    assert isinstance(messages, list)
    int8 = {name: size for name, (kind, size) in onnx_initializer_bytes(tmp_path / "q.onnx").items()
            if kind == "INT8" and name.endswith("weight_quantized")}
    assert sum(int8.values()) == 16 * 32 + 32 * 4
    assert capfd.readouterr().err == ""
    with pytest.raises(ValueError, match="threads"):
        OnnxModel(tmp_path / "m.onnx", threads=0)


def test_install_bytes_sums_the_distributions_files():
    import os
    from importlib import metadata

    import torch_pruning
    package = os.path.dirname(torch_pruning.__file__)
    on_disk = sum(os.path.getsize(os.path.join(folder, name)) for folder, _, names in os.walk(package) for name in names
                  if not name.endswith(".pyc"))
    assert on_disk <= install_bytes("torch-pruning") <= on_disk + 10 * sum(
        1 for f in metadata.distribution("torch-pruning").files) * 4096
    with pytest.raises(ValueError, match="not installed"):
        install_bytes("no-such-distribution-here")


def test_onnx_static_quantization_stays_close_to_the_float_model(tmp_path, capfd):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4)).eval()
    x = torch.randn(256, 16)
    export_onnx(model, x[:1], tmp_path / "m.onnx")
    onnx_quantize_static(tmp_path / "m.onnx", tmp_path / "s.onnx", [x[:128], x[128:]])
    with torch.no_grad():
        reference = model(x)
    gap = (OnnxModel(tmp_path / "s.onnx")(x) - reference).abs().max().item()
    assert 0 < gap < 0.05 * reference.abs().max().item()
    kinds = {kind for kind, _ in onnx_initializer_bytes(tmp_path / "s.onnx").values()}
    assert "INT8" in kinds
    assert capfd.readouterr().err == ""
    with pytest.raises(ValueError, match="calibration"):
        onnx_quantize_static(tmp_path / "m.onnx", tmp_path / "t.onnx", [])


class TwoInputs(nn.Module):
    """y = W x masked by m (per position), summed over positions: a stand-in for an encoder's two inputs."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 3)

    def forward(self, x, mask):
        return (self.linear(x) * mask[..., None]).sum(dim=1)


def test_onnx_export_with_two_inputs_and_dynamic_lengths(tmp_path):
    torch.manual_seed(0)
    model = TwoInputs().eval()
    x, mask = torch.randn(2, 5, 4), torch.ones(2, 5)
    axes = {"x": {0: "batch", 1: "length"}, "mask": {0: "batch", 1: "length"}, "y": {0: "batch"}}
    export_onnx(model, (x, mask), tmp_path / "two.onnx", input_names=("x", "mask"), output_names=("y",),
                dynamic_axes=axes)
    session = OnnxModel(tmp_path / "two.onnx")
    longer, longer_mask = torch.randn(3, 7, 4), (torch.rand(3, 7) > 0.3).float()
    with torch.no_grad():
        expected = model(longer, longer_mask)
    assert torch.allclose(session(longer, longer_mask), expected, atol=1e-5)
    assert torch.allclose(session(longer, mask=longer_mask), expected, atol=1e-5)
    with pytest.raises(ValueError, match="missing inputs"):
        session(longer)
    with pytest.raises(ValueError, match="takes 2 inputs"):
        session(longer, longer_mask, longer_mask)
    with pytest.raises(ValueError, match="input_names"):
        export_onnx(model, (x, mask), tmp_path / "bad.onnx")


def test_nearest_centroid_accuracy_matches_scikit_learn():
    from sklearn.neighbors import NearestCentroid

    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 3, (200,), generator=generator)
    vectors = torch.randn(200, 6, generator=generator) + labels[:, None].float()
    train, test = vectors[:150], vectors[150:]
    predicted = NearestCentroid().fit(train.numpy(), labels[:150].numpy()).predict(test.numpy())
    expected = float((torch.from_numpy(predicted) == labels[150:]).double().mean())
    assert nearest_centroid_accuracy(train, labels[:150], test, labels[150:]) == pytest.approx(expected)
    assert 0.5 < expected < 1.0
    with pytest.raises(ValueError, match="same width"):
        nearest_centroid_accuracy(train, labels[:150], test[:, :5], labels[150:])
    with pytest.raises(ValueError, match="one label per row"):
        nearest_centroid_accuracy(train, labels[:149], test, labels[150:])
