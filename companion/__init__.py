"""companion: the code of *Model Optimization and Pruning in PyTorch*.

Every technique in the book is implemented here from scratch in plain PyTorch, one concern per
module, so that the code for any equation in the text lives in one place:

- :mod:`companion.data`     data sets that need no network (digits, MNIST-1D, Fashion-MNIST, bundled photos,
                            synthetic keywords)
- :mod:`companion.speech`   keyword data synthesised with espeak-ng and flite, split by voice, cached
- :mod:`companion.features` log-mel spectrograms from scratch (Hann window, HTK mel filterbank)
- :mod:`companion.models`   the book's models (LeNet-300-100-shaped MLP, small CNN, ResNets, DS-CNN,
                            EfficientNet-Lite0)
- :mod:`companion.train`    ``fit``/``evaluate``, seeding, device choice, the trained-model cache
- :mod:`companion.optim`    gradient descent from scratch, LR schedules, weight/gradient clipping, L1/L2
- :mod:`companion.quant`    the affine mapping, observers, dynamic/static PTQ, integer-only inference,
  low-bit (uniform, binary, ternary, k-means), bit packing, QAT, mixed precision
- :mod:`companion.prune`    weight masks and schedules, lottery tickets, sparse storage; neuron/channel
  importance and physical removal with dependency groups
- :mod:`companion.layers`   the Linear/Conv types, iterating weight layers, replacing a submodule, folding BatchNorm
- :mod:`companion.distributed`  pruning and QAT under DDP: masks decided on rank 0, synchronised
  observers, rank-0 checkpoints, cross-rank checks
- :mod:`companion.measure`  parameters, non-zeros, bytes, MACs, latency (all timing), accuracy
- :mod:`companion.text`     chapter 5.2: a BERT sentence encoder from scratch (all-MiniLM-L6-v2), its data,
  int8/4-bit quantization and head/neuron pruning
- :mod:`companion.validate` the argument checks shared by the package (every bad input raises, naming it)
- :mod:`companion.plots`    the book's figure style
- :mod:`companion.widgets`  interactive explorers from precomputed frames (work on the static site too)
- :mod:`companion.compress` Deep Compression to a file: Huffman coding, relative indices, a checksummed format
- :mod:`companion.checks`   self-checks for the exercises
- :mod:`companion.source`   ``companion.show(obj)``: the highlighted source of a function on the page
"""
from .source import show

__all__ = ["show"]

__version__ = "0.1.0"
