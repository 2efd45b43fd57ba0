"""companion.optim.SGD follows torch.optim.SGD's trajectory for every option combination."""
import itertools

import pytest
import torch
from torch import nn

from companion.optim import SGD, descend

OPTIONS = [dict(momentum=m, dampening=d, weight_decay=wd, nesterov=n)
           for m, d, wd, n in itertools.product([0.0, 0.5, 0.9], [0.0, 0.3], [0.0, 1e-2], [False, True])
           if not (n and (m == 0 or d != 0))]


def _model_and_data(seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
    x, y = torch.randn(64, 5), torch.randint(0, 3, (64,))
    return model, x, y


def _trajectory(model, optimizer, x, y, steps=100, batch=16):
    path = []
    for step in range(steps):
        start = (step * batch) % len(x)
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x[start:start + batch]), y[start:start + batch]).backward()
        optimizer.step()
        path.append(torch.cat([p.detach().flatten() for p in model.parameters()]).clone())
    return torch.stack(path)


@pytest.mark.parametrize("options", OPTIONS, ids=[str(o) for o in OPTIONS])
def test_trajectory_equals_torch_sgd_over_100_steps(options):
    ours, x, y = _model_and_data()
    theirs, _, _ = _model_and_data()
    path_ours = _trajectory(ours, SGD(ours.parameters(), lr=0.05, **options), x, y)
    path_theirs = _trajectory(theirs, torch.optim.SGD(theirs.parameters(), lr=0.05, **options), x, y)
    assert (path_ours - path_theirs).abs().max() <= 1e-6
    assert (path_ours[-1] - path_ours[0]).abs().max() > 1e-3  # the parameters really moved


def test_the_options_cover_every_valid_combination():
    assert len(OPTIONS) == 16  # 3 momenta × 2 dampenings × 2 decays, plus Nesterov with momentum and no dampening
    assert any(o["nesterov"] for o in OPTIONS) and any(o["dampening"] for o in OPTIONS)


def test_works_with_a_torch_scheduler_and_param_groups():
    ours, x, y = _model_and_data()
    theirs, _, _ = _model_and_data()
    def groups(model):
        return [{"params": model[0].parameters(), "lr": 0.1}, {"params": model[2].parameters()}]
    opt_ours = SGD(groups(ours), lr=0.02, momentum=0.9)
    opt_theirs = torch.optim.SGD(groups(theirs), lr=0.02, momentum=0.9)
    sched_ours = torch.optim.lr_scheduler.StepLR(opt_ours, step_size=10, gamma=0.5)
    sched_theirs = torch.optim.lr_scheduler.StepLR(opt_theirs, step_size=10, gamma=0.5)
    for _ in range(30):
        for model, opt, sched in ((ours, opt_ours, sched_ours), (theirs, opt_theirs, sched_theirs)):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
            sched.step()
    for p, q in zip(ours.parameters(), theirs.parameters()):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=0)


def test_plain_step_is_w_minus_lr_g_and_parameters_without_grad_are_skipped():
    w = torch.tensor([1.0, -2.0], requires_grad=True)
    frozen = torch.tensor([3.0], requires_grad=True)
    opt = SGD([w, frozen], lr=0.1)
    (w ** 2).sum().backward()
    opt.step()
    torch.testing.assert_close(w.detach(), torch.tensor([1.0 - 0.1 * 2.0, -2.0 + 0.1 * 4.0]))
    assert frozen.item() == 3.0


def test_closure_returns_the_loss():
    w = torch.tensor([2.0], requires_grad=True)
    opt = SGD([w], lr=0.25)
    def closure():
        opt.zero_grad()
        loss = (w ** 2).sum()
        loss.backward()
        return loss
    assert opt.step(closure).item() == 4.0
    assert w.item() == 1.0


@pytest.mark.parametrize("kwargs, match", [
    (dict(lr=-0.1), "lr"), (dict(momentum=-0.1), "momentum"), (dict(momentum=1.0), "momentum"),
    (dict(dampening=1.5), "dampening"), (dict(weight_decay=-1.0), "weight_decay"),
    (dict(nesterov=True), "nesterov"), (dict(momentum=0.9, dampening=0.1, nesterov=True), "nesterov"),
])
def test_bad_hyperparameters_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SGD([torch.zeros(1, requires_grad=True)], **{"lr": 0.1, **kwargs})


def test_bad_param_group_raises():
    with pytest.raises(ValueError, match="lr"):
        SGD([{"params": [torch.zeros(1, requires_grad=True)], "lr": -1.0}], lr=0.1)


def test_descend_on_a_quadratic_matches_the_closed_form():
    # f(w) = ½ wᵀ diag(1, 10) w: plain GD multiplies coordinate i by (1 - η λ_i) each step.
    curvature = torch.tensor([1.0, 10.0], dtype=torch.float64)
    start = torch.tensor([1.0, 1.0])
    path = descend(lambda w: 0.5 * (curvature * w ** 2).sum(), start, steps=20, lr=0.15)
    assert path.shape == (21, 2)
    expected = torch.stack([(1 - 0.15 * curvature) ** k for k in range(21)])
    torch.testing.assert_close(path, expected)
    assert start.tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="steps"):
        descend(lambda w: w.sum(), [0.0], steps=-1, lr=0.1)
