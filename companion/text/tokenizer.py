"""WordPiece tokenization with the ``tokenizers`` library: text → padded token ids and an attention mask.

A sentence becomes ``[CLS] w_1 … w_n [SEP]`` (lower-cased, split into WordPiece sub-words from the
model's 30,522-entry vocabulary). A batch is padded with ``[PAD]`` (id 0) to its longest sentence; the
attention mask is 1 on real tokens and 0 on padding.

**Long text is truncated, not rejected**: the model has 512 positions, so a sentence longer than that
keeps its first 510 sub-words between ``[CLS]`` and ``[SEP]`` (``max_length`` lowers the limit; the
file's own setting of 128, inherited from training, is replaced). The encoder itself rejects ids longer
than its position table with a ``ValueError``, so nothing longer can reach it silently.
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, Sequence

import torch

__all__ = ["TokenBatch", "Tokenizer"]


class TokenBatch(NamedTuple):
    """Token ids and attention mask, both ``int64`` of shape (batch, T)."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor


class Tokenizer:
    """The model's WordPiece tokenizer from its ``tokenizer.json``, truncating to ``max_length`` tokens."""

    def __init__(self, path: str | Path | None = None, max_length: int = 512):
        from tokenizers import Tokenizer as HFTokenizer

        from .encoder import model_dir

        if not isinstance(max_length, int) or not 2 <= max_length <= 512:
            raise ValueError(f"max_length must be an integer in [2, 512] (the model's positions), got {max_length!r}")
        self.max_length = max_length
        self._tokenizer = HFTokenizer.from_file(str(path or model_dir() / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=max_length)
        self._tokenizer.no_padding()
        self.pad_id = self._tokenizer.token_to_id("[PAD]")

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """The token ids of each text, unpadded (each at most ``max_length`` long)."""
        if isinstance(texts, str):
            raise TypeError("texts must be a list of strings, got one string; wrap it in a list")
        texts = list(texts)
        if not texts:
            raise ValueError("texts is empty: a batch needs at least one text")
        wrong = [type(t).__name__ for t in texts if not isinstance(t, str)]
        if wrong:
            raise TypeError(f"texts must all be strings, got {wrong[0]}")
        return [encoding.ids for encoding in self._tokenizer.encode_batch(texts)]

    def pad(self, ids: Sequence[Sequence[int]]) -> TokenBatch:
        """Pad lists of token ids to the longest one: ``(input_ids, attention_mask)``."""
        if len(ids) == 0:
            raise ValueError("ids is empty: a batch needs at least one sequence")
        length = max(len(row) for row in ids)
        input_ids = torch.full((len(ids), length), self.pad_id, dtype=torch.int64)
        attention_mask = torch.zeros((len(ids), length), dtype=torch.int64)
        for i, row in enumerate(ids):
            input_ids[i, :len(row)] = torch.tensor(row, dtype=torch.int64)
            attention_mask[i, :len(row)] = 1
        return TokenBatch(input_ids, attention_mask)

    def __call__(self, texts: Sequence[str]) -> TokenBatch:
        """Tokenize and pad a batch of texts."""
        return self.pad(self.encode(texts))

    def token_id(self, token: str) -> int:
        """The id of one vocabulary entry, e.g. ``"[SEP]"`` (a ``ValueError`` if it is not in the vocabulary)."""
        index = self._tokenizer.token_to_id(token)
        if index is None:
            raise ValueError(f"token {token!r} is not in the vocabulary")
        return index

    def tokens(self, text: str) -> list[str]:
        """The sub-word strings of one text (for display)."""
        return self._tokenizer.encode(text).tokens
