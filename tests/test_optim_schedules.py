"""Every schedule equals its torch.optim.lr_scheduler counterpart at every step, applied through FunctionLR."""
import functools
import math
import warnings

import pytest
import torch
from torch.optim import lr_scheduler

from companion.optim import (SGD, FunctionLR, constant_lr, cosine_lr, exponential_lr, multistep_lr, one_cycle_lr,
                             one_cycle_momentum, step_lr, warmup_cosine_lr)

BASE_LR = 0.1
STEPS = 60


def _optimizer():
    return SGD([torch.zeros(2, requires_grad=True)], lr=BASE_LR, momentum=0.9)


def _lrs(scheduler, optimizer, steps=STEPS):
    rates = [optimizer.param_groups[0]["lr"]]
    for _ in range(steps):
        optimizer.step()
        scheduler.step()
        rates.append(optimizer.param_groups[0]["lr"])
    return rates


CASES = {
    "step": (functools.partial(step_lr, step_size=7, gamma=0.5),
             lambda o: lr_scheduler.StepLR(o, step_size=7, gamma=0.5), STEPS),
    "multistep": (functools.partial(multistep_lr, milestones=[30, 10, 45], gamma=0.3),
                  lambda o: lr_scheduler.MultiStepLR(o, milestones=[30, 10, 45], gamma=0.3), STEPS),
    "exponential": (functools.partial(exponential_lr, gamma=0.95),
                    lambda o: lr_scheduler.ExponentialLR(o, gamma=0.95), STEPS),
    "cosine": (functools.partial(cosine_lr, total_steps=25, eta_min=0.001),
               lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=25, eta_min=0.001), STEPS),
    "one_cycle": (functools.partial(one_cycle_lr, total_steps=STEPS, pct_start=0.25),
                  lambda o: lr_scheduler.OneCycleLR(o, max_lr=BASE_LR, total_steps=STEPS, pct_start=0.25,
                                                    cycle_momentum=False), STEPS),
    "one_cycle_defaults": (functools.partial(one_cycle_lr, total_steps=STEPS),
                           lambda o: lr_scheduler.OneCycleLR(o, max_lr=BASE_LR, total_steps=STEPS,
                                                             cycle_momentum=False), STEPS),
    "warmup_cosine": (functools.partial(warmup_cosine_lr, warmup_steps=10, total_steps=STEPS, start_factor=0.1),
                      lambda o: lr_scheduler.SequentialLR(o, [
                          lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=10),
                          lr_scheduler.CosineAnnealingLR(o, T_max=STEPS - 10)], milestones=[10]), STEPS),
}


@pytest.mark.parametrize("name", CASES)
def test_schedule_equals_torch_scheduler_step_by_step(name):
    schedule, make_torch, steps = CASES[name]
    ours_opt, theirs_opt = _optimizer(), _optimizer()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # SequentialLR's internal step(0) deprecation note
        theirs = _lrs(make_torch(theirs_opt), theirs_opt, steps)
    ours = _lrs(FunctionLR(ours_opt, schedule), ours_opt, steps)
    plain = [schedule(t, BASE_LR) for t in range(steps + 1)]
    assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-12)
    assert plain == pytest.approx(theirs, rel=1e-9, abs=1e-12)
    assert len(set(round(r, 12) for r in ours)) > 2  # the schedule really changes the rate


@pytest.mark.parametrize("pct_start, total", [(0.3, STEPS), (0.25, 40), (0.5, 17)])
def test_one_cycle_with_momentum_equals_torch_defaults(pct_start, total):
    ours_opt, theirs_opt = _optimizer(), _optimizer()
    theirs = lr_scheduler.OneCycleLR(theirs_opt, max_lr=BASE_LR, total_steps=total, pct_start=pct_start)
    ours = FunctionLR(ours_opt, functools.partial(one_cycle_lr, total_steps=total, pct_start=pct_start),
                      momentum_schedule=functools.partial(one_cycle_momentum, total_steps=total, pct_start=pct_start))
    momenta = []
    for step in range(total + 1):
        if step:
            for opt, sched in ((ours_opt, ours), (theirs_opt, theirs)):
                opt.step()
                sched.step()
        mine, torchs = ours_opt.param_groups[0], theirs_opt.param_groups[0]
        assert mine["lr"] == pytest.approx(torchs["lr"], rel=1e-9, abs=1e-12), step
        assert mine["momentum"] == pytest.approx(torchs["momentum"], rel=1e-9), step
        momenta.append(mine["momentum"])
    assert min(momenta) < 0.86 and max(momenta) == pytest.approx(0.95)  # the momentum really cycles


