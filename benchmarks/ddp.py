"""Data-parallel SVI throughput: one process vs several (gloo on CPU, nccl on GPU).

The same VaDE (the paper's networks by default) trains through ``SVITrainer`` alone and in a
process group of ``--processes`` ranks started with ``torch.multiprocessing`` (what torchrun
does), each rank with ``--threads`` torch threads and ``--batch`` rows per step. After a
warm-up epoch, the wall seconds of the next epochs give rows per second over all ranks; an
MNIST-sized epoch (70,000 rows) is extrapolated from them. Data: random rows in [0, 1] of
width 784 (the arithmetic of a step does not depend on the values).

    python benchmarks/ddp.py [--processes 1 2] [--batch 256] [--rows 4096] [--epochs 2]
        [--hidden 500 500 2000] [--threads 1] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from typing import Any

import torch
import torch.multiprocessing as mp
from _common import append_results, markdown_table

from pyroclust import zoo
from pyroclust.infer import SVITrainer, distributed

MNIST_ROWS = 70_000


def _run(rank: int, world: int, folder: str, args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if world > 1:
        if device.type == "cuda":
            torch.cuda.set_device(rank)
        torch.distributed.init_process_group(
            distributed.backend_for(device),
            init_method=f"file://{folder}/rendezvous",
            rank=rank,
            world_size=world,
        )
    if device.type == "cuda":
        device = torch.device("cuda", rank)
    try:
        x = torch.rand(args.rows, 784, generator=torch.Generator().manual_seed(0))
        torch.manual_seed(0)
        model, guide = zoo.make("vade", 784, n_components=10, latent_dim=10, hidden=args.hidden)
        marks: list[float] = []

        def mark(*_: Any) -> None:
            if device.type == "cuda":
                torch.cuda.synchronize()
            marks.append(time.perf_counter())

        trainer = SVITrainer(
            model,
            guide,
            epochs=1 + args.epochs,
            batch_size=args.batch,
            progress=False,
            device=device,
            random_state=0,
            callbacks=[mark],
        )
        trainer.fit(x)
        if rank == 0:
            seconds = (marks[-1] - marks[0]) / args.epochs
            steps = trainer.step // trainer.epoch
            torch.save({"seconds": seconds, "steps": steps}, f"{folder}/result.pt")
    finally:
        if world > 1:
            torch.distributed.destroy_process_group()


def measure(world: int, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        if world == 1:
            _run(0, 1, folder, args)
        else:
            mp.spawn(_run, args=(world, folder, args), nprocs=world, join=True)
        result = torch.load(os.path.join(folder, "result.pt"))
    rows_per_s = args.rows / result["seconds"]
    return {
        "device": args.device,
        "processes": world,
        "rows/step": args.batch * world,
        "steps/epoch": result["steps"],
        "s/epoch": result["seconds"],
        "rows/s": rows_per_s,
        "MNIST epoch s": MNIST_ROWS / rows_per_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch", type=int, default=256, help="rows per process and step")
    parser.add_argument("--rows", type=int, default=4096)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs after a warm-up")
    parser.add_argument("--hidden", type=int, nargs="+", default=[500, 500, 2000])
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-record", action="store_true", help="do not append RESULTS.md")
    args = parser.parse_args()
    args.hidden = tuple(args.hidden)
    load = os.getloadavg()[0]
    rows = []
    for world in args.processes:
        rows.append(measure(world, args))
        print(rows[-1], flush=True)
    base = rows[0]["rows/s"]
    for row in rows:
        row["speed-up"] = row["rows/s"] / base
    table = markdown_table(rows, list(rows[0]))
    if args.no_record:
        print(table)
    else:
        append_results(
            "Data-parallel SVI throughput (DistributedDataParallel)",
            table,
            notes=f"VaDE 784-{'-'.join(map(str, args.hidden))}-10, K=10, {args.rows} rows, "
            f"{args.batch} rows per process and step, {args.threads} torch thread(s) per "
            f"process, wall clock of {args.epochs} epochs after a warm-up one; shared machine: "
            f"load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end "
            f"({os.cpu_count()} cores), so the speed-up is a lower bound",
        )


if __name__ == "__main__":
    main()
