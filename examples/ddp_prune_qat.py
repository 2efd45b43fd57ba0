"""Prune-and-fine-tune, then quantization-aware training, of the digits CNN under DDP.

    torchrun --nproc-per-node=2 examples/ddp_prune_qat.py [--sparsity 0.8] [--weight-bits 4] [--out DIR]

The same script is written for CPUs (Gloo) and GPUs (NCCL, one GPU per rank): the backend is picked by
:func:`companion.distributed.default_backend` (the NCCL path has not been run on GPUs yet). Run from
the repository root with ``PYTHONPATH=.``.

1. Every rank loads the cached trained digits CNN (``companion.train.pretrained('digits-cnn')``;
   rank 0 trains and caches it first if it is missing) and folds its BatchNorms into the convolutions
   (BatchNorm statistics would otherwise be per rank; ``SyncBatchNorm`` exists for GPUs only).
2. Pruning: layer-wise magnitude pruning, each Linear/Conv weight to ``--sparsity``, decided on
   rank 0 and broadcast; DDP fine-tuning for ``--prune-epochs`` epochs with a ``DistributedSampler``
   (each rank sees its slice of every global batch).
3. QAT: the masks are folded in, the model is prepared with LSQ ``--weight-bits`` weights and 8-bit
   activations whose ranges are all-reduced across ranks, and fine-tuned for ``--qat-epochs``
   epochs, re-zeroing the pruned weights after every optimizer step on every rank; then converted
   to integer codes.
4. Every rank checks that its weights, masks and quantization parameters equal the other ranks';
   rank 0 evaluates on the test split and writes ``results.json`` and ``checkpoint.pt`` to ``--out``.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from torch import distributed as dist
from torch.nn import functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from companion import distributed as cdist
from companion.data import digits
from companion.layers import fold_batchnorm
from companion.prune import make_permanent, masks_of, prunable_weights, prune_to, weight_sparsity
from companion.quant.qat import convert, prepare_qat, quantized_weights
from companion.train import evaluate, pretrained


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sparsity", type=float, default=0.8, help="sparsity of every Linear/Conv weight, in [0, 1)")
    parser.add_argument("--weight-bits", type=int, default=4, help="LSQ weight bits, 2..8")
    parser.add_argument("--prune-epochs", type=int, default=3)
    parser.add_argument("--qat-epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32, help="examples per rank per step")
    parser.add_argument("--lr", type=float, default=0.01, help="SGD learning rate (momentum 0.9)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("_build/ddp_prune_qat"))
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds a rank waits in a collective before failing (rank 0 may first train the baseline)")
    args = parser.parse_args(argv)
    if not 0 <= args.sparsity < 1:
        parser.error(f"--sparsity must be in [0, 1), got {args.sparsity}")
    if args.prune_epochs < 1 or args.qat_epochs < 1 or args.batch_size < 1:
        parser.error("--prune-epochs, --qat-epochs and --batch-size must be positive")
    return args


def train_epochs(model, splits, args, epochs: int, device, masks=None) -> None:
    """DDP fine-tuning: each rank reads its ``DistributedSampler`` slice; DDP averages the gradients."""
    ddp = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None,
                                  forward_sync_buffers=False)
    dataset = TensorDataset(splits.x_train, splits.y_train)
    sampler = DistributedSampler(dataset, shuffle=True, seed=args.seed, drop_last=True)
    loader = DataLoader(dataset, batch_size=args.batch_size, sampler=sampler, drop_last=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    ddp.train()
    for epoch in range(epochs):
        sampler.set_epoch(epoch)  # a new shuffle each epoch, the same on every rank
        for x, y in loader:
            optimizer.zero_grad()
            F.cross_entropy(ddp(x.to(device)), y.to(device)).backward()  # gradients all-reduced here
            optimizer.step()
            if masks is not None:
                cdist.reapply_masks_(model, masks)  # on every rank, after every step
    model.eval()


def accuracy_on_test(model, splits) -> float:
    return evaluate(model, splits.loader("test", 512)).accuracy


def code_sparsity(quantized) -> float:
    """Fraction of the converted model's dequantized weights that are exactly zero."""
    weights = [w.dequantize() for w in quantized_weights(quantized).values()]
    return sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(1)
    device = cdist.init_from_env(timeout_s=args.timeout)
    start = time.perf_counter()
    rank, world = cdist.rank(), cdist.world_size()
    torch.manual_seed(args.seed)
    splits = digits(image=True)

    if rank == 0:
        pretrained("digits-cnn", device="cpu")  # trains and caches it once if missing
    dist.barrier()
    model = fold_batchnorm(pretrained("digits-cnn", device="cpu")).to(device)
    results = {"world_size": world, "backend": dist.get_backend(), "device": device.type,
               "sparsity_target": args.sparsity, "weight_bits": args.weight_bits,
               "global_batch": args.batch_size * world, "dense_accuracy": accuracy_on_test(model, splits)}

    # Pruning: the masks are decided once, on rank 0, and broadcast.
    cdist.decide_masks_on_rank0(model, lambda m: prune_to(prunable_weights(m), args.sparsity, scope="layer"))
    results["pruned_accuracy"] = accuracy_on_test(model, splits)
    train_epochs(model, splits, args, args.prune_epochs, device)
    cdist.assert_same_on_all_ranks(model)
    results["sparsity"] = weight_sparsity(model)
    results["finetuned_accuracy"] = accuracy_on_test(model, splits)

    # QAT on the pruned model: fold the masks in, re-zero the pruned weights after every step.
    masks = masks_of(model)
    qat = prepare_qat(make_permanent(model), weight_bits=args.weight_bits, act_bits=8, lsq=True).to(device)
    cdist.sync_observers(qat)
    train_epochs(qat, splits, args, args.qat_epochs, device, masks=masks)
    results["max_rank_difference"] = max(cdist.rank_differences(qat).values())
    cdist.assert_same_on_all_ranks(qat)
    qat = qat.cpu()  # integer conversion and evaluation on the CPU
    quantized = convert(qat)
    results["qat_accuracy"] = accuracy_on_test(qat, splits)
    results["int_accuracy"] = accuracy_on_test(quantized, splits)
    results["int_sparsity"] = code_sparsity(quantized)
    results["seconds"] = time.perf_counter() - start

    cdist.save_on_rank0(quantized.state_dict(), args.out / "checkpoint.pt")
    if rank == 0:
        (args.out / "results.json").write_text(json.dumps(results, indent=2))
        print(json.dumps(results, indent=2))
    dist.destroy_process_group()
    return results


if __name__ == "__main__":
    main()
