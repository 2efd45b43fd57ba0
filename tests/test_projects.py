"""The project checkers (companion.checks.projects): each teacher key (tools/project_keys.py) passes;
naive, wrong and adversarial submissions fail with a message that says what is wrong; a missing
submission is reported as not attempted. The keys are cached models (train.cached_derived)."""
import sys

import pytest
import torch

from companion import models, prune, quant, train
from companion.checks import projects
from notebook_rules import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import project_keys  # noqa: E402


def failures(report) -> str:
    assert report.status == "failed", str(report)
    return " | ".join(report.failures)


# ---- Project 1 ----

@pytest.fixture(scope="module")
def sparse_key(tmp_path_factory):
    return project_keys.sparse_digits_key(tmp_path_factory.mktemp("p1") / "sparse.pt")


def test_project1_key_passes(sparse_key):
    report = projects.score_sparse_digits(sparse_key)
    assert report.passed, str(report)
    assert report.measurements["weight sparsity"] >= projects.SPARSITY_TARGET


def test_project1_missing_file_is_not_attempted(tmp_path):
    report = projects.score_sparse_digits(tmp_path / "nothing.pt")
    assert report.status == "not attempted" and "no submission" in report.failures[0]


def test_project1_dense_baseline_fails_on_sparsity(tmp_path):
    torch.save(train.pretrained("digits-mlp").state_dict(), tmp_path / "dense.pt")
    assert "below the target 90%" in failures(projects.score_sparse_digits(tmp_path / "dense.pt"))


def test_project1_one_shot_without_fine_tuning_fails_on_accuracy(tmp_path):
    model = prune.clone(train.pretrained("digits-mlp"))
    prune.global_magnitude(prune.prunable_weights(model), 0.9)
    torch.save(prune.make_permanent(model).state_dict(), tmp_path / "naive.pt")
    message = failures(projects.score_sparse_digits(tmp_path / "naive.pt"))
    assert "test accuracy" in message and "below the floor" in message and "sparsity" not in message


def test_project1_masks_not_made_permanent_are_named(tmp_path):
    model = prune.clone(train.pretrained("digits-mlp"))
    prune.global_magnitude(prune.prunable_weights(model), 0.9)
    torch.save(model.state_dict(), tmp_path / "masked.pt")
    assert "make the masks permanent" in failures(projects.score_sparse_digits(tmp_path / "masked.pt"))


def test_project1_all_zero_weights_fail_on_accuracy(tmp_path, sparse_key):
    state = {k: torch.zeros_like(v) if k.endswith("weight") else v for k, v in torch.load(sparse_key).items()}
    torch.save(state, tmp_path / "zeros.pt")
    assert "below the floor" in failures(projects.score_sparse_digits(tmp_path / "zeros.pt"))


@pytest.mark.parametrize("damage, message", [
    (lambda s: {**s, "fc1.weight": s["fc1.weight"].half()}, "expected a torch.float32 tensor"),
    (lambda s: {**s, "fc2.weight": s["fc2.weight"][:50]}, "of shape (100, 300)"),
    (lambda s: {**s, "fc3.bias": torch.full((10,), float("nan"))}, "NaN"),
    (lambda s: {k: v for k, v in s.items() if k != "fc3.bias"}, "missing ['fc3.bias']"),
])
def test_project1_malformed_state_dicts_are_rejected(tmp_path, sparse_key, damage, message):
    torch.save(damage(torch.load(sparse_key)), tmp_path / "bad.pt")
    assert message in failures(projects.score_sparse_digits(tmp_path / "bad.pt"))


def test_project1_a_pickled_module_is_rejected(tmp_path):
    torch.save(models.MLP(), tmp_path / "module.pt")
    assert "weights_only=True" in failures(projects.score_sparse_digits(tmp_path / "module.pt"))


# ---- Project 2 ----

@pytest.fixture(scope="module")
def budget_key(tmp_path_factory):
    return project_keys.byte_budget_key(tmp_path_factory.mktemp("p2") / "digits_20kb.pt")


def test_project2_key_passes(budget_key):
    report = projects.score_byte_budget(budget_key, project_keys.load_byte_budget)
    assert report.passed, str(report)
    assert report.measurements["file bytes"] <= projects.BYTE_BUDGET


def test_project2_unattempted(tmp_path, budget_key):
    def load(path):
        raise NotImplementedError
    assert projects.score_byte_budget(tmp_path / "none.pt", load).status == "not attempted"
    assert projects.score_byte_budget(budget_key, load).status == "not attempted"


def test_project2_float32_file_is_over_budget(tmp_path):
    torch.save(train.pretrained("digits-mlp").state_dict(), tmp_path / "fp32.pt")

    def load(path):
        model = models.MLP()
        model.load_state_dict(torch.load(path, weights_only=True))
        return model
    message = failures(projects.score_byte_budget(tmp_path / "fp32.pt", load))
    assert "over the budget of 20,000" in message and "below the floor" not in message


