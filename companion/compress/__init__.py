"""Compression to a file: Deep Compression's coding stages (chapter 4).

- :mod:`companion.compress.huffman`          optimal prefix codes (canonical Huffman) from scratch
- :mod:`companion.compress.relative_index`   sparse positions as fixed-width gaps with filler zeros
- :mod:`companion.compress.container`        one file: header, version, CRC-32, codebooks, bitstreams
- :mod:`companion.compress.deep_compression` the pipeline's training stages and their cache

Export policy (as in :mod:`companion.quant`): every module lists its public names in ``__all__`` and
this package re-exports all of them.
"""
from . import container, deep_compression, huffman, relative_index
from .container import *  # noqa: F401,F403
from .deep_compression import *  # noqa: F401,F403
from .huffman import *  # noqa: F401,F403
from .relative_index import *  # noqa: F401,F403

MODULES = (huffman, relative_index, container, deep_compression)
__all__ = [name for module in MODULES for name in module.__all__]
