"""Latency of one 1024×1024 Linear: fp32 vs companion int8 (dynamic) vs torch.ao (deprecated) vs torchao.

Run:  PYTHONPATH=. python benchmarks/bench_int8_linear.py [--threads N] [--min-run-time S]

All four are timed in the same process, one after another, with ``companion.measure.latency`` (median
of ``torch.utils.benchmark`` blocks), by :func:`companion.quant.baselines.linear_latency_table`. Read
the ratio columns: absolute times depend on the machine and on what else runs on it.
"""
from __future__ import annotations

import argparse

from companion.quant.baselines import linear_latency_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=1024, help="in and out features of the layer")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads (default: torch's)")
    parser.add_argument("--min-run-time", type=float, default=1.0, help="seconds per implementation and batch")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (median of the rounds' medians)")
    args = parser.parse_args()
    rows = linear_latency_table(args.features, threads=args.threads, min_run_time=args.min_run_time, rounds=args.rounds)
    print(f"{args.features}×{args.features} Linear, {rows[0]['batch']} and {rows[-1]['batch']} rows, medians")
    print(f"{'batch':>5}  {'implementation':<30} {'median ms':>10} {'× vs fp32':>10} {'time/torch.ao':>14}")
    for row in rows:
        print(f"{row['batch']:>5}  {row['implementation']:<30} {row['median ms']:>10.3f} {row['speed-up vs fp32']:>10.2f} "
              f"{row['time / torch.ao']:>14.2f}")


if __name__ == "__main__":
    main()
