import io
import itertools

import pytest
import torch
from torch import nn

from companion import measure
from companion.models import MLP, SmallCNN, resnet18


def test_parameters_nonzeros_and_sparsity():
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    with torch.no_grad():
        model[0].weight.fill_(1.0)
        model[0].weight[0] = 0  # 4 zeros
        model[0].bias.fill_(2.0)
        model[1].weight.zero_()  # 6 zeros
        model[1].bias.fill_(1.0)
    assert measure.count_parameters(model) == 4 * 3 + 3 + 3 * 2 + 2
    assert measure.count_nonzero(model) == 23 - 10
    assert measure.sparsity(model) == pytest.approx(10 / 23)
    assert measure.sparsity(torch.tensor([0.0, 1.0, 0.0, 2.0])) == 0.5
    with pytest.raises(ValueError, match="no entries"):
        measure.sparsity(torch.empty(0))


def test_dense_bytes_counts_parameters_and_buffers_by_dtype():
    cnn = SmallCNN()
    buffers = sum(b.numel() * b.element_size() for b in cnn.buffers())  # BN statistics and counters
    assert measure.dense_bytes(cnn) == 4 * measure.count_parameters(cnn) + buffers
    assert measure.dense_bytes(MLP().half()) == 2 * 50_610


def test_state_dict_bytes_equal_the_serialised_length_and_the_file(tmp_path):
    model = MLP()
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    assert measure.state_dict_bytes(model) == len(buffer.getvalue())
    path = tmp_path / "archive.pt"  # torch.save names its zip records after the file stem
    torch.save(model.state_dict(), path)
    assert measure.file_bytes(path) == measure.state_dict_bytes(model.state_dict())


def test_macs_of_a_small_net_by_hand():
    # MLP 64-300-100-10 on a batch of 3: 3 × (64·300 + 300·100 + 100·10) MACs.
    assert measure.count_macs(MLP(), torch.zeros(3, 64)) == 3 * (64 * 300 + 300 * 100 + 100 * 10)
    # SmallCNN on one 8×8 image: conv1 8·8·16·(1·9), conv2 8·8·32·(16·9), fc 10·512.
    by_layer = measure.macs_by_layer(SmallCNN(), torch.zeros(1, 1, 8, 8))
    assert by_layer == {"conv1": 64 * 16 * 9, "conv2": 64 * 32 * 16 * 9, "fc": 10 * 512}


