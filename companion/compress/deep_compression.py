"""Deep Compression (Han, Mao & Dally 2016) end to end: prune → share weights → code → one file.

1. **Prune** gradually: magnitude pruning of each layer along an AGP schedule (Zhu & Gupta 2017)
   while the network fine-tunes (:func:`prune_and_finetune`, built on :class:`companion.prune.GradualPruner`).
2. **Share weights**: per layer, k-means (:func:`companion.quant.kmeans.kmeans_quantize`) clusters the
   *kept* weights into 2^bits shared values; code 0 is reserved for the pruned zeros
   (:func:`share_pruned_weights`). Clustering all entries instead would give the zeros' cluster a
   centroid that is not zero, and every pruned weight would come back to life.
3. **Fine-tune the centroids**: ∂L/∂c_k = Σ_{q_ij = k} ∂L/∂Ŵ_ij, with c_0 pinned at 0 after every step
   (:func:`finetune_centroids`).
4. **Code and save**: relative indices, Huffman coding, one checksummed file
   (:mod:`companion.compress.container`).

:func:`cached` keeps each trained stage in the trained-model cache of :mod:`companion.train`, keyed by
a hash of everything that decides it, so a chapter never repeats a fine-tuning run.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ..data import Splits
from ..layers import set_submodule, weight_layers
from ..prune import AGP, GradualPruner, make_permanent
from ..quant.kmeans import KMeansWeight, SharedWeight, kmeans_quantize
from ..train import CACHE_FORMAT, TRAIN_THREADS, cache_dir, fit, seed_everything

__all__ = ["prune_and_finetune", "share_pruned_weights", "pin_zero_codes", "finetune_centroids", "cached",
           "fresh_process_logits"]


def _on_train_threads(function: Callable, *args, **kwargs):
    """Run ``function`` on ``TRAIN_THREADS`` CPU threads (as cached training does), then restore."""
    previous = torch.get_num_threads()
    torch.set_num_threads(TRAIN_THREADS)
    try:
        return function(*args, **kwargs)
    finally:
        torch.set_num_threads(previous)


def prune_and_finetune(model: nn.Module, splits: Splits, sparsity: dict[str, float], *, epochs: int = 30,
                       prune_epochs: int = 20, events: int = 10, lr: float = 1e-3, batch_size: int = 64,
                       seed: int = 0) -> nn.Module:
    """A pruned, fine-tuned copy of ``model``: each layer reaches ``sparsity[name]`` by AGP, masks made permanent.

    Pruning events are spread evenly over the first ``prune_epochs`` epochs (``events`` of them, the
    first at step 1); training continues with the final masks until ``epochs`` epochs have run. Adam runs at
    a constant learning rate ``lr``. The
    returned model's pruned weights are exact zeros in plain ``weight`` tensors.
    """
    layers = weight_layers(model)
    unknown = sorted(set(sparsity) - set(layers))
    if unknown:
        raise ValueError(f"sparsity names {unknown}, which are not weight layers; choose from {sorted(layers)}")
    if not 0 < prune_epochs <= epochs or events < 1:
        raise ValueError(f"need 0 < prune_epochs ≤ epochs and events ≥ 1, got {prune_epochs}, {epochs}, {events}")
    pruned = copy.deepcopy(model)
    seed_everything(seed)
    loader = splits.loader("train", batch_size, seed=seed)
    interval = max(1, prune_epochs * len(loader) // events)
    names = [name for name in layers if name in sparsity]
    pairs = [(pruned.get_submodule(name), "weight") for name in names]
    schedules = [AGP(final=sparsity[name], start=1, n=events, interval=interval) for name in names]
    pruner = GradualPruner(schedules if len(schedules) > 1 else schedules[0], pairs, scope="layer")
    optimizer = torch.optim.Adam(pruned.parameters(), lr=lr)
    _on_train_threads(fit, pruned, loader, epochs=epochs, optimizer=optimizer, after_step=pruner,
                      device="cpu", progress=False)
    return make_permanent(pruned).eval()


def _share_one(weight: torch.Tensor, bits: int, iterations: int) -> KMeansWeight:
    flat = weight.detach().reshape(-1)
    kept = flat != 0
    codes = torch.zeros(flat.numel(), dtype=torch.uint8)
    values = flat[kept]
    if values.numel() <= 2 ** bits:  # fewer kept weights than clusters: each is its own centroid
        codebook = torch.cat([torch.zeros(1), values.to(torch.float32)])
        codes[kept] = torch.arange(1, values.numel() + 1, dtype=torch.uint8)
    else:
        clustered = kmeans_quantize(values, bits, iterations)
        codebook = torch.cat([torch.zeros(1), clustered.codebook])
        codes[kept] = clustered.codes.reshape(-1) + 1
    return KMeansWeight(codes=codes.reshape(weight.shape), bits=bits, codebook=codebook)


def share_pruned_weights(model: nn.Module, bits: int | dict[str, int], iterations: int = 30) -> nn.Module:
    """A copy of a pruned ``model`` whose weight layers are :class:`SharedWeight` with code 0 = exact zero.

    Each layer's non-zero weights are clustered by k-means into 2^bits centroids (codes 1 … 2^bits),
    and ``codebook[0] = 0`` holds every pruned weight, so the codebook has 2^bits + 1 entries and
    sparsity survives exactly. ``bits`` is one width for all layers or ``{layer name: bits}`` (≤ 7).
    """
    shared = copy.deepcopy(model)
    layers = weight_layers(shared, list(bits) if isinstance(bits, dict) else None)
    for name, layer in layers.items():
        width = bits[name] if isinstance(bits, dict) else bits
        if isinstance(width, bool) or not isinstance(width, int) or not 1 <= width <= 7:
            raise ValueError(f"bits for layer {name!r} must be an integer in [1, 7], got {width!r}")
        set_submodule(shared, name, SharedWeight(layer, _share_one(layer.weight, width, iterations)))
    return shared


def pin_zero_codes(model: nn.Module, step: int | None = None) -> None:
    """Set codebook[0] back to exactly 0 in every :class:`SharedWeight` (a ``fit`` ``after_step`` hook)."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, SharedWeight):
                module.codebook[0] = 0.0


