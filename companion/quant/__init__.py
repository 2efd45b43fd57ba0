"""Quantization from scratch: the affine mapping, observers, PTQ, integer-only inference, low-bit, QAT.

:mod:`companion.quant.affine` is the core every other module builds on. Chapter 3.2 (integers):

- :mod:`~companion.quant.observers`    range rules for calibration (min-max, moving average, percentile, MSE, histogram)
- :mod:`~companion.quant.intmm`        the int8 × int8 → int32 matrix product
- :mod:`~companion.quant.fixed_point`  requantization with an integer multiplier and shift
- :mod:`~companion.quant.dynamic`      dynamic PTQ of Linear layers
- :mod:`~companion.quant.static`       static PTQ and integer-only layers
- :mod:`~companion.quant.serialize`    int8 files
- :mod:`~companion.quant.footprint`    the bytes a device stores for a float or an integer model
- :mod:`~companion.quant.baselines`    PyTorch's own int8 paths (torch.ao, torchao), for comparison

Chapter 3.3 (below 8 bits): :mod:`~companion.quant.lowbit` (uniform, binary, ternary),
:mod:`~companion.quant.kmeans` (weight sharing), :mod:`~companion.quant.packing` (bit packing),
:mod:`~companion.quant.qat` (quantization-aware training), :mod:`~companion.quant.mixed` (mixed precision).
Chapter 7 (trends): :mod:`~companion.quant.fp8` (scaled FP8 casts).

Export policy (the same in :mod:`companion.prune`): every module lists its public names in
``__all__`` and this package re-exports all of them, so ``from companion.quant import X`` works for
every public ``X``; names starting with ``_`` stay inside their module.
"""
from ..layers import fold_batchnorm, fold_conv_bn
from . import (affine, baselines, dynamic, fixed_point, footprint, fp8, intmm, kmeans, lowbit, lowbit_file, mixed, observers,
               packing, qat, residual, serialize, simulate, static)
from .affine import *  # noqa: F401,F403
from .baselines import *  # noqa: F401,F403
from .dynamic import *  # noqa: F401,F403
from .fixed_point import *  # noqa: F401,F403
from .footprint import *  # noqa: F401,F403
from .fp8 import *  # noqa: F401,F403
from .intmm import *  # noqa: F401,F403
from .kmeans import *  # noqa: F401,F403
from .lowbit import *  # noqa: F401,F403
from .lowbit_file import *  # noqa: F401,F403
from .mixed import *  # noqa: F401,F403
from .observers import *  # noqa: F401,F403
from .packing import *  # noqa: F401,F403
from .qat import *  # noqa: F401,F403
from .residual import *  # noqa: F401,F403
from .serialize import *  # noqa: F401,F403
from .simulate import *  # noqa: F401,F403
from .static import *  # noqa: F401,F403

#: ``fuse_conv_bn`` is chapter 3.2's earlier name of :func:`companion.layers.fold_batchnorm`.
fuse_conv_bn = fold_batchnorm

MODULES = (affine, observers, intmm, fixed_point, dynamic, static, serialize, baselines, lowbit, kmeans, packing, qat,
           mixed, fp8, lowbit_file, residual, simulate, footprint)
__all__ = [name for module in MODULES for name in module.__all__] + ["fold_batchnorm", "fold_conv_bn", "fuse_conv_bn"]
