"""Dense vs CSR matrix product across weight sparsities: where does sparse start to pay off on this CPU?

    python benchmarks/bench_sparse_matmul.py [--size 1024] [--batch 64] [--threads N]

Prints one row per sparsity: median milliseconds of ``F.linear`` (dense) and ``torch.sparse.mm`` (CSR),
and the speed-up of CSR over dense, measured side by side with ``torch.utils.benchmark``.
"""
from __future__ import annotations

import argparse

import torch

from companion.prune import matmul_latency


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024, help="the layer is size × size")
    parser.add_argument("--batch", type=int, default=64, help="rows of the input")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--min-run-time", type=float, default=0.3, help="seconds per measurement")
    args = parser.parse_args()
    torch.manual_seed(0)
    weight, x = torch.randn(args.size, args.size), torch.randn(args.batch, args.size)
    magnitude = weight.abs().flatten().sort().values
    print(f"{'sparsity':>8} {'dense ms':>9} {'CSR ms':>9} {'speed-up':>9}")
    for sparsity in (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995):
        count = round(sparsity * weight.numel())
        threshold = magnitude[count - 1] if count else -1.0
        pruned = torch.where(weight.abs() > threshold, weight, torch.zeros(()))
        times = matmul_latency(pruned, x, min_run_time=args.min_run_time, threads=args.threads)
        print(f"{sparsity:8.3f} {times['dense_ms']:9.3f} {times['csr_ms']:9.3f} {times['dense_ms'] / times['csr_ms']:9.2f}")


if __name__ == "__main__":
    main()