def finetune_centroids(shared: nn.Module, splits: Splits, *, epochs: int = 10, lr: float = 1e-4,
                       batch_size: int = 64, seed: int = 0) -> nn.Module:
    """A copy of ``shared`` whose codebooks (and biases, BatchNorm) are fine-tuned; codes and zeros fixed."""
    if not any(isinstance(m, SharedWeight) for m in shared.modules()):
        raise ValueError("shared has no SharedWeight layers: call share_pruned_weights(model, bits) first")
    tuned = copy.deepcopy(shared)
    seed_everything(seed)
    params = [p for p in tuned.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr)
    _on_train_threads(fit, tuned, splits.loader("train", batch_size, seed=seed), epochs=epochs, optimizer=optimizer,
                      after_step=pin_zero_codes, device="cpu", progress=False)
    return tuned.eval()


def cached(name: str, config: dict, make: Callable[[], nn.Module], like: Callable[[], nn.Module]) -> nn.Module:
    """The model ``make()`` returns, computed once and kept in :func:`companion.train.cache_dir`.

    The file is keyed by a hash of ``config`` (everything that decides the result, as JSON) and the
    cache format; ``like()`` builds a model of the same structure to load the saved ``state_dict`` into.
    The file is written atomically, as :func:`companion.train.pretrained` does.
    """
    text = json.dumps({"config": config, "format": CACHE_FORMAT}, sort_keys=True)
    path = cache_dir() / f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:16]}.pt"
    if path.exists():
        model = like()
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return model.eval()
    model = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as handle:
        torch.save(model.state_dict(), handle)
    os.replace(handle.name, path)
    return model.eval()


_FRESH_SCRIPT = """
import sys, torch
from companion.compress import load_compressed
torch.set_num_threads(1)
model = load_compressed(sys.argv[1])
with torch.no_grad():
    torch.save(model(torch.load(sys.argv[2], weights_only=True)), sys.argv[3])
"""


def fresh_process_logits(path: str | os.PathLike, inputs: torch.Tensor, timeout: float = 120.0) -> torch.Tensor:
    """Logits of the model in ``path`` on ``inputs``, computed by a new Python process (one thread).

    The new interpreter shares nothing with this one but the file: it imports ``companion``, calls
    :func:`~companion.compress.load_compressed` and runs the model.
    """
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    with tempfile.TemporaryDirectory() as folder:
        x_path, out_path = Path(folder) / "inputs.pt", Path(folder) / "logits.pt"
        torch.save(inputs.detach().cpu(), x_path)
        result = subprocess.run([sys.executable, "-c", _FRESH_SCRIPT, str(path), str(x_path), str(out_path)],
                                env=env, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"the fresh process failed (exit {result.returncode}):\n{result.stderr[-2000:]}")
        return torch.load(out_path, weights_only=True)