def test_momentum_schedule_needs_a_momentum_optimizer():
    adam = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match="momentum"):
        FunctionLR(adam, constant_lr, momentum_schedule=lambda t: 0.9)
    with pytest.raises(TypeError, match="momentum_schedule"):
        FunctionLR(_optimizer(), constant_lr, momentum_schedule=0.9)


def test_closed_forms_at_landmarks():
    assert constant_lr(99, 0.3) == 0.3
    assert step_lr(6, 1.0, step_size=3) == pytest.approx(0.01)
    assert multistep_lr(5, 1.0, milestones=[5, 8], gamma=0.5) == 0.5
    assert cosine_lr(0, 0.2, total_steps=10) == 0.2
    assert cosine_lr(5, 0.2, total_steps=10) == pytest.approx(0.1)
    assert cosine_lr(10, 0.2, total_steps=10, eta_min=0.01) == pytest.approx(0.01)
    assert warmup_cosine_lr(0, 1.0, warmup_steps=4, total_steps=20, start_factor=0.25) == 0.25
    assert warmup_cosine_lr(4, 1.0, warmup_steps=4, total_steps=20) == 1.0
    assert one_cycle_lr(0, 1.0, total_steps=100) == pytest.approx(1 / 25)
    assert max(one_cycle_lr(t, 1.0, total_steps=100) for t in range(101)) == pytest.approx(1.0)
    assert one_cycle_lr(99, 1.0, total_steps=100) == pytest.approx(1 / 25 / 1e4)


def test_function_lr_handles_several_groups():
    params = [torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)]
    opt = SGD([{"params": [params[0]], "lr": 1.0}, {"params": [params[1]], "lr": 0.1}], lr=0.5)
    sched = FunctionLR(opt, functools.partial(exponential_lr, gamma=0.5))
    opt.step()
    sched.step()
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.05]


@pytest.mark.parametrize("call, match", [
    (lambda: step_lr(-1, 0.1, step_size=3), "step"),
    (lambda: step_lr(1, 0.1, step_size=0), "step_size"),
    (lambda: exponential_lr(1, 0.1, gamma=0.0), "gamma"),
    (lambda: multistep_lr(1, 0.1, milestones=[0, 3]), "milestones"),
    (lambda: cosine_lr(1, 0.1, total_steps=0), "total_steps"),
    (lambda: cosine_lr(1, 0.1, total_steps=5, eta_min=-1), "eta_min"),
    (lambda: warmup_cosine_lr(1, 0.1, warmup_steps=10, total_steps=10), "warmup_steps"),
    (lambda: warmup_cosine_lr(1, 0.1, warmup_steps=2, total_steps=10, start_factor=0), "start_factor"),
    (lambda: one_cycle_lr(1, 0.1, total_steps=10, pct_start=1.0), "pct_start"),
    (lambda: one_cycle_lr(1, 0.1, total_steps=3, pct_start=0.3), "pct_start"),
    (lambda: one_cycle_lr(11, 0.1, total_steps=10), "total_steps"),
    (lambda: one_cycle_lr(1, 0.1, total_steps=10, div_factor=0), "div_factor"),
    (lambda: one_cycle_momentum(1, total_steps=10, base_momentum=0.96), "base_momentum"),
    (lambda: one_cycle_momentum(1, total_steps=10, max_momentum=1.0), "max_momentum"),
])
def test_bad_arguments_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_function_lr_rejects_a_non_callable():
    with pytest.raises(TypeError, match="schedule"):
        FunctionLR(_optimizer(), 0.5)


def test_cosine_is_monotone_on_its_half_period():
    rates = [cosine_lr(t, 1.0, total_steps=50) for t in range(51)]
    assert all(a >= b for a, b in zip(rates, rates[1:]))
    assert math.isclose(rates[-1], 0.0, abs_tol=1e-12)
