"""Teacher keys for the end-of-course projects (book/projects.md): one passing submission each.

Run ``python tools/project_keys.py OUTDIR`` (with the checkout on ``PYTHONPATH``) to write the keys of
projects 1, 2, 4 and 5 into OUTDIR and print the checkers' reports for all five. The keys use the
companion's own tools, as a strong student would after the course; they are not handed to students.
Projects 4 and 5 start from chapters 5.3's and 5.1's cached models, under the chapters' own cache keys
(the same names and settings): after the chapters have run, the keys train nothing.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from companion import data, models, prune, quant, train
from companion.checks.projects import (BYTE_BUDGET, fashion_baseline, fashion_splits, score_byte_budget,
                                       score_fashion_compression, score_integer_inference,
                                       score_sparse_digits, score_speech_budget, speech_splits)
from companion.compress import finetune_centroids, load_compressed, save_compressed, share_pruned_weights
from companion.quant.static import IntegerSequential

# Project 1 key: 45,564 of the 50,200 weights zero (90.8%), the output layer pruned least.
LAYER_SPARSITY = {"fc1": 0.92, "fc2": 0.92, "fc3": 0.30}
EPOCHS = 12
# Project 2 key: k-means weight sharing, 3 bits for the first layer, 2 for the second, 4 for the last.
BITS = {"fc1": 3, "fc2": 2, "fc3": 4}


def _finetune(model: torch.nn.Module, epochs: int, after_step=None) -> None:
    digits = data.digits()
    train.finetune(model, digits.loader("train", 64, seed=0), epochs, lr=3e-3, seed=0, after_step=after_step,
                   progress=False)


def _agp_hook(model: torch.nn.Module, epochs: int) -> prune.GradualPruner:
    steps_per_epoch = len(data.digits().loader("train", 64))
    pairs = [(getattr(model, name), "weight") for name in LAYER_SPARSITY]
    return prune.GradualPruner([prune.AGP(final=s, start=0, n=epochs // 2, interval=steps_per_epoch)
                                for s in LAYER_SPARSITY.values()], pairs, scope="layer")


def sparse_digits_model(epochs: int = EPOCHS) -> torch.nn.Module:
    """Project 1: per-layer AGP (``LAYER_SPARSITY``) over the first half of ``epochs``, fine-tuned, masks permanent.

    As in chapter 3.4's reproduction of Han et al., the output layer, the most sensitive, is pruned least.
    Cached (``train.cached_derived``): a second call loads the trained key.
    """
    def build() -> torch.nn.Module:
        model = prune.clone(train.pretrained("digits-mlp"))
        _agp_hook(model, epochs)(model, 0)  # the event at t0 attaches the masks (s_i = 0 prunes nothing)
        return model

    def fit(model: torch.nn.Module) -> None:
        _finetune(model, epochs, after_step=_agp_hook(model, epochs))

    settings = {"base": "digits-mlp", "sparsity": LAYER_SPARSITY, "epochs": epochs, "lr": 3e-3, "seed": 0}
    return prune.make_permanent(train.cached_derived("project-sparse-digits", settings, build, fit, device="cpu"))


def sparse_digits_key(path: str | Path) -> Path:
    """Write project 1's key, the state dict of :func:`sparse_digits_model`, to ``path``."""
    torch.save(sparse_digits_model().state_dict(), path)
    return Path(path)


def byte_budget_model(epochs: int = 3) -> torch.nn.Module:
    """Project 2: k-means weight sharing (``BITS``), the codebooks fine-tuned for ``epochs`` (cached)."""
    settings = {"base": "digits-mlp", "bits": BITS, "epochs": epochs, "lr": 3e-3, "seed": 0}
    return train.cached_derived("project-digits-20kb", settings,
                                lambda: quant.share_weights(train.pretrained("digits-mlp"), BITS),
                                lambda model: _finetune(model, epochs), device="cpu")


def byte_budget_key(path: str | Path) -> Path:
    """Write project 2's key to ``path``: :func:`byte_budget_model` with float16 side tensors, one file."""
    quant.save_lowbit(byte_budget_model(), path, float_dtype=torch.float16)
    return Path(path)


def load_byte_budget(path: str) -> torch.nn.Module:
    """Project 2's loader: the file's codes and codebooks decoded into a plain ``MLP()``."""
    return quant.load_lowbit(models.MLP(), path)


