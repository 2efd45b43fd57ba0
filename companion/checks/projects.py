"""Checkers for the end-of-course projects (book/projects.md): each scores one submission.

A checker never trusts the submission: it measures the file on disk, evaluates on the digits test split
that the student does not pass in, and returns a :class:`ProjectReport` that lists every measurement
and every requirement that failed, in words. A missing file, or a function that still raises
``NotImplementedError``, is reported as *not attempted*, not as a failure.

1. :func:`score_sparse_digits`: the digits MLP at ≥ 90% weight sparsity, at most 3 points below the
   baseline's test accuracy, masks made permanent (one ``torch.save``-d state dict).
2. :func:`score_byte_budget`: the digits MLP in a file of at most 20,000 bytes, at most 2 points below
   the baseline, loaded by the student's ``load(path)``; the model must come from the file.
3. :func:`score_integer_inference`: integer-only inference of the int8 digits MLP, bit-exact against
   :mod:`companion.quant.static`, with no floating-point tensor anywhere in the computation.

Two projects on Part III's models (chapters 5.3 and 5.1), scored the same way as project 2:

4. :func:`score_speech_budget`: the keyword-spotting DS-CNN in a file of at most 32,000 bytes, at most
   2 points below the baseline on the 850 test clips of held-out voices.
5. :func:`score_fashion_compression`: the Fashion-MNIST ResNet in a file at least 8× smaller than its
   float32 state dict, at most 1 point below the baseline on the 10,000 test images.
"""
from __future__ import annotations

import functools
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from .. import data, measure, models, train
from ..quant import IntLinear, quantize_static

__all__ = ["ProjectReport", "baseline_accuracy", "score_sparse_digits", "score_byte_budget",
           "integer_digits_model", "integer_layers", "score_integer_inference",
           "SPARSITY_TARGET", "SPARSE_MARGIN", "BUDGET_MARGIN", "BYTE_BUDGET",
           "speech_splits", "speech_baseline_accuracy", "score_speech_budget", "SPEECH_BUDGET", "SPEECH_MARGIN",
           "fashion_splits", "fashion_baseline", "fashion_baseline_accuracy", "fashion_budget",
           "score_fashion_compression", "FASHION_RATIO", "FASHION_MARGIN"]

SPARSITY_TARGET = 0.90    # project 1: fraction of the Linear weights that must be exactly zero
SPARSE_MARGIN = 0.03      # project 1: at most 3 points below the baseline's test accuracy
BUDGET_MARGIN = 0.02      # project 2: at most 2 points below the baseline's test accuracy
BYTE_BUDGET = 20_000      # project 2: bytes of the submitted file (the float32 state dict is ~205 KB)
SPEECH_BUDGET = 32_000    # project 4: bytes of the submitted file (the float32 state dict is ~114 KB)
SPEECH_MARGIN = 0.02      # project 4: at most 2 points below the baseline on the held-out voices
FASHION_RATIO = 8         # project 5: the file at least 8x smaller than the float32 state dict
FASHION_MARGIN = 0.01     # project 5: at most 1 point below the baseline's test accuracy
SCRAMBLE_INPUTS = 1000    # inputs on which a scrambled file's model is compared with the submitted one


@dataclass
class ProjectReport:
    """The score of one submission: ``status`` is ``"passed"``, ``"failed"`` or ``"not attempted"``."""

    project: str
    status: str
    measurements: dict = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def __str__(self) -> str:
        lines = [f"{self.project}: {self.status}"]
        lines += [f"  {name}: {value}" for name, value in self.measurements.items()]
        lines += [f"  FAILED: {reason}" for reason in self.failures]
        return "\n".join(lines)


def _report(project: str, measurements: dict, failures: list[str]) -> ProjectReport:
    return ProjectReport(project, "failed" if failures else "passed", measurements, failures)


def _not_attempted(project: str, why: str) -> ProjectReport:
    return ProjectReport(project, "not attempted", {}, [why])


def _digits() -> data.Splits:
    return data.digits()


def baseline_accuracy() -> float:
    """Test accuracy of the book's trained digits MLP (``train.pretrained("digits-mlp")``), the bar."""
    return measure.accuracy(train.pretrained("digits-mlp"), _digits().loader("test", 512))


# ---- Project 1: a sparse digits MLP ----

