"""One row of the chapter's comparison: what a compressed encoder keeps and what it costs.

For an encoder variant and a fixed classifier trained on the fp32 embeddings:

- task accuracy of ``classifier(variant embeddings)`` on labelled texts (in %);
- cosine similarity cos(e, e_fp32) = e·e_fp32 / (‖e‖ ‖e_fp32‖) of each text's embedding to the fp32
  encoder's, mean and minimum over the texts (1 = same direction);
- bytes on disk of ``torch.save(state_dict)`` (:func:`companion.measure.state_dict_bytes`).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from ..measure import accuracy, state_dict_bytes
from .embed import cached_embeddings
from .tokenizer import Tokenizer

__all__ = ["classifier_accuracy", "variant_row"]


def classifier_accuracy(classifier: nn.Module, embeddings: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of ``embeddings`` that ``classifier`` labels correctly (:func:`companion.measure.accuracy`)."""
    return accuracy(classifier, DataLoader(TensorDataset(embeddings, labels), batch_size=1024))


def variant_row(model: nn.Module, tokenizer: Tokenizer, texts: Sequence[str], labels: torch.Tensor,
                classifier: nn.Module, reference: torch.Tensor) -> dict:
    """Accuracy (%), mean and minimum cosine to ``reference`` (fp32 embeddings of ``texts``), MB on disk."""
    embeddings = cached_embeddings(model, tokenizer, texts)
    if embeddings.shape != reference.shape:
        raise ValueError(f"reference has shape {tuple(reference.shape)}, the embeddings {tuple(embeddings.shape)}")
    cosine = F.cosine_similarity(embeddings, reference, dim=1)
    return {"accuracy (%)": 100 * classifier_accuracy(classifier, embeddings, labels),
            "mean cosine": float(cosine.mean()), "min cosine": float(cosine.min()),
            "MB on disk": state_dict_bytes(model) / 1e6}