def integer_forward(layers: list[dict], q_x: torch.Tensor) -> torch.Tensor:
    """Project 3: int8 codes through each layer in int64 arithmetic, requantized with the fixed-point pair.

    acc = q_x · Wᵀ + bias; q_y = clamp(Z_y + ((acc · M₀ + 2^(30+n)) >> (31+n)), lo, 127) with lo = max(−128, Z_y)
    after a fused ReLU, else −128.
    """
    q = q_x
    for layer in layers:
        acc = q.to(torch.int64) @ layer["weight"].to(torch.int64).t() + layer["bias"].to(torch.int64)
        shift = layer["shift"].to(torch.int64) + 31
        half = torch.bitwise_left_shift(torch.ones_like(shift), shift - 1)
        scaled = torch.bitwise_right_shift(acc * layer["multiplier"].to(torch.int64) + half, shift)
        lower = max(-128, layer["out_zero"]) if layer["relu"] else -128
        q = torch.clamp(scaled + layer["out_zero"], lower, 127).to(torch.int8)
    return q


# ---- Project 4 key: chapter 5.3's pruned DS-CNN, int8 integer-only, packed into one small file ----

SPEECH_PRUNE = {"base": "speech-dscnn", "layers": "pw+fc", "amount": 0.4, "epochs": 3, "lr": 5e-4, "batch": 64,
                "seed": 0}  # chapter 5.3's settings, so its cached model is reused