def score_sparse_digits(path: str | os.PathLike) -> ProjectReport:
    """Score a ``torch.save``-d state dict of ``companion.models.MLP()`` (the digits MLP) for project 1.

    Requirements: the file loads with ``weights_only=True``; its keys, shapes and dtypes are exactly
    those of a plain ``MLP()`` (so masks were made permanent, not saved as ``weight_orig``/``weight_mask``);
    every value is finite; at least ``SPARSITY_TARGET`` of the Linear weights are exactly zero; test
    accuracy at least the baseline's minus ``SPARSE_MARGIN``.
    """
    project = "Project 1 (a sparse digits MLP)"
    path = Path(path)
    if not path.is_file():
        return _not_attempted(project, f"no submission at {path.name}: save your model's state_dict there")
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as error:  # a corrupt or pickled file: say so instead of crashing the grader
        return _report(project, {}, [f"the file is not a state dict that torch.load(weights_only=True) reads ({error})"])
    reference = models.MLP().state_dict()
    if not isinstance(state, dict):
        return _report(project, {}, [f"the file holds a {type(state).__name__}, not a state dict"])
    failures = []
    masks = sorted(key for key in state if key.endswith(("_orig", "_mask")))
    if masks:
        failures.append(f"the state dict still holds pruning reparametrisations {masks[:3]}: make the masks "
                        "permanent (prune.remove / companion.prune.make_permanent) before saving")
    if set(state) != set(reference):
        missing, extra = sorted(set(reference) - set(state)), sorted(set(state) - set(reference))
        failures.append(f"the keys differ from companion.models.MLP()'s: missing {missing}, unexpected {extra}")
        return _report(project, {}, failures)
    for key, tensor in reference.items():
        got = state[key]
        if not isinstance(got, torch.Tensor) or got.shape != tensor.shape or got.dtype != tensor.dtype:
            failures.append(f"{key}: expected a {tensor.dtype} tensor of shape {tuple(tensor.shape)}, got "
                            f"{getattr(got, 'dtype', type(got).__name__)} {tuple(getattr(got, 'shape', ()))}")
        elif not torch.isfinite(got).all():
            failures.append(f"{key} holds NaN or infinite values")
    if failures:
        return _report(project, {}, failures)
    model = models.MLP()
    model.load_state_dict(state)
    weights = [module.weight for module in model.modules() if isinstance(module, nn.Linear)]
    zeros = sum(int((w == 0).sum()) for w in weights)
    total = sum(w.numel() for w in weights)
    accuracy = measure.accuracy(model.eval(), _digits().loader("test", 512))
    floor = baseline_accuracy() - SPARSE_MARGIN
    measurements = {"weight sparsity": round(zeros / total, 4), "test accuracy": round(accuracy, 4),
                    "accuracy floor": round(floor, 4)}
    if zeros < SPARSITY_TARGET * total:
        failures.append(f"sparsity {zeros / total:.2%} of the Linear weights is below the target "
                        f"{SPARSITY_TARGET:.0%} ({zeros:,} of {total:,} weights are zero)")
    if accuracy < floor:
        failures.append(f"test accuracy {accuracy:.2%} is below the floor {floor:.2%} (baseline minus "
                        f"{SPARSE_MARGIN * 100:.0f} points): fine-tune with the masks in place, or prune gradually")
    return _report(project, measurements, failures)


# ---- Project 2: the digits MLP in a byte budget ----

def _logits(model: nn.Module, x: torch.Tensor, batch: int = 500) -> torch.Tensor:
    """``model``'s outputs on ``x``, computed ``batch`` inputs at a time (bounded memory)."""
    model.eval()
    with torch.no_grad():
        outputs = [model(x[i:i + batch]) for i in range(0, len(x), batch)]
    if not all(isinstance(out, torch.Tensor) for out in outputs):
        return outputs[0]
    return torch.cat(outputs)


