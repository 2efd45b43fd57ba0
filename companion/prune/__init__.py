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
"""
from .dependency import Consumer, DependencyGroup, dependency_groups
from .importance import (CRITERIA, ChannelStats, apoz, bn_scale, channel_stats, dead_units, group_scores,
                         mean_activation, taylor, weight_norm)
from .lottery import TicketRound, apply_masks_, find_ticket, masks_of, rewind_, snapshot, train_with_masks
from .masks import (PRUNABLE_TYPES, amount_to_count, apply_mask, clone, effective_weight, get_mask, is_pruned,
                    layer_sparsities, make_permanent, prunable_weights, smallest_mask, weight_sparsity)
from .schedules import AGP, GradualPruner, agp_sparsity, iterative, one_shot, prune_to
from .sensitivity import sensitivity_scan
from .sparse import (SparseLinear, csr_bytes, csr_model_bytes, csr_state_dict, load_csr, matmul_latency, save_csr,
                     to_csr)
from .speedup import fold_batchnorm, interleaved_latency, layer_latencies, ln_structured_masked, speedup_rows
from .surgery import (group_sensitivity, mask_units, prune_channels, ratios_from_sensitivity, remove_units,
                      uniform_amount_for_macs, units_to_remove)
from .unstructured import (global_magnitude, is_nm_sparse, l1_unstructured, nm_mask, nm_prune, prune_by_scores,
                           random_unstructured)
