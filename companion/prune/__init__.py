"""Pruning: masks, unstructured pruning, schedules, lottery tickets, sensitivity, sparse storage.

- :mod:`companion.prune.masks`         masks through PyTorch's ``weight_orig``/``weight_mask`` reparametrisation
- :mod:`companion.prune.unstructured`  magnitude (layer-wise, global), random, by any score, N:M
- :mod:`companion.prune.schedules`     one-shot, iterative, gradual (AGP) and its training hook
- :mod:`companion.prune.lottery`       iterative magnitude pruning with rewinding (lottery tickets)
- :mod:`companion.prune.sensitivity`   per-layer sensitivity scans
- :mod:`companion.prune.sparse`        CSR storage, its bytes, sparse matmul and its latency
"""
from .lottery import TicketRound, apply_masks_, find_ticket, masks_of, rewind_, snapshot, train_with_masks
from .masks import (PRUNABLE_TYPES, amount_to_count, apply_mask, clone, effective_weight, get_mask, is_pruned,
                    layer_sparsities, make_permanent, prunable_weights, smallest_mask, weight_sparsity)
from .schedules import AGP, GradualPruner, agp_sparsity, iterative, one_shot, prune_to
from .sensitivity import sensitivity_scan
from .sparse import (SparseLinear, csr_bytes, csr_model_bytes, csr_state_dict, load_csr, matmul_latency, save_csr,
                     to_csr)
from .unstructured import (global_magnitude, is_nm_sparse, l1_unstructured, nm_mask, nm_prune, prune_by_scores,
                           random_unstructured)
