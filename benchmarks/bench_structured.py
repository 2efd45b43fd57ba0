"""Physically pruned CNN and ResNet: measured CPU speedup next to the MAC ratio, in one run.

    python benchmarks/bench_structured.py [--batch 16] [--threads 1] [--rounds 7] [--min-run-time 0.1]

Models (random weights: speed does not depend on what they learned), on random 3×32×32 inputs:

- CNN: ``SmallCNN(in_channels=3, channels=(128, 256), size=32)``: conv 3→128, BN, ReLU, conv 128→256,
  BN, ReLU, 2×2 max-pool, linear;
- ResNet: ``ResNet((1, 1, 1), (64, 128, 256), stem='small')``: three stages of one basic block.

Each dependency group loses 25/50/75% of its channels (lowest L1 norm first). For each model and
variant (NCHW; channels_last; channels_last with BatchNorm folded into the convolutions, as deployed
models run; the masked model is not timed in that variant) the dense model, the ``ln_structured`` masked models and the
pruned models are timed interleaved (``--rounds`` rounds, each timing every model once); the table
prints medians, the MAC ratio MACs(dense)/MACs(pruned), the speedup latency(dense)/latency(pruned)
and the efficiency speedup/MAC ratio. The goal of chapter 3.5: efficiency ≥ 0.8 for the CNN at 50%.
"""
from __future__ import annotations

import argparse

import torch

from companion.models import ResNet, SmallCNN
from companion.prune import group_scores, speedup_rows

AMOUNTS = (0.25, 0.5, 0.75)
# (memory format, BatchNorm folded into the convolutions?) for each timed variant
VARIANTS = {"NCHW": (torch.contiguous_format, False), "channels_last": (torch.channels_last, False),
            "NHWC+BN folded": (torch.channels_last, True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16, help="images per call")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the timed calls")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds; the median is reported")
    parser.add_argument("--min-run-time", type=float, default=0.1, help="seconds per measurement")
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    x = torch.randn(args.batch, 3, 32, 32)
    models = {"CNN": SmallCNN(in_channels=3, channels=(128, 256), size=32),
              "ResNet": ResNet((1, 1, 1), (64, 128, 256), in_channels=3, num_classes=10, stem="small")}
    print(f"torch {torch.__version__}, {args.threads} thread(s), batch {args.batch}×3×32×32, "
          f"{args.rounds} interleaved rounds, medians")
    header = (f"{'model':<7} {'layout':<14} {'removed':>7} {'dense ms':>9} {'masked ms':>9} {'pruned ms':>9} "
              f"{'MAC ratio':>9} {'speedup':>8} {'eff.':>5}")
    print(header)
    for name, model in models.items():
        model.eval()
        scores = group_scores(model, x, "l1")
        for layout, (memory_format, fold_bn) in VARIANTS.items():
            rows = speedup_rows(model, x, AMOUNTS, scores, threads=args.threads, rounds=args.rounds,
                                min_run_time=args.min_run_time, memory_format=memory_format,
                                masked=not fold_bn, fold_bn=fold_bn)
            for row in rows:
                print(f"{name:<7} {layout:<14} {row['channels removed']:>7.0%} {row['dense ms']:9.2f} "
                      f"{row['masked ms']:9.2f} {row['pruned ms']:9.2f} {row['MAC ratio']:9.2f} {row['speedup']:8.2f} "
                      f"{row['efficiency']:5.2f}")


if __name__ == "__main__":
    main()
