"""Training and evaluation: ``fit``, ``evaluate``, seeding, device choice and the trained-model cache.

A chapter never retrains what another already trained: :func:`pretrained` trains a model from a
:class:`TrainConfig` once, saves its ``state_dict`` in a cache directory keyed by a hash of the
configuration, and loads it from there afterwards. Training is seeded, so the cached model is the one
a fresh run would produce on the same machine.

Environment variables:

- ``COMPANION_CACHE_DIR``: where trained models are cached (default: the user cache directory).
- ``COMPANION_DEVICE``: ``cpu`` or ``cuda``; by default CUDA is used when present.
- ``COMPANION_PROGRESS``: ``0`` turns progress bars off (the book build does this).
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from . import data as data_module
from . import measure
from . import models as models_module

__all__ = ["seed_everything", "choose_device", "Metrics", "evaluate", "fit", "finetune", "TrainConfig",
           "cache_dir", "train_config", "augment_images", "pretrained", "cached_result", "cached_derived", "cached_tensors",
           "RECIPES"]

CACHE_FORMAT = 2  # bump when the training code changes what a configuration produces
TRAIN_THREADS = 1  # cached models train on one CPU thread, so the caller's thread count cannot change them


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's random number generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def choose_device(device: str | torch.device | None = None) -> torch.device:
    """The device to run on: ``device`` if given, else ``$COMPANION_DEVICE``, else CUDA when available."""
    device = device or os.environ.get("COMPANION_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device is 'cuda' but no CUDA device is available; use 'cpu'")
    return device


def _progress_enabled(progress: bool | None) -> bool:
    return os.environ.get("COMPANION_PROGRESS", "1") != "0" if progress is None else progress


class Metrics(NamedTuple):
    """Mean cross-entropy loss (nats per example) and accuracy (fraction correct, in [0, 1])."""

    loss: float
    accuracy: float


def evaluate(model: nn.Module, loader: DataLoader, loss_fn: Callable | None = None) -> Metrics:
    """Loss and accuracy of ``model`` over every batch of ``loader``, on the model's own device.

    The model is put in eval mode for the pass and returned to the mode it was in
    (:func:`companion.measure.predictions` runs the model).
    """
    loss_fn = loss_fn or nn.functional.cross_entropy
    total_loss, correct, count = 0.0, 0, 0
    for logits, y in measure.predictions(model, loader):
        total_loss += float(loss_fn(logits, y, reduction="sum"))
        correct += int((logits.argmax(dim=1) == y).sum())
        count += len(y)
    if count == 0:
        raise ValueError("loader is empty: cannot evaluate on zero examples")
    return Metrics(total_loss / count, correct / count)


def fit(model: nn.Module, train_loader: DataLoader, *, epochs: int = 10,
        optimizer: torch.optim.Optimizer | None = None, lr: float = 1e-3,
        scheduler=None, scheduler_interval: str = "epoch",
        val_loader: DataLoader | None = None, loss_fn: Callable | None = None,
        after_step: Callable[[nn.Module, int], None] | None = None,
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None, channels_last: bool = False,
        device: str | torch.device | None = None, progress: bool | None = None) -> list[dict]:
    """Train ``model`` in place with mini-batch gradient descent and return its history.

    Each step computes the loss on one batch, back-propagates, calls ``optimizer.step()`` (Adam with
    learning rate ``lr`` unless an optimizer is given), then ``after_step(model, step)`` if given (the
    hook that weight clipping and gradual pruning use). ``scheduler.step()`` runs after every epoch,
    or after every batch when ``scheduler_interval='batch'``.

    Returns one dict per epoch: ``epoch``, ``lr`` (at the epoch's start), ``train_loss`` (mean over its
    batches), and ``val_loss``/``val_accuracy`` when ``val_loader`` is given.

    ``augment(x)``, when given, transforms each training batch of inputs before the forward pass
    (e.g. :func:`augment_images`). ``channels_last=True`` trains image models in PyTorch's
    channels-last memory layout (N, H, W, C in memory), which the CPU convolution kernels ran about
    1.7× faster for chapter 5.1's narrow layers (measured on one thread); the weights come back
    in the default layout, so the model computes the same function either way.
    """
    if epochs < 0:
        raise ValueError(f"epochs must be ≥ 0, got {epochs}")
    if scheduler_interval not in ("epoch", "batch"):
        raise ValueError(f"scheduler_interval must be 'epoch' or 'batch', got {scheduler_interval!r}")
    device = choose_device(device)
    model.to(device)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    if channels_last:
        model.to(memory_format=layout)
    loss_fn = loss_fn or nn.functional.cross_entropy
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    history, step = [], 0
    epochs_iter = range(1, epochs + 1)
    if _progress_enabled(progress):
        from tqdm.auto import tqdm
        epochs_iter = tqdm(epochs_iter, desc="epochs", leave=False)
    for epoch in epochs_iter:
        model.train()
        record = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"]}
        total, batches = 0.0, 0
        for x, y in train_loader:
            x, y = x.to(device), y.to(device)
            if augment is not None:
                x = augment(x)
            if channels_last:
                x = x.contiguous(memory_format=layout)
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            step += 1
            if after_step is not None:
                after_step(model, step)
            if scheduler is not None and scheduler_interval == "batch":
                scheduler.step()
            total += loss.item()
            batches += 1
        if scheduler is not None and scheduler_interval == "epoch":
            scheduler.step()
        record["train_loss"] = total / max(batches, 1)
        if val_loader is not None:
            record["val_loss"], record["val_accuracy"] = evaluate(model, val_loader, loss_fn)
        history.append(record)
    if channels_last:
        model.to(memory_format=torch.contiguous_format)
    model.eval()
    return history


def augment_images(flip: bool = True, shift: int = 0, seed: int = 0) -> Callable[[torch.Tensor], torch.Tensor]:
    """A seeded ``fit(augment=...)`` transform of a batch of images (N, C, H, W), done on tensors.

    Each image is mirrored left–right with probability 1/2 when ``flip``, and moved by a uniform
    whole number of pixels in [−``shift``, ``shift``] along each axis (the border filled with 0,
    the background of Fashion-MNIST) when ``shift`` > 0. The draws come from a generator seeded
    by ``seed``, so a training run sees the same augmented batches every time.
    """
    if isinstance(shift, bool) or not isinstance(shift, int) or shift < 0:
        raise ValueError(f"shift must be a non-negative whole number of pixels, got {shift!r}")
    generator = torch.Generator().manual_seed(seed)

    def augment(x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"augment needs a batch of images (N, C, H, W), got shape {tuple(x.shape)}")
        if flip:
            mirrored = torch.rand(len(x), generator=generator) < 0.5
            x = torch.where(mirrored.to(x.device)[:, None, None, None], x.flip(-1), x)
        if shift:
            height, width = x.shape[-2:]
            padded = nn.functional.pad(x, (shift,) * 4)
            offsets = torch.randint(0, 2 * shift + 1, (len(x), 2), generator=generator).tolist()
            x = torch.stack([padded[i, :, top:top + height, left:left + width]
                             for i, (top, left) in enumerate(offsets)])
        return x

    return augment


SCHEDULES = ("cosine", "onecycle")
OPTIMIZERS = ("adam", "adamw", "sgd")


def finetune(model: nn.Module, train_loader: DataLoader, epochs: int, *, lr: float = 1e-3, optimizer: str = "adam",
             momentum: float = 0.9, weight_decay: float = 0.0, seed: int | None = None,
             schedule: str = "cosine", label_smoothing: float = 0.0,
             augment: Callable[[torch.Tensor], torch.Tensor] | None = None, channels_last: bool = False,
             after_step: Callable[[nn.Module, int], None] | None = None, val_loader: DataLoader | None = None,
             device: str | torch.device | None = None, progress: bool | None = None) -> list[dict]:
    """The book's training recipe: Adam (or AdamW, or SGD with ``momentum``) at ``lr``, with a schedule.

    ``schedule='cosine'``: lr_t = lr · (1 + cos(π·t/epochs))/2 at epoch t. ``schedule='onecycle'``
    (Smith & Topin 2019), stepped every batch: the rate rises from lr/25 to ``lr`` over the first 20%
    of the steps, then falls along a cosine to lr/(25·10⁴). ``weight_decay`` is L2 for Adam and SGD,
    decoupled for AdamW. ``label_smoothing`` ε trains against (1 − ε)·one-hot + ε/classes.
    Trains ``model`` in place with :func:`fit` (``after_step`` is its hook, e.g. a pruning schedule;
    ``augment`` and ``channels_last`` are passed on) and returns the history. Every cached model is
    trained this way, and chapters fine-tune pruned or quantized models with it. ``seed``, when
    given, seeds every generator first.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if not 0 <= label_smoothing < 1:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    if seed is not None:
        seed_everything(seed)
    parameters = [p for p in model.parameters() if p.requires_grad]
    if optimizer == "adam":
        step_rule = torch.optim.Adam(parameters, lr=lr, weight_decay=weight_decay)
    elif optimizer == "adamw":
        step_rule = torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay)
    else:
        step_rule = torch.optim.SGD(parameters, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if schedule == "cosine":
        scheduler, interval = torch.optim.lr_scheduler.CosineAnnealingLR(step_rule, T_max=max(epochs, 1)), "epoch"
    else:
        steps = max(epochs * len(train_loader), 1)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(step_rule, max_lr=lr, total_steps=steps, pct_start=0.2)
        interval = "batch"
    loss_fn = None
    if label_smoothing:
        def loss_fn(logits, y, reduction="mean"):
            return nn.functional.cross_entropy(logits, y, reduction=reduction, label_smoothing=label_smoothing)
    return fit(model, train_loader, epochs=epochs, optimizer=step_rule, scheduler=scheduler,
               scheduler_interval=interval, val_loader=val_loader, loss_fn=loss_fn, after_step=after_step,
               augment=augment, channels_last=channels_last, device=device, progress=progress)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a trained model: the cache key is a hash of these fields.

    ``model``/``model_kwargs`` name a builder in :data:`companion.models.MODELS`;
    ``data``/``data_kwargs`` a loader in :data:`companion.data.DATASETS`. Training is ``epochs`` epochs
    of mini-batches of ``batch_size`` with Adam (or SGD with ``momentum``) at learning rate ``lr``,
    decayed by cosine annealing to zero, with L2 ``weight_decay``, all seeded by ``seed``.

    The later fields (see :func:`finetune`) choose the ``schedule``, ``label_smoothing``, the
    ``augment`` of training images (``''``, ``'flip'`` or ``'flip+shift<k>'``, see
    :func:`augment_images`) and the ``channels_last`` layout. Left at their defaults they stay
    out of the key, so recipes written before they existed keep their cached models.
    """

    model: str
    data: str
    model_kwargs: dict = field(default_factory=dict)
    data_kwargs: dict = field(default_factory=dict)
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    seed: int = 0
    schedule: str = "cosine"
    label_smoothing: float = 0.0
    augment: str = ""
    channels_last: bool = False

    _LATER_FIELDS = {"schedule": "cosine", "label_smoothing": 0.0, "augment": "", "channels_last": False}

    def key(self, device: torch.device) -> str:
        """A short hash of the configuration, the cache format and the device type."""
        fields = {name: value for name, value in asdict(self).items()
                  if name not in self._LATER_FIELDS or value != self._LATER_FIELDS[name]}
        text = json.dumps({**fields, "format": CACHE_FORMAT, "device": device.type}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def augmentation(self, seed: int | None = None) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """The ``fit(augment=...)`` transform that ``augment`` names (seeded by ``seed``, else the
        config's seed), or None when it is empty."""
        flip, shift = _parse_augment(self.augment)
        return augment_images(flip, shift, self.seed if seed is None else seed) if self.augment else None

    def splits(self) -> data_module.Splits:
        """The data set this configuration trains on."""
        return data_module.load(self.data, **self.data_kwargs)


RECIPES = {
    "digits-mlp": TrainConfig(model="mlp", data="digits"),
    "digits-cnn": TrainConfig(model="cnn", data="digits", data_kwargs={"image": True}, epochs=20),
    # Chapter 5.1: the compact residual CNN on Fashion-MNIST (≈ 78 k parameters, 9.3 M MACs per image),
    # trained in five epochs: SGD with momentum, a one-cycle rate, label smoothing, channels-last layout.
    "fashion-resnet": TrainConfig(model="fashion_resnet", data="fashion_mnist", epochs=5, batch_size=128, lr=0.1,
                                  optimizer="sgd", weight_decay=5e-4, schedule="onecycle", label_smoothing=0.1,
                                  channels_last=True),
    # Chapter 5.3: the DS-CNN keyword spotter on synthesised speech (generating the data takes ~1 min).
    "speech-dscnn": TrainConfig(model="dscnn", data="speech", data_kwargs={"copies": 1}, epochs=12, lr=3e-3),
}


def cache_dir() -> Path:
    """The trained-model cache: ``$COMPANION_CACHE_DIR``, else the user cache directory."""
    override = os.environ.get("COMPANION_CACHE_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_cache_dir("companion-book"))


def train_config(config: TrainConfig, device: str | torch.device | None = None,
                 progress: bool | None = None) -> tuple[nn.Module, list[dict]]:
    """Train the model a configuration describes, from scratch; return it (in eval mode) and its history.

    Training runs on ``TRAIN_THREADS`` CPU threads whatever the caller set: a matrix product can sum in
    a different order on another thread count, and the cached weights must not depend on which
    chapter happened to train them first.
    """
    if config.optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {config.optimizer!r}")
    _parse_augment(config.augment)
    device = choose_device(device)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(TRAIN_THREADS)
    try:
        return _train(config, device, progress)
    finally:
        torch.set_num_threads(previous_threads)


def _train(config: TrainConfig, device: torch.device, progress: bool | None) -> tuple[nn.Module, list[dict]]:
    seed_everything(config.seed)
    splits = config.splits()
    model = models_module.build(config.model, **config.model_kwargs).to(device)
    augment = config.augmentation()
    history = finetune(model, splits.loader("train", config.batch_size, seed=config.seed), config.epochs, lr=config.lr,
                       optimizer=config.optimizer, momentum=config.momentum, weight_decay=config.weight_decay,
                       schedule=config.schedule, label_smoothing=config.label_smoothing, augment=augment,
                       channels_last=config.channels_last, val_loader=splits.loader("val", 512), device=device,
                       progress=progress)
    return model, history


def _parse_augment(name: str) -> tuple[bool, int]:
    """``''`` → no augmentation; ``'flip'``, ``'shift<k>'`` or ``'flip+shift<k>'`` → (flip, shift)."""
    flip, shift = False, 0
    for part in filter(None, name.split("+")):
        if part == "flip":
            flip = True
        elif part.startswith("shift") and part[5:].isdigit():
            shift = int(part[5:])
        else:
            raise ValueError(f"augment must be '', 'flip', 'shift<k>' or 'flip+shift<k>', got {name!r}")
    return flip, shift


def pretrained(config: TrainConfig | str, device: str | torch.device | None = None,
               progress: bool | None = None) -> nn.Module:
    """The trained model for ``config`` (a :class:`TrainConfig` or a key of :data:`RECIPES`), from the cache.

    On a cache miss the model is trained with :func:`train_config` and saved atomically (a temporary
    file renamed into place), so concurrent runs never read a half-written file. The model comes back
    on ``device`` in eval mode.
    """
    if isinstance(config, str):
        if config not in RECIPES:
            raise ValueError(f"config must be a TrainConfig or one of {sorted(RECIPES)}, got {config!r}")
        config = RECIPES[config]
    device = choose_device(device)
    path = cache_dir() / f"{config.model}-{config.data}-{config.key(device)}.pt"
    model = models_module.build(config.model, **config.model_kwargs)
    if _load_cached(model, path):
        return model.to(device).eval()
    trained, _ = train_config(config, device, progress)
    _save_atomically(trained.state_dict(), path)
    return trained.eval()


def _load_cached(model: nn.Module, path: Path) -> bool:
    """Load the state saved at ``path`` into ``model``; False when there is none or it no longer fits.

    A file written by an older layout of the same modules (a key missing, unexpected or of another
    shape) is treated as a cache miss, so the model is trained again rather than half loaded.
    """
    if not path.exists():
        return False
    try:
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except (RuntimeError, ValueError, EOFError):  # a layout that no longer fits, or a truncated file
        return False
    return True


def _on_cpu(value: object) -> object:
    """``value`` with every tensor in it detached and on the CPU (a state_dict may hold dicts: extra state)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _on_cpu(v) for k, v in value.items()}
    return value


def _save_atomically(state: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as handle:
        torch.save(_on_cpu(state), handle)
    os.replace(handle.name, path)


def _derived_path(kind: str, name: str, settings: dict, device: torch.device) -> Path:
    if not name or not isinstance(settings, dict):
        raise ValueError(f"name must be a non-empty string and settings a dict, got {name!r}, {type(settings).__name__}")
    text = json.dumps({"name": name, "settings": settings, "format": CACHE_FORMAT, "device": device.type},
                      sort_keys=True, default=str)
    return cache_dir() / f"{kind}-{name}-{hashlib.sha256(text.encode()).hexdigest()[:16]}.pt"


def cached_tensors(name: str, settings: dict, compute: Callable[[], dict[str, torch.Tensor]],
                   device: str | torch.device | None = None) -> dict[str, torch.Tensor]:
    """Results too slow to recompute on every run (e.g. a large model's outputs on fixed inputs), cached.

    ``compute()`` returns a dict of tensors; it runs once per ``name``/``settings`` (which must hold
    everything that decides the result) and device type, and later calls load the saved tensors.
    """
    path = _derived_path("tensors", name, settings, choose_device(device))
    if path.exists():
        return torch.load(path, map_location="cpu", weights_only=True)
    result = compute()
    if not isinstance(result, dict) or not all(isinstance(v, torch.Tensor) for v in result.values()):
        raise TypeError("compute must return a dict of tensors")
    _save_atomically(result, path)
    return {k: v.detach().cpu() for k, v in result.items()}


def cached_derived(name: str, settings: dict, build: Callable[[], nn.Module],
                   train: Callable[[nn.Module], None], device: str | torch.device | None = None) -> nn.Module:
    """A model derived from a trained one (pruned, fine-tuned, quantization-aware…), cached like :func:`pretrained`.

    ``build()`` returns the derived model before its training, deterministically (the same
    architecture and starting weights on every call); ``train(model)`` trains it in place. The result's
    ``state_dict`` is saved under a hash of ``name``, ``settings`` (a JSON-serialisable dict that must
    hold everything that decides the result: the base model's recipe, amounts, epochs, learning rate…)
    and the device type; later calls rebuild the architecture and load the saved state instead of
    training. Training runs seeded (``settings.get('seed', 0)``) on ``TRAIN_THREADS`` threads.
    """
    device = choose_device(device)
    path = _derived_path("derived", name, settings, device)
    model = build()
    if _load_cached(model, path):
        return model.to(device).eval()
    model = build()  # a stale file may have loaded in part before it was refused
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(TRAIN_THREADS)
    try:
        seed_everything(settings.get("seed", 0))
        model.to(device)
        train(model)
    finally:
        torch.set_num_threads(previous_threads)
    _save_atomically(model.state_dict(), path)
    return model.eval()
def cached_result(name: str, settings: dict, compute: Callable[[], object]) -> object:
    """The result of an experiment too slow to rerun on every read, computed once per ``settings``.

    ``settings`` must hold everything that decides the result (epochs, learning rate, seeds, ...);
    the file ``<cache_dir>/<name>-<hash of settings>.json`` keeps ``compute()``'s value, which must
    be JSON-serialisable (numbers, strings, lists, dicts; a float NaN survives). On a miss it is
    computed and saved atomically, as :func:`pretrained` saves models.
    """
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "-_" for c in name):
        raise ValueError(f"name must be a non-empty string of letters, digits, '-' and '_', got {name!r}")
    if not isinstance(settings, dict):
        raise TypeError(f"settings must be a dict, got {type(settings).__name__}")
    text = json.dumps({"settings": settings, "format": CACHE_FORMAT}, sort_keys=True)
    path = cache_dir() / f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:16]}.json"
    if path.exists():
        return json.loads(path.read_text())
    result = compute()
    try:
        payload = json.dumps(result)
    except TypeError as error:
        raise TypeError(f"compute() must return JSON-serialisable data, got {type(result).__name__}: {error}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as handle:
        handle.write(payload)
    os.replace(handle.name, path)
    return json.loads(payload)
