"""Compression to a file: Deep Compression's coding stages (chapter 4).

- :mod:`companion.compress.huffman`          optimal prefix codes (canonical Huffman) from scratch
- :mod:`companion.compress.relative_index`   sparse positions as fixed-width gaps with filler zeros
- :mod:`companion.compress.container`        one file: header, version, CRC-32, codebooks, bitstreams
- :mod:`companion.compress.deep_compression` the pipeline's training stages and their cache
"""
from .container import (CODINGS, FORMAT_VERSION, MAGIC, CompressedFileError, decode_model, encode_model,
                        load_compressed, save_compressed, stored_copy)
from .deep_compression import (cached, finetune_centroids, fresh_process_logits, pin_zero_codes, prune_and_finetune,
                               share_pruned_weights)
from .huffman import canonical_codes, code_lengths, coded_bits, decode, encode, lengths_for
from .relative_index import filler_count, from_relative, to_relative

__all__ = ["CODINGS", "FORMAT_VERSION", "MAGIC", "CompressedFileError", "decode_model", "encode_model",
           "load_compressed", "save_compressed", "stored_copy", "cached", "finetune_centroids",
           "fresh_process_logits", "pin_zero_codes", "prune_and_finetune", "share_pruned_weights",
           "canonical_codes", "code_lengths", "coded_bits", "decode", "encode", "lengths_for", "filler_count",
           "from_relative", "to_relative"]
