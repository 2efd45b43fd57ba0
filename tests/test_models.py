import pytest
import torch

from companion import models
from companion.measure import count_parameters


def test_mlp_is_lenet_300_100_with_hand_counted_parameters():
    mlp = models.MLP()
    assert [m.out_features for m in (mlp.fc1, mlp.fc2, mlp.fc3)] == [300, 100, 10]
    assert count_parameters(mlp) == 64 * 300 + 300 + 300 * 100 + 100 + 100 * 10 + 10
    assert mlp(torch.zeros(5, 64)).shape == (5, 10)


def test_small_cnn_parameters_by_hand():
    cnn = models.SmallCNN()
    expected = (1 * 16 * 9 + 16) + 2 * 16 + (16 * 32 * 9 + 32) + 2 * 32 + (32 * 4 * 4 * 10 + 10)
    assert count_parameters(cnn) == expected
    assert cnn(torch.zeros(2, 1, 8, 8)).shape == (2, 10)


def test_resnet18_matches_the_published_parameter_count():
    # He et al. 2016: ResNet-18 has 11.69 M parameters with 1,000 classes (torchvision: 11,689,512).
    assert count_parameters(models.resnet18()) == 11_689_512


def test_tiny_resnet_runs_on_digit_images():
    assert models.tiny_resnet()(torch.zeros(3, 1, 8, 8)).shape == (3, 10)


def test_build_by_name_and_errors():
    assert isinstance(models.build("mlp", hidden=(20,)), models.MLP)
    with pytest.raises(ValueError, match="model must be one of"):
        models.build("vgg")
    with pytest.raises(ValueError, match="positive"):
        models.MLP(hidden=(0,))
    with pytest.raises(ValueError, match="stem"):
        models.ResNet(stem="huge")
    with pytest.raises(ValueError, match="size"):
        models.SmallCNN(size=7)


def test_dscnn_shape_parameters_and_depthwise_layers():
    from companion.models import DSCNN

    model = DSCNN()
    # 64·40 (10×4 conv) + 4·(64·9 + 64·64) (depthwise + pointwise) + 64·10 + 10 (classifier) + 9·2·64 (BatchNorm)
    assert sum(p.numel() for p in model.parameters()) == 2560 + 4 * (576 + 4096) + 650 + 9 * 128 == 23_050
    assert model(torch.randn(3, 1, 51, 20)).shape == (3, 10)
    depthwise = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.groups > 1]
    assert len(depthwise) == 4 and all(m.groups == m.in_channels == 64 for m in depthwise)
    with pytest.raises(ValueError, match="channels"):
        DSCNN(channels=0)
