"""The pipeline's training stages: exact per-layer sparsity, zeros that stay zero, codes that stay put, the cache."""
import pytest
import torch

from companion.compress import cached, finetune_centroids, prune_and_finetune, share_pruned_weights
from companion.data import digits
from companion.models import MLP
from companion.prune import is_pruned


@pytest.fixture(scope="module")
def splits():
    return digits()


@pytest.fixture(scope="module")
def pruned(splits):
    torch.manual_seed(0)
    return prune_and_finetune(MLP(), splits, {"fc1": 0.9, "fc2": 0.95}, epochs=2, prune_epochs=1, events=3)


def test_prune_and_finetune_reaches_each_target_without_masks(pruned):
    assert not any(is_pruned(m) for m in (pruned.fc1, pruned.fc2, pruned.fc3))
    assert float((pruned.fc1.weight == 0).float().mean()) == pytest.approx(0.9, abs=1e-4)
    assert float((pruned.fc2.weight == 0).float().mean()) == pytest.approx(0.95, abs=1e-4)
    assert int((pruned.fc3.weight == 0).sum()) == 0


def test_prune_and_finetune_rejects_bad_arguments(splits):
    with pytest.raises(ValueError, match="not weight layers"):
        prune_and_finetune(MLP(), splits, {"fc9": 0.5})
    with pytest.raises(ValueError, match="prune_epochs"):
        prune_and_finetune(MLP(), splits, {"fc1": 0.5}, epochs=2, prune_epochs=3)


def test_centroid_finetuning_keeps_codes_and_exact_zeros(pruned, splits):
    shared = share_pruned_weights(pruned, 3)
    tuned = finetune_centroids(shared, splits, epochs=1, lr=1e-2)
    for name in ("fc1", "fc2", "fc3"):
        before, after = getattr(shared, name), getattr(tuned, name)
        assert torch.equal(before.codes, after.codes)
        assert float(after.codebook.detach()[0]) == 0.0
        assert not torch.equal(before.codebook.detach(), after.codebook.detach())  # it did train
        assert torch.equal(after.weight() == 0, getattr(pruned, name).weight == 0)


def test_cached_computes_once(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_CACHE_DIR", str(tmp_path))
    calls = []

    def make():
        calls.append(1)
        torch.manual_seed(len(calls))
        return MLP()

    first = cached("test", {"a": 1}, make, MLP)
    second = cached("test", {"a": 1}, make, MLP)
    assert len(calls) == 1 and len(list(tmp_path.glob("test-*.pt"))) == 1
    assert all(torch.equal(first.state_dict()[k], v) for k, v in second.state_dict().items())
    cached("test", {"a": 2}, make, MLP)
    assert len(calls) == 2
