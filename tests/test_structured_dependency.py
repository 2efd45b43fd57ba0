"""Dependency groups traced from the book's models, and clear errors for what cannot be traced."""
import pytest
import torch
from torch import nn

from companion.models import MLP, SmallCNN, tiny_resnet
from companion.prune.dependency import Consumer, dependency_groups


def test_mlp_groups_are_hidden_layers():
    groups = dependency_groups(MLP(), torch.zeros(2, 64))
    assert [(g.name, g.size, g.producers, g.norms, g.consumers) for g in groups] == [
        ("fc1", 300, ("fc1",), (), (Consumer("fc2"),)),
        ("fc2", 100, ("fc2",), (), (Consumer("fc3"),)),
    ]


def test_cnn_flatten_boundary_reads_pool_area_features_per_channel():
    groups = dependency_groups(SmallCNN(), torch.zeros(1, 1, 8, 8))
    assert [(g.name, g.norms, g.consumers) for g in groups] == [
        ("conv1", ("bn1",), (Consumer("conv2"),)),
        ("conv2", ("bn2",), (Consumer("fc", repeat=16),)),  # 32 channels × 4×4 after the 2×2 max-pool
    ]


def test_resnet_skip_connections_tie_channels_into_one_group():
    groups = {g.name: g for g in dependency_groups(tiny_resnet(), torch.zeros(1, 1, 8, 8))}
    assert set(groups) == {"stem.0", "stages.0.0.conv1", "stages.1.0.conv1", "stages.1.0.conv2",
                           "stages.2.0.conv1", "stages.2.0.conv2"}
    stem = groups["stem.0"]  # identity shortcut: stem output and block 0's bn2 are added
    assert stem.producers == ("stem.0", "stages.0.0.conv2")
    assert stem.norms == ("stem.1", "stages.0.0.bn2")
    assert {c.name for c in stem.consumers} == {"stages.0.0.conv1", "stages.1.0.conv1", "stages.1.0.shortcut.0"}
    stage1 = groups["stages.1.0.conv2"]  # projection shortcut: conv2 and the 1×1 conv are added
    assert stage1.producers == ("stages.1.0.conv2", "stages.1.0.shortcut.0")
    assert stage1.norms == ("stages.1.0.bn2", "stages.1.0.shortcut.1")
    assert groups["stages.2.0.conv2"].consumers == (Consumer("fc"),)


class MethodFlatten(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(1, 4, 3, padding=1), nn.Linear(4 * 3 * 3, 2)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))


def test_tensor_flatten_method_and_functional_relu_are_traced():
    (group,) = dependency_groups(MethodFlatten(), torch.zeros(1, 1, 3, 3))
    assert group.consumers == (Consumer("fc", repeat=9),)


class Concat(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.head = nn.Linear(4, 3), nn.Linear(4, 3), nn.Linear(6, 2)

    def forward(self, x):
        return self.head(torch.cat([self.a(x), self.b(x)], dim=1))


class Twice(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(self.fc(x))


class DataDependent(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x) if x.sum() > 0 else x


@pytest.mark.parametrize("model, x, match", [
    (Concat(), torch.zeros(2, 4), "cat"),
    (Twice(), torch.zeros(2, 4), "'fc' is called more than once"),
    (DataDependent(), torch.zeros(2, 4), "cannot trace DataDependent"),
    (nn.Sequential(nn.Conv2d(4, 8, 3, groups=2), nn.ReLU(), nn.Conv2d(8, 2, 1)), torch.zeros(1, 4, 5, 5),
     "layer '0' is a grouped convolution"),
    (nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4), nn.Linear(4, 2)), torch.zeros(2, 4), "layer '1' \\(LayerNorm\\)"),
    (nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(0), nn.Linear(4, 2)), torch.zeros(1, 1, 3, 3), "layer '1' flattens"),
    (nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Flatten(), nn.MaxPool1d(2), nn.Linear(18, 2)), torch.zeros(1, 1, 3, 3),
     "layer '2' pools a flattened tensor"),
])
def test_untraceable_architectures_raise_naming_the_layer(model, x, match):
    with pytest.raises(ValueError, match=match):
        dependency_groups(model, x)


def test_bad_argument_types():
    with pytest.raises(TypeError, match="model"):
        dependency_groups(lambda x: x, torch.zeros(1))
    with pytest.raises(TypeError, match="example_input"):
        dependency_groups(MLP(), [0.0] * 64)
