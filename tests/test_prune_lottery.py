"""Lottery-ticket machinery: snapshots, rewinding, IMP rounds, and the random re-initialisation control."""
import pytest
import torch

from companion.data import digits
from companion.models import MLP
from companion.prune import (apply_masks_, find_ticket, global_magnitude, masks_of, prunable_weights, rewind_,
                             snapshot, train_with_masks, weight_sparsity)
from companion.train import evaluate, fit


def test_rewind_restores_values_but_keeps_masks():
    torch.manual_seed(0)
    model = MLP(16, (8,), 3)
    start = snapshot(model)
    global_magnitude(prunable_weights(model), 0.5)
    with torch.no_grad():
        model.fc1.weight_orig.add_(1.0)
        model.fc1.bias.add_(1.0)
    rewind_(model, start)
    assert torch.equal(model.fc1.weight_orig, start["fc1.weight"])
    assert torch.equal(model.fc1.bias, start["fc1.bias"])
    assert weight_sparsity(model) == pytest.approx(0.5, abs=0.01)
    with pytest.raises(ValueError, match="missing"):
        rewind_(model, {})


def test_masks_transfer_between_models():
    torch.manual_seed(0)
    a, b = MLP(16, (8,), 3), MLP(16, (8,), 3)
    global_magnitude(prunable_weights(a), 0.7)
    apply_masks_(b, masks_of(a))
    for name in ("fc1", "fc2"):
        assert torch.equal(getattr(b, name).weight_mask, getattr(a, name).weight_mask)


@pytest.mark.parametrize("rewind_step", [0, 5])
def test_find_ticket_prunes_the_expected_fraction_each_round(rewind_step):
    splits = digits()

    def build():
        torch.manual_seed(0)
        return MLP()

    def train(model, after_step):
        fit(model, splits.loader("train", 128), epochs=4, lr=3e-3, after_step=after_step, progress=False)

    def accuracy(model):
        return evaluate(model, splits.loader("val", 512)).accuracy

    rounds = find_ticket(build, train, accuracy, rounds=3, rate=0.5, rewind_step=rewind_step)
    assert [r.round for r in rounds] == [0, 1, 2, 3]
    assert [r.weight_fraction for r in rounds] == pytest.approx([1.0, 0.5, 0.25, 0.125], abs=1e-4)
    masks = [r.masks for r in rounds]
    for earlier, later in zip(masks[:-1], masks[1:]):  # pruned weights stay pruned
        assert all(bool((later[k] <= earlier[k]).all()) for k in earlier)
    assert all(r.accuracy > 0.8 for r in rounds), [r.accuracy for r in rounds]  # every round trains to far above chance (10%)
    control = train_with_masks(lambda: MLP(), rounds[-1].masks, train, accuracy)
    assert 0.0 <= control <= 1.0


def test_find_ticket_bad_input():
    with pytest.raises(ValueError, match="rate"):
        find_ticket(MLP, lambda m, h: None, lambda m: 0.0, rounds=2, rate=1.5)
    with pytest.raises(ValueError, match="rounds"):
        find_ticket(MLP, lambda m, h: None, lambda m: 0.0, rounds=0)
    with pytest.raises(ValueError, match="past the last training step"):
        find_ticket(MLP, lambda m, h: None, lambda m: 0.0, rounds=1, rewind_step=3)