def test_macs_of_strided_grouped_and_1d_convs_by_brute_force():
    for conv, shape in [(nn.Conv2d(8, 6, 3, stride=2, padding=1, groups=2), (2, 8, 9, 7)),
                        (nn.Conv1d(4, 5, 5), (1, 4, 20))]:
        out = conv(torch.zeros(shape))
        # Brute force: every output element reads (in_channels / groups) × kernel inputs.
        reads_per_output = (conv.in_channels // conv.groups) * torch.tensor(conv.kernel_size).prod().item()
        assert measure.count_macs(conv, torch.zeros(shape)) == out.numel() * reads_per_output


def test_resnet18_macs_match_the_published_figure():
    # ResNet-18 at 224×224: 1.82 GMACs (He et al. 2016 report 1.8 GFLOPs as multiply-adds).
    assert measure.count_macs(resnet18(), torch.zeros(1, 3, 224, 224)) == pytest.approx(1.814e9, rel=1e-3)


def test_macs_hooks_are_removed_and_mode_restored():
    model = MLP().train()
    measure.count_macs(model, torch.zeros(1, 64))
    assert model.training
    assert all(not m._forward_hooks for m in model.modules())


def test_latency_reports_a_median_and_the_thread_count():
    result = measure.latency(MLP(), torch.zeros(1, 64), threads=1, min_run_time=0.05)
    assert result.threads == 1 and result.runs >= 1 and result.median_ms > 0
    assert "threads" in str(result)
    with pytest.raises(ValueError, match="min_run_time"):
        measure.latency(MLP(), torch.zeros(1, 64), min_run_time=0)


def test_cost_report_has_every_column():
    row = measure.cost_report(MLP(), torch.zeros(1, 64), time_it=False)
    assert row["parameters"] == 50_610 and row["MACs"] == 64 * 300 + 300 * 100 + 100 * 10
    assert row["dense bytes"] == 4 * 50_610 and row["state_dict bytes"] > row["dense bytes"]


def _brute_force_front(costs, accs):
    keep = []
    for i in range(len(costs)):
        dominated = any(costs[j] <= costs[i] and accs[j] >= accs[i] and (costs[j] < costs[i] or accs[j] > accs[i])
                        for j in range(len(costs)))
        duplicate_of_earlier = any(costs[j] == costs[i] and accs[j] == accs[i] for j in range(i))
        if not dominated and not duplicate_of_earlier:
            keep.append(i)
    return sorted(keep, key=lambda i: (costs[i], i))


def test_pareto_front_equals_brute_force():
    values = [1.0, 2.0, 3.0]
    for costs in itertools.product(values, repeat=4):
        for accs in itertools.product([0.5, 0.7, 0.9], repeat=4):
            assert measure.pareto_front(costs, accs) == _brute_force_front(costs, accs)
    with pytest.raises(ValueError, match="equal length"):
        measure.pareto_front([1.0], [])



def test_hooked_removes_hooks_and_restores_the_mode_even_on_error():
    model = MLP().train()
    seen = []
    with pytest.raises(RuntimeError):
        with measure.hooked(model, [(model.fc1, lambda m, args: seen.append(m.training))], pre=True):
            model(torch.zeros(1, 64))
            raise RuntimeError("boom")
    assert seen == [False]  # the block ran in eval mode
    assert model.training and all(not m._forward_pre_hooks and not m._forward_hooks for m in model.modules())


def test_interleaved_latency_times_modules_and_callables_side_by_side():
    model, x = MLP(), torch.zeros(4, 64)
    times = measure.interleaved_latency({"model": model, "function": lambda inputs: inputs * 2}, x, rounds=2,
                                        min_run_time=0.01)
    assert list(times) == ["model", "function"] and all(t > 0 for t in times.values())
    with pytest.raises(ValueError, match="rounds"):
        measure.interleaved_latency({"m": model}, x, rounds=0)


def test_layer_latencies_times_every_leaf():
    model, x = SmallCNN(), torch.randn(2, 1, 8, 8)
    times = measure.layer_latencies(model, x, min_run_time=0.01)
    assert list(times) == [name for name, _ in model.named_children()]
    assert all(t > 0 for t in times.values())


def test_accuracy_counts_correct_predictions_like_a_hand_loop():
    torch.manual_seed(0)
    model = MLP(in_features=4, hidden=(8,), num_classes=3)
    x, y = torch.randn(50, 4), torch.randint(0, 3, (50,))
    loader = [(x[:20], y[:20]), (x[20:], y[20:])]
    model.train()
    with torch.no_grad():
        by_hand = float((model.eval()(x).argmax(dim=1) == y).float().mean())
    model.train()
    assert measure.accuracy(model, loader) == pytest.approx(by_hand)
    assert model.training  # the mode is restored
    with pytest.raises(ValueError, match="empty"):
        measure.accuracy(model, [])


def test_latency_in_cpu_time_needs_one_thread():
    result = measure.latency(MLP(), torch.zeros(4, 64), threads=1, min_run_time=0.05, cpu_time=True)
    assert result.median_ms > 0 and result.threads == 1
    with pytest.raises(ValueError, match="threads=1"):
        measure.latency(MLP(), torch.zeros(4, 64), threads=2, min_run_time=0.05, cpu_time=True)


def test_activation_bytes_are_input_plus_output_per_layer_and_views_add_nothing():
    from companion.measure import activation_bytes_by_layer, peak_activation_bytes

    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(256, 10))
    x = torch.randn(1, 1, 8, 8)
    # Worked by hand: conv reads 64 floats and writes 256; ReLU reads and writes 256; Flatten is a view
    # of its input; Linear reads 256 and writes 10 (4 bytes each).
    assert activation_bytes_by_layer(model, x) == {"0": 4 * (64 + 256), "1": 4 * 512, "2": 4 * 256, "3": 4 * 266}
    assert peak_activation_bytes(model, x) == 2048
    in_place = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(inplace=True))
    assert activation_bytes_by_layer(in_place, x)["1"] == 4 * 256
    assert peak_activation_bytes(model, torch.randn(3, 1, 8, 8)) == 3 * 2048  # grows with the batch
    int8 = nn.Sequential(nn.Flatten())
    assert peak_activation_bytes(int8, torch.zeros(2, 5, dtype=torch.int8)) == 10
    assert peak_activation_bytes(nn.Linear(64, 3), x.flatten(1)) == 4 * (64 + 3)  # a bare layer is its own leaf
