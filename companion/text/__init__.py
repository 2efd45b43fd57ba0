"""Natural language (chapter 5.2): a BERT sentence encoder from scratch, its data, and its compression.

- :mod:`~companion.text.encoder`   the encoder (embeddings, attention, FFN, LayerNorm, mean pooling),
  loading all-MiniLM-L6-v2's real weights
- :mod:`~companion.text.tokenizer` WordPiece tokenization, truncation to the model's 512 positions
- :mod:`~companion.text.data`      the UCI Sentiment Labelled Sentences, vendored
- :mod:`~companion.text.embed`     batched embedding and the embedding cache
- :mod:`~companion.text.compress`  int8 embedding tables and 4-bit group-wise weight-only Linears
- :mod:`~companion.text.pruning`   head and FFN-neuron importance (Michel et al. 2019) and removal
- :mod:`~companion.text.evaluate`  accuracy, cosine to fp32 and bytes of one encoder variant
"""
from .compress import Int4Linear, Int8Embedding, quantize_embeddings, quantize_linears_int4
from .data import TextSplits, sentiment_sentences
from .embed import cached, cached_embeddings, embed, fingerprint, texts_fingerprint
from .encoder import EncoderConfig, SentenceEncoder, load_minilm, mean_pool, model_dir
from .evaluate import classifier_accuracy, variant_row
from .pruning import IMPORTANCE_FORMAT, gate_importance, lowest_units, normalize_per_layer, prune_heads, prune_neurons
from .tokenizer import TokenBatch, Tokenizer

__all__ = ["EncoderConfig", "SentenceEncoder", "load_minilm", "mean_pool", "model_dir", "TokenBatch", "Tokenizer",
           "TextSplits", "sentiment_sentences", "cached", "cached_embeddings", "embed", "fingerprint",
           "texts_fingerprint", "Int4Linear", "Int8Embedding", "quantize_embeddings", "quantize_linears_int4",
           "IMPORTANCE_FORMAT", "gate_importance", "lowest_units", "normalize_per_layer", "prune_heads",
           "prune_neurons", "classifier_accuracy", "variant_row"]
