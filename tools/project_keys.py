"""Teacher keys for the end-of-course projects (book/projects.md): one passing submission each.

Run ``python tools/project_keys.py OUTDIR`` (with the checkout on ``PYTHONPATH``) to write the keys of
projects 1 and 2 into OUTDIR and print the checkers' reports for all three. The keys use the
companion's own tools, as a strong student would after the course; they are not handed to students.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from companion import data, models, prune, quant, train
from companion.checks.projects import (BYTE_BUDGET, score_byte_budget, score_integer_inference,
                                       score_sparse_digits)

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path)
    args = parser.parse_args(argv)
    args.outdir.mkdir(parents=True, exist_ok=True)
    reports = [score_sparse_digits(sparse_digits_key(args.outdir / "sparse_digits.pt")),
               score_byte_budget(byte_budget_key(args.outdir / "digits_20kb.pt"), load_byte_budget),
               score_integer_inference(integer_forward)]
    for report in reports:
        print(report)
    print(f"(budget {BYTE_BUDGET:,} bytes)")
    return 0 if all(report.passed for report in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
