"""Layer helpers: which layers carry weights, replacing a submodule, and BatchNorm folding."""
import pytest
import torch
from torch import nn

from companion import data
from companion.layers import WEIGHT_LAYERS, fold_batchnorm, fold_conv_bn, set_submodule, weight_layers
from companion.models import ResNet, SmallCNN
from companion.train import pretrained


def _random_statistics(model: nn.Module) -> None:
    """Non-trivial BatchNorm statistics and affine parameters, so that folding has something to fold."""
    torch.manual_seed(0)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.running_mean.uniform_(-1, 1)
                module.running_var.uniform_(0.5, 2)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
    model.eval()


@pytest.mark.parametrize("conv, bn, shape", [(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), (4, 3, 6, 6)),
                                             (nn.Conv1d(3, 8, 3, bias=False), nn.BatchNorm1d(8), (4, 3, 9))],
                         ids=["conv2d", "conv1d-no-bias"])
def test_fold_conv_bn_equals_conv_then_bn(conv, bn, shape):
    _random_statistics(bn)
    x = torch.randn(*shape)
    assert torch.allclose(fold_conv_bn(conv, bn)(x), bn(conv(x)), atol=1e-5)


def test_fold_conv_bn_rejects_other_layers():
    with pytest.raises(TypeError, match="Conv2d and BatchNorm2d"):
        fold_conv_bn(nn.Linear(2, 2), nn.BatchNorm2d(2))
    with pytest.raises(TypeError, match="same dimension"):
        fold_conv_bn(nn.Conv2d(2, 2, 1), nn.BatchNorm1d(2))
    with pytest.raises(ValueError, match="output channels"):
        fold_conv_bn(nn.Conv2d(2, 3, 1), nn.BatchNorm2d(2))


@pytest.mark.parametrize("model", [SmallCNN(3, (8, 16), size=16), ResNet((1, 1), (8, 16), in_channels=3, num_classes=10, stem="small")],
                         ids=["cnn", "resnet"])
def test_fold_batchnorm_removes_every_batchnorm_and_keeps_outputs(model):
    _random_statistics(model)
    x = torch.randn(4, 3, 16, 16)
    folded = fold_batchnorm(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())  # the input model is untouched
    assert type(folded) is type(model) and not folded.training
    assert torch.allclose(folded(x), model(x), atol=1e-5)


def test_fold_batchnorm_keeps_the_trained_cnn_a_sequential():
    model = pretrained("digits-cnn")
    x = data.digits(image=True).x_test[:16]
    folded = fold_batchnorm(model)
    assert isinstance(folded, nn.Sequential) and [n for n, _ in folded.named_children()] == [n for n, _ in model.named_children()]
    assert isinstance(folded.bn1, nn.Identity) and isinstance(folded.bn2, nn.Identity)
    assert torch.allclose(folded(x), model(x), atol=1e-4)


def test_fold_batchnorm_leaves_a_batchnorm_it_cannot_fold():
    class SharedConv(nn.Module):  # the conv's output is read by the BatchNorm and by the addition
        def __init__(self):
            super().__init__()
            self.conv, self.bn = nn.Conv2d(2, 2, 1), nn.BatchNorm2d(2)

        def forward(self, x):
            y = self.conv(x)
            return self.bn(y) + y

    model = SharedConv()
    _random_statistics(model)
    x = torch.randn(2, 2, 4, 4)
    folded = fold_batchnorm(model)
    assert isinstance(folded.bn, nn.BatchNorm2d)
    assert torch.allclose(folded(x), model(x))


def test_weight_layers_and_set_submodule():
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Sequential(nn.Conv1d(1, 2, 3)))
    assert list(weight_layers(model)) == ["0", "2.0"]
    assert all(isinstance(m, WEIGHT_LAYERS) for m in weight_layers(model).values())
    assert list(weight_layers(model, ["2.0"])) == ["2.0"]
    with pytest.raises(ValueError, match="not Linear/Conv"):
        weight_layers(model, ["1"])
    replacement = nn.Conv1d(1, 2, 5)
    set_submodule(model, "2.0", replacement)
    assert model[2][0] is replacement
    with pytest.raises(ValueError, match="no submodule"):
        set_submodule(model, "2.7", nn.Identity())
    with pytest.raises(TypeError, match="nn.Module"):
        set_submodule(model, "0", "not a module")
