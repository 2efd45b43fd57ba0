"""The LR range test sweeps geometrically, leaves the model alone, stops on divergence, suggests a sane rate."""
import math

import pytest
import torch

from companion import train
from companion.data import digits
from companion.models import MLP
from companion.optim import lr_range_test


def test_range_test_on_digits():
    splits = digits()
    train.seed_everything(0)
    model = MLP()
    before = [p.detach().clone() for p in model.parameters()]
    result = lr_range_test(model, splits.loader("train", 64), start_lr=1e-4, end_lr=10.0, num_steps=80)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))  # the model is untouched
    assert result.lrs[0] == pytest.approx(1e-4)
    ratios = [b / a for a, b in zip(result.lrs, result.lrs[1:])]
    assert max(ratios) == pytest.approx(min(ratios))  # a geometric sweep
    assert len(result.lrs) == len(result.losses) == len(result.smoothed)
    assert len(result.lrs) < 80  # at 10 the loss diverges and the test stops early
    assert 1e-3 < result.suggested_lr < 2.0
    assert min(result.smoothed) < result.smoothed[0] - 0.5  # the loss really fell somewhere


@pytest.mark.parametrize("kwargs, match", [
    (dict(start_lr=0.0), "start_lr"), (dict(start_lr=1.0, end_lr=0.5), "start_lr"),
    (dict(num_steps=2), "num_steps"), (dict(smoothing=0.0), "smoothing"), (dict(diverge_factor=1.0), "diverge_factor"),
])
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        lr_range_test(MLP(), digits().loader("train", 64), **kwargs)


def test_smoothing_one_keeps_raw_losses():
    splits = digits()
    train.seed_everything(0)
    result = lr_range_test(MLP(), splits.loader("train", 64), start_lr=1e-3, end_lr=1e-2, num_steps=10, smoothing=1.0)
    assert result.smoothed == pytest.approx(result.losses)
    assert all(math.isfinite(v) for v in result.losses)
