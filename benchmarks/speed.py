"""SVI step speed: pyroclust's VaDE through SVITrainer vs a plain-PyTorch VaDE.

Both use the same networks (the paper's 784-500-500-2000-10 encoder and mirrored decoder by
default, ``--hidden 64`` for the overhead-bound regime of one small hidden layer), 10
clusters, the same ELBO (single-sample z, exact sum over clusters), Adam, and the same
mini-batches; the plain-PyTorch step is hand-written (no Pyro) with torch's default Adam.
Timings alternate between the variants, repeated, and the median seconds per step are
compared as a ratio in one run. ``--clock cpu`` times the process's CPU seconds instead of
wall seconds: with one thread it is what a step costs even while other jobs share the cores.

The variants: ``pyroclust`` (the trainer as shipped), ``per-param Adam`` (the trainer with
torch's default per-parameter Adam, as before the multi-tensor and fused defaults), ``jit``
(``jit=True``, ``JitTraceEnum_ELBO``), ``fx`` and ``inductor`` (``jit="fx"``/``"inductor"``, the
objective traced into a graph by :class:`~pyroclust.infer.graph.GraphELBO`; the first,
untimed epoch records, and for inductor compiles, it).

    python benchmarks/speed.py [--batch-sizes 256 1024] [--hidden 500 500 2000] [--steps 40]
        [--repeats 5] [--device cpu] [--threads 1] [--clock cpu] [--jit] [--per-param]
        [--graph fx inductor]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
import warnings
from typing import Any

import torch
import torch.nn.functional as F
from _common import append_results, markdown_table, svi_step_seconds

from pyroclust import zoo
from pyroclust.infer.elbo import local_params


def plain_step_fn(model, guide, optim):
    """One hand-written VaDE SVI step (same ELBO as TraceEnum_ELBO with one particle)."""
    log2pi = math.log(2 * math.pi)

    def step(x: torch.Tensor, data_size: int) -> float:
        h = guide.encoder(x)
        loc = guide.loc_head(h)
        scale = F.softplus(guide.scale_head(h)) + guide.min_scale
        eps = torch.randn_like(loc)
        z = loc + scale * eps
        logits = model.decoder(z)
        log_px = -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
        mu = model.components.loc
        sd = model.components.scale
        log_pz_k = (-0.5 * ((z.unsqueeze(1) - mu) / sd) ** 2 - sd.log() - 0.5 * log2pi).sum(-1)
        log_pz = torch.logsumexp(log_pz_k + torch.log_softmax(model.weights.logits, -1), -1)
        log_q = (-0.5 * eps**2 - scale.log() - 0.5 * log2pi).sum(-1)
        loss = -(log_px + log_pz - log_q).sum() * (data_size / len(x))
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        return loss.item()

    return step


def _clock(kind: str):
    return time.process_time if kind == "cpu" else time.perf_counter


def time_pyroclust(
    x: torch.Tensor,
    batch: int,
    steps: int,
    device: str,
    jit: bool | str = False,
    *,
    hidden: tuple[int, ...] = (500, 500, 2000),
    clock: str = "wall",
    optimizer: Any = None,
) -> float:
    torch.manual_seed(0)
    model, guide = zoo.make("vade", x.shape[1], n_components=10, latent_dim=10, hidden=hidden)
    # the first epoch warms up (optimiser, ELBO, JIT compilation) and is not timed
    return svi_step_seconds(
        model, guide, x, batch, steps, clock=clock, device=device, jit=jit, optimizer=optimizer
    )


def time_plain(
    x: torch.Tensor,
    batch: int,
    steps: int,
    device: str,
    *,
    hidden: tuple[int, ...] = (500, 500, 2000),
    clock: str = "wall",
) -> float:
    now = _clock(clock)
    torch.manual_seed(0)
    model, guide = zoo.make("vade", x.shape[1], n_components=10, latent_dim=10, hidden=hidden)
    model.to(device)
    guide.to(device)
    with local_params():
        params = list(model.parameters()) + list(guide.parameters())
        optim = torch.optim.Adam(params, lr=1e-3)
        step = plain_step_fn(model, guide, optim)
        data = x[: batch * 2].to(device)
        n = len(data)
        gen = torch.Generator().manual_seed(0)
        for _ in range(3):
            step(data[:batch], n)
        n_epochs = max(1, steps * batch // n)
        n_steps = n_epochs * math.ceil(n / batch)
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = now()
        for _ in range(n_epochs):
            order = torch.randperm(n, generator=gen).to(device)
            for i in range(math.ceil(n / batch)):
                step(data[order[i * batch : (i + 1) * batch]], n)
        if device == "cuda":
            torch.cuda.synchronize()
        return (now() - t0) / n_steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument(
        "--hidden",
        type=int,
        nargs="+",
        default=[500, 500, 2000],
        help="encoder widths, decoder mirrored (default: the paper's; 64 is overhead-bound)",
    )
    parser.add_argument("--steps", type=int, default=40, help="timed steps per measurement")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall seconds, or the process's CPU seconds (robust on a shared machine)",
    )
    parser.add_argument(
        "--jit", action="store_true", help="also time SVITrainer(jit=True) (JitTraceEnum_ELBO)"
    )
    parser.add_argument(
        "--graph",
        nargs="+",
        choices=("fx", "inductor"),
        default=[],
        help="also time SVITrainer(jit=...) with the traced-graph ELBO (GraphELBO): 'fx' "
        "replays the graph, 'inductor' compiles it with torch.compile",
    )
    parser.add_argument(
        "--per-param",
        action="store_true",
        help="also time the trainer with torch's default (per-parameter) Adam",
    )
    parser.add_argument("--no-record", action="store_true", help="do not append RESULTS.md")
    parser.add_argument("--notes", default="", help="added to the RESULTS.md notes")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    hidden = tuple(args.hidden)
    x = torch.rand(8192, 784)
    rows = []
    for batch in args.batch_sizes:
        runs: dict[str, list[float]] = {}

        def timed(
            name: str, fn: Any, *fargs: Any, runs: dict = runs, batch: int = batch, **kw: Any
        ) -> None:
            opts = dict(hidden=hidden, clock=args.clock, **kw)
            runs.setdefault(name, []).append(fn(x, batch, args.steps, args.device, *fargs, **opts))

        for _ in range(args.repeats):
            timed("pyroclust", time_pyroclust)
            timed("plain", time_plain)
            if args.per_param:
                timed("per-param Adam", time_pyroclust, optimizer=torch.optim.Adam)
            if args.jit:
                with warnings.catch_warnings():  # torch.jit.trace's deprecation, tracer notes
                    warnings.simplefilter("ignore")
                    timed("jit", time_pyroclust, True)
            for backend in args.graph:
                timed(backend, time_pyroclust, backend)
        med = {name: statistics.median(values) for name, values in runs.items()}
        p = med["plain"]
        row: dict[str, Any] = {
            "device": args.device,
            "hidden": "-".join(map(str, hidden)),
            "batch": batch,
            "plain torch ms/step": 1e3 * p,
            "pyroclust ms/step": 1e3 * med["pyroclust"],
            "ratio": med["pyroclust"] / p,
        }
        for name in ("per-param Adam", "jit", *args.graph):
            if name in med:
                row[f"{name} ms/step"] = 1e3 * med[name]
                row[f"{name} ratio"] = med[name] / p
        rows.append(row)
        print(row, flush=True)
    table = markdown_table(rows, list(rows[0]))
    if args.no_record:
        print(table)
    else:
        threads = args.threads or torch.get_num_threads()
        append_results(
            "Speed: VaDE SVI step, pyroclust vs plain PyTorch",
            table,
            notes=f"median of {args.repeats} alternating repeats of ~{args.steps} steps; "
            f"encoder 784-{'-'.join(map(str, hidden))}-10, decoder mirrored, K=10; "
            f"{args.clock} clock, {threads} torch thread(s); plain torch uses torch's default "
            "Adam" + (f"; {args.notes}" if args.notes else ""),
        )


if __name__ == "__main__":
    main()