def _load_isolated(load: Callable, source: Path, corrupt: bool = False):
    """``load`` called on a copy of ``source`` alone in a fresh folder, with an empty model cache."""
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / source.name
        shutil.copyfile(source, copy)
        if corrupt:  # keep the first and last 64 bytes (headers, footers); scramble the rest
            raw = bytearray(copy.read_bytes())
            generator = torch.Generator().manual_seed(0)
            middle = torch.randint(0, 256, (max(len(raw) - 128, 0),), generator=generator, dtype=torch.uint8)
            raw[64:len(raw) - 64] = bytes(middle.tolist())
            copy.write_bytes(bytes(raw))
        previous = os.environ.get("COMPANION_CACHE_DIR")
        os.environ["COMPANION_CACHE_DIR"] = str(Path(folder) / "empty-cache")
        try:
            return load(str(copy))
        finally:
            if previous is None:
                del os.environ["COMPANION_CACHE_DIR"]
            else:
                os.environ["COMPANION_CACHE_DIR"] = previous


def _score_model_file(project: str, path: Path, load: Callable, x: torch.Tensor, y: torch.Tensor, classes: int,
                      budget: int,
                      floor: float, input_shape: str, budget_note: str = "") -> ProjectReport:
    """The checks shared by projects 2, 4 and 5: bytes on disk, a model that comes from the file, accuracy.

    ``load`` runs on a lone copy of the file with an empty model cache; its model must map ``x`` to
    finite (batch, classes) logits scoring at least ``floor`` on ``y``; and on a copy whose middle bytes
    are scrambled it must fail or give different logits on the first ``SCRAMBLE_INPUTS`` inputs.
    """
    if not path.is_file():
        return _not_attempted(project, f"no submission at {path.name}: write your compressed model there")
    size = measure.file_bytes(path)
    measurements = {"file bytes": size, "budget": budget}
    failures = []
    if size > budget:
        failures.append(f"the file has {size:,} bytes, over the budget of {budget:,}{budget_note}")
    try:
        model = _load_isolated(load, path)
    except NotImplementedError:
        return _not_attempted(project, "load(path) is not written yet")
    except Exception as error:
        return _report(project, measurements, failures + [f"load(path) raised {type(error).__name__}: {error}"])
    if not isinstance(model, nn.Module):
        return _report(project, measurements, failures + [f"load(path) returned a {type(model).__name__}, not an nn.Module"])
    try:
        logits = _logits(model, x)
    except Exception as error:
        return _report(project, measurements, failures + [
            f"the model raised {type(error).__name__} on {input_shape} inputs: {error}"])
    if not isinstance(logits, torch.Tensor) or logits.shape != (len(x), classes):
        return _report(project, measurements, failures + [
            f"the model maps {input_shape} inputs to {tuple(getattr(logits, 'shape', ()))}, not (batch, {classes}) logits"])
    if not torch.isfinite(logits).all():
        return _report(project, measurements, failures + ["the model's logits hold NaN or infinite values"])
    accuracy = float((logits.argmax(1) == y).float().mean())
    measurements.update({"test accuracy": round(accuracy, 4), "accuracy floor": round(floor, 4)})
    if accuracy < floor:
        failures.append(f"test accuracy {accuracy:.2%} is below the floor {floor:.2%}")
    subset = x[:SCRAMBLE_INPUTS]
    try:
        scrambled = _logits(_load_isolated(load, path, corrupt=True), subset)
        same = torch.equal(scrambled.argmax(1), logits[:SCRAMBLE_INPUTS].argmax(1)) and \
            torch.allclose(scrambled, logits[:SCRAMBLE_INPUTS])
    except Exception:  # a loader that notices the damage (a checksum, a failed decode) is doing its job
        same = False
    if same:
        failures.append("the model does not come from the file: with the file's contents scrambled, load(path) "
                        "returned a model with the same logits")
    return _report(project, measurements, failures)


def score_byte_budget(path: str | os.PathLike, load: Callable[[str], nn.Module]) -> ProjectReport:
    """Score project 2: the file at ``path`` and the student's ``load(path) -> nn.Module``.

    Requirements: the file has at most ``BYTE_BUDGET`` bytes on disk; ``load`` returns an ``nn.Module``
    mapping the digits inputs (batch, 64) to (batch, 10) finite logits; test accuracy at least the
    baseline's minus ``BUDGET_MARGIN``; and the model comes from the file: ``load`` runs on a copy
    of the file alone in an empty folder, with an empty model cache, and on a copy whose middle bytes
    are scrambled it must fail or predict differently (a loader that ignores the file and rebuilds the
    model another way is rejected).
    """
    splits = _digits()
    return _score_model_file("Project 2 (the digits MLP in 20 KB)", Path(path), load, splits.x_test, splits.y_test,
                             splits.num_classes, BYTE_BUDGET, baseline_accuracy() - BUDGET_MARGIN, "(batch, 64)")


