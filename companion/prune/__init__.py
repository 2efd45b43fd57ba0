"""Pruning: removing weights, neurons, filters and channels.

Structured pruning (chapter 3.5) removes whole units and everything that depends on them:

- :mod:`companion.prune.dependency`  which channels are tied together (fx-traced dependency groups)
- :mod:`companion.prune.importance`  importance criteria (weight norms, BatchNorm scale, mean
  activation, APoZ, first-order Taylor) and dead units
- :mod:`companion.prune.surgery`     physical removal, masking, per-group ratios from sensitivity
- :mod:`companion.prune.speedup`     measured speedup next to the MAC ratio
"""
from .dependency import Consumer, DependencyGroup, dependency_groups
from .importance import (CRITERIA, ChannelStats, apoz, bn_scale, channel_stats, dead_units, group_scores,
                         mean_activation, taylor, weight_norm)
from .speedup import interleaved_latency, layer_latencies, ln_structured_masked, speedup_rows
from .surgery import (group_sensitivity, mask_units, prune_channels, ratios_from_sensitivity, remove_units,
                      uniform_amount_for_macs, units_to_remove)

__all__ = ["Consumer", "DependencyGroup", "dependency_groups",
           "CRITERIA", "ChannelStats", "apoz", "bn_scale", "channel_stats", "dead_units", "group_scores",
           "mean_activation", "taylor", "weight_norm",
           "interleaved_latency", "layer_latencies", "ln_structured_masked", "speedup_rows",
           "group_sensitivity", "mask_units", "prune_channels", "ratios_from_sensitivity", "remove_units",
           "uniform_amount_for_macs", "units_to_remove"]
