"""Pruning: removing weights (chapter 3.4) and whole neurons, filters and channels (chapter 3.5).

Weights (unstructured and N:M):

- :mod:`companion.prune.masks`         masks through PyTorch's ``weight_orig``/``weight_mask`` reparametrisation
- :mod:`companion.prune.unstructured`  magnitude (layer-wise, global), random, by any score, N:M
- :mod:`companion.prune.schedules`     one-shot, iterative, gradual (AGP) and its training hook
- :mod:`companion.prune.lottery`       iterative magnitude pruning with rewinding (lottery tickets)
- :mod:`companion.prune.sensitivity`   per-layer sensitivity scans
- :mod:`companion.prune.sparse`        CSR storage, its bytes, sparse matmul and its latency

Structured pruning removes whole units and everything that depends on them:

- :mod:`companion.prune.dependency`  which channels are tied together (fx-traced dependency groups)
- :mod:`companion.prune.importance`  importance criteria (weight norms, BatchNorm scale, mean
  activation, APoZ, first-order Taylor) and dead units
- :mod:`companion.prune.surgery`     physical removal, masking, per-group ratios from sensitivity
- :mod:`companion.prune.speedup`     measured speedup next to the MAC ratio

Export policy (the same in :mod:`companion.quant`): every module lists its public names in
``__all__`` and this package re-exports all of them; names starting with ``_`` stay inside their module.
It also re-exports the helpers of :mod:`companion.layers` and :mod:`companion.measure` that chapter
3.5 introduced from here (``fold_batchnorm``, ``interleaved_latency``, ``layer_latencies``).
"""
from ..layers import fold_batchnorm
from ..measure import interleaved_latency, layer_latencies
from . import dependency, importance, lottery, masks, schedules, sensitivity, sparse, speedup, surgery, unstructured
from .dependency import *  # noqa: F401,F403
from .importance import *  # noqa: F401,F403
from .lottery import *  # noqa: F401,F403
from .masks import *  # noqa: F401,F403
from .schedules import *  # noqa: F401,F403
from .sensitivity import *  # noqa: F401,F403
from .sparse import *  # noqa: F401,F403
from .speedup import *  # noqa: F401,F403
from .surgery import *  # noqa: F401,F403
from .unstructured import *  # noqa: F401,F403

MODULES = (masks, unstructured, schedules, lottery, sensitivity, sparse, dependency, importance, surgery, speedup)
__all__ = [name for module in MODULES for name in module.__all__] + ["fold_batchnorm", "interleaved_latency", "layer_latencies"]