# ---- Project 4: the keyword-spotting DS-CNN in 32 KB (chapter 5.3) ----

@functools.lru_cache(maxsize=1)
def speech_splits() -> data.Splits:
    """Chapter 5.3's keyword splits (``RECIPES["speech-dscnn"]``'s data); the test split is 850 clips
    of voices the model never heard (20 eSpeak NG variants and one Flite voice)."""
    recipe = train.RECIPES["speech-dscnn"]
    return data.load(recipe.data, **recipe.data_kwargs)


def speech_baseline_accuracy() -> float:
    """Test accuracy of chapter 5.3's trained DS-CNN (``train.pretrained("speech-dscnn")``), the bar."""
    return measure.accuracy(train.pretrained("speech-dscnn"), speech_splits().loader("test", 256))


def score_speech_budget(path: str | os.PathLike, load: Callable[[str], nn.Module]) -> ProjectReport:
    """Score project 4: chapter 5.3's keyword-spotting DS-CNN in at most ``SPEECH_BUDGET`` bytes.

    The same checks as project 2 (:func:`score_byte_budget`), on the speech test split: ``load(path)``
    maps (batch, 1, 51, 20) log-mel features to (batch, 10) finite logits, whose accuracy on the 850
    held-out clips is at least the baseline's minus ``SPEECH_MARGIN``; the file has at most
    ``SPEECH_BUDGET`` bytes on disk, and the model comes from it.
    """
    splits = speech_splits()
    return _score_model_file("Project 4 (the speech DS-CNN in 32 KB)", Path(path), load, splits.x_test,
                             splits.y_test, splits.num_classes, SPEECH_BUDGET, speech_baseline_accuracy() - SPEECH_MARGIN,
                             "(batch, 1, 51, 20)")


# ---- Project 5: the Fashion-MNIST ResNet 8x smaller (chapter 5.1) ----

@functools.lru_cache(maxsize=1)
def fashion_splits() -> data.Splits:
    """Chapter 5.1's Fashion-MNIST splits; the test split is the 10,000 test images."""
    return data.fashion_mnist()


def fashion_baseline() -> nn.Module:
    """Chapter 5.1's trained ResNet (``train.pretrained("fashion-resnet")``)."""
    return train.pretrained("fashion-resnet")


@functools.lru_cache(maxsize=1)
def fashion_baseline_accuracy() -> float:
    """Test accuracy of :func:`fashion_baseline` on the 10,000 test images (cached: it takes seconds)."""
    return measure.accuracy(fashion_baseline(), fashion_splits().loader("test", 1000))


def fashion_budget() -> int:
    """Project 5's byte budget: the baseline's float32 ``state_dict`` file size over ``FASHION_RATIO``."""
    return measure.state_dict_bytes(fashion_baseline()) // FASHION_RATIO


def score_fashion_compression(path: str | os.PathLike, load: Callable[[str], nn.Module]) -> ProjectReport:
    """Score project 5: chapter 5.1's Fashion-MNIST ResNet at least ``FASHION_RATIO`` times smaller.

    The same checks as project 2 (:func:`score_byte_budget`), on the Fashion-MNIST test split:
    ``load(path)`` maps (batch, 1, 28, 28) images to (batch, 10) finite logits, whose accuracy on the
    10,000 test images is at least the baseline's minus ``FASHION_MARGIN``; the file has at most
    :func:`fashion_budget` bytes (the baseline's ``torch.save``-d state dict over 8), and the model
    comes from it. The report also gives the measured ratio.
    """
    splits = fashion_splits()
    baseline_bytes = measure.state_dict_bytes(fashion_baseline())
    report = _score_model_file("Project 5 (the Fashion-MNIST ResNet 8x smaller)", Path(path), load, splits.x_test,
                               splits.y_test, splits.num_classes, fashion_budget(), fashion_baseline_accuracy() - FASHION_MARGIN,
                               "(batch, 1, 28, 28)",
                               f" (the baseline's state dict, {baseline_bytes:,} bytes, over {FASHION_RATIO})")
    if "file bytes" in report.measurements:
        report.measurements["times smaller"] = round(baseline_bytes / report.measurements["file bytes"], 2)
    return report


