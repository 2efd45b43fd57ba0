"""Projects 4 and 5 (companion.checks.projects) on Part III's models: each teacher key
(tools/project_keys.py) passes; naive submissions (the uncompressed baseline, the book's int8 file
as it stands, one-shot pruning without fine-tuning, a small file whose loader ignores it) fail with a
message that says what is wrong. The keys start from chapters 5.3's and 5.1's cached models (the
chapters' cache keys): with the chapters run first, nothing is trained here."""
import sys

import pytest
import torch

from companion import compress, models, prune, quant, train
from companion.checks import projects
from notebook_rules import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import project_keys  # noqa: E402


def failures(report) -> str:
    assert report.status == "failed", str(report)
    return " | ".join(report.failures)


def load_state_into(template):
    def load(path):
        model = template()
        model.load_state_dict(torch.load(path, weights_only=True))
        return model
    return load


# ---- Project 4: the speech DS-CNN in 32 KB ----

@pytest.fixture(scope="module")
def speech_key(tmp_path_factory):
    return project_keys.speech_key(tmp_path_factory.mktemp("p4") / "speech_32kb.pt")


def test_project4_key_passes(speech_key):
    report = projects.score_speech_budget(speech_key, project_keys.load_packed)
    assert report.passed, str(report)
    assert report.measurements["file bytes"] <= projects.SPEECH_BUDGET
    assert report.measurements["test accuracy"] >= projects.speech_baseline_accuracy() - projects.SPEECH_MARGIN


def test_project4_packed_file_round_trips(speech_key):
    reference = project_keys.speech_integer_model()
    loaded = project_keys.load_packed(str(speech_key))
    for key, tensor in reference.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], tensor), key


def test_project4_unattempted(tmp_path, speech_key):
    def load(path):
        raise NotImplementedError
    assert projects.score_speech_budget(tmp_path / "none.pt", load).status == "not attempted"
    assert projects.score_speech_budget(speech_key, load).status == "not attempted"


def test_project4_float32_baseline_is_over_budget(tmp_path):
    torch.save(train.pretrained("speech-dscnn").state_dict(), tmp_path / "fp32.pt")
    message = failures(projects.score_speech_budget(tmp_path / "fp32.pt", load_state_into(models.DSCNN)))
    assert "over the budget of 32,000" in message and "below the floor" not in message


def test_project4_the_books_int8_file_is_over_budget(tmp_path, speech_key):
    """quant.save_quantized stores the same int8 tensors as the key, but one zip record per tensor: over
    the budget (the checker's size test; its accuracy is the key's, measured above)."""
    quant.save_quantized(project_keys.speech_integer_model(), tmp_path / "int8.pt")
    size = projects.measure.file_bytes(tmp_path / "int8.pt")
    assert size > projects.SPEECH_BUDGET > projects.measure.file_bytes(speech_key)


def test_project4_dense_int8_packed_is_still_over_budget(tmp_path):
    """book/projects.md: without pruning, the key's packed container holds about 36 KB."""
    dense = project_keys.speech_integer_model(train.pretrained("speech-dscnn"))
    size = projects.measure.file_bytes(project_keys.save_packed(dense, tmp_path / "dense.pt"))
    assert size > projects.SPEECH_BUDGET and round(size / 1000) == 36
    assert "about 36 KB" in (ROOT / "book" / "projects.md").read_text(encoding="utf-8")


def test_project4_one_shot_pruning_without_fine_tuning_fails_on_accuracy(tmp_path):
    model = prune.clone(train.pretrained("speech-dscnn"))
    prune.global_magnitude(project_keys.speech_pruned_targets(model), 0.8)
    integer = project_keys.speech_integer_model(prune.make_permanent(model).eval())
    project_keys.save_packed(integer, tmp_path / "one_shot.pt")
    message = failures(projects.score_speech_budget(tmp_path / "one_shot.pt", project_keys.load_packed))
    assert "below the floor" in message and "over the budget" not in message


def test_project4_a_small_file_whose_loader_ignores_it_is_caught(tmp_path):
    baseline = train.pretrained("speech-dscnn")
    (tmp_path / "tiny.pt").write_bytes(b"compressed!" * 10)
    message = failures(projects.score_speech_budget(tmp_path / "tiny.pt", lambda path: baseline))
    assert "does not come from the file" in message and "below the floor" not in message


def test_project4_wrong_outputs_are_rejected(speech_key):
    digits = models.MLP()
    assert "raised RuntimeError on (batch, 1, 51, 20) inputs" in failures(
        projects.score_speech_budget(speech_key, lambda path: digits))
    five_words = models.DSCNN(num_classes=5)
    assert "not (batch, 10) logits" in failures(projects.score_speech_budget(speech_key, lambda path: five_words))


# ---- Project 5: the Fashion-MNIST ResNet 8x smaller ----

@pytest.fixture(scope="module")
def fashion_key(tmp_path_factory):
    return project_keys.fashion_key(tmp_path_factory.mktemp("p5") / "fashion_8x.cdcm")


def test_project5_key_passes(fashion_key):
    report = projects.score_fashion_compression(fashion_key, project_keys.load_fashion)
    assert report.passed, str(report)
    assert report.measurements["times smaller"] >= projects.FASHION_RATIO


def test_the_sizes_quoted_on_the_projects_page_hold():
    """book/projects.md quotes ~114 KB (speech, float32), ~332 KB (Fashion-MNIST) and 23,050 parameters."""
    page = (ROOT / "book" / "projects.md").read_text(encoding="utf-8")
    assert "about 114 KB" in page and "about 332 KB" in page and "23,050 parameters" in page
    speech = train.pretrained("speech-dscnn")
    assert round(projects.measure.state_dict_bytes(speech) / 1000) == 114
    assert projects.measure.count_parameters(speech) == 23_050
    baseline_bytes = projects.measure.state_dict_bytes(projects.fashion_baseline())
    assert round(baseline_bytes / 1000) == 332
    assert projects.fashion_budget() == baseline_bytes // 8


def test_project5_float32_baseline_fails_on_size(tmp_path):
    torch.save(projects.fashion_baseline().state_dict(), tmp_path / "fp32.pt")
    report = projects.score_fashion_compression(tmp_path / "fp32.pt", load_state_into(models.fashion_resnet))
    message = failures(report)
    assert "over the budget" in message and "below the floor" not in message
    assert report.measurements["times smaller"] < 1.05


def test_project5_one_shot_channel_pruning_without_fine_tuning_fails_on_accuracy(tmp_path):
    shared = compress.share_pruned_weights(project_keys.fashion_channel_pruned(fine_tune=False), bits=4)
    compress.save_compressed(shared, tmp_path / "one_shot.cdcm", project_keys.FASHION_ARCHITECTURE)
    message = failures(projects.score_fashion_compression(tmp_path / "one_shot.cdcm", project_keys.load_fashion))
    assert "below the floor" in message and "over the budget" not in message


def test_project5_a_small_file_whose_loader_ignores_it_is_caught(tmp_path, fashion_key):
    reference = project_keys.load_fashion(str(fashion_key))
    (tmp_path / "tiny.cdcm").write_bytes(bytes(range(256)))
    message = failures(projects.score_fashion_compression(tmp_path / "tiny.cdcm", lambda path: reference))
    assert "does not come from the file" in message and "below the floor" not in message


def test_project5_missing_file_is_not_attempted(tmp_path):
    report = projects.score_fashion_compression(tmp_path / "nothing.cdcm", project_keys.load_fashion)
    assert report.status == "not attempted" and "no submission" in report.failures[0]
