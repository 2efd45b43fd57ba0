"""Sentence embeddings of many texts, batched by length, and a cache for the expensive ones.

Padding costs compute: a batch is as long as its longest sentence. :func:`embed` therefore sorts the
texts by token count, embeds consecutive batches of similar length, and returns the embeddings in the
original order. The result does not depend on the batching: mean pooling ignores padding exactly
(masked scores get probability 0), so each embedding is that of the sentence alone, up to float rounding.

:func:`cached` stores a computed tensor (or dict of tensors) in the companion's cache directory
(``$COMPANION_CACHE_DIR``, see :func:`companion.train.cache_dir`) under a hash of everything that decides
it, so a chapter embeds its 3,000 sentences once.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from typing import Callable, Sequence

import torch
from torch import nn

from ..train import cache_dir
from .tokenizer import Tokenizer

__all__ = ["embed", "cached", "fingerprint", "texts_fingerprint", "cached_embeddings", "CACHE_FORMAT"]

CACHE_FORMAT = 1  # bump when the code changes what a cached entry holds


@torch.inference_mode()
def embed(model: nn.Module, tokenizer: Tokenizer, texts: Sequence[str], batch_size: int = 32) -> torch.Tensor:
    """``model``'s sentence embeddings of ``texts``, (len(texts), hidden), float32, in the order given."""
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    ids = tokenizer.encode(texts)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    model.eval()
    parts = []
    for start in range(0, len(order), batch_size):
        batch = tokenizer.pad([ids[i] for i in order[start:start + batch_size]])
        parts.append(model(batch.input_ids, batch.attention_mask).float())
    sorted_embeddings = torch.cat(parts)
    result = torch.empty_like(sorted_embeddings)
    result[torch.tensor(order)] = sorted_embeddings
    return result


def cached(name: str, key: dict, compute: Callable[[], torch.Tensor | dict]) -> torch.Tensor | dict:
    """``compute()``, saved once under ``name`` and a hash of ``key`` (JSON-serialisable), loaded afterwards.

    The file is written to a temporary name and renamed into place, so a concurrent reader never sees a
    half-written file.
    """
    text = json.dumps({"key": key, "format": CACHE_FORMAT}, sort_keys=True)
    path = cache_dir() / f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:16]}.pt"
    if path.exists():
        return torch.load(path, weights_only=True)
    value = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as handle:
        torch.save(value, handle)
    os.replace(handle.name, path)
    return value


def fingerprint(model: nn.Module) -> str:
    """A short hash of a model's saved form (``torch.save`` of its state_dict) and its structure (``repr``).

    Two models with the same fingerprint hold the same tensors in the same modules, so their outputs
    can be cached under it: a change to the weights or to how a model is compressed changes the key.
    """
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    digest = hashlib.blake2b(buffer.getbuffer(), digest_size=16)
    digest.update(repr(model).encode())
    return digest.hexdigest()


def texts_fingerprint(texts: Sequence[str]) -> str:
    """A short hash of a list of texts (their order included)."""
    return hashlib.blake2b("\x00".join(texts).encode(), digest_size=16).hexdigest()


def cached_embeddings(model: nn.Module, tokenizer: Tokenizer, texts: Sequence[str],
                      batch_size: int = 32) -> torch.Tensor:
    """:func:`embed`, cached under the model's :func:`fingerprint`, the texts and the tokenizer's length limit."""
    key = {"model": fingerprint(model), "texts": texts_fingerprint(texts), "max_length": tokenizer.max_length}
    return cached("embeddings", key, lambda: embed(model, tokenizer, texts, batch_size))
