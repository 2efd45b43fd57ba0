"""The UCI "Sentiment Labelled Sentences" (Kotzias et al. 2015), vendored in ``companion/datasets``.

Positive (1) or negative (0) one-sentence reviews from Amazon, IMDb and Yelp. Loading drops the one
empty, unlabelled entry each file holds and repeated sentences (the first occurrence is kept), then
cuts a seeded permutation into training and test sentences. Licence (CC BY 4.0) and citation are in
the data folder's README.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = ["DATA_DIR", "SOURCES", "TextSplits", "read_sentences", "sentiment_sentences"]

DATA_DIR = Path(__file__).resolve().parents[1] / "datasets" / "sentiment_labelled_sentences"
SOURCES = ("amazon", "imdb", "yelp")


@dataclass(frozen=True)
class TextSplits:
    """Training and test sentences with their labels (``int64``) and the site each came from."""

    train_texts: list[str]
    train_labels: torch.Tensor
    train_sources: list[str]
    test_texts: list[str]
    test_labels: torch.Tensor
    test_sources: list[str]
    dropped_unlabelled: int
    dropped_duplicates: int


def read_sentences(source: str) -> tuple[list[dict], int]:
    """The labelled entries ``{"text", "class"}`` of one site's file and how many unlabelled ones were dropped."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    entries = json.loads((DATA_DIR / f"{source}.json").read_text(encoding="utf-8"))
    labelled = [e for e in entries if e.get("class") in (0, 1) and e.get("text", "").strip()]
    return labelled, len(entries) - len(labelled)


def sentiment_sentences(test_fraction: float = 0.2, seed: int = 0) -> TextSplits:
    """All three sites' labelled, distinct sentences, split at random (seeded) into training and test."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    texts, labels, sources, seen = [], [], [], set()
    unlabelled = duplicates = 0
    for source in SOURCES:
        entries, dropped = read_sentences(source)
        unlabelled += dropped
        for entry in entries:
            if entry["text"] in seen:
                duplicates += 1
                continue
            seen.add(entry["text"])
            texts.append(entry["text"])
            labels.append(entry["class"])
            sources.append(source)
    order = torch.randperm(len(texts), generator=torch.Generator().manual_seed(seed)).tolist()
    n_test = round(len(texts) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    pick = lambda values, idx: [values[i] for i in idx]  # noqa: E731
    return TextSplits(pick(texts, train), torch.tensor(pick(labels, train)), pick(sources, train),
                      pick(texts, test), torch.tensor(pick(labels, test)), pick(sources, test),
                      unlabelled, duplicates)