# ---- Project 3: integer-only inference ----

def integer_digits_model():
    """The int8 digits MLP: ``quantize_static`` of the trained MLP, calibrated on 512 training digits."""
    splits = _digits()
    return quantize_static(train.pretrained("digits-mlp"), [splits.x_train[:512]])


def integer_layers(model) -> list[dict]:
    """The integer layers of ``model`` as plain data: per layer ``weight`` (int8, out × in), ``bias``
    (int32, the zero-point correction folded in), ``multiplier`` and ``shift`` (int32, per output
    channel), ``out_zero`` (int) and ``relu`` (bool)."""
    layers = []
    for layer in model.layers:
        if isinstance(layer, IntLinear):
            layers.append({"weight": layer.weight_int8.clone(), "bias": layer.bias_int32.clone(),
                           "multiplier": layer.multiplier.clone(), "shift": layer.shift.clone(),
                           "out_zero": int(layer.out_zero), "relu": bool(layer.relu)})
    return layers


class _FloatRecorder(TorchDispatchMode):
    """Records every ATen operator that reads or produces a floating-point tensor."""

    def __init__(self):
        super().__init__()
        self.float_ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        tensors = [t for t in (*args, *(kwargs or {}).values(), *(result if isinstance(result, (tuple, list)) else [result]))
                   if isinstance(t, torch.Tensor)]
        if any(t.is_floating_point() for t in tensors):
            self.float_ops.append(f"{func} on {sorted({str(t.dtype) for t in tensors})}")
        return result


def score_integer_inference(integer_forward: Callable[[list[dict], torch.Tensor], torch.Tensor]) -> ProjectReport:
    """Score project 3: ``integer_forward(layers, q_x)`` → int8 output codes of the int8 digits MLP.

    ``layers`` is :func:`integer_layers` of :func:`integer_digits_model` and ``q_x`` the int8 codes of
    the whole digits test split. Requirements: an int8 tensor of shape (batch, 10) equal, code for
    code, to the companion's integer model; no floating-point tensor read or produced by any operation
    during the call; the inputs unchanged.
    """
    project = "Project 3 (integer-only inference)"
    model = integer_digits_model()
    splits = _digits()
    q_x = model.quantize_input(splits.x_test)
    expected = model.layers(q_x)
    layers = integer_layers(model)
    originals = [q_x.clone()] + [{k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in layer.items()}
                                 for layer in layers]
    recorder = _FloatRecorder()
    try:
        with recorder:
            got = integer_forward(layers, q_x)
    except NotImplementedError:
        return _not_attempted(project, "integer_forward is not written yet")
    except Exception as error:
        return _report(project, {}, [f"integer_forward raised {type(error).__name__}: {error}"])
    failures = []
    measurements = {"test inputs": len(q_x)}
    if recorder.float_ops:
        failures.append(f"floating point used ({len(recorder.float_ops)} operations), first: {recorder.float_ops[0]}; "
                        "integer-only inference uses integer tensors throughout")
    changed = not torch.equal(q_x, originals[0]) or any(
        not isinstance(layer.get(k), torch.Tensor) or not torch.equal(layer[k], before[k])
        for layer, before in zip(layers, originals[1:]) for k in ("weight", "bias", "multiplier", "shift"))
    if changed:
        failures.append("an input (q_x or a layer's tensors) was modified in place; leave the inputs unchanged")
    if not isinstance(got, torch.Tensor) or got.shape != expected.shape or got.dtype != torch.int8:
        failures.append(f"expected an int8 tensor of shape {tuple(expected.shape)}, got "
                        f"{getattr(got, 'dtype', type(got).__name__)} {tuple(getattr(got, 'shape', ()))}")
        return _report(project, measurements, failures)
    wrong = int((got != expected).sum())
    measurements.update({"codes differing from the reference": wrong,
                         "test accuracy of the codes": round(float((got.argmax(1) == splits.y_test).float().mean()), 4)})
    if wrong:
        diff = (got.to(torch.int32) - expected.to(torch.int32)).abs()
        failures.append(f"{wrong} of {expected.numel()} output codes differ from the reference (largest difference "
                        f"{int(diff.max())}): check the rounding (add 2^(30+n), then shift right by 31+n), the "
                        "zero-point, and the ReLU's lower bound max(-128, Z_y)")
    return _report(project, measurements, failures)
