"""One-shot, iterative and AGP schedules: closed forms, and gradual pruning driven from fit()."""

import pytest
import torch

from companion.data import digits
from companion.models import MLP
from companion.prune import AGP, GradualPruner, agp_sparsity, iterative, one_shot, prune_to, prunable_weights, weight_sparsity
from companion.train import fit


def test_one_shot_and_iterative():
    assert one_shot(0.9) == [0.9]
    targets = iterative(0.9, 4)
    assert targets[-1] == pytest.approx(0.9)
    keep = [1 - s for s in [0.0] + targets]
    ratios = [b / a for a, b in zip(keep[:-1], keep[1:])]
    assert ratios == pytest.approx([ratios[0]] * 4)  # the same fraction of what is left, every round
    assert iterative(1 - 0.8**7, 7) == pytest.approx([1 - 0.8**r for r in range(1, 8)])
    with pytest.raises(ValueError, match="rounds"):
        iterative(0.5, 0)
    with pytest.raises(ValueError, match="final"):
        one_shot(1.2)


@pytest.mark.parametrize("initial, final, start, n, interval", [(0.0, 0.9, 0, 10, 5), (0.2, 0.95, 100, 7, 3)])
def test_agp_equals_the_closed_form(initial, final, start, n, interval):
    for t in range(start, start + n * interval + 1):
        expected = final + (initial - final) * (1 - (t - start) / (n * interval)) ** 3
        assert agp_sparsity(t, initial, final, start, n, interval) == pytest.approx(expected, abs=1e-12)
    assert agp_sparsity(start - 1, initial, final, start, n, interval) == pytest.approx(initial)
    assert agp_sparsity(start + n * interval + 50, initial, final, start, n, interval) == final
    values = [agp_sparsity(start + k * interval, initial, final, start, n, interval) for k in range(n + 1)]
    steps = [b - a for a, b in zip(values[:-1], values[1:])]
    assert all(a >= b for a, b in zip(steps[:-1], steps[1:]))  # prunes fast first, then slower


def test_agp_pruning_steps_and_validation():
    schedule = AGP(final=0.8, start=10, n=4, interval=5)
    assert [t for t in range(40) if schedule.is_pruning_step(t)] == [10, 15, 20, 25, 30]
    assert schedule.end == 30 and schedule.sparsity(30) == 0.8
    for kwargs in ({"final": 1.5}, {"n": 0}, {"interval": 0}, {"start": -1}):
        with pytest.raises(ValueError):
            AGP(**{"final": 0.8, "start": 0, "n": 4, "interval": 5, **kwargs})


def test_gradual_pruner_reaches_the_final_sparsity_inside_fit():
    torch.manual_seed(0)
    splits = digits()
    model = MLP()
    schedule = AGP(final=0.9, start=5, n=6, interval=4)
    pruner = GradualPruner(schedule)
    fit(model, splits.loader("train", 128), epochs=4, lr=1e-3, after_step=pruner, progress=False)
    assert [step for step, _ in pruner.history] == [5, 9, 13, 17, 21, 25, 29]
    assert [s[0] for _, s in pruner.history] == pytest.approx([schedule.sparsity(t) for t in range(5, 30, 4)])
    assert weight_sparsity(model) == pytest.approx(0.9, abs=1e-4)


def test_prune_to_scopes():
    torch.manual_seed(0)
    model = MLP()
    prune_to(prunable_weights(model), 0.5, scope="layer")
    assert [float((m.weight == 0).float().mean()) for m, _ in prunable_weights(model)] == pytest.approx([0.5] * 3)
    with pytest.raises(ValueError, match="scope"):
        prune_to(prunable_weights(model), 0.5, scope="neuron")
    with pytest.raises(TypeError, match="AGP"):
        GradualPruner(0.9)


def test_per_layer_agp_schedules():
    torch.manual_seed(0)
    model = MLP()
    pairs = prunable_weights(model)
    finals = [0.9, 0.95, 0.5]
    pruner = GradualPruner([AGP(final=f, start=0, n=3, interval=2) for f in finals], pairs, scope="layer")
    for step in range(8):
        pruner(model, step)
    assert [float((m.weight == 0).float().mean()) for m, _ in pairs] == pytest.approx(finals, abs=1e-3)
    assert len(pruner.history) == 4
    with pytest.raises(ValueError, match="one AGP schedule per layer"):
        GradualPruner([AGP(final=f, start=0, n=3, interval=2) for f in finals], pairs)
    with pytest.raises(ValueError, match="share"):
        GradualPruner([AGP(final=0.5, start=0, n=3, interval=2), AGP(final=0.5, start=1, n=3, interval=2)],
                      pairs[:2], scope="layer")
    with pytest.raises(ValueError, match="per-layer sparsities"):
        prune_to(pairs, [0.5, 0.5], scope="layer")
