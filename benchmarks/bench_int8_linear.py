"""Latency of one 1024×1024 Linear: fp32 vs companion int8 (dynamic) vs torch.ao (deprecated) vs torchao.

Run:  PYTHONPATH=. python benchmarks/bench_int8_linear.py [--threads 1 2] [--rounds 7] [--min-run-time S]

All four are timed in the same process, interleaved round by round with
``companion.measure.interleaved_latency`` (each keeps the median of its per-round medians), by
:func:`companion.quant.baselines.linear_latency_table`, once per thread count. Read the ratio
columns: absolute times depend on the machine and on what else runs on it. The last lines state
the goal of chapter 3.2: the companion's int8 Linear within 1.5× of torch.ao's time at batch 64.
With one thread the table is measured a second time in the thread's CPU time, which leaves out the
time spent waiting for a core on a machine shared with other work (wall-clock ratios are then noisy).
"""
from __future__ import annotations

import argparse
import os

from companion.quant.baselines import linear_latency_table

GOAL = 1.5  # companion time / torch.ao time at batch 64


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=1024, help="in and out features of the layer")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="intra-op thread counts to measure")
    parser.add_argument("--min-run-time", type=float, default=1.0, help="seconds per implementation and batch")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds (median of the rounds' medians)")
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{args.features}×{args.features} Linear, {args.rounds} interleaved rounds, medians; "
          f"{os.cpu_count()} CPUs, load average {load:.1f} at the start")
    ratios = {}
    clocks = [(threads, False) for threads in args.threads] + ([(1, True)] if 1 in args.threads else [])
    for threads, cpu_time in clocks:
        rows = linear_latency_table(args.features, threads=threads, min_run_time=args.min_run_time, rounds=args.rounds,
                                    cpu_time=cpu_time)
        clock = "CPU time of the thread" if cpu_time else "wall-clock time"
        print(f"\n{threads} thread(s), {clock}")
        print(f"{'batch':>5}  {'implementation':<30} {'median ms':>10} {'× vs fp32':>10} {'time/torch.ao':>14}")
        for row in rows:
            print(f"{row['batch']:>5}  {row['implementation']:<30} {row['median ms']:>10.3f} "
                  f"{row['speed-up vs fp32']:>10.2f} {row['time / torch.ao']:>14.2f}")
        ratios[threads, clock] = next(r["time / torch.ao"] for r in rows
                                      if r["batch"] == 64 and r["implementation"] == "companion int8")
    print()
    for (threads, clock), ratio in ratios.items():
        verdict = "met" if ratio <= GOAL else "not met"
        print(f"median ratio companion/torch.ao at batch 64, {threads} thread(s), {clock}: {ratio:.2f} "
              f"(goal ≤ {GOAL}: {verdict})")

if __name__ == "__main__":
    main()