def speech_pruned_targets(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """The pointwise and linear weights of the DS-CNN, the layers chapter 5.3 prunes."""
    return [(m, "weight") for name, m in model.named_children() if name.startswith("pw") or name == "fc"]


def speech_pruned_model(amount: float = SPEECH_PRUNE["amount"], epochs: int = SPEECH_PRUNE["epochs"]) -> nn.Module:
    """Chapter 5.3's pruned DS-CNN: ``amount`` of the pointwise and linear weights zeroed by one global
    magnitude threshold, fine-tuned ``epochs`` with the masks in place (``cached_derived``, the chapter's key)."""
    splits = speech_splits()

    def build() -> nn.Module:
        pruned = prune.clone(train.pretrained("speech-dscnn"))
        prune.global_magnitude(speech_pruned_targets(pruned), amount)
        return pruned

    def fine_tune(pruned: nn.Module) -> None:
        train.fit(pruned, splits.loader("train", SPEECH_PRUNE["batch"]), epochs=epochs, lr=SPEECH_PRUNE["lr"],
                  progress=False)

    settings = {**SPEECH_PRUNE, "amount": amount, "epochs": epochs}
    return prune.make_permanent(train.cached_derived("speech-dscnn-pruned", settings, build, fine_tune)).eval()


def speech_integer_model(fp32: nn.Module | None = None) -> IntegerSequential:
    """``fp32`` (default: :func:`speech_pruned_model`) quantized to int8 integer-only, calibrated on 512
    training clips, one weight scale per depthwise layer (chapter 5.3's choice for the pruned network)."""
    fp32 = speech_pruned_model() if fp32 is None else fp32
    return quant.quantize_static(fp32, [speech_splits().x_train[:512]], depthwise_per_channel=False)


def save_packed(model: IntegerSequential, path: str | Path) -> Path:
    """Write ``model`` as one ``torch.save``-d record: its layout, a header (name, dtype, shape, sparse) per
    tensor, and every tensor's bytes in one uint8 blob. An int8 weight with at least a quarter zeros is
    stored as a one-bit map of its non-zeros followed by the non-zero codes."""
    header, chunks = [], []
    for name, tensor in model.state_dict().items():
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        sparse = tensor.dtype == torch.int8 and flat.numel() >= 64 and int((flat == 0).sum()) * 4 >= flat.numel()
        if sparse:
            chunks += [np.packbits((flat != 0).numpy()), flat[flat != 0].numpy().view(np.uint8)]
        else:
            chunks.append(flat.view(torch.uint8).numpy() if flat.numel() else np.zeros(0, np.uint8))
        header.append((name, str(tensor.dtype).removeprefix("torch."), list(tensor.shape), sparse))
    blob = torch.from_numpy(np.concatenate(chunks))
    torch.save({"layout": model.layout(), "header": header, "blob": blob}, path)
    return Path(path)


def load_packed(path: str) -> IntegerSequential:
    """Project 4's loader: the integer DS-CNN rebuilt from a file written by :func:`save_packed`."""
    saved = torch.load(path, weights_only=True)
    blob, offset, state = saved["blob"].numpy(), 0, {}
    for name, dtype_name, shape, sparse in saved["header"]:
        dtype = getattr(torch, dtype_name)
        numel = int(np.prod(shape, dtype=np.int64))
        if sparse:
            mask = np.unpackbits(blob[offset:offset + (numel + 7) // 8], count=numel).astype(bool)
            offset += (numel + 7) // 8
            values = np.zeros(numel, np.int8)
            values[mask] = blob[offset:offset + int(mask.sum())].view(np.int8)
            offset += int(mask.sum())
            tensor = torch.from_numpy(values)
        else:
            nbytes = numel * torch.empty((), dtype=dtype).element_size()
            tensor = torch.from_numpy(blob[offset:offset + nbytes].copy()).view(dtype)
            offset += nbytes
        state[name] = tensor.reshape(shape)
    if offset != len(blob):
        raise ValueError(f"{path}: {len(blob) - offset} bytes left over after the last tensor: a damaged file")
    model = IntegerSequential.from_layout(saved["layout"])
    model.load_state_dict(state)
    return model.eval()


def speech_key(path: str | Path) -> Path:
    """Write project 4's key to ``path``: the pruned int8 DS-CNN, packed by :func:`save_packed`."""
    return save_packed(speech_integer_model(), path)


# ---- Project 5 key: chapter 5.1's combined model (channel pruning + Deep Compression), one file ----

FASHION_AMOUNTS = {"stem.0": 0.5, "stages.0.0.conv1": 0.5, "stages.1.0.conv1": 0.5, "stages.1.0.conv2": 0.5,
                   "stages.2.0.conv1": 0.5, "stages.2.0.conv2": 0.5}  # chapter 5.1's per-stage shares
FASHION_ARCHITECTURE = ("tiny_resnet", {"widths": [8, 16, 32]})


def _fashion_trainer(epochs: int, lr: float):
    """Chapter 5.1's fine-tuning: the baseline's recipe for ``epochs`` passes at peak rate ``lr``."""
    recipe, splits = train.RECIPES["fashion-resnet"], fashion_splits()

    def fit(model: nn.Module) -> None:
        loader = DataLoader(TensorDataset(splits.x_train, splits.y_train), batch_size=recipe.batch_size,
                            shuffle=True, generator=torch.Generator().manual_seed(1))
        train.finetune(model, loader, epochs, lr=lr, optimizer=recipe.optimizer, momentum=recipe.momentum,
                       weight_decay=recipe.weight_decay, schedule=recipe.schedule,
                       label_smoothing=recipe.label_smoothing, augment=recipe.augmentation(seed=1),
                       channels_last=recipe.channels_last)
    return fit


def fashion_channel_pruned(fine_tune: bool = True) -> nn.Module:
    """Chapter 5.1's channel-pruned ResNet (first-order Taylor scores on 1,024 training images, widths
    16/32/64 → 8/16/32), fine-tuned for five epochs (cached under the chapter's key) unless ``fine_tune``
    is False."""
    baseline, splits = fashion_baseline(), fashion_splits()

    def build() -> nn.Module:
        scores = prune.group_scores(baseline, splits.x_test[:1], "taylor",
                                    [(splits.x_train[:1024], splits.y_train[:1024])])
        return prune.prune_channels(baseline, splits.x_test[:1], FASHION_AMOUNTS, scores)
    if not fine_tune:
        return build().eval()
    return train.cached_derived("fashion-pruned", fashion_pruned_settings(), build, _fashion_trainer(5, 0.05))


def fashion_pruned_settings() -> dict:
    recipe = train.RECIPES["fashion-resnet"]
    return {"base": recipe.key(train.choose_device()), "criterion": "taylor", "calibration": 1024,
            "amounts": FASHION_AMOUNTS, "epochs": 5, "lr": 0.05}


def fashion_combined_model() -> nn.Module:
    """Chapter 5.1's combined model: the pruned ResNet's weights shared by 4-bit k-means, centroids
    fine-tuned for one epoch (cached under the chapter's key)."""
    pruned, splits = fashion_channel_pruned(), fashion_splits()
    return train.cached_derived(
        "fashion-pruned-deep-compression", {"pruned": fashion_pruned_settings(), "bits": 4, "epochs": 1, "lr": 5e-4},
        lambda: share_pruned_weights(pruned, bits=4),
        lambda model: model.load_state_dict(finetune_centroids(model, splits, epochs=1, lr=5e-4,
                                                               batch_size=128).state_dict()))


def fashion_key(path: str | Path) -> Path:
    """Write project 5's key to ``path``: :func:`fashion_combined_model` in ``save_compressed``'s container
    (codebooks, Huffman-coded codes and gaps, int8 biases, float16 BatchNorm, a checksum)."""
    save_compressed(fashion_combined_model(), path, FASHION_ARCHITECTURE)
    return Path(path)


def load_fashion(path: str) -> nn.Module:
    """Project 5's loader: the container decoded into a plain float ResNet of widths 8, 16, 32."""
    return load_compressed(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path)
    args = parser.parse_args(argv)
    args.outdir.mkdir(parents=True, exist_ok=True)
    reports = [score_sparse_digits(sparse_digits_key(args.outdir / "sparse_digits.pt")),
               score_byte_budget(byte_budget_key(args.outdir / "digits_20kb.pt"), load_byte_budget),
               score_integer_inference(integer_forward),
               score_speech_budget(speech_key(args.outdir / "speech_32kb.pt"), load_packed),
               score_fashion_compression(fashion_key(args.outdir / "fashion_8x.cdcm"), load_fashion)]
    for report in reports:
        print(report)
    print(f"(budget {BYTE_BUDGET:,} bytes)")
    return 0 if all(report.passed for report in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