def test_project2_two_bits_without_fine_tuning_fails_on_accuracy(tmp_path):
    quant.save_lowbit(quant.share_weights(train.pretrained("digits-mlp"), 2), tmp_path / "2bit.pt", torch.float16)
    message = failures(projects.score_byte_budget(tmp_path / "2bit.pt", project_keys.load_byte_budget))
    assert "below the floor" in message and "over the budget" not in message


def test_project2_a_loader_that_ignores_the_file_is_caught(budget_key):
    reference = project_keys.byte_budget_model()

    def load(path):  # the key's model from memory: the file is never read
        return quant.load_lowbit(models.MLP(), quant.lowbit_state(reference, torch.float16))
    assert "does not come from the file" in failures(projects.score_byte_budget(budget_key, load))


def test_project2_wrong_outputs_are_rejected(budget_key):
    assert "not (batch, 10) logits" in failures(projects.score_byte_budget(budget_key, lambda p: models.MLP(num_classes=5)))
    assert "not an nn.Module" in failures(projects.score_byte_budget(budget_key, lambda p: {"fc1": 1}))
    assert "raised ValueError" in failures(projects.score_byte_budget(budget_key, lambda p: models.MLP(in_features=0)))


# ---- Project 3 ----

def test_project3_key_passes():
    report = projects.score_integer_inference(project_keys.integer_forward)
    assert report.passed, str(report)
    assert report.measurements["codes differing from the reference"] == 0


def test_project3_unattempted():
    def integer_forward(layers, q_x):
        raise NotImplementedError
    assert projects.score_integer_inference(integer_forward).status == "not attempted"


def test_project3_float_arithmetic_is_rejected():
    def float_forward(layers, q_x):  # the same rounding, computed in float64
        q = q_x
        for layer in layers:
            acc = q.double() @ layer["weight"].double().t() + layer["bias"].double()
            m = layer["multiplier"].double() / 2 ** 31 * torch.pow(2.0, -layer["shift"].double())
            lower = max(-128, layer["out_zero"]) if layer["relu"] else -128
            q = torch.clamp(torch.floor(acc * m + 0.5) + layer["out_zero"], lower, 127).to(torch.int8)
        return q
    assert "floating point used" in failures(projects.score_integer_inference(float_forward))


def _variant(rounding_offset=True, zero_point=True, dtype=torch.int8, in_place=False):
    def integer_forward(layers, q_x):
        q = q_x
        for layer in layers:
            acc = q.to(torch.int64) @ layer["weight"].to(torch.int64).t() + layer["bias"].to(torch.int64)
            shift = layer["shift"].to(torch.int64) + 31
            half = torch.bitwise_left_shift(torch.ones_like(shift), shift - 1) if rounding_offset else 0
            scaled = torch.bitwise_right_shift(acc * layer["multiplier"].to(torch.int64) + half, shift)
            lower = max(-128, layer["out_zero"]) if layer["relu"] else -128
            q = torch.clamp(scaled + (layer["out_zero"] if zero_point else 0), lower, 127).to(dtype)
            if in_place:
                layer["bias"].zero_()
        return q
    return integer_forward


@pytest.mark.parametrize("variant, message", [
    (_variant(rounding_offset=False), "output codes differ"),   # truncation instead of rounding
    (_variant(zero_point=False), "output codes differ"),        # the output zero-point forgotten
    (_variant(dtype=torch.int32), "expected an int8 tensor"),
    (_variant(in_place=True), "modified in place"),
])
def test_project3_wrong_integer_pipelines_are_rejected(variant, message):
    assert message in failures(projects.score_integer_inference(variant))


def test_the_sizes_quoted_on_the_projects_page_hold():
    """book/projects.md quotes ~205 KB (float32), ~57 KB (int8 per channel) and ~30 KB (4-bit k-means)."""
    import io

    def saved_bytes(state):
        buffer = io.BytesIO()
        torch.save(state, buffer)
        return buffer.getbuffer().nbytes

    baseline = train.pretrained("digits-mlp")
    int8 = {}
    for key, value in baseline.state_dict().items():
        if key.endswith("weight"):
            int8[key], int8[key + "_scale"] = quant.quantize_weight_int8(value, True)
        else:
            int8[key] = value
    page = (ROOT / "book" / "projects.md").read_text(encoding="utf-8")
    assert "about 205 KB" in page and "about 57 KB" in page and "about 30 KB" in page
    assert round(saved_bytes(baseline.state_dict()) / 1000) == 205
    assert round(saved_bytes(int8) / 1000) == 57
    assert round(quant.lowbit_file_bytes(quant.share_weights(baseline, 4)) / 1000) == 30


def test_project3_replacing_a_layers_tensor_counts_as_modifying_it():
    def integer_forward(layers, q_x):
        result = project_keys.integer_forward(layers, q_x)
        layers[0]["bias"] = None
        return result
    assert "modified in place" in failures(projects.score_integer_inference(integer_forward))
