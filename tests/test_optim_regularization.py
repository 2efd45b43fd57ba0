"""L1/L2 penalties: right values and gradients, L2 equals weight decay, L1 makes weights near zero."""
import pytest
import torch
from torch import nn

from companion import train
from companion.data import digits
from companion.models import MLP
from companion.optim import SGD, RegularizedLoss, l1_penalty, l2_penalty, near_zero_fraction, weight_tensors


def test_penalty_values_and_gradients():
    w = torch.tensor([[1.0, -2.0], [0.5, 0.0]], requires_grad=True)
    b = torch.tensor([3.0], requires_grad=True)
    assert l1_penalty([w, b]).item() == 6.5
    assert l2_penalty([w]).item() == pytest.approx((1 + 4 + 0.25) / 2)
    l2_penalty([w]).backward()
    torch.testing.assert_close(w.grad, w.detach())
    w.grad = None
    l1_penalty([w]).backward()
    torch.testing.assert_close(w.grad, torch.sign(w.detach()))


def test_l2_penalty_equals_weight_decay_for_sgd():
    torch.manual_seed(0)
    x, y = torch.randn(40, 4), torch.randint(0, 3, (40,))
    models = []
    for _ in range(2):
        torch.manual_seed(1)
        models.append(nn.Sequential(nn.Linear(4, 3, bias=False)))
    penalised, decayed = models
    opt_p = SGD(penalised.parameters(), lr=0.1, momentum=0.9)
    opt_d = SGD(decayed.parameters(), lr=0.1, momentum=0.9, weight_decay=0.05)
    loss_p = RegularizedLoss(penalised, l2=0.05)
    for _ in range(50):
        for model, opt, loss_fn in ((penalised, opt_p, loss_p), (decayed, opt_d, nn.functional.cross_entropy)):
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
    torch.testing.assert_close(penalised[0].weight, decayed[0].weight, atol=1e-6, rtol=1e-5)


def test_regularized_loss_adds_penalty_only_to_the_mean():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2))
    logits, y = torch.randn(5, 2), torch.tensor([0, 1, 1, 0, 1])
    loss = RegularizedLoss(model, l1=0.1, l2=0.2)
    expected = (nn.functional.cross_entropy(logits, y) + 0.1 * model[0].weight.abs().sum()
                + 0.1 * model[0].weight.pow(2).sum())
    torch.testing.assert_close(loss(logits, y), expected)
    torch.testing.assert_close(loss(logits, y, reduction="sum"),
                               nn.functional.cross_entropy(logits, y, reduction="sum"))


def test_l1_training_increases_the_share_of_near_zero_weights():
    splits = digits()
    shares = {}
    for l1 in (0.0, 1e-4):
        train.seed_everything(0)
        model = MLP()
        train.fit(model, splits.loader("train", 64), epochs=3, optimizer=SGD(model.parameters(), lr=0.1, momentum=0.9),
                  loss_fn=RegularizedLoss(model, l1=l1), progress=False)
        shares[l1] = near_zero_fraction(weight_tensors(model), 1e-3)
    assert shares[1e-4] > 2 * shares[0.0], shares


@pytest.mark.parametrize("call, match", [
    (lambda: RegularizedLoss(nn.Linear(2, 2), l1=-1.0), "l1"),
    (lambda: RegularizedLoss(nn.Linear(2, 2), l2=-1.0), "l2"),
    (lambda: l1_penalty([]), "empty"),
    (lambda: l2_penalty([]), "empty"),
    (lambda: near_zero_fraction([torch.zeros(2)], 0.0), "threshold"),
    (lambda: near_zero_fraction([], 0.1), "empty"),
])
def test_bad_arguments_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_near_zero_fraction_counts():
    assert near_zero_fraction([torch.tensor([0.0, 0.05, -0.2, 1.0])], 0.1) == 0.5
