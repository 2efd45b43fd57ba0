"""Weight clamping and max-norm keep their promises; gradient clipping equals torch.nn.utils'."""
import math

import pytest
import torch
from torch import nn

from companion import train
from companion.data import digits
from companion.models import MLP
from companion.optim import (SGD, ClampWeights, MaxNorm, clamp_weights_, clip_grad_norm_, clip_grad_value_, max_norm_,
                             weight_tensors)


def _model_with_grads(seed=0, scale=1.0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 4))
    x, y = torch.randn(32, 6) * scale, torch.randint(0, 4, (32,))
    nn.functional.cross_entropy(model(x), y).backward()
    return model


@pytest.mark.parametrize("max_norm", [1e-3, 0.05, 0.5, 100.0])
@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.0, math.inf])
def test_clip_grad_norm_equals_torch(max_norm, norm_type):
    ours, theirs = _model_with_grads(), _model_with_grads()
    total_ours = clip_grad_norm_(ours.parameters(), max_norm, norm_type)
    total_theirs = nn.utils.clip_grad_norm_(theirs.parameters(), max_norm, norm_type)
    torch.testing.assert_close(total_ours, total_theirs)
    for p, q in zip(ours.parameters(), theirs.parameters()):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-7, rtol=1e-6)


def test_clip_grad_norm_really_bounds_the_norm():
    model = _model_with_grads(scale=10.0)
    before = clip_grad_norm_(model.parameters(), 0.01)
    after = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in model.parameters()]))
    assert before > 0.01 and after <= 0.01 + 1e-6


@pytest.mark.parametrize("clip_value", [1e-3, 0.02, 10.0])
def test_clip_grad_value_equals_torch(clip_value):
    ours, theirs = _model_with_grads(), _model_with_grads()
    clip_grad_value_(ours.parameters(), clip_value)
    nn.utils.clip_grad_value_(theirs.parameters(), clip_value)
    for p, q in zip(ours.parameters(), theirs.parameters()):
        assert torch.equal(p.grad, q.grad)
        assert p.grad.abs().max() <= clip_value


def test_gradient_clipping_skips_parameters_without_gradients():
    w = torch.ones(3, requires_grad=True)
    assert clip_grad_norm_([w], 1.0).item() == 0.0
    clip_grad_value_([w], 1.0)
    assert w.grad is None


def test_clamp_weights_puts_every_weight_in_range():
    torch.manual_seed(0)
    weights = [torch.randn(20, 30), torch.randn(5, 3, 3, 3)]
    clamp_weights_(weights, -0.1, 0.2)
    for w in weights:
        assert w.min() >= -0.1 and w.max() <= 0.2
    assert (weights[0] == 0.2).any() and (weights[0] == -0.1).any()


def test_max_norm_equals_torch_renorm():
    torch.manual_seed(0)
    for shape in [(10, 7), (4, 3, 3, 3)]:
        w = torch.randn(shape)
        expected = torch.renorm(w, p=2, dim=0, maxnorm=1.5)
        max_norm_(w, 1.5)
        torch.testing.assert_close(w, expected, atol=1e-5, rtol=1e-5)
        assert (w.flatten(1).norm(dim=1) <= 1.5 + 1e-5).all()


def test_max_norm_leaves_short_rows_alone():
    w = torch.tensor([[0.3, 0.4], [3.0, 4.0], [0.0, 0.0]])
    max_norm_(w, 1.0)
    torch.testing.assert_close(w, torch.tensor([[0.3, 0.4], [0.6, 0.8], [0.0, 0.0]]))


@pytest.mark.parametrize("call, match", [
    (lambda: clamp_weights_([torch.zeros(2)], 0.5, -0.5), "low"),
    (lambda: ClampWeights(1.0, 0.0), "low"),
    (lambda: max_norm_([torch.zeros(2, 2)], 0.0), "max_norm"),
    (lambda: max_norm_([torch.zeros(2)], 1.0), "dimensions"),
    (lambda: MaxNorm(-1.0), "max_norm"),
    (lambda: clip_grad_norm_([torch.zeros(2)], 0.0), "max_norm"),
    (lambda: clip_grad_norm_([torch.zeros(2)], 1.0, norm_type=0), "norm_type"),
    (lambda: clip_grad_value_([torch.zeros(2)], -1.0), "clip_value"),
])
def test_bad_arguments_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_hooks_constrain_a_model_trained_with_fit():
    splits = digits()
    train.seed_everything(0)
    model = MLP()
    optimizer = SGD(model.parameters(), lr=0.5, momentum=0.9)
    train.fit(model, splits.loader("train", 64), epochs=1, optimizer=optimizer, after_step=ClampWeights(-0.05, 0.05),
              progress=False)
    for w in weight_tensors(model):
        assert w.min() >= -0.05 and w.max() <= 0.05
    train.fit(model, splits.loader("train", 64), epochs=1, optimizer=optimizer, after_step=MaxNorm(0.3),
              progress=False)
    for w in weight_tensors(model):
        assert (w.norm(dim=1) <= 0.3 + 1e-5).all()
