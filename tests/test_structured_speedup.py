"""Speed-measurement helpers: structure of the results (never absolute times) and the masked baseline."""
import pytest
import torch

from companion import measure
from companion.models import SmallCNN
from companion.prune.importance import group_scores
from companion.prune.speedup import ln_structured_masked, speedup_rows


def test_ln_structured_masked_keeps_dense_cost_and_zeroes_rows():
    model, x = SmallCNN(), torch.randn(2, 1, 8, 8)
    masked = ln_structured_masked(model, x, 0.5)
    assert measure.count_parameters(masked) == measure.count_parameters(model)  # weight_orig replaces weight
    assert measure.count_macs(masked, x) == measure.count_macs(model, x)
    assert int((masked.conv1.weight.flatten(1).abs().sum(1) == 0).sum()) == 8
    assert not hasattr(model.conv1, "weight_mask")  # the input model is untouched


def test_speedup_rows_report_mac_ratio_and_timings():
    model, x = SmallCNN(), torch.randn(2, 1, 8, 8)
    rows = speedup_rows(model, x, (0.5,), group_scores(model, x, "l1"), rounds=1, min_run_time=0.01,
                        memory_format=torch.channels_last)
    (row,) = rows
    assert row["MAC ratio"] == pytest.approx(measure.count_macs(model, x) / row["MACs"])
    assert row["speedup"] == pytest.approx(row["dense ms"] / row["pruned ms"])
    assert row["efficiency"] == pytest.approx(row["speedup"] / row["MAC ratio"])
    assert row["threads"] == 1 and row["memory format"] == "channels_last"
    assert all(row[k] > 0 for k in ("dense ms", "masked ms", "pruned ms"))
